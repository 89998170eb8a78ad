"""``nvc-cli doctor``: check this machine's GPU container set-up and print how to fix what is wrong.

Each check prints ``✓ <summary>`` or ``✗ <summary>`` (``-`` for a note), a failure followed by an
indented one-line fix; ``--json`` prints the list of checks instead.  Exit status 1 when any
check failed, else 0.  The global ``--root`` / ``--dev-root`` / ``--ldcache`` apply, as for ``info``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

import typer

from cli.context import GlobalOptions

if TYPE_CHECKING:
    from nvcontainer.doctor import Check

Marks = Dict[Optional[bool], str]
MARKS: Marks = {True: "✓", False: "✗", None: "-"}
ASCII_MARKS: Marks = {True: "OK", False: "FAIL", None: "-"}


def render_text(checks: Sequence[Check], marks: Optional[Marks] = None) -> str:
    """The report: one line per check, failures followed by ``    fix: ...``."""
    use = marks or MARKS
    lines: List[str] = []
    for check in checks:
        lines.append(f"{use[check.ok]} {check.summary}")
        if check.ok is False and check.fix:
            lines.append(f"    fix: {check.fix}")
    return "\n".join(lines) + "\n"


def render_json(checks: Sequence[Check]) -> str:
    return json.dumps([c.as_dict() for c in checks], indent=2, ensure_ascii=False) + "\n"


def _marks() -> Marks:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "".join(str(m) for m in MARKS.values()).encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return ASCII_MARKS
    return MARKS


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print the checks as a JSON list."),
        image_env: Optional[str] = typer.Option(
            None, "--image-env", metavar="FILE",
            help="An image's environment (KEY=VALUE lines): check its NVIDIA_REQUIRE_* / CUDA_VERSION."),
        bundle: Optional[str] = typer.Option(
            None, "--bundle", metavar="DIR",
            help="An OCI bundle: check the requirements in its config.json process.env."),
        cdi_spec_dirs: Optional[List[str]] = typer.Option(
            None, "--cdi-spec-dir", metavar="DIR",
            help="A CDI spec directory (repeatable; default /etc/cdi and /var/run/cdi)."),
        docker_config: str = typer.Option(
            "/etc/docker/daemon.json", "--docker-config", metavar="PATH", help="Docker's daemon.json."),
        containerd_config: str = typer.Option(
            "/etc/containerd/config.toml", "--containerd-config", metavar="PATH", help="containerd's config.toml."),
        crio_config: str = typer.Option(
            "/etc/crio/crio.conf", "--crio-config", metavar="PATH", help="CRI-O's crio.conf."),
    ) -> None:
        """Check the driver, devices, cgroups, engines, CDI specs (and an image) for GPU containers."""
        from nvcontainer.doctor import DoctorOptions, EngineFiles, ImageEnv, run_checks
        from nvcontainer.doctor.cdi import DEFAULT_SPEC_DIRS
        from nvcontainer.doctor.image import read_bundle_env, read_env_file
        from nvcontainer.errors import InputError

        opts: GlobalOptions = ctx.obj
        if image_env and bundle:
            raise InputError("--image-env and --bundle cannot be used together")
        image: Optional[ImageEnv] = None
        if image_env:
            image = ImageEnv(source=image_env, env=tuple(read_env_file(image_env).items()))
        elif bundle:
            image = ImageEnv(source=bundle, env=tuple(read_bundle_env(bundle).items()))
        files = EngineFiles(docker_config=docker_config, containerd_config=containerd_config,
                            crio_config=crio_config,
                            cdi_spec_dirs=tuple(cdi_spec_dirs) if cdi_spec_dirs else DEFAULT_SPEC_DIRS)
        checks = run_checks(DoctorOptions(root=opts.root, dev_root=opts.dev_root, ldcache=opts.ldcache,
                                          engine_files=files, image=image))
        if as_json:
            typer.echo(render_json(checks), nl=False)
        else:
            typer.echo(render_text(checks, _marks()), nl=False)
        if any(c.ok is False for c in checks):
            raise typer.Exit(1)
