"""Where a distribution keeps 64-bit libraries, 32-bit libraries and binaries.

``debian`` is the multiarch layout (``/usr/lib/x86_64-linux-gnu`` + ``/usr/lib/i386-linux-gnu``),
``rhel`` the lib64 layout (``/usr/lib64`` + ``/usr/lib``).  Both put binaries in ``/usr/bin``.
``prefix`` is a driver installed under its own prefix, ``/usr/local/nvidia/{lib64,lib,bin}`` (GKE
nodes, GPU sandboxes such as the H200 machines this project was checked on), with a shell wrapper
per program in ``/usr/bin`` that execs the real one by its prefix path.

The simulated driver also installs one *foreign* ``libnvidia-ml.so.1`` (file
``libnvidia-ml.so.470.00.00``, a leftover of an older driver) in ``DECOY_DIR``, a directory that
``ld.so.conf`` lists after the real library directories: the ld cache then holds two entries for
``libnvidia-ml.so.1`` and only the one whose file name ends in the driver version is the driver's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

from nvcontainer.simulate.errors import SimulateError

DECOY_DIR = "/usr/lib/nvidia-legacy-470"
DECOY_VERSION = "470.00.00"


@dataclass(frozen=True)
class Layout:
    """Absolute (root-relative) directories of one distribution layout."""

    name: str
    lib_dir: str
    lib32_dir: str
    bin_dir: str
    release_file: str
    release_text: str
    wrapper_dir: str = ""  # where shell wrappers of the driver programs go ("" = none)

    @property
    def decoy_dir(self) -> str:
        return DECOY_DIR


LAYOUTS: Dict[str, Layout] = {
    "debian": Layout(
        name="debian",
        lib_dir="/usr/lib/x86_64-linux-gnu",
        lib32_dir="/usr/lib/i386-linux-gnu",
        bin_dir="/usr/bin",
        release_file="/etc/debian_version",
        release_text="12.5\n",
    ),
    "rhel": Layout(
        name="rhel",
        lib_dir="/usr/lib64",
        lib32_dir="/usr/lib",
        bin_dir="/usr/bin",
        release_file="/etc/redhat-release",
        release_text="Red Hat Enterprise Linux release 9.3 (Plow)\n",
    ),
    "prefix": Layout(
        name="prefix",
        lib_dir="/usr/local/nvidia/lib64",
        lib32_dir="/usr/local/nvidia/lib",
        bin_dir="/usr/local/nvidia/bin",
        release_file="/etc/debian_version",
        release_text="trixie/sid\n",
        wrapper_dir="/usr/bin",
    ),
}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        known = ", ".join(sorted(LAYOUTS))
        raise SimulateError(f"unknown layout {name!r} (layouts: {known})") from None
