"""``nvc-ctk system ...``: host set-up outside any container (nvidia-ctk's ``system`` commands).

* ``nodes``: the NVIDIA device nodes that exist, or could (``--create-all``), the control nodes made
  with mknod, and the kernel modules loaded with modprobe;
* ``devchar``: ``/dev/char/MAJOR:MINOR`` links to them (``create-dev-char-symlinks``), which
  systemd needs to re-apply a container's device rules after ``daemon-reload``;
* ``ldcache``: the libraries of a driver root's ld.so.cache (``print-ldcache``);
* ``units``: the systemd units and udev rules ``nvc-ctk install-units`` writes.

Each takes a driver root (``/`` or, say, a simulated one) and never leaves the host half-changed.
"""

from __future__ import annotations

from nvcontainer.errors import NvcError


class SetupError(NvcError):
    """A host set-up step failed (``nvc-ctk: system error: ...``)."""

    stage = "system"
