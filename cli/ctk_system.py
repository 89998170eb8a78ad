"""``nvc-ctk system``: create-dev-char-symlinks, create-device-nodes, print-ldcache.

nvidia-ctk's flags and environment variables; the work is in ``nvcontainer.system``.  What the
commands do goes to standard output, one line per node or link (nvidia-ctk logs the same words to
stderr with a log prefix); warnings are ``nvc-ctk: warning: ...`` lines on stderr.
"""

from __future__ import annotations

from typing import Optional

import typer


def _warn(text: str) -> None:
    typer.echo(f"nvc-ctk: warning: {text}", err=True)


def _control_nodes(root: str, dev_root: Optional[str], dry_run: bool) -> None:
    from nvcontainer.system import nodes

    actions = nodes.plan_control_nodes(root, dev_root)
    for act in actions:
        n = act.node
        if act.action == "create":
            verb = "Would run" if dry_run else "Running"
            typer.echo(f"{verb}: mknod --mode=0666 {act.host_path} c {n.major} {n.minor}")
        elif act.action == "exists":
            typer.echo(f"Skipping: {act.host_path} already exists")
        else:
            found = act.found or (0, 0)
            _warn(f"{act.host_path} is device {found[0]}:{found[1]}, not {n.major}:{n.minor}: left as it is")
    if not dry_run:
        nodes.create_control_nodes(actions)


def _modules(root: str, dry_run: bool) -> None:
    from nvcontainer.system import nodes

    if dry_run:
        for argv in nodes.modprobe_commands(root):
            typer.echo(f"Would run: {' '.join(argv)}")
        return
    nodes.load_kernel_modules(root)


def register(app: typer.Typer) -> None:
    system = typer.Typer(help="A collection of system-related utilities for the NVIDIA Container Toolkit.",
                         no_args_is_help=True)
    app.add_typer(system, name="system")

    @system.command("create-dev-char-symlinks")
    def create_dev_char_symlinks(
        dev_char_path: Optional[str] = typer.Option(
            None, "--dev-char-path", metavar="DEV_CHAR", envvar="DEV_CHAR_PATH",
            help="Where the links are made, as DEV_CHAR/MAJOR:MINOR (default: /dev/char of the driver root)."),
        driver_root: str = typer.Option(
            "/", "--driver-root", metavar="DRIVER_ROOT", envvar=["NVIDIA_DRIVER_ROOT", "DRIVER_ROOT"],
            help="The driver root: DRIVER_ROOT/dev is searched for NVIDIA device nodes (e.g. a simulated root)."),
        create_all: bool = typer.Option(
            False, "--create-all", envvar="CREATE_ALL",
            help="Link every node the driver can have, not only the existing ones."),
        load_kernel_modules: bool = typer.Option(
            False, "--load-kernel-modules", envvar="LOAD_KERNEL_MODULES",
            help="Load the NVIDIA kernel modules first (only with --create-all)."),
        create_device_nodes: bool = typer.Option(
            False, "--create-device-nodes", envvar="CREATE_DEVICE_NODES",
            help="Create the missing control device nodes first (only with --create-all)."),
        dry_run: bool = typer.Option(False, "--dry-run", envvar="DRY_RUN",
                                     help="Say what would be done; change nothing."),
    ) -> None:
        """Create /dev/char/MAJOR:MINOR links to the NVIDIA device nodes (the fix for 'Failed to initialize
        NVML: Unknown Error' after `systemctl daemon-reload`)."""
        from nvcontainer.system import devchar

        for flag, value in (("--load-kernel-modules", load_kernel_modules),
                            ("--create-device-nodes", create_device_nodes)):
            if value and not create_all:
                _warn(f"{flag} is only applicable when --create-all is set; ignoring")
        if create_all and load_kernel_modules:
            _modules(driver_root, dry_run)
        if create_all and create_device_nodes:
            _control_nodes(driver_root, None, dry_run)
        links = devchar.plan(driver_root, dev_char_path, create_all)
        if not links:
            typer.echo(f"No NVIDIA devices found in {driver_root}")
            return
        for link in links:
            if link.action == "create":
                typer.echo(f"{'Would create' if dry_run else 'Creating'} link {link.link} => {link.target}")
            elif link.action == "replace":
                typer.echo(f"{'Would replace' if dry_run else 'Replacing'} link {link.link} => {link.target} "
                           f"(was => {link.current})")
            elif link.action == "keep":
                typer.echo(f"Keeping link {link.link} => {link.current}")
            else:
                _warn(f"{link.link} exists and is not a symbolic link: left as it is")
        if not dry_run:
            devchar.apply(links)

    @system.command("create-device-nodes")
    def create_device_nodes_command(
        root: str = typer.Option(
            "/", "--root", "--driver-root", metavar="ROOT", envvar=["ROOT", "NVIDIA_DRIVER_ROOT", "DRIVER_ROOT"],
            help="The driver root: its /proc/devices gives the majors, modules are loaded in it (chroot)."),
        dev_root: Optional[str] = typer.Option(
            None, "--dev-root", metavar="DEV_ROOT", envvar=["NVIDIA_DEV_ROOT", "DEV_ROOT"],
            help="Where /dev is (default: the root)."),
        control_devices: bool = typer.Option(
            False, "--control-devices",
            help="Create the control device nodes: nvidiactl, nvidia-modeset, nvidia-uvm, nvidia-uvm-tools."),
        load_kernel_modules: bool = typer.Option(
            False, "--load-kernel-modules", help="Load the NVIDIA kernel modules before creating device nodes."),
        dry_run: bool = typer.Option(False, "--dry-run", envvar="DRY_RUN",
                                     help="Say what would be done; change nothing."),
    ) -> None:
        """Create NVIDIA device nodes (mode 0666) that are missing."""
        if load_kernel_modules:
            _modules(root, dry_run)
        if control_devices:
            typer.echo(f"Creating control device nodes at {dev_root or root}")
            _control_nodes(root, dev_root, dry_run)

    @system.command("print-ldcache")
    def print_ldcache(
        driver_root: str = typer.Option(
            "/", "--driver-root", metavar="DRIVER_ROOT", envvar=["NVIDIA_DRIVER_ROOT", "DRIVER_ROOT"],
            help="The driver root whose /etc/ld.so.cache is read."),
        ldcache: str = typer.Option("/etc/ld.so.cache", "--ldcache", metavar="FILE",
                                    help="The cache, inside the driver root."),
    ) -> None:
        """Print the 32-bit and 64-bit libraries of the ld.so.cache, links followed to their files."""
        from nvcontainer.system.ldcache import listing, render

        result = listing(driver_root, ldcache)
        if not result.found:
            _warn(f"could not find ld.so.cache at {result.path}; using an empty cache")
        for line in render(result):
            typer.echo(line)
