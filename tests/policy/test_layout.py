"""Container layout detection on small rootfs trees built in tmp_path."""

from __future__ import annotations

import os

import pytest

from nvcontainer.errors import ContainerError
from nvcontainer.policy.layout import ContainerLayout, detect_layout


def touch(root, path: str) -> None:
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write("x\n")


def mkdir(root, path: str) -> None:
    os.makedirs(os.path.join(str(root), path.lstrip("/")), exist_ok=True)


def link(root, path: str, target: str) -> None:
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def test_plain_rootfs(tmp_path):
    assert detect_layout(str(tmp_path), "x86_64") == ContainerLayout(
        bins_dir="/usr/bin",
        libs_dir="/usr/lib64",
        libs32_dir="/usr/lib32",  # the default even when it does not exist
        cudart_dir="/usr/local/cuda",
        ldconfig="/sbin/ldconfig",
    )


@pytest.mark.parametrize(
    "machine, libs, libs32",
    [
        ("x86_64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/i386-linux-gnu"),
        ("amd64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/i386-linux-gnu"),
        ("aarch64", "/usr/lib/aarch64-linux-gnu", "/var/empty"),
        ("ppc64le", "/usr/lib/powerpc64le-linux-gnu", "/var/empty"),
    ],
)
def test_debian_multiarch(tmp_path, machine, libs, libs32):
    touch(tmp_path, "/etc/debian_version")
    mkdir(tmp_path, "/usr/lib32")  # irrelevant on Debian
    layout = detect_layout(str(tmp_path), machine)
    assert (layout.libs_dir, layout.libs32_dir) == (libs, libs32)


def test_lib32_preferred(tmp_path):
    mkdir(tmp_path, "/usr/lib32")
    mkdir(tmp_path, "/usr/lib")
    assert detect_layout(str(tmp_path), "x86_64").libs32_dir == "/usr/lib32"


def test_usr_lib_when_no_lib32(tmp_path):
    mkdir(tmp_path, "/usr/lib64")
    mkdir(tmp_path, "/usr/lib")
    assert detect_layout(str(tmp_path), "x86_64").libs32_dir == "/usr/lib"


def test_usr_lib_ignored_when_it_is_the_lib64_dir(tmp_path):
    mkdir(tmp_path, "/usr/lib")
    link(tmp_path, "/usr/lib64", "lib")
    assert detect_layout(str(tmp_path), "x86_64").libs32_dir == "/usr/lib32"


def test_ldconfig_real(tmp_path):
    touch(tmp_path, "/sbin/ldconfig")
    touch(tmp_path, "/sbin/ldconfig.real")
    assert detect_layout(str(tmp_path), "x86_64").ldconfig == "/sbin/ldconfig.real"


def test_ldconfig_real_through_usrmerge_symlink(tmp_path):
    touch(tmp_path, "/usr/sbin/ldconfig.real")
    link(tmp_path, "/sbin", "usr/sbin")
    assert detect_layout(str(tmp_path), "x86_64").ldconfig == "/sbin/ldconfig.real"


def test_ldconfig_given(tmp_path):
    touch(tmp_path, "/sbin/ldconfig.real")
    assert detect_layout(str(tmp_path), "x86_64", ldconfig="@/sbin/ldconfig").ldconfig == "@/sbin/ldconfig"


def test_symlinks_resolve_inside_the_rootfs(tmp_path):
    # Absolute links point into the rootfs, not at the host's /etc or /sbin (this host is Debian).
    host = tmp_path / "host"
    touch(host, "/etc/debian_version")
    touch(host, "/sbin/ldconfig.real")
    rootfs = tmp_path / "rootfs"
    mkdir(rootfs, "/")
    link(rootfs, "/etc", str(host / "etc"))
    link(rootfs, "/sbin/ldconfig.real", "../../../../../../../../" + str(host / "sbin/ldconfig.real"))
    layout = detect_layout(str(rootfs), "x86_64")
    assert layout.libs_dir == "/usr/lib64"
    assert layout.ldconfig == "/sbin/ldconfig"


def test_symlinked_debian_version_inside_rootfs_counts(tmp_path):
    touch(tmp_path, "/usr/share/debian_version")
    link(tmp_path, "/etc/debian_version", "/usr/share/debian_version")
    assert detect_layout(str(tmp_path), "x86_64").libs_dir == "/usr/lib/x86_64-linux-gnu"


def test_symlink_loop_is_a_container_error(tmp_path):
    link(tmp_path, "/etc/debian_version", "debian_version")
    with pytest.raises(ContainerError) as info:
        detect_layout(str(tmp_path), "x86_64")
    assert "/etc/debian_version" in info.value.message


def test_unsupported_machine(tmp_path):
    with pytest.raises(ContainerError) as info:
        detect_layout(str(tmp_path), "riscv64")
    assert info.value.line() == "nvc-cli: container error: unsupported architecture: riscv64"


def test_default_machine(tmp_path):
    touch(tmp_path, "/etc/debian_version")
    assert detect_layout(str(tmp_path)).libs_dir.endswith(os.uname().machine + "-linux-gnu")
