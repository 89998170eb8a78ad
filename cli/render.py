"""Text, CSV and JSON renderings of the Driver snapshot for `info`."""

from __future__ import annotations

from nvcontainer.driver import Driver
from nvcontainer.records import fields, is_record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, List


def info_text(driver: Driver) -> str:
    lines = [f"{'NVRM version:':<15} {driver.nvrm_version}", f"{'CUDA version:':<15} {driver.cuda_version}"]
    for gpu in driver.gpus:
        lines += [
            "",
            f"{'Device Index:':<15} {gpu.index}",
            f"{'Device Minor:':<15} {gpu.minor}",
            f"{'Model:':<15} {gpu.model}",
            f"{'Brand:':<15} {gpu.brand}",
            f"{'GPU UUID:':<15} {gpu.uuid}",
            f"{'Bus Location:':<15} {gpu.bus_id}",
            f"{'Architecture:':<15} {gpu.architecture}",
        ]
    return "\n".join(lines) + "\n"


def info_csv(driver: Driver) -> str:
    rows: List[str] = ["NVRM version,CUDA version", f"{driver.nvrm_version},{driver.cuda_version}", "",
                       "Device Index,Device Minor,Model,Brand,GPU UUID,Bus Location,Architecture"]
    rows += [f"{g.index},{g.minor},{g.model},{g.brand},{g.uuid},{g.bus_id},{g.architecture}" for g in driver.gpus]
    return "\n".join(rows) + "\n"


def _jsonable(value: Any) -> Any:
    if is_record(value):
        return {name: _jsonable(getattr(value, name)) for name in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def info_json(driver: Driver) -> str:
    """The whole snapshot (MIG devices included, which the text format omits)."""
    import json  # only for --json: the text and CSV forms are on the fast path

    return json.dumps(_jsonable(driver), indent=2) + "\n"


def to_json(value: Any) -> str:
    import json

    return json.dumps(_jsonable(value), indent=2) + "\n"
