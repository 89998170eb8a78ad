"""Run the system C compiler: one ``CompileJob`` per output file, many jobs in parallel.

Jobs are plain data; ``run_jobs`` executes a batch with a small thread pool (each job is one
``gcc`` process) and raises ``SimulateError`` with the compiler's last line on failure.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from nvcontainer.simulate.errors import SimulateError

CSRC = Path(__file__).resolve().parent / "csrc"


@dataclass(frozen=True)
class CompileJob:
    """Compile ``sources`` into ``output`` (a shared object when ``soname`` is set)."""

    output: Path
    sources: Tuple[Path, ...]
    soname: Optional[str] = None
    m32: bool = False
    defines: Tuple[Tuple[str, str], ...] = ()
    link: Tuple[str, ...] = ()        # exact file names, passed as -l:<name>
    link_dirs: Tuple[Path, ...] = ()

    def argv(self, compiler: str) -> List[str]:
        args = [compiler, "-m32" if self.m32 else "-m64", "-O1", "-w", "-I", str(CSRC)]
        if self.soname is not None:
            args += ["-shared", "-fPIC", "-fvisibility=hidden", "-Wl,--no-as-needed", f"-Wl,-soname,{self.soname}"]
        args += [f"-D{key}={value}" for key, value in self.defines]
        args += ["-o", str(self.output)]
        args += [str(source) for source in self.sources]
        args += [f"-L{directory}" for directory in self.link_dirs]
        args += [f"-l:{name}" for name in self.link]
        return args


def c_string(text: str) -> str:
    """A -D value that expands to a C string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def find_compiler() -> str:
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not compiler:
        raise SimulateError("no C compiler found (install gcc)")
    return compiler


@functools.cache
def supports_m32(compiler: str) -> bool:
    """Can ``compiler -m32`` build and link a shared object here?"""
    with tempfile.TemporaryDirectory(prefix="nvsim-m32-") as scratch:
        source = Path(scratch) / "probe.c"
        source.write_text("#include <stdio.h>\nint nvsim_probe(void) { return puts(\"\"); }\n")
        result = subprocess.run(
            [compiler, "-m32", "-shared", "-fPIC", "-o", str(Path(scratch) / "probe.so"), str(source)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )
        return result.returncode == 0


def _run_one(compiler: str, job: CompileJob) -> Optional[str]:
    result = subprocess.run(job.argv(compiler), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, check=False)
    if result.returncode == 0:
        return None
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    detail = lines[-1] if lines else f"exit status {result.returncode}"
    return f"compiling {job.output.name} failed: {detail}"


def run_jobs(compiler: str, jobs: Sequence[CompileJob], workers: Optional[int] = None) -> None:
    """Run every job; all of them finish before the first failure is raised."""
    if not jobs:
        return
    count = workers or max(2, min(8, (os.cpu_count() or 2) + 1))
    with ThreadPoolExecutor(max_workers=count) as pool:
        errors = [e for e in pool.map(lambda job: _run_one(compiler, job), jobs) if e is not None]
    if errors:
        raise SimulateError(errors[0])
