"""Where the shim's messages go: stderr, runc's ``--log`` file (JSON lines with ``--log-format
json``, logrus text otherwise: docker and containerd read that file when a runtime fails) and the
config's ``nvidia-container-runtime.debug`` file.  Files are opened only when a line is written.
"""

from __future__ import annotations

import sys
import time

from nvcontainer.runtime.args import LogOptions

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional

PROG = "nvc-container-runtime"
LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "warning": 3, "error": 4, "fatal": 5, "panic": 6}


def _timestamp() -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return stamp[:-2] + ":" + stamp[-2:]  # RFC 3339 offset, as logrus writes it


def json_line(level: str, msg: str) -> str:
    import json  # only when there is something to log: not on the pass-through path

    return json.dumps({"level": level, "msg": msg, "time": _timestamp()})


def text_line(level: str, msg: str) -> str:
    import json

    return f"time={json.dumps(_timestamp())} level={level} msg={json.dumps(msg)}"


class RuntimeLog:
    def __init__(self, options: LogOptions, debug_file: Optional[str] = None, level: str = "info") -> None:
        self.options = options
        self.debug_file = debug_file if debug_file and debug_file != "/dev/null" else None
        self.threshold = LEVELS["debug"] if options.debug else LEVELS.get(level, LEVELS["info"])

    def _targets(self) -> List[tuple]:
        out = []
        if self.options.file:
            out.append((self.options.file, self.options.format == "json"))
        if self.debug_file:
            out.append((self.debug_file, False))
        return out

    def log(self, level: str, msg: str) -> None:
        if LEVELS[level] < self.threshold:
            return
        for path, as_json in self._targets():
            line = json_line(level, msg) if as_json else text_line(level, msg)
            try:
                with open(path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except OSError:
                pass  # a log we cannot write must not hide the error itself

    def info(self, msg: str) -> None:
        self.log("info", msg)

    def error(self, line: str, msg: str) -> None:
        """``line`` for stderr, ``msg`` for the log files."""
        print(line, file=sys.stderr)
        self.log("error", msg)
