#!/usr/bin/env bash
# Install the quickstart's instrumented app (docs/quickstart_agent.py) with the pins that
# docs/quickstart.md documents, into a venv of its own, so the quickstart test runs the app
# exactly as a new user would after copying the pip line.
#
#   TASKTRACE_QUICKSTART_VENV  where the venv goes (default ~/.cache/tasktrace-ci/quickstart-venv)
#   PYTHON                     the interpreter that creates it (default python3)
#
# Idempotent: an existing venv with the pinned versions is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TASKTRACE_QUICKSTART_VENV:-$HOME/.cache/tasktrace-ci/quickstart-venv}"
PYTHON="${PYTHON:-python3}"
# The pin list lives in one file, which docs/quickstart.md quotes line by line.
REQUIREMENTS="docs/quickstart-requirements.txt"

installed() {
    "$VENV/bin/python" - "$REQUIREMENTS" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, pinned = line.split("==")
        if version(name) != pinned:
            sys.exit(1)
PY
}

if [ -x "$VENV/bin/python" ] && installed; then
    echo "quickstart app dependencies already installed in $VENV"
    exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r "$REQUIREMENTS"
installed
echo "quickstart app dependencies installed in $VENV"
