#!/usr/bin/env bash
# The PyTorch oracle: Debian's python3-torch (1.13) with OpenBLAS. Needs root.
set -euo pipefail
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
/usr/bin/python3 -c 'import torch; print("torch", torch.__version__)'
