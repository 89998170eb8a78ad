"""Spec modifiers: one function per mode, ``(spec dict, ModifyContext) -> spec dict``.

``legacy``: add our prestart hook to containers that ask for GPUs.  The seam for the other modes:
``register("cdi", fn)`` (or an entry in ``MODIFIERS``) and ``resolve_mode`` picks it — ``auto``
becomes ``cdi`` when every requested device is a fully qualified CDI name (``vendor/class=name``)
and a ``cdi`` modifier is registered, else ``legacy``.  (The toolkit's ``auto`` means ``jit-cdi``
since v1.18; until we have that, ``legacy`` is the mode that works everywhere.)  A modifier
returns the spec unchanged (the same object) when it has nothing to do: the shim then does not
rewrite config.json at all.
"""

from __future__ import annotations

import copy
import os

from nvcontainer.config.schema import Config
from nvcontainer.hook.request import requested_devices
from nvcontainer.hook.state import container_spec
from nvcontainer.records import Record
from nvcontainer.runtime.errors import ShimError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Sequence, Tuple
    Spec = Dict[str, Any]
    Modifier = Callable[[Spec, "ModifyContext"], Spec]

HOOK_ARGV0 = "nvc-container-runtime-hook"
KNOWN_HOOKS = ("nvidia-container-runtime-hook", "nvc-container-runtime-hook", "nvidia-container-toolkit")


class ModifyContext(Record):
    config: Config
    hook_path: str
    hook_env: Tuple[str, ...] = ()  # the inserted hook's whole environment (never the container's)


def requested(spec: Spec, config: Config) -> Optional[Tuple[str, ...]]:
    """The devices the container asks for (None: not a GPU container)."""
    return requested_devices(container_spec(spec), config)


def has_our_hook(spec: Spec) -> bool:
    hooks = spec.get("hooks")
    prestart = hooks.get("prestart") if isinstance(hooks, dict) else None
    for hook in prestart or []:
        if isinstance(hook, dict) and os.path.basename(str(hook.get("path", ""))) in KNOWN_HOOKS:
            return True
    return False


def legacy(spec: Spec, ctx: ModifyContext) -> Spec:
    """Append ``{"path": <hook>, "args": [..., "prestart"], "env": [...]}`` to ``hooks.prestart``
    for a GPU container, once (docker ``--gpus`` may have added one already)."""
    if requested(spec, ctx.config) is None or has_our_hook(spec):
        return spec
    out = copy.deepcopy(spec)
    hooks = out.get("hooks")
    if not isinstance(hooks, dict):
        hooks = out["hooks"] = {}
    prestart = hooks.get("prestart")
    if not isinstance(prestart, list):
        prestart = hooks["prestart"] = []
    # An explicit env: runtimes that would otherwise pass on some environment give the hook only this.
    prestart.append({"path": ctx.hook_path, "args": [HOOK_ARGV0, "prestart"], "env": list(ctx.hook_env)})
    poststop = hooks.get("poststop")
    if not isinstance(poststop, list):
        poststop = hooks["poststop"] = []
    # Releases the container's GPUs in the allocation registry as soon as it is gone.
    poststop.append({"path": ctx.hook_path, "args": [HOOK_ARGV0, "poststop"], "env": list(ctx.hook_env)})
    return out


def cdi(spec: Spec, ctx: ModifyContext) -> Spec:
    """``mode = "cdi"``: resolve the requested devices against the CDI spec dirs and apply their
    container edits (bare ids such as ``0`` get the config's ``default-kind``); our legacy hook,
    if any, is removed, as the toolkit's hook remover does."""
    devices = requested(spec, ctx.config)
    if not devices:
        return spec
    from nvcontainer.cdi import inject

    modes = ctx.config.nvidia_container_runtime.modes.cdi
    names = [d if is_cdi_name(d) else f"{modes.default_kind}={d}" for d in devices]
    out = inject(list(modes.spec_dirs), names, spec)
    hooks = out.get("hooks")
    if isinstance(hooks, dict) and isinstance(hooks.get("prestart"), list):
        hooks["prestart"] = [h for h in hooks["prestart"] if not (
            isinstance(h, dict) and os.path.basename(str(h.get("path", ""))) in KNOWN_HOOKS)]
    return out


MODIFIERS: Dict[str, Modifier] = {"legacy": legacy, "cdi": cdi}


def register(mode: str, modifier: Modifier) -> None:
    MODIFIERS[mode] = modifier


def is_cdi_name(device: str) -> bool:
    kind, eq, name = device.partition("=")
    return bool(eq and name and "/" in kind)


def resolve_mode(mode: str, devices: Optional[Sequence[str]] = None) -> str:
    if mode == "auto":
        if devices and all(is_cdi_name(d) for d in devices) and "cdi" in MODIFIERS:
            return "cdi"
        return "legacy"
    return mode


def modifier_for(mode: str, devices: Optional[Sequence[str]] = None) -> Modifier:
    resolved = resolve_mode(mode, devices)
    found = MODIFIERS.get(resolved)
    if found is None:
        raise ShimError(f"mode '{resolved}' is not supported by this runtime (supported: "
                        f"auto, {', '.join(sorted(MODIFIERS))})")
    return found
