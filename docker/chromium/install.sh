#!/usr/bin/env bash
# Installs Debian's `chromium` (used headless by tests/report to render and screenshot
# `dlrw report`). Idempotent and quiet: does nothing when chromium is already installed, and
# prints apt's output only if the install fails.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "docker/chromium/install.sh: installing chromium failed" >&2
    exit 1
fi
