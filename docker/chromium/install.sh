#!/usr/bin/env bash
# Installs Debian's `chromium` (used headless by tests/report to render and screenshot
# `dlrw report`). Idempotent and quiet: does nothing when chromium is already installed, and
# prints apt's output only if the install fails.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh"
apt_install docker/chromium/install.sh chromium fonts-dejavu-core
