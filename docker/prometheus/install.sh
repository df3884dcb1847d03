#!/usr/bin/env bash
# Installs Debian's `prometheus` (the server and promtool), used by tests/service to scrape a
# running ingest and collector and to unit-test the alerting rules. Idempotent and quiet: does
# nothing when both are installed, and prints apt's output only if the install fails. The
# package's own service is not needed: the tests start their own server on a free port.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh"
apt_install docker/prometheus/install.sh prometheus
