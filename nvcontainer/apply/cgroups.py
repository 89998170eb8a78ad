"""Grant a container access to device nodes through its devices cgroup, v1 or v2.

``detect_cgroup(pid)`` finds the container's devices cgroup directory the way
libnvidia-container does: the version from ``/proc/<pid>/cgroup`` (a ``devices`` controller line
means v1, else a ``0::`` line means v2; a process in the v1 root devices cgroup with a unified
cgroup of its own is v2), the directory from a mount of that hierarchy joined with
the container's cgroup path less the mount's root.  Mounts are looked for first in our own mount
table (the caller's view, as the original does with its parent's), then in the container's
(reached through ``/proc/<pid>/root``, so a hierarchy mounted only in the container's mount
namespace, e.g. runc run from a private namespace with cgroup2 on ``/sys/fs/cgroup``, is found
too).  A mount hidden under a later mount is skipped, and the directory must exist.

``grant_devices(target, rules)`` then allows the devices:

- v1: one ``c MAJ:MIN rw`` write per rule to ``devices.allow``;
- v2: the ``BPF_CGROUP_DEVICE`` programs attached to the cgroup all must allow an access, so each
  one is rebuilt: rule blocks that return 1 for our devices, followed by the program's own
  instructions as the kernel hands them back (``xlated``; a device filter uses no maps or
  helpers, so they load again as they are), and the new program takes the old one's place
  (``BPF_F_REPLACE``, or detach-then-attach where the cgroup holds a single non-multi program).
  A cgroup with no device program already allows every device and is left alone.

Only the container's own cgroup directory is ever written to.  Errors are ``CgroupError``: found
while detecting, with the stage ``container`` (the original fails ``nvc_container_new``); while
granting, with the stage ``mount`` (the original fails in its mount phase).
"""

from __future__ import annotations

import errno
import os
import resource
import struct

from nvcontainer.bindings import bpf, mounts
from nvcontainer.errors import CgroupError
from nvcontainer.plans import DeviceRule
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

# --- where the cgroup is -------------------------------------------------------------------------


class CgroupTarget(Record):
    """The container's devices cgroup: ``version`` 1 or 2 and its directory, openable by us."""

    version: int
    path: str


class MountEntry(Record):
    """One line of ``/proc/<pid>/mountinfo`` (the fields we use)."""

    mount_id: int
    parent_id: int
    root: str
    mountpoint: str
    fstype: str
    super_options: Tuple[str, ...]


def _detect_error(message: str) -> CgroupError:
    return CgroupError(message, stage="container")


def _grant_error(message: str) -> CgroupError:
    return CgroupError(message, stage="mount")


def parse_mountinfo(text: str) -> List[MountEntry]:
    entries = []
    for line in text.split("\n"):  # only \n ends a line: see mounts.mountinfo_fields
        fields = line.split(" ")
        if "-" not in fields[6:]:
            if line.strip():
                raise _detect_error(f"malformed mountinfo entry: {line}")
            continue
        sep = fields.index("-", 6)
        if len(fields) < sep + 4:
            raise _detect_error(f"malformed mountinfo entry: {line}")
        entries.append(MountEntry(
            mount_id=int(fields[0]),
            parent_id=int(fields[1]),
            root=mounts.unescape(fields[3]),
            mountpoint=mounts.unescape(fields[4]),
            fstype=fields[sep + 1],
            super_options=tuple(fields[sep + 3].split(",")),
        ))
    return entries


def parse_proc_cgroup(text: str) -> Tuple[int, str]:
    """The devices cgroup version and the process's cgroup path, from ``/proc/<pid>/cgroup``.

    A ``devices`` controller line means v1, as in the original, with one exception: on a hybrid
    host a process that a v2 runtime placed (runc with cgroup2 mounted in its own namespace) still
    lists the v1 controllers, at ``/``.  The v1 root devices cgroup allows every device, so the only
    device filter it can have is its unified cgroup's: then it is v2.
    """
    devices: Optional[str] = None
    unified: Optional[str] = None
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(":", 2)
        if len(parts) != 3:
            raise _detect_error(f"malformed cgroup entry: {line}")
        if "devices" in parts[1].split(",") and devices is None:
            devices = parts[2]
        elif parts[0] == "0" and parts[1] == "" and unified is None:
            unified = parts[2]
    if devices is not None and (devices != "/" or unified in (None, "/")):
        return 1, devices
    if unified is None:
        raise _detect_error("no devices or unified cgroup entries found")
    return 2, unified


