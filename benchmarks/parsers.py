"""How the parsers of hostile input scale: device lists, requirement lists and JSON documents of
growing size, with the time per item.  A linear parser keeps the per-item time flat; the old
quadratic de-duplication of NVIDIA_VISIBLE_DEVICES took 49 s for 80,000 tokens.  The baseline in the
same run is ``str.split`` of the same text (the least any parser does)."""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine, median, table, timed  # noqa: E402

SIZES = (1000, 10000, 80000)


def _lists(n: int) -> str:
    from nvcontainer.bounds import MAX_LIST_ITEMS

    return ",".join(str(i % MAX_LIST_ITEMS) for i in range(n))  # as many distinct items as allowed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from nvcontainer import jsondoc
    from nvcontainer.errors import InputError
    from nvcontainer.hook.request import _device_list
    from nvcontainer.policy.requirements import parse_requirements

    print(f"Machine: {machine()}\n")
    rows = []
    for n in SIZES:
        text = _lists(n)
        split_ms = median(timed(lambda t=text: t.split(","), args.runs))
        devices_ms = median(timed(lambda t=text: _device_list(t), args.runs))
        reqs = [f"cuda>={i % 13}.{i % 10}" for i in range(32)]  # the most a request may carry
        req_ms = median(timed(lambda r=reqs: parse_requirements(r), args.runs))
        doc = json.dumps({"process": {"env": [f"V{i}={i}" for i in range(n)]}})
        json_ms = median(timed(lambda d=doc: jsondoc.loads(d, what="spec", error=InputError), args.runs))
        rows.append([f"{n:,}", f"{split_ms:.2f}", f"{devices_ms:.2f}", f"{devices_ms / n * 1000:.3f}",
                     f"{json_ms:.2f}", f"{json_ms / n * 1000:.3f}", f"{req_ms:.3f}"])
    header = ["tokens", "split ms", "device list ms", "us/token", "config.json ms", "us/entry", "32 requirements ms"]
    print(table("Parsers of hostile input: time per item stays flat (median ms)", header, rows))


if __name__ == "__main__":
    main()
