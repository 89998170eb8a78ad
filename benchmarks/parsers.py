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
    print()
    from nvcontainer.apply.cgroups import candidate_dirs, parse_mountinfo

    mount_rows = []
    for n in SIZES[:2] + (30000,):
        entries = parse_mountinfo(_mount_table(n))
        ms = median(timed(lambda e=entries: candidate_dirs(2, "/kubepods/pod1/ctr", e), args.runs))
        mount_rows.append([f"{n:,}", f"{ms:.2f}", f"{ms / n * 1000:.3f}"])
    print(table("The device cgroup's mount among a node's mounts (one per tenant volume; median ms)",
                ["mounts", "candidate_dirs ms", "us/mount"], mount_rows))


def _mount_table(n: int) -> str:
    """A node's mountinfo: the root, cgroup2, and n tenant volumes (secrets, emptyDirs) below /var/lib."""
    lines = ["1 0 0:21 / / rw - ext4 /dev/vda1 rw", "2 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw"]
    lines += [f"{10 + i} 1 0:{40 + i % 1000} / /var/lib/kubelet/pods/p{i}/volumes/v rw - tmpfs tmpfs rw"
              for i in range(n)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
