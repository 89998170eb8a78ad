"""``nvc-cli ps``: which running container holds which GPU, since when, shared or exclusive.

Reads the allocation registry (``nvcontainer.allocation``; where: ``--state-dir``, else
``$NVC_STATE_DIR``, else config.toml's ``nvcontainer.state-dir``); records of exited containers are
reclaimed on the way.  One row per held unit, like ``docker ps``, in the units ``auto`` counts:
KIND ``gpu`` (a whole GPU, ``auto:N``) or ``mig`` (a MIG device, ``auto:mig:N``); ``--json``
prints the records.
"""

from __future__ import annotations

import json
from typing import List, Optional, Sequence, Tuple

import typer

from cli.context import usage_option, version_option

COLUMNS = ("DEVICE", "KIND", "UUID", "CONTAINER", "PID", "ACCESS", "SINCE")


def _label_key(label: str) -> Tuple[int, ...]:
    try:
        return tuple(int(part) for part in label.split(":"))
    except ValueError:
        return (1 << 30,)


def table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by three spaces, header first (docker ps style)."""
    all_rows = [COLUMNS, *rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(COLUMNS))]
    lines = ["   ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in all_rows]
    return "\n".join(lines) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("ps")
    def ps(
        as_json: bool = typer.Option(False, "--json", help="Output the allocation records as JSON."),
        state_dir: Optional[str] = typer.Option(
            None, "--state-dir", metavar="DIR",
            help="Allocation registry (default: $NVC_STATE_DIR, else config.toml's nvcontainer.state-dir, "
                 "else /run/nvcontainer/allocations)."),
        version: bool = version_option(),
        usage: bool = usage_option(),
    ) -> None:
        """List the GPUs held by running containers (shared or exclusive, and since when)."""
        from nvcontainer.allocation import holdings

        records = holdings(state_dir=state_dir)
        if as_json:
            typer.echo(json.dumps([r.to_json() for r in records], indent=2, sort_keys=True))
            return
        rows: List[Tuple[str, ...]] = []
        for record in records:
            for unit in record.units:
                rows.append((unit.label or "-", unit.kind, unit.uuid, record.holder, str(record.owner.pid),
                             record.access, record.since))
        rows.sort(key=lambda r: (_label_key(r[0]), r[6], r[3]))
        typer.echo(table(rows), nl=False)
