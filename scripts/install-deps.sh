#!/usr/bin/env bash
# Installs what nvcontainer, its simulated driver and its tests need on a fresh Debian/Ubuntu
# machine: the C toolchain (with 32-bit support) for the simulated driver, the container
# runtimes the end-to-end tests start, and the Python package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(gcc libc6-dev gcc-multilib runc crun podman docker.io containerd busybox-static util-linux binutils e2fsprogs strace)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo ">> installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
extras="${1:-}"
echo ">> installing nvcontainer${extras:+ [$extras]} with pip"
"$PY" -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}" 2>&1 | grep -v -e "Running pip as the 'root' user" -e "^WARNING: Location" || true
