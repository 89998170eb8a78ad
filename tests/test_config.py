"""config.toml: defaults, the toolkit's default rendering, every key's type check, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nvcontainer.config import Config, load_config, parse_config, render, render_default
from nvcontainer.config.quick import RuntimeSettings, runtime_settings
from nvcontainer.config.schema import RuntimeConfig, default_ldconfig
from nvcontainer.errors import InputError

# toolkit.md §3, api/config/v1/toml_test.go "defaultConfig" (ldconfig is the host's).
REFERENCE = """#accept-nvidia-visible-devices-as-volume-mounts = false
#accept-nvidia-visible-devices-envvar-when-unprivileged = true
disable-require = false
supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"
#swarm-resource = "DOCKER_RESOURCE_GPU"

[nvidia-container-cli]
#debug = "/var/log/nvidia-container-toolkit.log"
environment = []
#ldcache = "/etc/ld.so.cache"
ldconfig = "OVERRIDDEN"
load-kmods = true
#no-cgroups = false
#path = "/usr/bin/nvidia-container-cli"
#root = "/run/nvidia/driver"
#user = "root:video"

[nvidia-container-runtime]
#debug = "/var/log/nvidia-container-runtime.log"
log-level = "info"
mode = "auto"
runtimes = ["runc", "crun"]

[nvidia-container-runtime.modes]

[nvidia-container-runtime.modes.cdi]
annotation-prefixes = ["cdi.k8s.io/"]
default-kind = "nvidia.com/gpu"
spec-dirs = ["/etc/cdi", "/var/run/cdi"]

[nvidia-container-runtime.modes.csv]
mount-spec-path = "/etc/nvidia-container-runtime/host-files-for-container.d"

[nvidia-container-runtime.modes.legacy]
cuda-compat-mode = "ldconfig"

[nvidia-container-runtime-hook]
path = "nvidia-container-runtime-hook"
skip-mode-detection = false

[nvidia-ctk]
path = "nvidia-ctk"
"""


def test_default_rendering_is_the_toolkits() -> None:
    assert render_default() == REFERENCE.replace("OVERRIDDEN", default_ldconfig())


def test_default_rendering_loads_as_defaults() -> None:
    assert parse_config(render_default()) == Config()


def test_nvc_ctk_config_default() -> None:
    out = subprocess.run([sys.executable, "-m", "cli.ctk", "config", "default"], capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (0, render_default())


def test_effective_defaults() -> None:
    config = Config()
    assert config.accept_nvidia_visible_devices_envvar_when_unprivileged is True
    assert config.nvidia_container_runtime.debug == "/dev/null"
    assert config.nvidia_container_runtime.runtimes == ("runc", "crun")
    assert config.nvidia_container_cli.root == "" and config.nvidia_container_cli.load_kmods is True


def test_values_are_read() -> None:
    config = parse_config("""
swarm-resource = "DOCKER_RESOURCE_GPU"
[nvidia-container-cli]
root = "/run/nvidia/driver"
environment = ["A=1"]
no-cgroups = true
[nvidia-container-runtime]
runtimes = ["/usr/bin/crun"]
mode = "legacy"
[nvidia-container-runtime.modes.legacy]
cuda-compat-mode = "mount"
[nvidia-container-runtime.modes.jit-cdi]
nvcdi-feature-flags = ["x"]
[features]
allow-unknown-oci-spec-fields = true
""")
    assert config.swarm_resource == "DOCKER_RESOURCE_GPU"
    assert config.nvidia_container_cli.root == "/run/nvidia/driver"
    assert config.nvidia_container_cli.environment == ("A=1",)
    assert config.nvidia_container_cli.no_cgroups is True
    assert config.nvidia_container_runtime.runtimes == ("/usr/bin/crun",)
    assert config.nvidia_container_runtime.modes.legacy.cuda_compat_mode == "mount"
    assert config.nvidia_container_runtime.modes.jit_cdi.nvcdi_feature_flags == ("x",)
    assert config.features.allow_unknown_oci_spec_fields is True
    assert parse_config(render(config)) == config, "render round-trips a non-default config"


@pytest.mark.parametrize("text, message", [
    ("disable-require = 'yes'", "'disable-require' must be a boolean"),
    ("[nvidia-container-cli]\nroot = 1", "'nvidia-container-cli.root' must be a string"),
    ("[nvidia-container-runtime]\nruntimes = 'runc'", "'nvidia-container-runtime.runtimes' must be a list of strings"),
    ("[nvidia-container-runtime]\nruntimes = [1]", "'nvidia-container-runtime.runtimes' must be a list of strings"),
    ("nvidia-container-cli = 1", "'nvidia-container-cli' must be a table"),
    ("[nvidia-container-cli]\nldconfig = '/sbin/ldconfig'",
     "'nvidia-container-cli.ldconfig' value '/sbin/ldconfig' is not host-relative (does not start with a '@')"),
    ("this is not toml", "invalid TOML"),
])
def test_errors_name_the_key(text: str, message: str) -> None:
    """What the toolkit refuses at load time (go-toml's type errors, assertValid): refused here too."""
    with pytest.raises(InputError) as err:
        parse_config(text, source="/etc/x/config.toml")
    assert err.value.message.startswith("/etc/x/config.toml: ")
    assert message in err.value.message
    assert "\n" not in err.value.line()


def test_container_ldconfig_allowed_by_feature() -> None:
    config = parse_config("[nvidia-container-cli]\nldconfig = '/sbin/ldconfig'\n"
                          "[features]\nallow-ldconfig-from-container = true\n")
    assert config.nvidia_container_cli.ldconfig == "/sbin/ldconfig"


def test_file_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NVIDIA_CTK_CONFIG_FILE_PATH", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_config() == Config(), "a missing default file = defaults"
    (tmp_path / "nvidia-container-runtime").mkdir()
    (tmp_path / "nvidia-container-runtime/config.toml").write_text("disable-require = true\n")
    assert load_config().disable_require is True
    monkeypatch.setenv("NVIDIA_CTK_CONFIG_FILE_PATH", str(tmp_path / "missing.toml"))
    with pytest.raises(InputError, match="missing.toml: config file not found"):
        load_config()
    assert load_config(str(tmp_path / "nvidia-container-runtime/config.toml")).disable_require is True


def test_quick_settings_match_the_model(tmp_path: Path) -> None:
    defaults = RuntimeConfig()
    assert runtime_settings(str(tmp_path / "none.toml")) == RuntimeSettings(defaults.runtimes, defaults.debug,
                                                                            defaults.log_level)
    path = tmp_path / "c.toml"
    path.write_text('[nvidia-container-runtime]\nruntimes = ["crun"]\ndebug = "/tmp/d.log"\n')
    assert runtime_settings(str(path)) == RuntimeSettings(("crun",), "/tmp/d.log", "info")
    path.write_text('[nvidia-container-runtime]\nruntimes = "crun"\n')
    with pytest.raises(InputError, match="must be a list of strings"):
        runtime_settings(str(path))
