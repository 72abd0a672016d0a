#!/usr/bin/env bash
# A software WebGPU adapter for machines without a GPU: Mesa 25's lavapipe
# (Vulkan on the CPU) from Debian bookworm-backports, which Dawn accepts.
# Debian 12's own Mesa 22.3 lacks a Vulkan feature Dawn requires. Needs root.
set -euo pipefail
src=/etc/apt/sources.list.d/anchorgrad-backports.sources
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=$(grep -rhs '^URIs:' /etc/apt/sources.list.d/*.sources | head -n1 | awk '{print $2}')
  uri=${uri:-$(grep -hs '^deb ' /etc/apt/sources.list | head -n1 | awk '{print $2}')}
  cat > "$src" <<SRC
Types: deb
URIs: ${uri}
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "lavapipe installed: $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