def _is_under(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top.rstrip("/") + "/")


class _MountIndex:
    """The mount table by id and by mount point, built once: whether a mount is hidden is then a
    walk up its own mount point and its own parents, linear in the table (a node may have tens of
    thousands of mounts: one per tenant volume)."""

    def __init__(self, entries: Sequence[MountEntry]) -> None:
        self.by_id = {e.mount_id: e for e in entries}
        self.by_point: Dict[str, List[int]] = {}
        for e in entries:
            self.by_point.setdefault(e.mountpoint, []).append(e.mount_id)

    def visible(self, entry: MountEntry) -> bool:
        """Every mount on the same point or on a directory above it must be one of ``entry``'s
        ancestors (through ``parent_id``), else it covers ``entry``."""
        ancestors, parent = set(), self.by_id.get(entry.parent_id)
        while parent is not None and parent.mount_id not in ancestors and parent is not entry:
            ancestors.add(parent.mount_id)
            parent = self.by_id.get(parent.parent_id)
        point = entry.mountpoint
        while True:
            for mount_id in self.by_point.get(point, ()):
                if mount_id != entry.mount_id and mount_id not in ancestors:
                    return False
            if point in ("/", ""):
                return True
            point = point.rsplit("/", 1)[0] or "/"


def visible_mounts(entries: Sequence[MountEntry]) -> List[MountEntry]:
    """The mounts not hidden by another (see ``_MountIndex.visible``)."""
    index = _MountIndex(entries)
    return [entry for entry in entries if index.visible(entry)]


def _serves(entry: MountEntry, version: int) -> bool:
    if version == 1:
        return entry.fstype == "cgroup" and "devices" in entry.super_options
    return entry.fstype == "cgroup2"


def candidate_dirs(version: int, cgroup_path: str, entries: Sequence[MountEntry]) -> List[str]:
    """Where the cgroup ``cgroup_path`` of the hierarchy ``version`` shows in this mount table."""
    found = []
    index = _MountIndex(entries)
    for entry in entries:
        if not _serves(entry, version) or entry.root.startswith("/..") or not index.visible(entry):
            continue
        if not _is_under(cgroup_path, entry.root):
            continue
        rest = cgroup_path[len(entry.root):] if entry.root != "/" else cgroup_path
        found.append(os.path.normpath(entry.mountpoint + "/" + rest.strip("/")))
    return found


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="\n") as f:
            return f.read()
    except OSError:
        return None


def detect_cgroup(pid: int, proc_root: str = "/") -> CgroupTarget:
    """Find the devices cgroup directory of process ``pid`` (a container's init)."""
    proc = os.path.join(proc_root, "proc")
    text = _read(os.path.join(proc, str(pid), "cgroup"))
    if text is None:
        raise _detect_error(f"open failed: {os.path.join(proc, str(pid), 'cgroup')}: no such process")
    version, cgroup_path = parse_proc_cgroup(text)
    views = (
        (os.path.join(proc, "self", "mountinfo"), proc_root),  # the caller's
        (os.path.join(proc, str(pid), "mountinfo"), os.path.join(proc, str(pid), "root")),  # the container's
    )
    for mountinfo, prefix in views:
        table = _read(mountinfo)
        if table is None:
            continue
        for directory in candidate_dirs(version, cgroup_path, parse_mountinfo(table)):
            path = os.path.normpath(prefix + "/" + directory)
            if os.path.isdir(path):
                return CgroupTarget(version, path)
    kind = "devices cgroup" if version == 1 else "cgroup2"
    raise _detect_error(f"cgroup path not found: no {kind} mount holds {cgroup_path}")


# --- BPF device filter instructions ----------------------------------------------------------------

BPF_DEVCG_DEV_BLOCK = 1
BPF_DEVCG_DEV_CHAR = 2
BPF_DEVCG_ACC_MKNOD = 1
BPF_DEVCG_ACC_READ = 2
BPF_DEVCG_ACC_WRITE = 4
_ACCESS_BITS = {"m": BPF_DEVCG_ACC_MKNOD, "r": BPF_DEVCG_ACC_READ, "w": BPF_DEVCG_ACC_WRITE}
_TYPES = {"c": BPF_DEVCG_DEV_CHAR, "b": BPF_DEVCG_DEV_BLOCK, "a": None}

