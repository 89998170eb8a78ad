"""A few ELF facts read straight from the headers, for the container-start path.

``executable_facts`` (the file type, and whether a PT_INTERP program header makes it a dynamically
linked program) and ``abi_tag`` (the GNU ABI tag note of the ``.note.ABI-tag`` section) are all a container start
needs beyond the class byte; importing pyelftools for them cost ~25 ms per start.  pyelftools
stays the reader for everything else (``nvcontainer.discovery.elf.inspect_elf``: SONAME, NEEDED),
and a test checks these two against it on every ELF file of the host and the simulated drivers.
Malformed input raises ``ValueError``.
"""

from __future__ import annotations

import os
import stat
import struct

from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Optional, Tuple

ELF_MAGIC = b"\x7fELF"
PT_INTERP = 3
ET_EXEC, ET_DYN = 2, 3
NT_GNU_ABI_TAG = 1
SHN_XINDEX = 0xFFFF
ABI_TAG_SECTION = b".note.ABI-tag"


class _Layout(Record):
    header: struct.Struct  # e_type .. e_shstrndx, after e_ident
    phdr: struct.Struct
    shdr: struct.Struct
    ph_type: int  # index of p_type in a program header
    sh_fields: Tuple[int, int, int, int]  # indexes of sh_name, sh_offset, sh_size, sh_link


def _layout(elf_class: int, order: str) -> _Layout:
    if elf_class == 2:
        return _Layout(struct.Struct(order + "HHIQQQIHHHHHH"), struct.Struct(order + "IIQQQQQQ"),
                       struct.Struct(order + "IIQQQQIIQQ"), 0, (0, 4, 5, 6))
    return _Layout(struct.Struct(order + "HHIIIIIHHHHHH"), struct.Struct(order + "IIIIIIII"),
                   struct.Struct(order + "IIIIIIIIII"), 0, (0, 4, 5, 6))


def _read(fd: int, size: int, offset: int, file_size: int) -> bytes:
    """``size`` bytes at ``offset``; header fields are untrusted, so bounds come from the file size."""
    if offset < 0 or size < 0 or offset + size > file_size:
        raise ValueError("truncated file")
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise ValueError("truncated file")
    return data


# e_machine -> the class the kernel loads it as (it looks at e_machine, not at the class byte).
MACHINE_CLASS = {3: 1, 40: 1, 62: 2, 183: 2, 21: 2, 243: 2}  # 386, ARM, x86-64, AArch64, PPC64, RISC-V
MAX_SECTIONS = 1 << 20


class _Elf:
    def __init__(self, fd: int) -> None:
        ident = os.pread(fd, 16, 0)
        if len(ident) < 16 or not ident.startswith(ELF_MAGIC) or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ValueError("not an ELF file")
        self.fd = fd
        self.size = os.fstat(fd).st_size
        self.order = "<" if ident[5] == 1 else ">"
        self.lay = _layout(ident[4], self.order)
        fields = self.lay.header.unpack(_read(fd, self.lay.header.size, 16, self.size))
        (self.e_type, machine, _, _, self.phoff, self.shoff, _, ehsize, self.phentsize, self.phnum, self.shentsize,
         self.shnum, self.shstrndx) = fields
        # Header fields must agree with the class byte the way the kernel reads them, or a file could
        # be read here in one layout and run by the kernel in the other.
        if ehsize != 16 + self.lay.header.size:
            raise ValueError("bad ELF header size")
        if MACHINE_CLASS.get(machine, ident[4]) != ident[4]:
            raise ValueError("ELF class does not match the machine")

    def _sections(self) -> Tuple[bytes, int, int]:
        """The raw section header table, the section count and the string-table index (extended
        numbering resolved from section 0)."""
        if self.shentsize < self.lay.shdr.size:
            raise ValueError("bad section header size")
        shnum, shstrndx = self.shnum, self.shstrndx
        if shnum == 0 or shstrndx == SHN_XINDEX:
            first = self.lay.shdr.unpack(_read(self.fd, self.lay.shdr.size, self.shoff, self.size))
            shnum = shnum or first[self.lay.sh_fields[2]]
            if shstrndx == SHN_XINDEX:
                shstrndx = first[self.lay.sh_fields[3]]
        if shnum > MAX_SECTIONS:
            raise ValueError("too many sections")
        return _read(self.fd, shnum * self.shentsize, self.shoff, self.size), shnum, shstrndx

    def program_types(self) -> Tuple[int, ...]:
        if not self.phnum:  # e_phoff 0 with headers is read at offset 0, as the kernel does
            return ()
        if self.phentsize != self.lay.phdr.size:
            raise ValueError("bad program header size")
        table = _read(self.fd, self.phentsize * self.phnum, self.phoff, self.size)
        return tuple(self.lay.phdr.unpack_from(table, i * self.phentsize)[self.lay.ph_type] for i in range(self.phnum))

    def section_data(self, wanted: bytes) -> Optional[bytes]:
        if not self.shoff:
            return None
        table, shnum, shstrndx = self._sections()
        if not shnum or shstrndx >= shnum:
            return None
        name_at, offset_at, size_at, _ = self.lay.sh_fields
        strtab = self.lay.shdr.unpack_from(table, shstrndx * self.shentsize)
        names = _read(self.fd, strtab[size_at], strtab[offset_at], self.size)
        for index in range(shnum):
            header = self.lay.shdr.unpack_from(table, index * self.shentsize)
            start = header[name_at]
            if names[start:start + len(wanted) + 1] == wanted + b"\0":
                return _read(self.fd, header[size_at], header[offset_at], self.size)
        return None


def open_regular(path: str) -> int:
    """An fd of the regular file at ``path`` (a FIFO or device there would block or worse)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError("not a regular file")
    return fd


def executable_facts(fd: int) -> Tuple[int, bool]:
    """``(e_type, has PT_INTERP)`` of the ELF file open at ``fd``."""
    elf = _Elf(fd)
    return elf.e_type, PT_INTERP in elf.program_types()


def abi_tag(path: str) -> Optional[Tuple[int, int, int, int]]:
    """``(os, major, minor, patch)`` of the first GNU ABI tag note in ``.note.ABI-tag``, or None."""
    fd = open_regular(path)
    try:
        elf = _Elf(fd)
        data = elf.section_data(ABI_TAG_SECTION)
    finally:
        os.close(fd)
    return None if data is None else parse_abi_note(data, elf.order)


def parse_abi_note(data: bytes, order: str) -> Optional[Tuple[int, int, int, int]]:
    """The first GNU ABI tag in the notes ``data`` of a file of byte ``order`` ("<" or ">")."""
    header = struct.Struct(order + "III")
    desc = struct.Struct(order + "IIII")
    offset = 0
    while offset + header.size <= len(data):
        namesz, descsz, kind = header.unpack_from(data, offset)
        name_at = offset + header.size
        desc_at = name_at + ((namesz + 3) & ~3)
        offset = desc_at + ((descsz + 3) & ~3)
        if offset > len(data):
            break
        if kind == NT_GNU_ABI_TAG and data[name_at:name_at + namesz] == b"GNU\0" and descsz >= 16:
            os_number, major, minor, patch = desc.unpack_from(data, desc_at)
            return (os_number, major, minor, patch)
    return None
