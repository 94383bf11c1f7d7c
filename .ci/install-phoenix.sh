#!/usr/bin/env bash
# Install Arize Phoenix (the real OTLP backend the export tests use) into a venv
# of its own, so its ~850 MB of dependencies never touch the project's venv.
#
#   TASKTRACE_PHOENIX_VENV  where the venv goes (default ~/.cache/tasktrace-ci/phoenix-venv)
#   PYTHON                  the interpreter that creates it (default python3)
#
# Idempotent: an existing venv with the pinned versions is left as it is.
# A cold install takes about 3.5 minutes.
set -euo pipefail

PHOENIX_VERSION="20.26.1"
PHOENIX_CLIENT_VERSION="3.5.0"
VENV="${TASKTRACE_PHOENIX_VENV:-$HOME/.cache/tasktrace-ci/phoenix-venv}"
PYTHON="${PYTHON:-python3}"

installed() {
    "$VENV/bin/python" - "$PHOENIX_VERSION" "$PHOENIX_CLIENT_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("arize-phoenix"), version("arize-phoenix-client")) == tuple(sys.argv[1:3]) else 1)
PY
}

if [ -x "$VENV/bin/phoenix" ] && installed; then
    echo "phoenix $PHOENIX_VERSION already installed in $VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet \
    "arize-phoenix==$PHOENIX_VERSION" \
    "arize-phoenix-client==$PHOENIX_CLIENT_VERSION"
installed
echo "phoenix $PHOENIX_VERSION installed in $VENV"
