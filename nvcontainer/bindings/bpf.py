"""The few ``bpf(2)`` commands a device cgroup filter needs: query, fetch, load, attach, detach.

Goes through the same lazily built cffi handle as ``nvcontainer.bindings.linux`` (ABI mode, the
already-loaded libc, built on the first call).  Every ``union bpf_attr`` is packed by hand with
``struct`` into a zeroed buffer of ``ATTR_SIZE`` bytes, so no C declarations are needed; the
kernel accepts a larger buffer as long as the bytes it does not know are zero.

Errors: ``OSError(errno, strerror, filename)`` like the rest of the bindings; ``filename`` names the
command (``bpf(BPF_PROG_LOAD)``).  A failed load carries the verifier log as ``verifier_log``.
"""

from __future__ import annotations

import errno
import os
import struct

from nvcontainer.bindings import linux

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, List, Tuple

# bpf(2) commands (linux/bpf.h).
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # attach type

# Attach flags.
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2

_NR = {"x86_64": 321, "aarch64": 280}
_COMMANDS = {
    BPF_PROG_LOAD: "BPF_PROG_LOAD",
    BPF_PROG_ATTACH: "BPF_PROG_ATTACH",
    BPF_PROG_DETACH: "BPF_PROG_DETACH",
    BPF_PROG_GET_FD_BY_ID: "BPF_PROG_GET_FD_BY_ID",
    BPF_OBJ_GET_INFO_BY_FD: "BPF_OBJ_GET_INFO_BY_FD",
    BPF_PROG_QUERY: "BPF_PROG_QUERY",
}

ATTR_SIZE = 128  # bytes of union bpf_attr we pass (zero padded)
_INFO_SIZE = 96  # bytes of struct bpf_prog_info we ask for (up to and including name[16])
_MAX_PROGS = 64  # programs one cgroup may hold per attach type
_LOG_SIZE = 1 << 16


class BpfLoadError(OSError):
    """``BPF_PROG_LOAD`` failed; ``verifier_log`` holds what the verifier said."""

    verifier_log: str = ""


def _address(ffi: Any, cdata: Any) -> int:
    return int(ffi.cast("uintptr_t", cdata))


def _bpf(cmd: int, attr: Any, ffi: Any, lib: Any) -> int:
    machine = os.uname().machine
    name = f"bpf({_COMMANDS.get(cmd, cmd)})"
    if machine not in _NR:
        raise OSError(errno.ENOSYS, f"no bpf syscall number known for {machine}", name)
    ret = int(lib.syscall(ffi.cast("long", _NR[machine]), ffi.cast("long", cmd), attr,
                          ffi.cast("long", ATTR_SIZE)))
    if ret < 0:
        err = ffi.errno
        raise OSError(err, os.strerror(err), name)
    return ret


def _attr(layout: str, *values: Any) -> Tuple[Any, Any, Any]:
    """A zeroed ``union bpf_attr`` buffer with ``values`` packed at its start."""
    ffi, lib = linux._libc()
    buf = ffi.new("char[]", ATTR_SIZE)
    packed = struct.pack(layout, *values)
    ffi.memmove(buf, packed, len(packed))
    return buf, ffi, lib


def prog_query(target_fd: int, attach_type: int) -> Tuple[int, List[int]]:
    """The attach flags and ids of the programs attached directly to ``target_fd`` (a cgroup)."""
    ffi, lib = linux._libc()
    size = _MAX_PROGS
    for _ in range(10):
        ids = ffi.new("uint32_t[]", size)
        # target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt
        buf, ffi, lib = _attr("=IIIIQI", target_fd, attach_type, 0, 0, _address(ffi, ids), size)
        try:
            _bpf(BPF_PROG_QUERY, buf, ffi, lib)
        except OSError as err:
            if err.errno == errno.ENOSPC:  # prog_cnt now holds the real count
                size = struct.unpack_from("=I", ffi.buffer(buf, ATTR_SIZE), 24)[0] or size * 2
                continue
            raise
        raw = bytes(ffi.buffer(buf, ATTR_SIZE))
        flags = struct.unpack_from("=I", raw, 12)[0]
        count = struct.unpack_from("=I", raw, 24)[0]
        return flags, [int(ids[i]) for i in range(count)]
    raise OSError(errno.ENOSPC, "the list of attached programs keeps changing", "bpf(BPF_PROG_QUERY)")


