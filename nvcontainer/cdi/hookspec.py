"""The hook entries of a CDI spec, as nvidia-ctk's HookCreator writes them.

Every hook is a ``createContainer`` hook with an absolute ``path``, ``args`` starting with the
program's base name (``nvc-cdi-hook``; for a path ending in ``nvidia-ctk``, ``nvidia-ctk hook``)
and an explicit ``env: [NVIDIA_CTK_DEBUG=false]``, so that the runtime never hands a hook the
container's environment (CVE-2025-23266).

``--disable-hook NAME`` (repeatable, ``all`` for every hook) leaves hooks out; ``--enable-hook``
puts one back.  ``chmod`` is disabled unless enabled.  A ``create-symlinks`` or ``chmod`` hook
with nothing to do is not written.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Sequence

CREATE_SYMLINKS = "create-symlinks"
ENABLE_CUDA_COMPAT = "enable-cuda-compat"
UPDATE_LDCACHE = "update-ldcache"
DISABLE_DEVICE_NODE_MODIFICATION = "disable-device-node-modification"
UPDATE_APPLICATION_PROFILE = "update-application-profile"
CHMOD = "chmod"
MOUNT_DRIVER_PROC = "mount-driver-proc"  # ours: a simulated driver's /proc files (see nvcontainer.cdi.procdriver)
ALL = "all"
DEFAULT_DISABLED = (CHMOD,)
HOOK_ENV = "NVIDIA_CTK_DEBUG"


class HookCreator:
    def __init__(self, path: str, *, disabled: Sequence[str] = (), enabled: Sequence[str] = (),
                 ldconfig_path: Optional[str] = None, debug: bool = False) -> None:
        from nvcontainer.cdi.errors import CdiError

        if ALL in enabled:
            raise CdiError("enabling all hooks is not supported")
        self.path = path
        self.ldconfig_path = ldconfig_path
        self.debug = debug
        self.states: Dict[str, bool] = {name: True for name in (*disabled, *DEFAULT_DISABLED)}
        self.none = ALL in disabled and not enabled
        for name in enabled:
            self.states[name] = False
        base = os.path.basename(path)
        self.fixed = [base, "hook"] if base == "nvidia-ctk" else [base]

    def disabled(self, name: str, args: Sequence[str]) -> bool:
        if self.none:
            return True
        if name in self.states:
            return self.states[name]
        if self.states.get(ALL):
            return True
        return name in (CREATE_SYMLINKS, CHMOD) and not args

    def create(self, name: str, *args: str) -> Optional[Dict[str, Any]]:
        """The hook entry, or None when the hook is disabled or has nothing to do."""
        if self.disabled(name, args):
            return None
        if name == CREATE_SYMLINKS:
            argv = [a for link in args for a in ("--link", link)]
        elif name == CHMOD:
            argv = ["--mode", "755", *[a for path in args for a in ("--path", path)]]
        elif name == UPDATE_LDCACHE:
            argv = ["--ldconfig-path", self.ldconfig_path] if self.ldconfig_path else []
            argv += [a for folder in args for a in ("--folder", folder)]
        else:
            argv = list(args)
        return {"hookName": "createContainer", "path": self.path, "args": [*self.fixed, name, *argv],
                "env": [f"{HOOK_ENV}={'true' if self.debug else 'false'}"]}
