"""Family 6: bad input, fuzzed with hypothesis (bounded).  ld.so.cache files, ELF files, device
lists and requirement expressions go into the parsers, ``select_devices``/``check_requirements``
and ``nvc-cli configure``: each yields a result or one ``NvcError`` line, never a traceback or a
hang."""

from __future__ import annotations

import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcontainer.discovery import discover
from nvcontainer.discovery.elf import inspect_elf
from nvcontainer.discovery.ldcache import parse_ldcache
from nvcontainer.errors import NvcError
from nvcontainer.policy.requirements import check_requirements, requirement_targets
from nvcontainer.policy.selection import select_devices
from nvcontainer.simulate import SimulatedDriver
from tests.security.harness import BOARD, LIBDIR, Arena, run_cli

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
CLI_RUNS = 24

DEVICE_WORDS = ["all", "none", "void", "0", "1", "7", "42", "-1", "0:0", "1:2", "0x1", "00000000:07:00.0",
                "0000:07:00.0", "GPU-", "MIG-", "GPU-563980bb", "auto", "auto:2", ",", ":", ".", " ", "\t"]
REQ_WORDS = ["cuda", "driver", "arch", "brand", "CUDA", ">=", "<=", "=", "!=", "<", ">", "12.0", "550",
             "8.0", "tesla", ",", " ", ".", "..", "1e9", "99999999999999999999", "=="]


def words(vocab: List[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(st.sampled_from(vocab), max_size=8).map("".join),
        st.text(max_size=40).filter(lambda t: "\x00" not in t),
    )


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with a few bytes overwritten, truncated, or random bytes outright."""
    flips = st.lists(st.tuples(st.integers(0, max(len(seed) - 1, 0)), st.integers(0, 255)), max_size=12)

    def apply(args: Tuple[List[Tuple[int, int]], int]) -> bytes:
        edits, cut = args
        data = bytearray(seed)
        for pos, value in edits:
            data[pos] = value
        return bytes(data[:cut])

    return st.one_of(st.tuples(flips, st.integers(0, len(seed))).map(apply), st.binary(max_size=512))


def _fuzz_case(case: str, call: Callable[[], Any]) -> None:
    try:
        call()
    except NvcError as exc:
        assert "\n" not in exc.line()
        BOARD.record("fuzz", case, "refused")
        return
    except Exception:
        BOARD.record("fuzz", case, "crash", traceback.format_exc())
        raise
    BOARD.record("fuzz", case, "success")


@pytest.fixture(scope="module")
def driver(sim_driver: SimulatedDriver) -> Any:
    return discover(str(sim_driver.root))


def test_ldcache_parser(sim_driver: SimulatedDriver) -> None:
    seed = (Path(sim_driver.root) / "etc/ld.so.cache").read_bytes()

    @FAST
    @given(_mutations(seed))
    def run(data: bytes) -> None:
        _fuzz_case("ldcache", lambda: parse_ldcache(data))

    run()


def test_elf_reader(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    version = sim_driver.topology.driver_version
    seed = (Path(sim_driver.root) / LIBDIR.lstrip("/") / f"libnvidia-ml.so.{version}").read_bytes()
    target = tmp_path / "lib.so"

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_mutations(seed))
    def run(data: bytes) -> None:
        target.write_bytes(data)
        _fuzz_case("elf", lambda: inspect_elf(str(target)))

    run()


def test_device_selection(driver: Any) -> None:
    @FAST
    @given(st.one_of(words(DEVICE_WORDS), st.lists(words(DEVICE_WORDS), max_size=4), st.none()))
    def run(spec: Any) -> None:
        _fuzz_case("select_devices", lambda: select_devices(driver, spec))

    run()


def test_requirements(driver: Any) -> None:
    targets = requirement_targets(select_devices(driver, "all"))

    @FAST
    @given(st.lists(words(REQ_WORDS), max_size=4))
    def run(predicates: List[str]) -> None:
        _fuzz_case("check_requirements", lambda: check_requirements(predicates, driver, targets))

    run()


def test_cli_configure(arena: Arena) -> None:
    """``nvc-cli configure --device=<fuzz> --require=<fuzz>`` for real, a few dozen times, 4 at once."""
    drawn: List[Tuple[str, str]] = []

    @settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(st.tuples(words(DEVICE_WORDS), words(REQ_WORDS)), min_size=CLI_RUNS, max_size=CLI_RUNS))
    def draw(pairs: List[Tuple[str, str]]) -> None:
        drawn[:] = pairs

    draw()
    before = arena.watch.take()
    root = str(arena.sim.root)

    def one(pair: Tuple[str, str]) -> Any:
        device, require = pair
        return run_cli("--root", root, "configure", f"--pid={arena.container.pid}", f"--device={device}",
                       f"--require={require}", "--utility", str(arena.rootfs), timeout=60)

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(one, drawn))
    escapes = arena.watch.changes(before)
    for pair, outcome in zip(drawn, outcomes):
        BOARD.record("fuzz", f"cli {pair!r}", "escape" if escapes else outcome.kind, outcome.detail)
    assert not escapes, escapes
    crashes = [(pair, o.detail) for pair, o in zip(drawn, outcomes) if o.kind == "crash"]
    assert not crashes, crashes[:3]
