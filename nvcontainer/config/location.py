"""Which config.toml to read (no model imports: the shim's pass-through uses this too)."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Mapping, Optional, Tuple

DEFAULT_CONFIG_PATH = "/etc/nvidia-container-runtime/config.toml"
CONFIG_PATH_ENV = "NVIDIA_CTK_CONFIG_FILE_PATH"


def config_path(explicit: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> Tuple[str, bool]:
    """The file to read and whether it must exist: ``explicit`` or ``$NVIDIA_CTK_CONFIG_FILE_PATH``
    (required), else ``${XDG_CONFIG_HOME:-/etc}/nvidia-container-runtime/config.toml`` (optional)."""
    env = os.environ if environ is None else environ
    if explicit:
        return explicit, True
    if env.get(CONFIG_PATH_ENV):
        return env[CONFIG_PATH_ENV], True
    xdg = env.get("XDG_CONFIG_HOME")
    if xdg:
        return os.path.join(xdg, "nvidia-container-runtime", "config.toml"), False
    return DEFAULT_CONFIG_PATH, False


def read_config_text(path: Optional[str] = None, required: Optional[bool] = None) -> Tuple[str, Optional[str]]:
    """The file ``config_path(path)`` chooses and its text, ``None`` for a missing optional file.
    ``required`` overrides whether it must exist.  Never blocks (``read_regular``); a missing
    required or unreadable file is an ``InputError`` naming it."""
    from nvcontainer.errors import InputError
    from nvcontainer.regularfile import read_regular

    chosen, must_exist = config_path(path)
    if required is not None:
        must_exist = required
    try:
        data = read_regular(chosen)  # at most MAX_CONFIG_BYTES
    except FileNotFoundError:
        if must_exist:
            raise InputError(f"{chosen}: config file not found") from None
        return chosen, None
    except OSError as exc:
        raise InputError(f"{chosen}: {exc.strerror or exc}") from None
    return chosen, data.decode("utf-8", errors="replace")
