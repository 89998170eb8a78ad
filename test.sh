#!/usr/bin/env bash
# The test command: install everything, then lint, type-check and run the whole suite.
# Tests that need root (namespaces, mknod, runc) run when this is run as root, as CI does.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh test
PY=${PYTHON:-python3}
echo ">> ruff";   "$PY" -m ruff check nvcontainer cli tests benchmarks
echo ">> mypy";   "$PY" -m mypy nvcontainer
echo ">> pytest"; "$PY" -m pytest -q -p no:cacheprovider "$@"
