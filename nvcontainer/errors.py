"""The one error hierarchy of nvcontainer.

Every failure the library reports is an ``NvcError`` carrying the *stage* it happened in
(``initialization``, ``device``, ``requirement``, ``mount``, ...).  Front ends print it as
``nvc-cli: <stage> error: <message>``, the shape NVIDIA's nvidia-container-cli uses, through
``NvcError.line()``: the only place that shape is assembled.
"""

from __future__ import annotations


class NvcError(Exception):
    """Base class: ``stage`` names the phase, ``message`` is one lower-case line."""

    stage = "internal"

    def __init__(self, message: str, *, stage: str | None = None) -> None:
        # One line only: the CLI contract is a single line per error.
        message = message.splitlines()[0] if message else "unknown error"
        super().__init__(message)
        self.message = message
        if stage is not None:
            self.stage = stage

    def line(self, prog: str = "nvc-cli") -> str:
        """The user-facing line, e.g. ``nvc-cli: device error: 9: unknown device``."""
        if self.stage == "error parsing IMEX info":
            return f"{prog}: {self.stage}: {self.message}"
        return f"{prog}: {self.stage} error: {self.message}"


class InputError(NvcError):
    stage = "input"


class InitializationError(NvcError):
    stage = "initialization"


class DetectionError(NvcError):
    stage = "detection"


class DeviceError(NvcError):
    stage = "device"


class RequirementError(NvcError):
    stage = "requirement"


class ContainerError(NvcError):
    stage = "container"


class MountError(NvcError):
    stage = "mount"


class LdcacheError(NvcError):
    stage = "ldcache"


class CgroupError(NvcError):
    stage = "cgroup"


class PathError(NvcError):
    """A path would resolve outside the root it must stay in, or is not what it must be."""

    stage = "mount"


class ImexError(NvcError):
    stage = "error parsing IMEX info"


class NvmlError(InitializationError):
    """An NVML call failed; ``code`` is the nvmlReturn_t value."""

    def __init__(self, code: int, text: str, *, function: str = "", stage: str | None = None) -> None:
        super().__init__(f"nvml error: {text.lower()}", stage=stage)
        self.code = code
        self.text = text
        self.function = function


class LibraryLoadError(InitializationError):
    """A driver library could not be loaded, or lacks a symbol we need."""
