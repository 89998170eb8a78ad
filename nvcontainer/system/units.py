"""The systemd units and the udev rule ``nvc-ctk install-units`` writes (files in ``units/``).

* ``nvidia-cdi-refresh.service`` / ``.path`` (systemd): NVIDIA's units of those names (toolkit
  1.18+), with our ``nvc-ctk``: the path unit watches the kernel's module list and ``nvc-ctk``
  itself, the service regenerates ``/var/run/cdi/nvidia.yaml`` with ``nvc-ctk cdi generate``;
* ``nvidia-cdi-refresh.env``: the service's settings, written once and then left to the admin;
* ``71-nvidia-dev-char.rules`` (udev): ``nvc-ctk system create-dev-char-symlinks --create-all``
  when the NVIDIA driver binds, the rule NVIDIA documents for the ``/dev/char`` links.

``@NVC_CTK@`` becomes the absolute path of the installed ``nvc-ctk``, ``@ENV_FILE@`` the settings
file.  Every file carries ``MARKER``: a file of ours is replaced (or removed by ``uninstall``),
anything else at those paths is refused unless ``force``.  All names are checked before anything
is written, so a refusal changes nothing.
"""

from __future__ import annotations

import os

from nvcontainer.atomicfile import read_small_text
from nvcontainer.records import Record
from nvcontainer.system import SetupError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

MARKER = "nvcontainer-unit"
SYSTEMD_DIR = "/etc/systemd/system"
UDEV_DIR = "/etc/udev/rules.d"
ENV_DIR = "/etc/nvidia-container-toolkit"

# file name, where it goes ("systemd", "udev", "env")
UNIT_FILES: Tuple[Tuple[str, str], ...] = (
    ("nvidia-cdi-refresh.service", "systemd"),
    ("nvidia-cdi-refresh.path", "systemd"),
    ("nvidia-cdi-refresh.env", "env"),
    ("71-nvidia-dev-char.rules", "udev"),
)
NEXT_STEPS = ("systemctl daemon-reload", "systemctl enable --now nvidia-cdi-refresh.path",
              "systemctl start nvidia-cdi-refresh.service", "udevadm control --reload")


class UnitFile(Record):
    path: str
    content: str
    action: str  # "create", "replace", "keep" (install); "remove", "absent", "foreign" (uninstall)


def template(name: str) -> str:
    with open(os.path.join(os.path.dirname(__file__), "units", name), encoding="utf-8") as f:
        return f.read()


def render(name: str, nvc_ctk: str, env_file: str) -> str:
    for value in (nvc_ctk, env_file):
        if not os.path.isabs(value) or any(ch in value for ch in " \t\n\"'\\%$;"):
            raise SetupError(f"{value!r} cannot be written into a unit file (an absolute path without spaces, "
                             "quotes or % is needed)")
    return template(name).replace("@MARKER@", MARKER).replace("@NVC_CTK@", nvc_ctk).replace("@ENV_FILE@", env_file)


def _ours(path: str) -> Optional[str]:
    text = read_small_text(path)
    return text if text is not None and text.startswith(f"# {MARKER}\n") else None


def _targets(systemd_dir: str, udev_dir: str, env_dir: str) -> List[Tuple[str, str]]:
    dirs = {"systemd": systemd_dir, "udev": udev_dir, "env": env_dir}
    return [(name, os.path.join(dirs[kind], name)) for name, kind in UNIT_FILES]


def plan(nvc_ctk: str, *, systemd_dir: str = SYSTEMD_DIR, udev_dir: str = UDEV_DIR, env_dir: str = ENV_DIR,
         force: bool = False) -> List[UnitFile]:
    """What ``install`` would do; raises (touching nothing) when a file may not be written."""
    targets = _targets(systemd_dir, udev_dir, env_dir)
    env_file = targets[2][1]
    files = []
    for name, path in targets:
        content = render(name, nvc_ctk, env_file)
        existing = _ours(path)
        if name.endswith(".env") and os.path.lexists(path):
            files.append(UnitFile(path, content, "keep"))  # the admin's settings from now on
        elif existing == content:
            files.append(UnitFile(path, content, "keep"))
        elif existing is not None:
            files.append(UnitFile(path, content, "replace"))
        elif os.path.isdir(path) and not os.path.islink(path):
            raise SetupError(f"{path} is a directory")
        elif os.path.lexists(path):
            if not force:
                raise SetupError(f"{path} exists and is not ours (use --force to replace it)")
            files.append(UnitFile(path, content, "replace"))
        else:
            files.append(UnitFile(path, content, "create"))
    return files


def install(files: List[UnitFile]) -> None:
    """Write them; when one cannot be written, the ones written before are put back as they were."""
    from nvcontainer.atomicfile import write_atomic

    done: List[Tuple[str, Optional[bytes]]] = []
    for unit in files:
        if unit.action == "keep":
            continue
        try:
            with open(unit.path, "rb") as f:
                old: Optional[bytes] = f.read()
        except OSError:
            old = None
        try:
            write_atomic(unit.path, unit.content, mode=0o644)
        except OSError as exc:
            for path, before in reversed(done):
                try:
                    if before is None:
                        os.unlink(path)
                    else:
                        write_atomic(path, before, mode=0o644)
                except OSError:
                    pass
            raise SetupError(f"cannot write {unit.path}: {(exc.strerror or str(exc)).lower()}") from None
        done.append((unit.path, old))


def plan_uninstall(*, systemd_dir: str = SYSTEMD_DIR, udev_dir: str = UDEV_DIR,
                   env_dir: str = ENV_DIR) -> List[UnitFile]:
    """Our files there ("remove"); the settings file only while it is as we wrote it."""
    files = []
    for name, path in _targets(systemd_dir, udev_dir, env_dir):
        existing = _ours(path)
        if not os.path.lexists(path):
            files.append(UnitFile(path, "", "absent"))
        elif existing is None:
            files.append(UnitFile(path, "", "foreign"))
        elif name.endswith(".env") and existing != template(name).replace("@MARKER@", MARKER):
            files.append(UnitFile(path, existing, "foreign"))  # edited by the admin: kept
        else:
            files.append(UnitFile(path, existing, "remove"))
    return files


def uninstall(files: List[UnitFile]) -> None:
    for unit in files:
        if unit.action != "remove":
            continue
        try:
            os.unlink(unit.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise SetupError(f"cannot remove {unit.path}: {(exc.strerror or str(exc)).lower()}") from None
