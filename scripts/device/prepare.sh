#!/bin/bash
# Fill .devcarry/ (git-ignored through .git/info/exclude) with what check.sh installs on a lent GPU
# machine that has no network: wheels of our dependencies for its Python (3.12), runc, busybox and
# libseccomp from this Debian host, and cudacheck built here.  Run from the repository root, then
# carry .devcarry with the device call that runs scripts/device/check.sh.
set -eu
mkdir -p .git/info .devcarry/whl .devcarry/bin
grep -qx '/.devcarry/' .git/info/exclude 2>/dev/null || echo '/.devcarry/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .devcarry/whl cffi==2.0.0 pycparser==3.0 pyelftools tomlkit jsonschema jsonschema-specifications referencing rpds-py
cp /usr/sbin/runc /bin/busybox /lib/x86_64-linux-gnu/libseccomp.so.2 .devcarry/bin/
gcc -O2 -Wall -o .devcarry/bin/cudacheck scripts/device/cudacheck.c -ldl
du -sh .devcarry
