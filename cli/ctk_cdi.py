"""``nvc-ctk cdi``: generate, list, validate and transform CDI specs (as ``nvidia-ctk cdi``).

``generate`` writes the spec nvidia-ctk 1.20 writes for the same driver root
(``nvcontainer.cdi.generate``), ``list`` prints the qualified device names found in the spec
directories (sorted, warning about invalid specs and conflicting names), ``validate`` checks
spec files (the spec directories by default) against the CDI schema, the rules the schema
misses and the host paths they name, ``transform root`` moves a spec's paths to another root.
Errors follow the front-end contract: ``nvc-ctk: cdi error: <message>``, one line each, exit 1.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from cli.cdi_generate import PROG, _output_path, _split, _warn, generate_command

_SPEC_DIR_HELP = "A CDI spec directory (repeatable; default /etc/cdi and /var/run/cdi)."


def register(app: typer.Typer) -> None:
    cdi = typer.Typer(name="cdi", help="Generate, list, validate and transform CDI specs.", no_args_is_help=True)
    app.add_typer(cdi, name="cdi")
    transform = typer.Typer(name="transform", help="Apply a transform to a CDI spec.", no_args_is_help=True)
    cdi.add_typer(transform, name="transform")

    @cdi.command("generate")
    def generate_(
        output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                             envvar="NVIDIA_CTK_CDI_OUTPUT_FILE_PATH",
                                             help="Write the spec to FILE (default: standard output)."),
        fmt: Optional[str] = typer.Option(None, "--format", metavar="yaml|json",
                                          envvar="NVIDIA_CTK_CDI_GENERATE_OUTPUT_FORMAT",
                                          help="Output format (default: from the file name, else yaml)."),
        mode: str = typer.Option("auto", "--mode", "--discovery-mode", metavar="auto|nvml|management",
                                 envvar="NVIDIA_CTK_CDI_GENERATE_MODE",
                                 help="What to describe: the GPUs (nvml; auto) or every device node as one "
                                      "'all' device for management containers (management). csv and wsl "
                                      "are refused."),
        strategy: Optional[List[str]] = typer.Option(
            None, "--device-name-strategy", metavar="index|uuid|type-index",
            envvar="NVIDIA_CTK_CDI_GENERATE_DEVICE_NAME_STRATEGIES",
            help="How devices are named (repeatable; default index and uuid)."),
        driver_root: Optional[str] = typer.Option(
            None, "--driver-root", metavar="PATH",
            help="The driver's root directory (default: NVIDIA_CTK_DRIVER_ROOT, config.toml's "
                 "nvidia-container-cli.root, /)."),
        dev_root: Optional[str] = typer.Option(
            None, "--dev-root", metavar="PATH", envvar="NVIDIA_CTK_DEV_ROOT",
            help="Where /dev and /proc/driver/nvidia are (default: the driver root)."),
        library_search_path: Optional[List[str]] = typer.Option(
            None, "--library-search-path", metavar="DIR", envvar="NVIDIA_CTK_CDI_GENERATE_LIBRARY_SEARCH_PATHS",
            help="A host directory to look for the driver's libraries in, instead of the default library "
                 "directories of the driver root (repeatable)."),
        config_search_path: Optional[List[str]] = typer.Option(
            None, "--config-search-path", metavar="DIR", envvar="NVIDIA_CTK_CDI_GENERATE_CONFIG_SEARCH_PATHS",
            help="A host directory to look for graphics config files in (repeatable; default the driver "
                 "root's /etc, /usr/local/share, /usr/share)."),
        ldcache: Optional[str] = typer.Option(None, "--ldcache", metavar="FILE",
                                              help="The driver root's ld.so.cache (default /etc/ld.so.cache)."),
        vendor: str = typer.Option("nvidia.com", "--vendor", "--cdi-vendor", envvar="NVIDIA_CTK_CDI_GENERATE_VENDOR",
                                   help="The vendor of the CDI kind."),
        class_: str = typer.Option("gpu", "--class", "--cdi-class", envvar="NVIDIA_CTK_CDI_GENERATE_CLASS",
                                   help="The class of the CDI kind."),
        no_all_device: bool = typer.Option(False, "--no-all-device", envvar="NVIDIA_CTK_CDI_GENERATE_NO_ALL_DEVICE",
                                           help="Do not add the 'all' device."),
        device_id: Optional[List[str]] = typer.Option(
            None, "--device-id", "--device-ids", "--device", "--devices", metavar="ID",
            envvar="NVIDIA_CTK_CDI_GENERATE_DEVICE_IDS",
            help="Only these devices: an index, UUID, MIG index (0:1), all or none (repeatable; default all)."),
        hook_path: Optional[str] = typer.Option(
            None, "--nvidia-cdi-hook-path", "--nvidia-ctk-path", metavar="PATH", envvar="NVIDIA_CTK_CDI_HOOK_PATH",
            help="Absolute path of the hook program in the spec (default: the installed nvc-cdi-hook)."),
        ldconfig_path: Optional[str] = typer.Option(
            None, "--ldconfig-path", metavar="PATH", envvar="NVIDIA_CTK_CDI_GENERATE_LDCONFIG_PATH",
            help="The host ldconfig the update-ldcache hook runs."),
        disable_hook: Optional[List[str]] = typer.Option(
            None, "--disable-hook", "--disable-hooks", metavar="NAME", envvar="NVIDIA_CTK_CDI_GENERATE_DISABLED_HOOKS",
            help="Leave out a hook (repeatable; 'all' for every hook)."),
        enable_hook: Optional[List[str]] = typer.Option(
            None, "--enable-hook", "--enable-hooks", metavar="NAME", envvar="NVIDIA_CTK_CDI_GENERATE_ENABLED_HOOKS",
            help="Put a hook back (repeatable; overrides --disable-hook; chmod is off by default)."),
        feature_flag: Optional[List[str]] = typer.Option(
            None, "--feature-flag", "--feature-flags", metavar="FLAG", envvar="NVIDIA_CTK_CDI_GENERATE_FEATURE_FLAGS",
            help="enable-explicit-driver-libraries, disable-ipc-discoverer, no-additional-gids-for-device-nodes "
                 "(repeatable)."),
        compat32: bool = typer.Option(False, "--compat32", help="(nvcontainer) Also mount the 32-bit libraries."),
        mps_dir: bool = typer.Option(False, "--mps-pipe-dir",
                                     help="(nvcontainer) Also mount the MPS pipe directory /tmp/nvidia-mps."),
        driver_proc: Optional[bool] = typer.Option(
            None, "--driver-proc/--no-driver-proc",
            help="(nvcontainer) Add the mount-driver-proc hook that shows a simulated driver's "
                 "/proc/driver/nvidia in containers (default: only for such a driver)."),
    ) -> None:
        """Generate a CDI spec for the GPUs of this machine (or of --driver-root), as nvidia-ctk does."""
        generate_command(output, fmt, mode, strategy, driver_root, dev_root, library_search_path,
                         config_search_path, ldcache, vendor, class_, no_all_device, device_id, hook_path,
                         ldconfig_path, disable_hook, enable_hook, feature_flag, compat32, mps_dir, driver_proc)

    @cdi.command("list")
    def list_(
        spec_dir: Optional[List[str]] = typer.Option(None, "--spec-dir", metavar="DIR",
                                                     envvar="NVIDIA_CTK_CDI_SPEC_DIRS",
                                                     help=_SPEC_DIR_HELP),
    ) -> None:
        """List the CDI devices defined in the spec directories (qualified names, sorted)."""
        from nvcontainer.cdi.inject import scan
        from nvcontainer.cdi.spec import DEFAULT_SPEC_DIRS

        devices, conflicts, problems = scan(_split(spec_dir) or DEFAULT_SPEC_DIRS)
        for problem in problems:
            _warn(f"skipping CDI spec: {problem}")
        for name in sorted(conflicts):
            _warn(f"conflicting device {name} (specs {', '.join(conflicts[name])}): left out")
        for name in sorted(n for n in devices if n not in conflicts):
            typer.echo(name)

    @cdi.command("validate")
    def validate_(
        files: Optional[List[str]] = typer.Argument(None, metavar="[FILE]...",
                                                    help="Spec files to check (default: the spec directories)."),
        spec_dir: Optional[List[str]] = typer.Option(None, "--spec-dir", metavar="DIR", help=_SPEC_DIR_HELP),
    ) -> None:
        """Check CDI specs: the CDI JSON schema, names, versions, paths, env entries, and host paths
        that no longer exist (stale)."""
        from nvcontainer.cdi.errors import CdiError
        from nvcontainer.cdi.spec import DEFAULT_SPEC_DIRS, spec_paths
        from nvcontainer.cdi.validate import check_files

        paths = list(files or [])
        dirs = _split(spec_dir) or ([] if paths else list(DEFAULT_SPEC_DIRS))
        paths += [p for p, _ in spec_paths(dirs)]
        if not paths:
            typer.echo(f"no CDI specs in {', '.join(dirs)}")
            return
        found = check_files(paths)
        for line in found:
            print(CdiError(line).line(PROG), file=sys.stderr)
        for path in paths:
            if not any(line.startswith(f"{path}: ") for line in found):
                typer.echo(f"{path}: valid")
        if found:
            raise typer.Exit(1)

    @transform.command("root")
    def transform_root_(
        from_: str = typer.Option("", "--from", metavar="PATH", help="The root to be transformed."),
        to: str = typer.Option("", "--to", metavar="PATH", help="The replacement root."),
        relative_to: str = typer.Option("host", "--relative-to", metavar="host|container",
                                        help="Transform host paths (host) or container paths (container)."),
        input_: str = typer.Option("-", "--input", metavar="FILE", help="The spec to read ('-': standard input)."),
        output: Optional[str] = typer.Option(None, "--output", metavar="FILE",
                                             help="Write the spec to FILE (default: standard output)."),
    ) -> None:
        """Apply a root transform to a CDI spec (as nvidia-ctk cdi transform root)."""
        from nvcontainer.cdi.errors import CdiError
        from nvcontainer.cdi.spec import dump_spec, parse_spec, write_spec
        from nvcontainer.cdi.transform import RELATIVE_TO, transform_root
        from nvcontainer.cdi.validate import validate

        if relative_to not in RELATIVE_TO:
            raise CdiError(f"invalid --relative-to value: {relative_to!r}: use host or container")
        name = "<stdin>" if input_ == "-" else input_
        try:
            text = sys.stdin.read() if input_ == "-" else open(input_, encoding="utf-8").read()
        except OSError as exc:
            raise CdiError(f"failed to read spec contents: {input_}: {(exc.strerror or str(exc)).lower()}") from None
        document = parse_spec(text, name if name.endswith((".json", ".yaml", ".yml")) else name + ".yaml")
        validate(document, name, schema=False)
        moved = transform_root(document, from_, to, relative_to)
        if output:
            write_spec(moved, _output_path(output, "json" if output.endswith(".json") else "yaml"))
        else:
            sys.stdout.write(dump_spec(moved, "yaml"))
