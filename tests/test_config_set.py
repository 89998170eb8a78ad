"""``nvc-ctk config --set`` (issue 18.16): NVIDIA's value rules as data, and the files it writes.

The KEY[=VALUE] cases are cmd/nvidia-ctk/config/config_test.go's TestSetFlagToKeyValue (toolkit
1.20), with the list separator each case uses.  For a missing file nvidia-ctk starts from its
default file and prints a set key where the default shows it commented out: the expected text is
that default (tests/test_config.py checks ours is NVIDIA's) with the one line changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Optional

import pytest

from nvcontainer.config import render_default
from nvcontainer.config.editing import parse_set
from nvcontainer.errors import InputError

REPO = Path(__file__).resolve().parents[1]

# (flag, separator, key, value, error?) — TestSetFlagToKeyValue
NVIDIA_CASES: List[Any] = [
    ("undefined=new-value", ",", "undefined", None, True),
    ("nvidia-container-cli.undefined", ",", "nvidia-container-cli.undefined", None, True),
    ("disable-require", ",", "disable-require", True, False),
    ("disable-require=true", ",", "disable-require", True, False),
    ("disable-require=false", ",", "disable-require", False, False),
    ("disable-require=something", ",", "disable-require", None, True),
    ("swarm-resource", ",", "swarm-resource", None, True),
    ("swarm-resource=string-value", ",", "swarm-resource", "string-value", False),
    ("swarm-resource=string-value=more", ",", "swarm-resource", "string-value=more", False),
    ("swarm-resource=true", ",", "swarm-resource", "true", False),
    ("swarm-resource=5", ",", "swarm-resource", "5", False),
    ("nvidia-container-cli.environment=string-value", ",", "nvidia-container-cli.environment", ["string-value"], False),
    ("nvidia-container-cli.environment=first,second", ",", "nvidia-container-cli.environment",
     ["first", "second"], False),
    ("nvidia-container-cli.environment=first=1,second=2", ",", "nvidia-container-cli.environment",
     ["first=1", "second=2"], False),
    ("nvidia-container-cli.environment=first;second", ";", "nvidia-container-cli.environment",
     ["first", "second"], False),
    # beyond the Go test, from config.go: the default ':' separator, then ','; features take nil
    ("nvidia-container-runtime.runtimes=crun:runc", ":", "nvidia-container-runtime.runtimes", ["crun", "runc"], False),
    ("nvidia-container-runtime.runtimes=crun,runc", ":", "nvidia-container-runtime.runtimes", ["crun", "runc"], False),
    ("features.allow-ldconfig-from-container", ":", "features.allow-ldconfig-from-container", True, False),
    ("features.allow-ldconfig-from-container=nil", ":", "features.allow-ldconfig-from-container", None, False),
    ("disable-require=nil", ":", "disable-require", None, True),
    ("disable-require=T", ":", "disable-require", True, False),
    ("disable-require=0", ":", "disable-require", False, False),
    ("nvidia-container-runtime.modes", ":", "nvidia-container-runtime.modes", None, True),
]


@pytest.mark.parametrize("flag, separator, key, value, error", NVIDIA_CASES)
def test_set_flag_values(flag: str, separator: str, key: str, value: Any, error: bool) -> None:
    if error:
        with pytest.raises(InputError) as err:
            parse_set(flag, separator)
        assert err.value.message.startswith(f"invalid --set option {flag!r}: ")
        return
    assert parse_set(flag, separator) == (tuple(key.split(".")), value)


def ctk_config(*args: str, config: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "cli.ctk", "config", *args]
    if config is not None:
        argv.insert(4, f"--config-file={config}")
    return subprocess.run(argv, capture_output=True, text=True, cwd=str(REPO))


def test_missing_file_starts_from_the_default(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "config.toml"
    out = ctk_config("--set", "nvidia-container-cli.root=/run/nvidia/driver", "--set", "disable-require",
                     config=config)
    assert out.returncode == 0, out.stderr
    expected = render_default().replace('#root = "/run/nvidia/driver"', 'root = "/run/nvidia/driver"')
    expected = expected.replace("disable-require = false", "disable-require = true")
    assert out.stdout == expected
    assert not config.parent.exists(), "printed, not written"


def test_in_place_keeps_comments_and_order(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    original = ('# site settings\n[nvidia-container-runtime]\nruntimes = ["runc"]  # ours\n\n'
                '[nvidia-container-cli]\n#root = "/run/nvidia/driver"\nload-kmods = true\n')
    config.write_text(original)
    os.chmod(config, 0o640)
    out = ctk_config("-i", "--set", "nvidia-container-cli.root=/drv",
                     "--set", "nvidia-container-runtime.runtimes=crun:runc",
                     "--set", "features.allow-ldconfig-from-container", "--set", "swarm-resource=X", config=config)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert config.read_text() == (
        '# site settings\nswarm-resource = "X"\n\n[nvidia-container-runtime]\nruntimes = ["crun", "runc"]  # ours\n\n'
        '[nvidia-container-cli]\nroot = "/drv"\nload-kmods = true\n\n'
        '[features]\nallow-ldconfig-from-container = true\n')
    assert config.stat().st_mode & 0o777 == 0o640
    removed = ctk_config("-i", "--set", "features.allow-ldconfig-from-container=nil", config=config)
    assert removed.returncode == 0 and "allow-ldconfig" not in config.read_text()
    assert sorted(os.listdir(tmp_path)) == ["config.toml"]


def test_output_file_and_last_set_wins(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[nvidia-container-cli]\nroot = "/a"\n')
    out = ctk_config("-o", str(tmp_path / "new" / "out.toml"), "--set", "nvidia-container-cli.root=/b",
                     "--set", "nvidia-container-cli.root=/c", config=config)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "new" / "out.toml").read_text() == '[nvidia-container-cli]\nroot = "/c"\n'
    assert config.read_text() == '[nvidia-container-cli]\nroot = "/a"\n'
    assert f"created directory: {tmp_path / 'new'}" in out.stderr


def test_the_environment_variable_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("disable-require = false\n")
    env = {**os.environ, "NVIDIA_CTK_CONFIG_FILE_PATH": str(config)}
    out = subprocess.run([sys.executable, "-m", "cli.ctk", "config", "--set", "disable-require"],
                         capture_output=True, text=True, cwd=str(REPO), env=env)
    assert (out.returncode, out.stdout) == (0, "disable-require = true\n")


@pytest.mark.parametrize("args, message", [
    (["-i", "-o", "/tmp/x"], "input error: --in-place and --output cannot be used together"),
    (["--set", "nope=1"], "input error: invalid --set option 'nope=1': config.toml has no key 'nope'"),
    (["--set", "nvidia-container-cli.ldconfig=/sbin/ldconfig", "-i"],
     "'nvidia-container-cli.ldconfig' value '/sbin/ldconfig' is not host-relative"),
])
def test_errors_are_one_line_and_write_nothing(tmp_path: Path, args: List[str], message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text("disable-require = false\n")
    out = ctk_config(*args, config=config)
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1 and message in out.stderr, out.stderr
    assert config.read_text() == "disable-require = false\n" and os.listdir(tmp_path) == ["config.toml"]


def test_an_unreadable_output_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    out = ctk_config("default", "-o", str(tmp_path / "file" / "x.toml"))
    assert out.returncode == 1
    assert out.stderr.startswith("nvc-ctk: config error: cannot create directory ")
    assert str(tmp_path / "file") in out.stderr and "Traceback" not in out.stderr
