"""``nvc-ctk config``: the config.toml the runtime shim and the hook read.

``nvc-ctk config default`` (aliases ``create-default``, ``generate-default``) prints the default
file, as ``nvidia-ctk config default`` does; ``--output FILE`` writes it instead.
"""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="config", help="Interact with the NVIDIA Container Toolkit configuration.",
                        no_args_is_help=True)

    def default(
        output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                             help="Write the default config to FILE instead of stdout."),
    ) -> None:
        """Print the default config.toml."""
        from nvcontainer.config import render_default

        text = render_default()
        if output:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
            return
        typer.echo(text, nl=False)

    group.command("default")(default)
    for alias in ("create-default", "generate-default"):
        group.command(alias, hidden=True)(default)
    app.add_typer(group, name="config")
