#!/usr/bin/env bash
# Install what the ROS 2 Humble / Jazzy test builds (ros2-<distro>-*.tar.zst, see tests/support/ros2.py)
# need on Debian 12: their run-time libraries, zstd to unpack them, and the Python packages their
# tools import (ros2cli: catkin_pkg, netifaces, psutil; colcon and rosidl for `colcon build`: colcon,
# lark, empy 3.3.4). The Python packages go into the interpreter the builds were made for: the one
# named on the first line of bin/ros2 in the tarball (this machine's default python3).
# As root it installs; otherwise it says what to run. Safe to run again (installs only what is missing).
set -euo pipefail
# The tarballs (ROBOT_LOGGER_ROS2_TARBALLS, else shared/ros2 beside the repository): without them
# there is nothing to run, so nothing to install. The Python packages go into the interpreter named
# on the first line of bin/ros2 inside a tarball (else python3).
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${ROBOT_LOGGER_ROS2_TARBALLS:-$here/../shared/ros2}"
tarball="$(ls "$dir"/ros2-*.tar.zst 2>/dev/null | head -1 || true)"
if [ -z "$tarball" ]; then
    echo "no ROS 2 tarballs in $dir: the ros2 tests will skip; nothing to install"
    exit 0
fi
debs=(zstd libconsole-bridge1.0 libyaml-cpp0.7 libtinyxml2-9 libspdlog1.10 libyaml-0-2 liblz4-1)
missing=()
for deb in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || missing+=("$deb")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
        exit 2
    fi
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=""
distro="$(basename "$tarball" | cut -d- -f2)"
line="$(zstd -dc --long=27 "$tarball" | tar -xO "$distro/bin/ros2" 2>/dev/null | head -1 || true)"
python="${line#\#!}"
[ -n "$python" ] && [ -x "$python" ] || python="$(command -v python3)"
pips=()
"$python" -c "import catkin_pkg" 2>/dev/null || pips+=(catkin_pkg)
"$python" -c "import netifaces" 2>/dev/null || pips+=(netifaces)
"$python" -c "import psutil" 2>/dev/null || pips+=(psutil)
"$python" -c "import lark" 2>/dev/null || pips+=(lark)
"$python" -c "import em; assert em.__version__ == '3.3.4'" 2>/dev/null || pips+=("empy==3.3.4")
"$python" -c "import colcon_core, colcon_ros, colcon_python_setup_py" 2>/dev/null \
    || pips+=(colcon-common-extensions)
if [ ${#pips[@]} -gt 0 ]; then
    echo "installing into $python: ${pips[*]}"
    "$python" -m pip install --quiet "${pips[@]}"
    command -v pyenv >/dev/null && pyenv rehash || true
fi
