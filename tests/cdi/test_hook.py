"""nvc-cdi-hook run as a runtime runs it: this checkout's hook installed as a launcher, the OCI state
on stdin, only its own env; real mount namespaces where a hook mounts.  NVIDIA's behaviour (its
subcommands and flags, its test tables) is written down as data."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import textwrap
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from tests.containers import make_rootfs, tree

HOOK_ENV = {"NVIDIA_CTK_DEBUG": "false"}
# nvidia-cdi-hook 1.20's hooks (cmd/nvidia-cdi-hook/commands/commands.go), with the flags of each.
NVIDIA_HOOKS = {
    "update-ldcache": ["--folder", "--ldconfig-path", "--container-spec"],
    "create-symlinks": ["--link"],
    "chmod": ["--path", "--mode", "--container-spec"],
    "enable-cuda-compat": ["--host-driver-version", "--host-cuda-version", "--cuda-compat-container-root"],
    "disable-device-node-modification": [],
    "update-application-profile": [],
}


def bundle(tmp_path: Path, glibc: bool = False) -> Path:
    path = tmp_path / "bundle"
    make_rootfs(path / "rootfs", glibc=glibc)
    (path / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "root": {"path": "rootfs"}}))
    return path


def hook(cdi_hook: Path, args: List[str], state: Optional[Dict[str, object]] = None, *, input_text: str = "",
         unshare: bool = False) -> subprocess.CompletedProcess:
    argv = [str(cdi_hook), *args]
    if unshare:  # a mount namespace of its own, as a createContainer hook has
        argv = ["unshare", "-m", "--propagation", "private", *argv]
    return subprocess.run(argv, input=json.dumps(state) if state is not None else input_text, capture_output=True,
                          text=True, env=dict(HOOK_ENV), timeout=120)


def in_namespace(script: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """``script`` (sh) in a private mount namespace: its mounts vanish with it."""
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-euc", script], capture_output=True,
                          text=True, timeout=timeout)


# --- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NVIDIA_HOOKS) + ["mount-driver-proc"])
def test_every_hook_answers_help(cdi_hook: Path, name: str) -> None:
    for flag in ("--help", "-h"):
        out = hook(cdi_hook, [name, flag], input_text="not an OCI state")
        assert out.returncode == 0 and out.stderr == "", out.stderr
        assert out.stdout.startswith(f"NAME:\n   nvc-cdi-hook {name} - ")
        for option in NVIDIA_HOOKS.get(name, ["--source"]):
            if option != "--container-spec":  # hidden, as in nvidia-cdi-hook
                assert option in out.stdout


def test_top_level_help_lists_nvidias_hooks(cdi_hook: Path) -> None:
    out = hook(cdi_hook, ["--help"])
    assert out.returncode == 0
    listed = [line.split()[0] for line in out.stdout.split("COMMANDS:\n")[1].split("\n\n")[0].splitlines()]
    assert sorted(listed) == sorted([*NVIDIA_HOOKS, "mount-driver-proc"])


@pytest.mark.parametrize("args, warning", [
    ([], "nvc-cdi-hook: warning: no CDI hook specified\n"),
    (["update-cuda-compat-libs", "--x"],
     "nvc-cdi-hook: warning: unsupported CDI hook: update-cuda-compat-libs (ignored)\n"),
    (["--bogus-global", "create-symlinks"], "nvc-cdi-hook: warning: no CDI hook specified\n"),
])
def test_unknown_hooks_are_warnings_for_forward_compatibility(cdi_hook: Path, args: List[str], warning: str) -> None:
    out = hook(cdi_hook, args, {})
    assert (out.returncode, out.stderr) == (0, warning)


def test_noop_and_errors_are_one_line(cdi_hook: Path, tmp_path: Path) -> None:
    assert hook(cdi_hook, ["noop"], input_text="").returncode == 0
    b = bundle(tmp_path)
    out = hook(cdi_hook, ["create-symlinks", "--bogus", "--link", "a::/b"], {"bundle": str(b)})
    assert (out.returncode, out.stderr) == (
        1, "nvc-cdi-hook: cdi error: create-symlinks: flag provided but not defined: -bogus\n")
    assert not (b / "rootfs/b").exists()
    out = hook(cdi_hook, ["create-symlinks", "--link", "a::/c"], {"pid": 1})
    assert (out.returncode, out.stderr) == (1, "nvc-cdi-hook: cdi error: invalid OCI state: no bundle\n")
    out = hook(cdi_hook, ["create-symlinks", "--link", "nonsense"], {"bundle": str(b)})
    assert (out.returncode, out.stderr) == (
        1, "nvc-cdi-hook: cdi error: invalid link 'nonsense': expected TARGET::LINK\n")
    out = hook(cdi_hook, ["update-ldcache", "--folder", "/x"], input_text="[")
    assert (out.returncode, out.stderr) == (
        1, "nvc-cdi-hook: cdi error: failed to load container state: invalid OCI state: not JSON\n")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bundle": str(b)}))
    out = hook(cdi_hook, ["create-symlinks", "--link", "x::/from-file", f"--container-spec={state}"])
    assert out.returncode == 0, out.stderr
    assert os.readlink(b / "rootfs/from-file") == "x"


# --- create-symlinks -----------------------------------------------------------------------------


def test_create_symlinks(cdi_hook: Path, tmp_path: Path) -> None:
    b = bundle(tmp_path)
    out = hook(cdi_hook, ["create-symlinks", "--link", "libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so",
                          "--link", "libfoo.so.1::/usr/lib64/libfoo.so"], {"bundle": str(b), "pid": 1})
    assert out.returncode == 0, out.stderr
    assert os.readlink(b / "rootfs/usr/lib/x86_64-linux-gnu/libcuda.so") == "libcuda.so.1"
    assert os.readlink(b / "rootfs/usr/lib64/libfoo.so") == "libfoo.so.1"
    # Again: kept; a link with another target and a file of the image are replaced (nvidia-cdi-hook 1.20:
    # "If the link exists in the container root, it is removed"); a directory there is an error.
    (b / "rootfs/usr/lib64/libfoo.so").unlink()
    (b / "rootfs/usr/lib64/libfoo.so").symlink_to("old")
    (b / "rootfs/usr/lib64/libbar.so").write_text("image file")
    out = hook(cdi_hook, ["create-symlinks", "--link", "libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so",
                          "--link", "libfoo.so.1::/usr/lib64/libfoo.so", "--link", "x::/usr/lib64/libbar.so"],
               {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    assert os.readlink(b / "rootfs/usr/lib64/libfoo.so") == "libfoo.so.1"
    assert os.readlink(b / "rootfs/usr/lib64/libbar.so") == "x"
    (b / "rootfs/usr/lib64/adir").mkdir()
    out = hook(cdi_hook, ["create-symlinks", "--link", "x::/usr/lib64/adir"], {"bundle": str(b)})
    assert (out.returncode, out.stderr) == (
        1, "nvc-cdi-hook: cdi error: cannot create link /usr/lib64/adir: a directory is there\n")
    assert (b / "rootfs/usr/lib64/adir").is_dir()


@pytest.mark.parametrize("style", ["absolute", "relative", "dotdot", "final-link"])
def test_create_symlinks_never_writes_outside_the_rootfs(cdi_hook: Path, tmp_path: Path, style: str) -> None:
    host = tmp_path / "host-dir"  # a directory of the host the image tries to reach
    host.mkdir()
    (host / "keep").write_text("host file")
    before = tree(host)
    b = bundle(tmp_path)
    rootfs = b / "rootfs"
    link = "/usr/lib/x86_64-linux-gnu/libcuda.so"
    if style == "absolute":
        (rootfs / "usr/lib/x86_64-linux-gnu").symlink_to(str(host))
        inside = rootfs / str(host).lstrip("/") / "libcuda.so"
    elif style == "relative":
        (rootfs / "usr/lib/x86_64-linux-gnu").symlink_to("../../" * 10 + str(host).lstrip("/"))
        inside = rootfs / str(host).lstrip("/") / "libcuda.so"
    elif style == "dotdot":
        link = "/../../../../../../.." + str(host) + "/libcuda.so"
        inside = rootfs / str(host).lstrip("/") / "libcuda.so"
    else:  # the link's own name is a symlink to a host file: replace the link, never write through it
        (rootfs / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
        (rootfs / "usr/lib/x86_64-linux-gnu/libcuda.so").symlink_to(str(host / "keep"))
        inside = rootfs / "usr/lib/x86_64-linux-gnu/libcuda.so"
    out = hook(cdi_hook, ["create-symlinks", "--link", f"libcuda.so.1::{link}"], {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    assert tree(host) == before and (host / "keep").read_text() == "host file"
    assert os.readlink(inside) == "libcuda.so.1"


# --- update-ldcache ----------------------------------------------------------------------------------


def test_update_ldcache_runs_the_sandboxed_ldconfig(cdi_hook: Path, tmp_path: Path, sim_driver) -> None:
    b = bundle(tmp_path, glibc=True)
    libdir = b / "rootfs/opt/driver/lib"
    libdir.mkdir(parents=True)
    lib = sim_driver.nvml_library
    (libdir / os.path.basename(lib)).write_bytes(Path(lib).read_bytes())
    cache = b / "rootfs/etc/ld.so.cache"
    assert b"libnvidia-ml.so.1" not in cache.read_bytes()
    out = hook(cdi_hook, ["update-ldcache", "--folder", "/opt/driver/lib"], {"bundle": str(b), "pid": 1},
               unshare=True)
    assert out.returncode == 0, out.stderr
    listing = subprocess.run(["ldconfig", "-p", "-C", str(cache)], capture_output=True, text=True).stdout
    assert "libnvidia-ml.so.1 (libc6,x86-64) => /opt/driver/lib/libnvidia-ml.so.1" in listing
    assert os.readlink(libdir / "libnvidia-ml.so.1") == os.path.basename(lib)


def test_the_hook_does_not_take_code_from_the_working_directory(cdi_hook: Path, tmp_path: Path) -> None:
    """createContainer hooks start in the container's rootfs: a module planted there must not load."""
    b = bundle(tmp_path)
    planted = b / "rootfs/nvcontainer"
    planted.mkdir()
    (planted / "__init__.py").write_text("open('/dev/null'); raise SystemExit('planted module ran')\n")
    out = subprocess.run([str(cdi_hook), "create-symlinks", "--link", "a::/d"], input=json.dumps(
        {"bundle": str(b)}), capture_output=True, text=True, env=dict(HOOK_ENV), cwd=b / "rootfs")
    assert out.returncode == 0, out.stderr
    assert "planted" not in out.stderr


