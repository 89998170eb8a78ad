"""A few ELF facts read straight from the headers, for the container-start path.

``executable_facts`` (the file type, and whether a PT_INTERP program header makes it a dynamically
linked program) and ``abi_tag`` (the GNU ABI tag note of the ``.note.ABI-tag`` section) are all a container start
needs beyond the class byte; importing pyelftools for them cost ~25 ms per start.  ``soname`` (DT_SONAME
of the ``.dynamic`` section, for the CDI generator's soname links) and ``section_by_name`` (a section's
bytes and alignment, for the CUDA forward-compatibility note the ``enable-cuda-compat`` hook reads) serve
the CDI paths the same way.  pyelftools
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
    from typing import List, Optional, Tuple

ELF_MAGIC = b"\x7fELF"
PT_INTERP = 3
ET_EXEC, ET_DYN = 2, 3
NT_GNU_ABI_TAG = 1
SHT_DYNAMIC, SHT_NOBITS, SHT_NOTE = 6, 8, 7
DT_NULL, DT_SONAME = 0, 14
MAX_DYNAMIC = 1 << 20  # bytes of .dynamic read at most
SHN_XINDEX = 0xFFFF
ABI_TAG_SECTION = b".note.ABI-tag"


class Section(Record):
    """One section header: its name and the fields the readers here use."""

    name: bytes
    type: int
    offset: int
    size: int
    link: int
    addralign: int


class _Layout(Record):
    header: struct.Struct  # e_type .. e_shstrndx, after e_ident
    phdr: struct.Struct
    shdr: struct.Struct
    ph_type: int  # index of p_type in a program header
    sh_fields: Tuple[int, int, int, int]  # indexes of sh_name, sh_offset, sh_size, sh_link
    dyn: struct.Struct  # one dynamic entry (d_tag, d_val)


def _layout(elf_class: int, order: str) -> _Layout:
    if elf_class == 2:
        return _Layout(struct.Struct(order + "HHIQQQIHHHHHH"), struct.Struct(order + "IIQQQQQQ"),
                       struct.Struct(order + "IIQQQQIIQQ"), 0, (0, 4, 5, 6), struct.Struct(order + "qQ"))
    return _Layout(struct.Struct(order + "HHIIIIIHHHHHH"), struct.Struct(order + "IIIIIIII"),
                   struct.Struct(order + "IIIIIIIIII"), 0, (0, 4, 5, 6), struct.Struct(order + "iI"))


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

    def section_headers(self) -> List[Section]:
        """Every section header, with its name, in table order."""
        if not self.shoff:
            return []
        table, shnum, shstrndx = self._sections()
        if not shnum or shstrndx >= shnum:
            return []
        name_at, offset_at, size_at, link_at = self.lay.sh_fields
        strtab = self.lay.shdr.unpack_from(table, shstrndx * self.shentsize)
        names = _read(self.fd, strtab[size_at], strtab[offset_at], self.size)
        out = []
        for index in range(shnum):
            header = self.lay.shdr.unpack_from(table, index * self.shentsize)
            start = header[name_at]
            end = names.find(b"\0", start)
            name = names[start:end] if 0 <= start < len(names) and end >= 0 else b""
            out.append(Section(name, header[1], header[offset_at], header[size_at], header[link_at], header[8]))
        return out

    def data(self, section: Section) -> bytes:
        if section.type == SHT_NOBITS:
            return b""
        return _read(self.fd, section.size, section.offset, self.size)

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


def soname(path: str) -> Optional[str]:
    """The DT_SONAME of the ELF file at ``path`` (from its ``.dynamic`` section), or None."""
    fd = open_regular(path)
    try:
        elf = _Elf(fd)
        sections = elf.section_headers()
        for section in sections:
            if section.type != SHT_DYNAMIC or section.size > MAX_DYNAMIC or section.link >= len(sections):
                continue
            table = elf.data(section)
            strings = elf.data(sections[section.link])
            entry = elf.lay.dyn
            for at in range(0, len(table) - entry.size + 1, entry.size):
                tag, value = entry.unpack_from(table, at)
                if tag == DT_NULL:
                    break
                if tag == DT_SONAME and value < len(strings):
                    end = strings.find(b"\0", value)
                    return strings[value:end if end >= 0 else len(strings)].decode("utf-8", "surrogateescape")
            return None
        return None
    finally:
        os.close(fd)


def section_by_name(fd: int, name: bytes, kind: Optional[int] = None) -> Optional[Tuple[bytes, int, str]]:
    """``(data, sh_addralign, byte order)`` of the first section called ``name`` (of type ``kind``)."""
    elf = _Elf(fd)
    for section in elf.section_headers():
        if section.name == name and (kind is None or section.type == kind):
            return elf.data(section), section.addralign, elf.order
    return None