# Opcodes (linux/bpf_common.h, linux/bpf.h).
LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
LDX_H = 0x69  # BPF_LDX | BPF_MEM | BPF_H
ALU32_RSH_K = 0x74
ALU32_AND_K = 0x54
ALU32_MOV_K = 0xB4
ALU32_MOV_X = 0xBC
JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
JNE_X = 0x5D
EXIT = 0x95
R0, R1, R2, R3, R4, R5 = range(6)


class Insn(Record):
    """One ``struct bpf_insn``."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        return struct.pack("<BBhi", self.code, (self.src << 4) | self.dst, self.off, self.imm)


def decode(raw: bytes) -> List[Insn]:
    insns = []
    for i in range(0, len(raw) - len(raw) % 8, 8):
        code, regs, off, imm = struct.unpack_from("<BBhi", raw, i)
        insns.append(Insn(code, regs & 0xF, regs >> 4, off, imm))
    return insns


def _access_mask(rule: DeviceRule) -> int:
    mask = 0
    for ch in rule.access:
        if ch not in _ACCESS_BITS:
            raise _grant_error(f"invalid device access: {rule.access}")
        mask |= _ACCESS_BITS[ch]
    return mask


def _rule_block(rule: DeviceRule) -> List[Insn]:
    """Return 1 when the access matches ``rule``; else fall through past the block.

    The jumps are written with ``off=-1`` as a placeholder and fixed once the block's length is
    known.  R2..R5 hold type, access, major, minor (see ``prelude``); R0 is the scratch register,
    so the registers stay intact for the next block and R1 (the context) for the old program.
    """
    if rule.type not in _TYPES:
        raise _grant_error(f"invalid device type: {rule.type}")
    body: List[Insn] = []
    dev_type = _TYPES[rule.type]
    if dev_type is not None:
        body.append(Insn(JNE_K, R2, imm=dev_type, off=-1))
    mask = _access_mask(rule)
    if mask != BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE:
        body += [Insn(ALU32_MOV_X, R0, R3), Insn(ALU32_AND_K, R0, imm=mask), Insn(JNE_X, R0, R3, off=-1)]
    if rule.major >= 0:
        body.append(Insn(JNE_K, R4, imm=rule.major, off=-1))
    if rule.minor >= 0:
        body.append(Insn(JNE_K, R5, imm=rule.minor, off=-1))
    body += [Insn(ALU32_MOV_K, R0, imm=1), Insn(EXIT)]
    size = len(body)
    return [Insn(i.code, i.dst, i.src, size - n - 1, i.imm) if i.off == -1 else i for n, i in enumerate(body)]


def prelude(rules: Sequence[DeviceRule]) -> List[Insn]:
    """Instructions that allow ``rules`` and otherwise fall through to what follows them.

    ``struct bpf_cgroup_dev_ctx`` is ``{u32 access_type; u32 major; u32 minor}``; the low 16 bits
    of ``access_type`` are the device type, the high 16 bits the access.
    """
    insns = [
        Insn(LDX_H, R2, R1, 0),  # R2 = type
        Insn(LDX_W, R3, R1, 0),
        Insn(ALU32_RSH_K, R3, imm=16),  # R3 = access
        Insn(LDX_W, R4, R1, 4),  # R4 = major
        Insn(LDX_W, R5, R1, 8),  # R5 = minor
    ]
    for rule in rules:
        insns += _rule_block(rule)
    return insns


def assemble(insns: Sequence[Insn]) -> bytes:
    return b"".join(i.encode() for i in insns)


# --- granting ----------------------------------------------------------------------------------------


def _grant_v1(directory: str, rules: Sequence[DeviceRule]) -> None:
    allow = os.path.join(directory, "devices.allow")
    try:
        fd = os.open(allow, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        raise _grant_error(f"open failed: {allow}: {os.strerror(exc.errno or errno.EIO).lower()}") from None
    try:
        for rule in rules:
            _access_mask(rule)
            major = "*" if rule.major < 0 else str(rule.major)
            minor = "*" if rule.minor < 0 else str(rule.minor)
            line = f"{rule.type} {major}:{minor} {rule.access}"
            try:
                os.write(fd, line.encode())
            except OSError as exc:
                reason = os.strerror(exc.errno or errno.EIO).lower()
                raise _grant_error(f"write failed: {allow}: {line}: {reason}") from None
    finally:
        os.close(fd)


def _raise_memlock() -> None:
    """BPF memory is charged to RLIMIT_MEMLOCK before Linux 5.11; raise it as far as allowed."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (hard, hard))
    except (OSError, ValueError):
        pass


