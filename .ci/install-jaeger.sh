#!/usr/bin/env bash
# Build the real OpenTelemetry peers of the `jaeger` and `collector` tests from the Go
# module proxy, each pinned by the go.mod/go.sum of a tool module in .ci/tools:
#   - Jaeger v2 (`cmd/jaeger`, a collector distribution with an OTLP receiver, in-memory
#     storage and the query API/UI): .ci/tools, `go get -tool ...@v1.75.0`;
#   - otelcol-tasktrace (otlp receiver, otlp and contrib's loadbalancing exporters, all at
#     collector release 0.161.0): .ci/tools/otelcol.
# Binaries are cached under ~/.cache/tasktrace-ci/<name>-<version>/ (TASKTRACE_JAEGER_BIN
# and TASKTRACE_OTELCOL_BIN override the paths); a cached one is kept. A cold build takes
# minutes: on a developer's shared machine niced and one package at a time (-p=1), so it
# does not starve the others; under CI (CI=true, the machine is the run's own) on every
# core. The build time of each is printed.
set -euo pipefail
cd "$(dirname "$0")/tools"

JAEGER_VERSION="v1.75.0"
OTELCOL_VERSION="v0.161.0"
CACHE="$HOME/.cache/tasktrace-ci"
if [ "${CI:-}" = true ]; then JOBS=$(nproc); else JOBS=1; fi

# build NAME BINARY MODULE_DIR PACKAGE: go build PACKAGE in MODULE_DIR to BINARY
build() {
    local name=$1 bin=$2 dir=$3 package=$4 start=$SECONDS
    if [ -x "$bin" ]; then
        echo "$name already built at $bin"
        return
    fi
    mkdir -p "$(dirname "$bin")"
    (cd "$dir" && GOFLAGS="${GOFLAGS:-} -p=$JOBS -trimpath" nice -n 10 \
        go build -ldflags="-s -w" -o "$bin.tmp" "$package")
    mv "$bin.tmp" "$bin"
    echo "$name built at $bin in $((SECONDS - start))s"
}

command -v go >/dev/null || { echo "no Go toolchain (go) on PATH" >&2; exit 1; }
go version
# a no-op once go.mod pins this version; the one line to change for another release
go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION"
build "jaeger $JAEGER_VERSION" "${TASKTRACE_JAEGER_BIN:-$CACHE/jaeger-$JAEGER_VERSION/jaeger}" \
    . github.com/jaegertracing/jaeger/cmd/jaeger
build "otelcol-tasktrace $OTELCOL_VERSION" \
    "${TASKTRACE_OTELCOL_BIN:-$CACHE/otelcol-tasktrace-$OTELCOL_VERSION/otelcol-tasktrace}" \
    otelcol .
