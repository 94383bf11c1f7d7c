#!/usr/bin/env bash
# Debian's Chromium for the browser tests (playwright drives it by executable_path:
# playwright's own browser download is not used). Idempotent.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "no apt-get: browser tests will be skipped"; exit 0; }
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "could not install chromium; the browser tests will be skipped"
