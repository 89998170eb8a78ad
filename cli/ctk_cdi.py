"""``nvc-ctk cdi``: generate, list and validate CDI specs (as ``nvidia-ctk cdi``).

``generate`` serialises the Plan of every device as a spec (``nvcontainer.cdi.generate``),
``list`` prints the qualified device names found in the spec directories, ``validate`` checks
spec files against the CDI schema and the rules the schema misses.  Errors follow the
front-end contract: ``nvc-ctk: cdi error: <file>: <problem>``, one line each, exit 1.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

PROG = "nvc-ctk"
_SPEC_DIR_HELP = "A CDI spec directory (repeatable; default /etc/cdi and /var/run/cdi)."


def register(app: typer.Typer) -> None:
    cdi = typer.Typer(name="cdi", help="Generate, list and validate CDI specs.", no_args_is_help=True)
    app.add_typer(cdi, name="cdi")

    @cdi.command("generate")
    def generate_(
        output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                             help="Write the spec to FILE (default: standard output)."),
        fmt: Optional[str] = typer.Option(None, "--format", metavar="yaml|json",
                                          help="Output format (default: from the file name, else yaml)."),
        strategy: Optional[List[str]] = typer.Option(
            None, "--device-name-strategy", metavar="index|uuid|type-index",
            help="How devices are named (repeatable; default index)."),
        driver_root: str = typer.Option("/", "--driver-root", metavar="PATH", help="The driver's root directory."),
        dev_root: Optional[str] = typer.Option(
            None, "--dev-root", metavar="PATH", help="Where /dev and /proc/driver/nvidia are (default: driver root)."),
        ldcache: Optional[str] = typer.Option(None, "--ldcache", metavar="FILE",
                                              help="The driver root's ld.so.cache (default /etc/ld.so.cache)."),
        vendor: str = typer.Option("nvidia.com", "--vendor", "--cdi-vendor", help="The vendor of the CDI kind."),
        class_: str = typer.Option("gpu", "--class", "--cdi-class", help="The class of the CDI kind."),
        no_all_device: bool = typer.Option(False, "--no-all-device", help="Do not add the 'all' device."),
        hook_path: Optional[str] = typer.Option(
            None, "--nvidia-cdi-hook-path", metavar="PATH", help="Absolute path of nvc-cdi-hook in the spec."),
    ) -> None:
        """Generate a CDI spec for the GPUs of this machine (or of --driver-root)."""
        from nvcontainer.cdi.errors import CdiError
        from nvcontainer.cdi.generate import generate
        from nvcontainer.cdi.spec import dump_spec, write_spec
        from nvcontainer.cdi.validate import validate
        from nvcontainer.discovery import discover

        if fmt is None:
            fmt = "json" if output and output.endswith(".json") else "yaml"
        if fmt not in ("yaml", "json"):
            raise CdiError(f"unsupported output format {fmt!r}: use yaml or json")
        driver = discover(driver_root, ldcache, dev_root=dev_root)
        document = generate(driver, device_name_strategy=strategy or ["index"], vendor=vendor, class_=class_,
                            all_device=not no_all_device, hook_path=hook_path)
        validate(document, output or "<generated>")
        if output:
            write_spec(document, output, fmt)
        else:
            sys.stdout.write(dump_spec(document, fmt))

    @cdi.command("list")
    def list_(
        spec_dir: Optional[List[str]] = typer.Option(None, "--spec-dir", metavar="DIR", help=_SPEC_DIR_HELP),
    ) -> None:
        """List the CDI devices defined in the spec directories (qualified names)."""
        from nvcontainer.cdi.inject import load_registry
        from nvcontainer.cdi.spec import DEFAULT_SPEC_DIRS

        registry, _conflicts = load_registry(spec_dir or DEFAULT_SPEC_DIRS)
        for name in registry:
            typer.echo(name)

    @cdi.command("validate")
    def validate_(
        files: Optional[List[str]] = typer.Argument(None, metavar="[FILE]...", help="Spec files to check."),
        spec_dir: Optional[List[str]] = typer.Option(None, "--spec-dir", metavar="DIR", help=_SPEC_DIR_HELP),
    ) -> None:
        """Check CDI specs: the CDI JSON schema, then names, versions, paths and env entries."""
        from nvcontainer.cdi.errors import CdiError
        from nvcontainer.cdi.spec import spec_paths
        from nvcontainer.cdi.validate import check_files

        paths = list(files or [])
        if spec_dir:
            paths += [p for p, _ in spec_paths(spec_dir)]
        if not paths:
            raise CdiError("nothing to validate: name spec files or --spec-dir")
        found = check_files(paths)
        for line in found:
            print(CdiError(line).line(PROG), file=sys.stderr)
        if found:
            raise typer.Exit(1)
        for path in paths:
            typer.echo(f"{path}: valid")
