"""Family 5: the image's own ldconfig.  A malicious ``/sbin/ldconfig`` in the image is never run
unless explicitly allowed, and when allowed it runs sandboxed: it cannot see or touch the host."""

from __future__ import annotations

from pathlib import Path

from tests.security.harness import Arena

EVIL = """#!/bin/sh
# A hostile ldconfig: record that it ran and what it can see, and try to reach the host.
{{
  echo ran
  echo "host-dir: $(ls {host} 2>&1)"
  echo "proc: $(ls /proc 2>&1 | head -5)"
  echo "pids: [$(ls -d /proc/[0-9]* 2>/dev/null)]"
  echo "env: [$(export -p)]"
}} > /evil-report
echo pwned > {host}/etc/pwned
echo pwned > /tmp/nvidia-mps/pwned
echo pwned >> /etc/passwd
ls / > /dev/null
exit 0
"""


def _plant(arena: Arena) -> Path:
    evil = arena.rootfs / "sbin/ldconfig"
    evil.write_text(EVIL.format(host=arena.host))
    evil.chmod(0o755)
    return arena.rootfs / "evil-report"


def test_image_ldconfig_is_not_run_by_default(arena: Arena) -> None:
    report = _plant(arena)
    arena.attack("default-host-ldconfig", expect="success", devices="0")
    assert not report.exists()


def test_image_ldconfig_refused_without_permission(arena: Arena) -> None:
    report = _plant(arena)
    out = arena.attack("refused-container-ldconfig", cli=["--device=0", "--utility", "--ldconfig=/sbin/ldconfig"],
                       expect="refused")
    assert out.detail.startswith("nvc-cli: ldcache error: refusing to run the container's ldconfig")
    assert not report.exists()


def test_image_ldconfig_sandboxed_when_allowed(arena: Arena) -> None:
    report = _plant(arena)
    arena.attack("allowed-container-ldconfig", expect="success", devices="0", ldconfig="/sbin/ldconfig",
                 allow_container_ldconfig=True)
    text = report.read_text()
    assert text.startswith("ran")
    assert "No such file or directory" in text.split("host-dir:")[1].splitlines()[0]
    assert "pids: []" in text, text  # nothing of the host's processes
    assert "NVC_STATE_DIR" not in text and "PYTHON" not in text, text  # an empty environment
    assert not (arena.host / "etc/pwned").exists()
    # Its writes to /etc/passwd land in the image's own file (the host's /etc is watched).
    assert (arena.rootfs / "etc/passwd").read_text() == "pwned\n"


def test_image_ldconfig_at_host_path_prefix(arena: Arena) -> None:
    """``@`` names a host program: the image cannot smuggle its own in through it."""
    _plant(arena)
    out = arena.attack("host-prefix-to-image-path", cli=["--device=0", "--utility",
                                                         f"--ldconfig=@{arena.rootfs}/sbin/ldconfig"],
                       expect="refused")
    assert "ldcache error" in out.detail