def _bpf_error(what: str, directory: str, exc: OSError) -> CgroupError:
    return _grant_error(f"{what}: {directory}: {os.strerror(exc.errno or errno.EIO).lower()}")


def _grant_v2(directory: str, rules: Sequence[DeviceRule]) -> None:
    head = prelude(rules)
    try:
        cgroup_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _bpf_error("open failed", directory, exc) from None
    try:
        try:
            flags, ids = bpf.prog_query(cgroup_fd, bpf.BPF_CGROUP_DEVICE)
        except OSError as exc:
            raise _bpf_error("bpf_prog_query(BPF_CGROUP_DEVICE) failed", directory, exc) from None
        if not ids:
            return  # no device filter on this cgroup: every device is allowed already
        _raise_memlock()
        for prog_id in ids:
            _rebuild(cgroup_fd, directory, prog_id, flags, head)
    finally:
        os.close(cgroup_fd)


def _rebuild(cgroup_fd: int, directory: str, prog_id: int, flags: int, head: Sequence[Insn]) -> None:
    """Replace the attached program ``prog_id`` by ``head`` followed by its own instructions."""
    try:
        old_fd = bpf.prog_get_fd_by_id(prog_id)
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # gone meanwhile
            return
        raise _bpf_error(f"cannot fetch device filter program {prog_id}", directory, exc) from None
    try:
        try:
            prog_type, old = bpf.prog_info(old_fd)
        except OSError as exc:
            raise _bpf_error(f"cannot read device filter program {prog_id}", directory, exc) from None
        if prog_type != bpf.BPF_PROG_TYPE_CGROUP_DEVICE or not old:
            raise _grant_error(f"cannot read device filter program {prog_id}: {directory}: instructions withheld")
        try:
            new_fd = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, assemble(head) + old, "Apache", "nvidia_devices")
        except OSError as exc:
            raise _bpf_error("cannot load the new device filter program", directory, exc) from None
        try:
            _swap(cgroup_fd, directory, old_fd, new_fd, flags)
        finally:
            os.close(new_fd)
    finally:
        os.close(old_fd)


def _swap(cgroup_fd: int, directory: str, old_fd: int, new_fd: int, flags: int) -> None:
    """Put ``new_fd`` in the place of ``old_fd`` on the cgroup."""
    kind = bpf.BPF_CGROUP_DEVICE
    attach_failed = "bpf_prog_attach(BPF_CGROUP_DEVICE) failed"
    if not flags & bpf.BPF_F_ALLOW_MULTI:
        # A single program: attaching another with the same flags swaps it in one step.
        try:
            bpf.prog_attach(cgroup_fd, new_fd, kind, flags)
        except OSError as exc:
            raise _bpf_error(attach_failed, directory, exc) from None
        return
    try:
        bpf.prog_attach(cgroup_fd, new_fd, kind, bpf.BPF_F_ALLOW_MULTI | bpf.BPF_F_REPLACE, old_fd)
        return
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise _bpf_error(attach_failed, directory, exc) from None
    # No BPF_F_REPLACE (Linux < 5.6): add the new program first, then drop the old one.
    try:
        bpf.prog_attach(cgroup_fd, new_fd, kind, bpf.BPF_F_ALLOW_MULTI)
    except OSError as exc:
        raise _bpf_error(attach_failed, directory, exc) from None
    try:
        bpf.prog_detach(cgroup_fd, old_fd, kind)
    except OSError as exc:
        raise _bpf_error("bpf_prog_detach(BPF_CGROUP_DEVICE) failed", directory, exc) from None


def grant_devices(target: CgroupTarget, rules: Sequence[DeviceRule]) -> None:
    """Allow the container in ``target`` the devices of ``rules`` (granting twice is harmless)."""
    if not rules:
        return
    if target.version == 1:
        _grant_v1(target.path, rules)
    elif target.version == 2:
        _grant_v2(target.path, rules)
    else:
        raise _grant_error(f"unsupported cgroup version: {target.version}")
