#!/usr/bin/env bash
# The main job in one command.  On a machine with an NVIDIA driver it reports the real GPUs;
# without one it builds the simulated driver (real ELF libraries, a real NVML, real device
# nodes) in .sim/driver and runs nvc-cli against it.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
PY=${PYTHON:-python3}
if ldconfig -p 2>/dev/null | grep -q "libnvidia-ml.so.1 (libc6,x86-64)" && [ -e /proc/driver/nvidia/version ]; then
  echo ">> NVIDIA driver found: nvc-cli info"
  nvc-cli info
  exit 0
fi
echo ">> no NVIDIA driver here: building the simulated driver in .sim/driver"
"$PY" -m nvcontainer.simulate .sim/driver
echo ">> nvc-cli --root .sim/driver info"
nvc-cli --root .sim/driver info