# --- chmod ----------------------------------------------------------------------------------------------


def test_chmod(cdi_hook: Path, tmp_path: Path) -> None:
    b = bundle(tmp_path)
    rootfs = b / "rootfs"
    (rootfs / "dev/dri").mkdir(parents=True)
    (rootfs / "dev/dri").chmod(0o700)
    host = tmp_path / "host-dir"
    host.mkdir(mode=0o700)
    (rootfs / "escape").symlink_to(str(host))  # resolves to <rootfs><host>: missing, skipped
    out = hook(cdi_hook, ["chmod", "--mode", "755", "--path", "/dev/dri", "--path", "/missing", "--path", "/escape"],
               {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(os.stat(rootfs / "dev/dri").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(host).st_mode) == 0o700
    for mode, message in (("", "a non-empty mode must be specified"), ("9x", "failed to parse mode as octal: '9x'")):
        out = hook(cdi_hook, ["chmod", "--mode", mode, "--path", "/dev/dri"], {"bundle": str(b)})
        assert (out.returncode, out.stderr) == (1, f"nvc-cdi-hook: cdi error: chmod: {message}\n")


# --- enable-cuda-compat -------------------------------------------------------------------------------

NOTE_575 = '{"format":1,"CUDA version":"12.9","driver":[535,550,560,565,570,575],"device":[1,2,7,8,9,10,11,12,13,14]}'


def compat_library(path: Path, note: Optional[str]) -> None:
    """A shared library, with the CUDA forward-compatibility note NVIDIA's compat libcuda carries
    (the JSON of nvidia-container-toolkit's testdata/compat/575.57.08) or without one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = path.parent / "note.c"
    body = "int cuInit(unsigned f) { return 0; }\n"
    if note is not None:
        escaped = note.replace('"', '\\"')
        body += textwrap.dedent(f"""
            __attribute__((section(".note.cuda.fwd_compatibility"), aligned(4), used))
            static const struct {{ unsigned n, d, t; char name[20]; char desc[{len(note) + 1}]; }} note =
                {{ 19, {len(note) + 1}, 1, "NVIDIA Corporation", "{escaped}" }};
            """)
    source.write_text(body)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(path), str(source)], check=True)
    source.unlink()


# nvidia-cdi-hook's TestCompatLibs / TestCompatLibsWithElfHeader tables: (files, options, result dir).
COMPAT_CASES = [
    ({}, ["--host-driver-version=222.55.66"], None),
    ({"usr/local/cuda/compat/libcuda.so.333.88.99": "empty"}, ["--host-driver-version=222.55.66"],
     "/usr/local/cuda/compat"),
    ({"usr/local/cuda/compat/libcuda.so.111.88.99": "empty"}, ["--host-driver-version=222.55.66"], None),
    ({"usr/local/cuda/compat/libcuda.so.222.88.99": "empty"}, ["--host-driver-version=222.55.66"], None),
    ({"usr/local/cuda/compat/libcuda.so.222.88.99": "empty"}, ["--host-driver-version=99.55.66"],
     "/usr/local/cuda/compat"),
    ({"usr/local/cuda/compat/libcuda.so.222.88.99": "empty"}, [], None),
    ({"etc/alternatives/cuda/compat/libcuda.so.333.88.99": "empty", "usr/local/cuda": "->/etc/alternatives/cuda"},
     ["--host-driver-version=222.55.66"], "/etc/alternatives/cuda/compat"),
    ({"compat/libcuda.so.333.88.99": "empty", "usr/local/cuda": "->../../../../../../"},
     ["--host-driver-version=222.55.66"], "/compat"),
    ({"usr/local/cuda/compat/libcuda.so.111.88.99": "empty",
      "usr/local/cuda/compat-other/libcuda.so.333.88.99": "empty"},
     ["--cuda-compat-container-root=/usr/local/cuda/compat-other", "--host-driver-version=222.55.66"],
     "/usr/local/cuda/compat-other"),
    ({"compat/575.57.08/libcuda.so.575.57.08": "note"}, ["--host-cuda-version=12.8"], "/compat/575.57.08"),
    ({"compat/575.57.08/libcuda.so.575.57.08": "note"}, ["--host-cuda-version=12.9"], None),
    ({"compat/575.57.08/libcuda.so.575.57.08": "note"}, ["--host-cuda-version=12.10"], None),
    ({"compat/575.57.08/libcuda.so.575.57.08": "note"}, ["--host-driver-version=590.44.01"], None),
    ({"compat/575.57.08/libcuda.so.575.57.08": "note"}, ["--host-driver-version=570.211.01"], "/compat/575.57.08"),
    ({"compat/575.57.08/libcuda.so.575.57.08": "note"}, ["--host-driver-version=575.10.10"], "/compat/575.57.08"),
    ({"compat/575.57.08/libcuda.so.575.57.08": "note"}, ["--host-driver-version=575.57.08"], None),
    ({"compat/575.57.08/libcuda.so.575.57.08": "note"}, ["--host-driver-version=575.99.99"], None),
    ({"usr/local/cuda/compat/libcuda.so.333.88.99": "elf"}, ["--host-cuda-version=12.8"], None),
    # names that are not versions (str.isdigit takes ², int() does not): skipped, never a crash
    ({"usr/local/cuda/compat/libcuda.so.1\u00b20.0": "empty"}, ["--host-driver-version=99.55.66"], None),
    ({"usr/local/cuda/compat/libcuda.so.\u0663\u0663\u0663.1.1": "empty"}, ["--host-driver-version=99.55.66"], None),
    ({"usr/local/cuda/compat/libcuda.so.4\u00b9.0.0": "empty"}, ["--host-driver-version=2.55.66"], None),
]


@pytest.mark.parametrize("files, options, result", COMPAT_CASES)
def test_enable_cuda_compat(cdi_hook: Path, tmp_path: Path, files: Dict[str, str], options: List[str],
                            result: Optional[str]) -> None:
    b = bundle(tmp_path)
    rootfs = b / "rootfs"
    for name, kind in files.items():
        path = rootfs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind.startswith("->"):
            path.symlink_to(kind[2:])
        elif kind == "empty":
            path.write_text("")
        else:
            compat_library(path, NOTE_575 if kind == "note" else None)
    if any("compat/575" in name for name in files):  # NVIDIA's ELF-header cases use this compat root
        options = [*options, "--cuda-compat-container-root=/compat/575.57.08"]
    out = hook(cdi_hook, ["enable-cuda-compat", *options], {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    conf_dir = rootfs / "etc/ld.so.conf.d"
    written = sorted(conf_dir.glob("00-compat-*.conf")) if conf_dir.is_dir() else []
    if result is None:
        assert written == []
    else:
        [conf] = written
        assert conf.read_text() == result + "\n"
        assert stat.S_IMODE(conf.stat().st_mode) == 0o644


def test_enable_cuda_compat_never_writes_outside(cdi_hook: Path, tmp_path: Path) -> None:
    host = tmp_path / "host-etc"
    host.mkdir()
    b = bundle(tmp_path)
    rootfs = b / "rootfs"
    (rootfs / "usr/local/cuda/compat").mkdir(parents=True)
    (rootfs / "usr/local/cuda/compat/libcuda.so.333.88.99").write_text("")
    (rootfs / "etc/ld.so.conf.d").symlink_to(str(host))  # the image aims ld.so.conf.d at a host directory
    out = hook(cdi_hook, ["enable-cuda-compat", "--host-driver-version=222.55.66"], {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    assert list(host.iterdir()) == []
    [conf] = (rootfs / str(host).lstrip("/")).glob("00-compat-*.conf")  # made inside the rootfs instead
    assert conf.read_text() == "/usr/local/cuda/compat\n"


# --- disable-device-node-modification ----------------------------------------------------------------

# nvidia-cdi-hook's TestGetModifiedParamsFileContentsFromReader table: params -> the container's copy.
PARAMS_CASES = [
    ("", None),
    ("# Some other content\n\t\t\tthat we don't care about\n\t\t\t", None),
    ("ModifyDeviceFiles: 0", None),
    ("  ModifyDeviceFiles: 1", None),
    ("ModifyDeviceFiles: 1  ", None),
    ("ModifyDeviceFiles: 11", None),
    ("ModifyDeviceFiles: 1", "ModifyDeviceFiles: 0\n"),
    ("ModifyDeviceFiles: 1\n", "ModifyDeviceFiles: 0\n"),
    ("ModifyDeviceFiles: 1\n\t\t\tother content\n\t\t\tthat\n\t\t\tis maintained",
     "ModifyDeviceFiles: 0\n\t\t\tother content\n\t\t\tthat\n\t\t\tis maintained\n"),
]


@pytest.mark.parametrize("params, copy", PARAMS_CASES)
def test_disable_device_node_modification(cdi_hook: Path, tmp_path: Path, params: str, copy: Optional[str]) -> None:
    """The host's /proc/driver/nvidia/params is given (in a namespace of the test's own) on a tmpfs over
    /proc/driver; the container's copy must then be bound read-only over its rootfs's params file."""
    b = bundle(tmp_path)
    target = b / "rootfs/proc/driver/nvidia/params"
    target.parent.mkdir(parents=True)
    target.write_text("ModifyDeviceFiles: 1\nthe container's file\n")
    (tmp_path / "params").write_text(params)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bundle": str(b)}))
    script = (f"mount -t tmpfs tmpfs /proc/driver && mkdir /proc/driver/nvidia && "
              f"cp {tmp_path}/params /proc/driver/nvidia/params && "
              f"NVIDIA_CTK_DEBUG=false {cdi_hook} disable-device-node-modification < {state} && "
              f"cat {target} && echo --- && grep ' {target} ' /proc/self/mountinfo || true")
    before = Path("/proc/self/mountinfo").read_text()
    out = in_namespace(script)
    assert out.returncode == 0, out.stderr
    seen, _, mountinfo = out.stdout.partition("---\n")
    if copy is None:
        assert seen == "ModifyDeviceFiles: 1\nthe container's file\n" and mountinfo == ""
    else:
        assert seen == copy
        fields = mountinfo.split()
        assert "ro" in fields[5].split(",") and "nodev" in fields[5].split(",")
        assert not list(b.glob("rootfs/run/nvidia-ctk-hook*"))  # no scratch directory left in the container
    assert target.read_text() == "ModifyDeviceFiles: 1\nthe container's file\n"  # outside: untouched
    assert Path("/proc/self/mountinfo").read_text().count("\n") == before.count("\n")


# --- update-application-profile ----------------------------------------------------------------------


def test_update_application_profile(cdi_hook: Path, tmp_path: Path) -> None:
    b = bundle(tmp_path)
    dev = b / "rootfs/dev"
    dev.mkdir(exist_ok=True)
    for name, minor in (("nvidia0", 0), ("nvidia2", 2), ("nvidia15", 15), ("nvidiactl", 255), ("nvidia-modeset", 254)):
        os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(195, minor))
    (dev / "nvidia7").write_text("not a device")
    (dev / "nvidia-caps").mkdir()
    out = hook(cdi_hook, ["update-application-profile"], {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    profile = b / "rootfs/etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf"
    # nvidia-cdi-hook's TestBuildApplicationProfileConfig shape, minors 0, 2 and 15:
    assert profile.read_text() == ('{"profiles":[{"name":"_container_","settings":["EGLVisibleDGPUDevices",0x8005]}],'
                                   '"rules":[{"pattern":[],"profile":"_container_"}]}')
    assert stat.S_IMODE(profile.stat().st_mode) == 0o444
    assert stat.S_IMODE(profile.parent.stat().st_mode) == 0o555
    for node in ("nvidia0", "nvidia2", "nvidia15"):
        (dev / node).unlink()
    other = bundle(tmp_path / "none")
    out = hook(cdi_hook, ["update-application-profile"], {"bundle": str(other)})
    assert out.returncode == 0 and not (other / "rootfs/etc/nvidia").exists()


def test_update_application_profile_stays_inside(cdi_hook: Path, tmp_path: Path) -> None:
    host = tmp_path / "host-etc"
    host.mkdir()
    b = bundle(tmp_path)
    (b / "rootfs/dev").mkdir(exist_ok=True)
    os.mknod(b / "rootfs/dev/nvidia1", 0o666 | stat.S_IFCHR, os.makedev(195, 1))
    (b / "rootfs/etc/nvidia").symlink_to(str(host))
    out = hook(cdi_hook, ["update-application-profile"], {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    assert list(host.iterdir()) == []
    assert (b / "rootfs" / str(host).lstrip("/") / "nvidia-application-profiles-rc.d/10-container.conf").is_file()


# --- mount-driver-proc (ours) ---------------------------------------------------------------------------


def test_mount_driver_proc(cdi_hook: Path, tmp_path: Path, sim_driver) -> None:
    b = bundle(tmp_path)
    proc = b / "rootfs/proc"
    proc.mkdir(exist_ok=True)
    source = sim_driver.root / "proc/driver/nvidia"
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"bundle": str(b)}))
    script = (f"mount -t proc proc {proc} && "
              f"NVIDIA_CTK_DEBUG=false {cdi_hook} mount-driver-proc --source {source} < {state} && "
              f"cat {proc}/driver/nvidia/version && ls {proc}/driver/nvidia/gpus && "
              f"if touch {proc}/driver/nvidia/x 2>/dev/null || mkdir {proc}/driver/y 2>/dev/null; "
              f"then echo WRITABLE; fi")
    before = Path("/proc/self/mountinfo").read_text()
    out = in_namespace(script)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith((source / "version").read_text())
    assert "0000:07:00.0" in out.stdout and "WRITABLE" not in out.stdout
    assert Path("/proc/self/mountinfo").read_text() == before  # nothing leaked to the host


@pytest.mark.parametrize("layout, message", [
    ("plain-dir", "mount-driver-proc: the container's /proc is not a procfs"),
    ("link-to-host", "mount-driver-proc: the container's /proc is not a procfs"),
])
def test_mount_driver_proc_refuses_an_image_proc(cdi_hook: Path, tmp_path: Path, sim_driver, layout: str,
                                                 message: str) -> None:
    b = bundle(tmp_path)
    proc = b / "rootfs/proc"
    if proc.exists():
        proc.rmdir()
    if layout == "plain-dir":
        (proc / "driver").mkdir(parents=True)
    else:
        proc.symlink_to("/proc")  # never followed: the link itself is judged, and it is no procfs
    out = hook(cdi_hook, ["mount-driver-proc", "--source", str(sim_driver.root / "proc/driver/nvidia")],
               {"bundle": str(b)}, unshare=True)
    assert out.returncode == 1 and out.stderr.startswith(f"nvc-cdi-hook: cdi error: {message}")
    assert out.stderr.count("\n") == 1


HEAVY = ("typing", "dataclasses", "inspect", "logging", "tempfile", "subprocess", "yaml", "jsonschema", "elftools",
         "typer", "click", "pycparser")


@pytest.mark.parametrize("args", [
    ["create-symlinks", "--link", "a::/x"], ["chmod", "--mode", "755", "--path", "/x"],
    ["enable-cuda-compat", "--host-driver-version=550.54.15"], ["disable-device-node-modification"],
    ["update-application-profile"], ["mount-driver-proc", "--help"], ["noop"]])
def test_every_hook_start_imports_nothing_heavy(cdi_hook: Path, tmp_path: Path, args: List[str]) -> None:
    """Each container start runs these hooks (six of them per container): started as the launcher
    starts them (python -I -S), none may pull in what only front ends or rare paths need."""
    b = bundle(tmp_path)
    (b / "rootfs/dev").mkdir(exist_ok=True)
    os.mknod(b / "rootfs/dev/nvidia0", 0o666 | stat.S_IFCHR, os.makedev(195, 0))
    launcher = cdi_hook.read_text().replace("sys.exit(main())", (
        f"import atexit\natexit.register(lambda: print('heavy:', sorted(m for m in {HEAVY!r} if m in sys.modules), "
        "file=sys.stderr))\nmain()"))
    probe = tmp_path / "probe"
    probe.write_text(launcher)
    probe.chmod(0o755)
    out = hook(probe, args, {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    assert "heavy: []" in out.stderr.splitlines(), out.stderr
