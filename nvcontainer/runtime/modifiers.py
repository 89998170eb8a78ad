"""Spec modifiers: one function per mode, ``(spec dict, ModifyContext) -> spec dict``.

``legacy``: add our prestart hook to containers that ask for GPUs; ``cdi``: apply the edits of
the requested CDI devices from the spec dirs; ``jit-cdi``: generate a spec for the requested
devices at create time and apply it; ``csv``: refused (no Tegra support).  ``resolve_mode`` picks
one: ``auto`` becomes ``cdi`` when every requested device is a fully qualified CDI name
(``vendor/class=name``; CDI annotations count), else ``legacy``.  (The toolkit's ``auto`` means
``jit-cdi`` since v1.18 on an NVML platform; ours keeps ``legacy``, which needs no spec and no
generation per container: set ``mode = "jit-cdi"`` for NVIDIA's default.)  A modifier returns the
spec unchanged (the same object) when it has nothing to do: the shim then does not rewrite
config.json at all.
"""

from __future__ import annotations

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
    import copy  # only for a container that gets GPUs

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


def remove_legacy_hooks(spec: Spec) -> None:
    """The hook remover of cdi/jit-cdi modes: drop our (and NVIDIA's) legacy prestart hook."""
    hooks = spec.get("hooks")
    if isinstance(hooks, dict) and isinstance(hooks.get("prestart"), list):
        hooks["prestart"] = [h for h in hooks["prestart"] if not (
            isinstance(h, dict) and os.path.basename(str(h.get("path", ""))) in KNOWN_HOOKS)]


def _from_spec_dirs(spec: Spec, ctx: ModifyContext, names: Sequence[str]) -> Spec:
    from nvcontainer.cdi import inject
    from nvcontainer.cdi.errors import UnresolvableDevicesError

    dirs = list(ctx.config.nvidia_container_runtime.modes.cdi.spec_dirs)
    try:
        out = inject(dirs, names, spec)
    except UnresolvableDevicesError as exc:
        # NVIDIA_VISIBLE_DEVICES=none is "<kind>=none": a container without devices, unless a spec
        # defines such a device (nvidia-ctk --device-id none).
        if all(name.endswith("=none") for name in exc.names) and all(n.endswith("=none") for n in names):
            return spec
        raise
    remove_legacy_hooks(out)
    from nvcontainer.runtime.cdiclaims import check

    check(spec, names, out, ctx.config)
    return out


def cdi(spec: Spec, ctx: ModifyContext) -> Spec:
    """``mode = "cdi"``: resolve the requested devices (``cdirequests``: annotations, volume mounts,
    env; bare ids get ``default-kind``) against the CDI spec dirs and apply their container edits;
    our legacy hook, if any, is removed, as the toolkit's hook remover does."""
    from nvcontainer.runtime.cdirequests import requests

    request = requests(spec, ctx.config, "cdi")
    if request is None:
        return spec
    return _from_spec_dirs(spec, ctx, request.names)


def jit_cdi(spec: Spec, ctx: ModifyContext) -> Spec:
    """``mode = "jit-cdi"``: bare ids (and ``runtime.nvidia.com/gpu=<id>``) get a spec generated for
    just those devices, from the configured driver root, applied device edits first, then the
    spec's; other fully qualified names resolve against the spec dirs as in ``cdi`` mode; mixing
    the two is refused (NVIDIA's message).  Annotations are not honoured, as in NVIDIA's runtime."""
    from nvcontainer.runtime.cdirequests import AUTOMATIC_KIND, requests

    request = requests(spec, ctx.config, "jit-cdi")
    if request is None:
        return spec
    prefix = AUTOMATIC_KIND + "="
    automatic = [name[len(prefix):] for name in request.names if name.startswith(prefix)]
    if automatic and len(automatic) != len(request.names):
        raise ShimError("requesting a CDI device with vendor 'runtime.nvidia.com' is not supported when requesting "
                        "other CDI devices")
    if not automatic:
        return _from_spec_dirs(spec, ctx, request.names)
    document = generated_spec(ctx, automatic)
    from nvcontainer.cdi.inject import inject_spec

    out = inject_spec(document, spec)
    remove_legacy_hooks(out)
    from nvcontainer.runtime.cdiclaims import check

    check(spec, request.names, out, ctx.config)
    return out


def generated_spec(ctx: ModifyContext, ids: Sequence[str]) -> Dict[str, Any]:
    """The in-memory spec of jit-cdi mode: ``runtime.nvidia.com/gpu``, devices ``ids`` named by index."""
    from nvcontainer.cdi.generate import generate
    from nvcontainer.discovery import discover
    from nvcontainer.runtime.lookup import find_cdi_hook

    cli = ctx.config.nvidia_container_cli
    jit = ctx.config.nvidia_container_runtime.modes.jit_cdi
    root = cli.root or "/"
    driver = discover(root, cli.ldcache or None)
    return generate(driver, device_name_strategy="index", vendor="runtime.nvidia.com", class_="gpu",
                    all_device=False, hook_path=find_cdi_hook(), mode="nvml", device_ids=list(ids),
                    disabled_hooks=list(jit.nvcdi_disable_hooks), feature_flags=list(jit.nvcdi_feature_flags))


def csv(spec: Spec, ctx: ModifyContext) -> Spec:
    """``mode = "csv"`` (Tegra CSV mount specs): not implemented; refused for GPU containers."""
    if requested(spec, ctx.config) is None:
        return spec
    raise ShimError("mode 'csv' (Tegra/Jetson CSV mount specs) is not supported by nvc-container-runtime: "
                    "use NVIDIA's nvidia-container-runtime on Jetson, or mode = \"cdi\" with a CDI spec")


MODIFIERS: Dict[str, Modifier] = {"legacy": legacy, "cdi": cdi, "jit-cdi": jit_cdi, "csv": csv}


def register(mode: str, modifier: Modifier) -> None:
    MODIFIERS[mode] = modifier


def is_cdi_name(device: str) -> bool:
    kind, eq, name = device.partition("=")
    return bool(eq and name and "/" in kind)


def resolve_mode(mode: str, devices: Optional[Sequence[str]] = None, spec: Optional[Spec] = None,
                 config: Optional[Config] = None) -> str:
    """``auto`` -> ``cdi`` when every requested device is a fully qualified CDI name (CDI
    annotations included, when ``spec`` and ``config`` are given), else ``legacy``."""
    if mode == "auto":
        if spec is not None and config is not None:
            from nvcontainer.runtime.cdirequests import only_qualified

            return "cdi" if only_qualified(spec, config) else "legacy"
        if devices and all(is_cdi_name(d) for d in devices) and "cdi" in MODIFIERS:
            return "cdi"
        return "legacy"
    return mode


def modifier_for(mode: str, devices: Optional[Sequence[str]] = None, spec: Optional[Spec] = None,
                 config: Optional[Config] = None) -> Modifier:
    resolved = resolve_mode(mode, devices, spec, config)
    found = MODIFIERS.get(resolved)
    if found is None:
        raise ShimError(f"mode '{resolved}' is not supported by this runtime (supported: "
                        f"auto, {', '.join(sorted(MODIFIERS))})")
    return found
