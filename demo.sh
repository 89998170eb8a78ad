#!/usr/bin/env bash
# The main job in one command.  On a machine with an NVIDIA driver it reports the real GPUs;
# without one it builds the simulated driver (real ELF libraries, a real NVML, real device
# nodes), reports it, and runs a real runc container on it, printing nvidia-smi from inside.
# Needs root (mknod, mount namespaces, runc).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
PY=${PYTHON:-python3}
if ldconfig -p 2>/dev/null | grep -q "libnvidia-ml.so.1 (libc6,x86-64)" && [ -e /proc/driver/nvidia/version ]; then
  echo ">> NVIDIA driver found: nvc-cli info"
  "$PY" -m cli.main info
  exit 0
fi
exec "$PY" scripts/demo.py
