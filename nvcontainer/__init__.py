"""nvcontainer: NVIDIA's GPU container stack, re-implemented in Python as a library.

discover the driver -> decide what a container gets (a Plan) -> do something with the Plan.

Importing this package is cheap: the heavy modules load on first use of the names below.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported: the shim's pass-through path skips it
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

# The library logs to "nvcontainer" through nvcontainer.log (which gives it a NullHandler: only a
# front end's --debug file shows it, never stderr); not imported here, so that the shim's
# pass-through path does not pay for the logging module.

# name -> module that defines it; resolved lazily so `import nvcontainer` stays fast for the hook.
_EXPORTS = {
    # errors
    "NvcError": "nvcontainer.errors",
    # discovery: the Driver snapshot
    "discover": "nvcontainer.discovery",
    "discover_cached": "nvcontainer.snapshot",
    "DriverOptions": "nvcontainer.discovery",
    "Driver": "nvcontainer.driver",
    "Gpu": "nvcontainer.driver",
    "MigDevice": "nvcontainer.driver",
    "DeviceNode": "nvcontainer.driver",
    "Library": "nvcontainer.driver",
    "Binary": "nvcontainer.driver",
    "Ipc": "nvcontainer.driver",
    "Firmware": "nvcontainer.driver",
    # policy
    "select_devices": "nvcontainer.policy.selection",
    "Selection": "nvcontainer.policy.selection",
    "Capabilities": "nvcontainer.policy.capabilities",
    "check_requirements": "nvcontainer.policy.requirements",
    "detect_layout": "nvcontainer.policy.layout",
    # the Plan and configure
    "Plan": "nvcontainer.plans",
    "build_plan": "nvcontainer.plans",
    "Request": "nvcontainer.container",
    "Result": "nvcontainer.container",
    "plan": "nvcontainer.container",
    "make_plan": "nvcontainer.container",
    "configure": "nvcontainer.container",
    "ensure_imex_channels": "nvcontainer.hostnodes",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nvcontainer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
