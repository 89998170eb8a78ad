"""Run every doctor check in order and collect the results; never raises for what it finds.

The driver is probed once (``probe.py``) and every check reads that probe.  A check that breaks
unexpectedly becomes a failed check naming the exception, so the report is always complete.
"""

from __future__ import annotations

from nvcontainer.doctor import cdi, driver, engines, host, image, nodes
from nvcontainer.doctor.check import Check, failed
from nvcontainer.doctor.probe import DriverProbe, probe_driver
from nvcontainer.log import logger as log
from nvcontainer.records import Record, field

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Tuple


class ImageEnv(Record):
    """An image's environment and where it came from (for the report)."""

    source: str
    env: Tuple[Tuple[str, str], ...]


class DoctorOptions(Record):
    root: str = "/"
    dev_root: Optional[str] = None
    ldcache: Optional[str] = None
    engine_files: engines.EngineFiles = field(default_factory=engines.EngineFiles)
    path_env: Optional[str] = None  # where engines are looked for; None: $PATH
    image: Optional[ImageEnv] = None
    host_root: str = "/"  # the host's files (ldconfig); "/" but in tests
    proc_root: str = "/"  # the host's /proc (cgroups); "/" but in tests


def _guarded(name: str, make: Callable[[], List[Check]]) -> List[Check]:
    try:
        return make()
    except Exception as exc:  # a bug in a check must not hide the other checks' results
        log.exception("doctor check %s failed", name)
        return [failed(name, f"the {name} check itself failed: {type(exc).__name__}: {exc}",
                       "report this as a bug, with the log of `nvc-cli --debug FILE doctor`")]


def run_checks(options: DoctorOptions) -> Tuple[Check, ...]:
    """Every check, in the order the report prints them."""
    probes: List[DriverProbe] = []

    def probe() -> List[Check]:
        probes.append(probe_driver(options.root, options.dev_root, options.ldcache))
        return []

    checks = _guarded("driver", probe)
    if not probes:
        return tuple(checks)
    found = probes[0]
    files = options.engine_files
    steps: List[Tuple[str, Callable[[], List[Check]]]] = [
        ("kernel-module", lambda: [driver.kernel_module_check(found)]),
        ("nvml", lambda: [driver.nvml_check(found)]),
        ("persistenced", lambda: [driver.persistenced_check(found.root)]),
        ("device-nodes", lambda: [nodes.device_nodes_check(found)]),
        ("dev-char-symlinks", lambda: [nodes.dev_char_check(found)]),
        ("cgroups", lambda: [host.cgroup_check(options.proc_root)]),
        ("ldconfig", lambda: [host.ldconfig_check(options.host_root)]),
        ("engines", lambda: engines.engine_checks(files, options.path_env, root=found.root,
                                                  proc_root=options.proc_root)),
        ("cdi-spec", lambda: cdi.cdi_checks(files.cdi_spec_dirs, found.installed_version, found.root)),
    ]
    if options.image is not None:
        img = options.image
        steps.append(("image-requirements", lambda: [image.image_check(dict(img.env), found.driver, img.source)]))
    for name, make in steps:
        checks += _guarded(name, make)
    return tuple(checks)
