"""Driver capabilities: which parts of the driver a container asked for, and what each one pulls in.

Two inputs share one vocabulary: the CLI's capability flags (``--compute``, ``--video``, ...,
the original's container options) and the ``NVIDIA_DRIVER_CAPABILITIES`` variable the hook reads.
The implications are the original's option table (src/options.h): ``video`` also sets the
compute-libraries flag and ``display`` the graphics-libraries flag.  Everything gated on that
flag follows it: with ``video`` a container gets the compute libraries, the UVM nodes, the MPS
pipe directory and the container's CUDA compat libraries, but not the compute binaries.
"""

from __future__ import annotations

from nvcontainer.errors import InputError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import FrozenSet, Iterable, Iterator, Optional, Union

# The flag order of `configure --help`.
CAPABILITY_NAMES = ("utility", "compute", "video", "graphics", "display", "ngx", "compat32")
DEFAULT_DRIVER_CAPABILITIES: FrozenSet[str] = frozenset({"utility", "compute"})
ALL_DRIVER_CAPABILITIES: FrozenSet[str] = frozenset(CAPABILITY_NAMES)


class Capabilities(Record):
    """A set of capability names; iterates in ``CAPABILITY_NAMES`` order."""

    names: FrozenSet[str] = frozenset()

    def __post_init__(self) -> None:
        names = frozenset(self.names)
        unknown = sorted(names - ALL_DRIVER_CAPABILITIES)
        if unknown:
            raise InputError(f"invalid option: {unknown[0]}")
        object.__setattr__(self, "names", names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[str]:
        return (name for name in CAPABILITY_NAMES if name in self.names)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def compute_libs(self) -> bool:
        """The original's OPT_COMPUTE_LIBS: set by ``compute`` and by ``video``."""
        return "compute" in self.names or "video" in self.names

    @property
    def graphics_libs(self) -> bool:
        """The original's OPT_GRAPHICS_LIBS: set by ``graphics`` and by ``display``."""
        return "graphics" in self.names or "display" in self.names


def parse_capability_flags(flags: Union[str, Iterable[str]]) -> Capabilities:
    """Capabilities from CLI flag names, as a list or a space-separated string.

    Unknown names raise ``InputError("invalid option: <name>")``, the original's message for a
    container option it does not know.
    """
    words = flags.split() if isinstance(flags, str) else list(flags)
    for word in words:
        if word not in ALL_DRIVER_CAPABILITIES:
            raise InputError(f"invalid option: {word}")
    return Capabilities(frozenset(words))


def library_capabilities(caps: Capabilities) -> FrozenSet[str]:
    """The ``Library.capability`` categories to mount.

    ``dxcore`` (WSL) is always in: the original mounts it whatever was asked.  The same categories
    gate IPCs (``Ipc.capability``: persistenced/fabricmanager are utility, MPS is compute).
    """
    result = {"dxcore"}
    if "utility" in caps:
        result.add("utility")
    if caps.compute_libs:
        result.add("compute")
    if "video" in caps:
        result.add("video")
    if caps.graphics_libs:
        result.add("graphics")
    if "ngx" in caps:
        result.add("ngx")
    return frozenset(result)


def binary_capabilities(caps: Capabilities) -> FrozenSet[str]:
    """The ``Binary.capability`` categories to mount; no implications apply to binaries."""
    return frozenset(name for name in ("utility", "compute") if name in caps)


def wants_uvm(caps: Capabilities) -> bool:
    """nvidia-uvm / nvidia-uvm-tools (the nodes outside major 195) come with the compute libs."""
    return caps.compute_libs


def wants_modeset(caps: Capabilities) -> bool:
    """/dev/nvidia-modeset comes only with ``display``."""
    return "display" in caps


def wants_compat_libs(caps: Capabilities) -> bool:
    """The container's own CUDA compat libraries are only considered with the compute libs."""
    return caps.compute_libs


def wants_app_profile(caps: Capabilities) -> bool:
    """The EGL application-profile tmpfs and file come with the graphics libs."""
    return caps.graphics_libs


def wants_compat32(caps: Capabilities, machine: str) -> bool:
    """32-bit libraries: asked for and available (ppc64le has none: the flag is a no-op there)."""
    return "compat32" in caps and machine != "ppc64le"


def parse_driver_capabilities(value: Optional[str]) -> FrozenSet[str]:
    """Parse ``NVIDIA_DRIVER_CAPABILITIES``.

    Unset or empty gives ``{"utility", "compute"}``; ``all`` anywhere in the list gives every
    capability.  Items are comma-separated, surrounding whitespace and empty items ignored.
    An unknown name raises ``InputError("unsupported capability: <name>")`` where the toolkit
    panics: a typo must not silently give a container less (or more) than was written.
    """
    if value is None or not value.strip():
        return DEFAULT_DRIVER_CAPABILITIES
    names = [item.strip() for item in value.split(",") if item.strip()]
    if "all" in names:
        return ALL_DRIVER_CAPABILITIES
    for name in names:
        if name not in ALL_DRIVER_CAPABILITIES:
            raise InputError(f"unsupported capability: {name}")
    if not names:
        return DEFAULT_DRIVER_CAPABILITIES
    return frozenset(names)
