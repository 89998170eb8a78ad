"""A seccomp filter for the image's own ldconfig (``allow_container_ldconfig``), the one place
configure runs a program the image supplies.

That program runs as the container's owner without capabilities, in new PID, IPC, network, UTS
and cgroup namespaces and in a private copy of the container's mount namespace.  The filter
then takes away what ldconfig never needs and an attacker would: sockets (a host service
reached through a bound socket file, such as the persistenced socket), io_uring (sockets again,
past this filter), keyrings (root's session keyring), new namespaces (an unprivileged user
namespace gives back every capability), ptrace and the cross-process calls, bpf,
perf_event_open and userfaultfd.  A denied call fails with EPERM.  A syscall of another ABI (i386
or x32 on x86_64) fails too: the filter only knows the native numbers.  Fork stays allowed
(wrapper scripts such as Debian's ``ldconfig`` need it); the PID namespace and configure's
deadline bound what forking can do.

The filter is built at import, before configure enters the container: the child only hands it
to the kernel.
"""

from __future__ import annotations

import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Sequence, Tuple

# The kernel's AUDIT_ARCH_* value and the denied syscall numbers, per machine.
_DENIED: Dict[str, Tuple[int, Dict[str, int]]] = {
    "x86_64": (0xC000003E, {
        "socket": 41, "connect": 42, "socketpair": 53, "ptrace": 101, "add_key": 248, "request_key": 249,
        "keyctl": 250, "unshare": 272, "perf_event_open": 298, "setns": 308, "process_vm_readv": 310,
        "process_vm_writev": 311, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427,
    }),
    "aarch64": (0xC00000B7, {
        "unshare": 97, "ptrace": 117, "socket": 198, "socketpair": 199, "connect": 203, "add_key": 217,
        "request_key": 218, "keyctl": 219, "perf_event_open": 241, "setns": 268, "process_vm_readv": 270,
        "process_vm_writev": 271, "bpf": 280, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427,
    }),
}
_X32_BIT = 0x40000000  # x86_64's x32 ABI: the same calls under other numbers

# classic BPF (linux/filter.h, linux/seccomp.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_EPERM = 1
_OFFSET_NR, _OFFSET_ARCH = 0, 4  # struct seccomp_data
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def program(arch: int, denied: Sequence[int], x32_bit: bool) -> bytes:
    """The filter: another ABI, a denied number (or an x32 one) -> EPERM; anything else runs."""
    body = [(_LD_W_ABS, 0, 0, _OFFSET_NR)]
    tests = [(_JGE_K, _X32_BIT)] if x32_bit else []
    tests += [(_JEQ_K, nr) for nr in denied]
    # [0] ld arch, [1] jeq arch (else to deny), [2] ld nr, tests..., allow, deny
    total = 3 + len(tests) + 2
    deny_at = total - 1
    code = [(_LD_W_ABS, 0, 0, _OFFSET_ARCH), (_JEQ_K, 0, deny_at - 2, arch)] + body
    for i, (op, k) in enumerate(tests):
        at = 3 + i
        code.append((op, deny_at - at - 1, 0, k))
    code.append((_RET_K, 0, 0, _RET_ALLOW))
    code.append((_RET_K, 0, 0, _RET_ERRNO | _EPERM))
    assert len(code) == total and all(jt < 256 and jf < 256 for _, jt, jf, _ in code)
    return b"".join(struct.pack("=HBBI", op, jt, jf, k) for op, jt, jf, k in code)


def _native() -> Optional[bytes]:
    entry = _DENIED.get(os.uname().machine)
    if entry is None:
        return None
    arch, calls = entry
    return program(arch, sorted(calls.values()), x32_bit=os.uname().machine == "x86_64")


FILTER: Optional[bytes] = _native()  # None: a machine whose numbers are not known here


def install(ffi: Any, prctl: Any) -> None:
    """Hand ``FILTER`` to the kernel for this thread and its children (no_new_privs must be set).
    ``prctl`` is ``nvcontainer.bindings.linux.prctl``; raises OSError when the kernel refuses."""
    if FILTER is None:
        raise OSError(95, f"no seccomp filter for {os.uname().machine}")
    instructions = ffi.from_buffer(FILTER)
    fprog = ffi.new("unsigned char[16]")  # struct sock_fprog: unsigned short len; (pad); filter pointer
    struct.pack_into("=H6xQ", ffi.buffer(fprog), 0, len(FILTER) // 8, int(ffi.cast("uintptr_t", instructions)))
    prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, int(ffi.cast("uintptr_t", fprog)))
