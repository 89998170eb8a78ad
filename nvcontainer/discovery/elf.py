"""ELF facts used to select driver libraries, and the original's selection rules.

libnvidia-container (``src/elftool.c``, ``select_libraries`` in ``src/nvc_info.c``) opens each
candidate library and keeps it only if it is of the expected class, if libnvidia-tls carries the
Linux 2.3.99 ABI tag, if its name ends with the driver version, and, for the GLVND-less compat
GL libraries, if it links against NVIDIA's GL core.  ``inspect_elf`` gathers those facts with
pyelftools; the predicates below apply the rules.  Any unreadable or malformed file is reported
as a one-line ``DetectionError``.
"""

from __future__ import annotations

import os
import struct

from nvcontainer.errors import DetectionError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:  # pyelftools is imported where a full parse is needed, not by every container start
    from typing import BinaryIO, Optional, Tuple, Union

    from elftools.elf.dynamic import DynamicSection, DynamicSegment
    from elftools.elf.elffile import ELFFile


ELF_MAGIC = b"\x7fELF"
ABI_TAG_SECTION = ".note.ABI-tag"
ELF_NOTE_OS_LINUX = 0
LINUX_2_3_99 = (ELF_NOTE_OS_LINUX, 2, 3, 99)
NVIDIA_CORE_PREFIXES = ("libnvidia-glcore.so", "libnvidia-eglcore.so")


class ElfInfo(Record):
    """What library selection needs to know about one ELF file."""

    elf_class: int  # 32 or 64
    machine: str  # e.g. "EM_X86_64", "EM_386", "EM_AARCH64"
    soname: Optional[str]
    needed: Tuple[str, ...]
    abi_tag: Optional[Tuple[int, int, int, int]]  # (os, major, minor, patch) from .note.ABI-tag


def inspect_elf(path: str) -> ElfInfo:
    """Read the header, dynamic section and ABI-tag note of the ELF file at ``path``."""
    try:
        with open(path, "rb") as handle:
            return _inspect(handle, path)
    except DetectionError:
        raise
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise DetectionError(f"open failed: {path}: {reason}") from None
    except Exception as exc:
        # pyelftools reports malformed input with many exception types (ELFError, struct.error,
        # ValueError, KeyError, ...); each means the same thing here.
        raise DetectionError(f"invalid elf file: {path}: {type(exc).__name__}") from None


def _inspect(handle: BinaryIO, path: str) -> ElfInfo:
    from elftools.elf.elffile import ELFFile

    if handle.read(len(ELF_MAGIC)) != ELF_MAGIC:
        raise DetectionError(f"not an elf file: {path}")
    handle.seek(0)
    elffile = ELFFile(handle)
    soname: Optional[str] = None
    needed = []
    dynamic = _dynamic_table(elffile)
    if dynamic is not None:
        for tag in dynamic.iter_tags():
            kind = tag.entry.d_tag
            if kind == "DT_NEEDED":
                needed.append(str(tag.needed))  # type: ignore[attr-defined]
            elif kind == "DT_SONAME" and soname is None:
                soname = str(tag.soname)  # type: ignore[attr-defined]
    return ElfInfo(
        elf_class=int(elffile.elfclass),
        machine=str(elffile["e_machine"]),
        soname=soname,
        needed=tuple(needed),
        abi_tag=_abi_tag(elffile),
    )


def _dynamic_table(elffile: ELFFile) -> Optional[Union[DynamicSection, DynamicSegment]]:
    """The dynamic section, or the PT_DYNAMIC segment when section headers are stripped."""
    from elftools.elf.dynamic import DynamicSection, DynamicSegment

    for section in elffile.iter_sections():
        if isinstance(section, DynamicSection):
            return section
    for segment in elffile.iter_segments():
        if isinstance(segment, DynamicSegment):
            return segment
    return None


def _abi_tag(elffile: ELFFile) -> Optional[Tuple[int, int, int, int]]:
    """The first GNU ABI tag of ``.note.ABI-tag`` (parsed by ``elfscan``, keeping the raw OS number)."""
    from nvcontainer.discovery.elfscan import parse_abi_note

    section = elffile.get_section_by_name(ABI_TAG_SECTION)
    if section is None:
        return None
    return parse_abi_note(section.data(), "<" if elffile.little_endian else ">")


def elf_class(path: str) -> Optional[int]:
    """32 or 64 from the ELF identification bytes alone (None: not an ELF file or unreadable).

    The cheap check for the many libraries that need nothing more than their class."""
    from nvcontainer.discovery.elfscan import open_regular

    try:
        fd = open_regular(path)  # never blocks on a FIFO planted where a library should be
    except (OSError, ValueError):
        return None
    try:
        ident = os.pread(fd, len(ELF_MAGIC) + 1, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(ident) != len(ELF_MAGIC) + 1 or not ident.startswith(ELF_MAGIC):
        return None
    return {1: 32, 2: 64}.get(ident[-1])


def has_linux_abi_tag_2_3_99(info: ElfInfo) -> bool:
    """libnvidia-tls rule: the ABI tag says OS Linux, ABI 2.3.99."""
    return info.abi_tag == LINUX_2_3_99


def tls_abi_ok(path: str) -> bool:
    """The libnvidia-tls rule read without pyelftools (``elfscan``), for the container-start path.

    Raises ``DetectionError`` for an unreadable or malformed file, as ``inspect_elf`` does."""
    from nvcontainer.discovery import elfscan

    try:
        return elfscan.abi_tag(path) == LINUX_2_3_99
    except OSError as exc:
        raise DetectionError(f"open failed: {path}: {(exc.strerror or str(exc)).lower()}") from None
    except (ValueError, struct.error) as exc:
        raise DetectionError(f"invalid elf file: {path}: {type(exc).__name__}") from None


def matches_driver_version(path: str, version: str) -> bool:
    """Driver-version rule: the basename ends with ``"." + version`` (``libnvidia-ml.so.550.54.15``)."""
    return bool(version) and os.path.basename(path).endswith("." + version)


def needs_nvidia_core(info: ElfInfo) -> bool:
    """Compat GL rule (libGL/libEGL/libGLES*): links against libnvidia-glcore or libnvidia-eglcore."""
    return any(name.startswith(NVIDIA_CORE_PREFIXES) for name in info.needed)


def class_matches(info: ElfInfo, want64: bool) -> bool:
    """Class rule: 64-bit libraries for the native set, 32-bit ones for compat32."""
    return info.elf_class == (64 if want64 else 32)
