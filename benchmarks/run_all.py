"""Run every benchmark with modest defaults and print their tables (a few minutes on 2 cores)."""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    for script, args in (("startup.py", ["--runs", "20"]), ("discovery.py", ["--runs", "10"]),
                         ("scale.py", ["--runs", "3"]), ("container_start.py", ["--runs", "30"])):
        print(f"\n## {script}\n", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, script), *args], check=True,
                       cwd=os.path.dirname(HERE))
