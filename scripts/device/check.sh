#!/bin/bash
# The real-GPU checks, run on a lent GPU machine from the repository root (see docs/performance.md):
# installs what the carried folder .devcarry holds (wheels, runc, busybox, the cudacheck program),
# then compares nvc-cli info/list with nvidia-smi and nvidia-ml-py, starts runc containers with our
# prestart hook on the real driver, and runs benchmarks 1 and 3 there.  Output goes to $OUT.
set -u
OUT=${OUT:-/tmp/nvc-device}; mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
step() { echo; echo "=== $*"; }
step machine
date -u; uname -r; python3 -V; nproc
nvidia-smi -L; cat /proc/driver/nvidia/version
ls -la /dev/nvidia* /dev/nvidia-caps 2>&1 | head -20
stat -fc 'cgroup fs: %T' /sys/fs/cgroup
grep -E 'nvidia|cuda' /proc/self/mountinfo | head -10
ls /usr/local/nvidia /usr/local/nvidia/lib64 2>&1 | head -40
cat /etc/ld.so.conf.d/* 2>/dev/null | head
echo "ld cache nvidia entries: $(ldconfig -p | grep -c -E 'libnvidia|libcuda')"
ls -la /sbin/ldconfig* /usr/sbin/ldconfig* 2>&1

step install
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .devcarry/whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir . || exit 1
install -m 0755 .devcarry/bin/runc .devcarry/bin/busybox /usr/local/bin/
runc --version >/dev/null 2>&1 || { install -m 0644 .devcarry/bin/libseccomp.so.2 /usr/local/lib/; ldconfig; }
runc --version | head -1
if ! ldconfig -p | grep -q 'libnvidia-ml.so.1 '; then
    # The driver's libraries live under /usr/local/nvidia here; a host install lists them in the ld cache.
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d $d ] && echo $d; done > /etc/ld.so.conf.d/000-nvidia.conf
    ldconfig; echo "ld cache nvidia entries after adding /usr/local/nvidia: $(ldconfig -p | grep -c -E 'libnvidia|libcuda')"
fi
export PATH=$PATH:/usr/local/nvidia/bin

step "issue 3: nvc-cli info / list on the real driver"
timeout 60 nvc-cli info; echo "rc=$?"
timeout 60 nvc-cli info --csv
timeout 60 nvc-cli info --json > "$OUT/info.json"; echo "rc=$?"
timeout 60 nvc-cli list; echo "rc=$?"
timeout 60 nvc-cli list --json > "$OUT/list.json"
timeout 60 nvc-cli doctor; echo "doctor rc=$?"
nvidia-smi -q > "$OUT/nvidia-smi-q.txt"
timeout 60 python3 scripts/device/compare.py "$OUT/info.json"; echo "compare rc=$?"

step "issue 4/5: runc containers with our prestart hook on the real driver"
timeout 120 python3 scripts/device/containers.py; echo "containers rc=$?"

step "where one hook run spends its time, real driver"
PYTHONUNBUFFERED=1 timeout 90 python3 benchmarks/phases.py --root / --device 0 --runs 15; echo "rc=$?"
step "benchmark 3: discovery on the real driver"
PYTHONUNBUFFERED=1 timeout 150 python3 benchmarks/discovery.py --root / --runs 10; echo "rc=$?"
step "benchmark 2: start-up"
PYTHONUNBUFFERED=1 timeout 120 python3 benchmarks/startup.py --runs 10; echo "rc=$?"
step "benchmark 1: container start on the real driver"
PYTHONUNBUFFERED=1 timeout 240 python3 benchmarks/container_start.py --root / --device 0 --runs 30; echo "rc=$?"
