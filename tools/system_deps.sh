#!/usr/bin/env bash
# Install the Debian packages robot_logger needs: python3-venv (to make .venv) and libusb-1.0-0
# (open3d fails to import without it). As root we install them; otherwise we say what to run.
set -euo pipefail
missing=()
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "error: missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
fi
