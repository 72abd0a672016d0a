#!/usr/bin/env bash
# Headless Chromium for the report's screenshot test (test/report/), driven by
# playwright-core: Debian's own package, so no browser download at test time.
# fonts-liberation gives "sans-serif" the same metrics everywhere. Needs root.
set -euo pipefail
if ! command -v /usr/bin/chromium >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
fi
/usr/bin/chromium --version