def prog_get_fd_by_id(prog_id: int) -> int:
    buf, ffi, lib = _attr("=I", prog_id)
    return _bpf(BPF_PROG_GET_FD_BY_ID, buf, ffi, lib)


def prog_info(prog_fd: int) -> Tuple[int, bytes]:
    """The type of program ``prog_fd`` and its instructions as the verifier left them (xlated)."""
    ffi, lib = linux._libc()

    def query(insns: Any, length: int) -> bytes:
        info = ffi.new("char[]", _INFO_SIZE)
        if length:  # xlated_prog_len at 20, xlated_prog_insns at 32
            ffi.memmove(info + 20, struct.pack("=I", length), 4)
            ffi.memmove(info + 32, struct.pack("=Q", _address(ffi, insns)), 8)
        buf, _, _ = _attr("=IIQ", prog_fd, _INFO_SIZE, _address(ffi, info))
        _bpf(BPF_OBJ_GET_INFO_BY_FD, buf, ffi, lib)
        return bytes(ffi.buffer(info, _INFO_SIZE))

    first = query(ffi.NULL, 0)
    prog_type = struct.unpack_from("=I", first, 0)[0]
    length = struct.unpack_from("=I", first, 20)[0]
    if length == 0:
        return prog_type, b""
    insns = ffi.new("char[]", length)
    second = query(insns, length)
    if struct.unpack_from("=Q", second, 32)[0] == 0:  # the kernel withheld them (kptr_restrict)
        return prog_type, b""
    length = min(length, struct.unpack_from("=I", second, 20)[0])
    return prog_type, bytes(ffi.buffer(insns, length))


def prog_load(prog_type: int, insns: bytes, license: str = "Apache", name: str = "") -> int:
    """Load ``insns`` (8-byte ``struct bpf_insn`` records) as a program of ``prog_type``."""
    ffi, lib = linux._libc()
    code = ffi.new("char[]", insns)
    lic = ffi.new("char[]", license.encode())

    def load(log: Any, log_size: int) -> int:
        # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf, kern_version,
        # prog_flags, prog_name[16]
        buf, _, _ = _attr("=IIQQIIQII16s", prog_type, len(insns) // 8, _address(ffi, code),
                          _address(ffi, lic), 1 if log_size else 0, log_size,
                          _address(ffi, log) if log_size else 0, 0, 0, name.encode()[:15])
        return _bpf(BPF_PROG_LOAD, buf, ffi, lib)

    try:
        return load(ffi.NULL, 0)
    except OSError as err:
        first = err
    # Once more with a log, only to say why.
    log = ffi.new("char[]", _LOG_SIZE)
    try:
        return load(log, _LOG_SIZE)
    except OSError:
        pass
    exc = BpfLoadError(first.errno, first.strerror, first.filename)
    exc.verifier_log = ffi.string(log).decode(errors="replace")
    raise exc


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0, replace_fd: int = 0) -> None:
    """Attach ``prog_fd`` to ``target_fd``; with ``BPF_F_REPLACE`` it takes the place of ``replace_fd``."""
    buf, ffi, lib = _attr("=IIIII", target_fd, prog_fd, attach_type, flags, replace_fd)
    _bpf(BPF_PROG_ATTACH, buf, ffi, lib)


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    buf, ffi, lib = _attr("=III", target_fd, prog_fd, attach_type)
    _bpf(BPF_PROG_DETACH, buf, ffi, lib)
