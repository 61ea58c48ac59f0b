#!/usr/bin/env bash
# Make (once) the Python 3.12 environment with lerobot 0.6.1 that reads LeRobot exports back in the
# tests (lerobot >= 0.5 needs Python >= 3.12; robot_logger runs on ROS 2's 3.10 / the 3.11 venv).
# Prints the environment's python on stdout. It lives in a cache outside the repository
# (${XDG_CACHE_HOME:-~/.cache}/robot_logger/lerobot-py312, or $ROBOT_LOGGER_LEROBOT_ENV), is made
# once (~5.4 GB: torch and its CUDA wheels from PyPI, ~5 min here) and reused while it imports
# lerobot 0.6.1. Exit 3 with a reason when this machine has no Python 3.12.
# Also, as root, installs Debian's FFmpeg 5.1 libraries so lerobot's default decoder (torchcodec)
# loads; without them lerobot falls back to PyAV and the tests read with PyAV only.
set -euo pipefail
LEROBOT_VERSION=0.6.1
ENV_DIR="${ROBOT_LOGGER_LEROBOT_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/robot_logger/lerobot-py312}"
PY="$ENV_DIR/bin/python"
ready() { [ -f "$ENV_DIR/.complete" ] && "$PY" -c "import lerobot, sys; sys.exit(lerobot.__version__ != '$LEROBOT_VERSION')" 2>/dev/null; }

if [ "$(id -u)" -eq 0 ] && ! ldconfig -p 2>/dev/null | grep -q 'libavdevice.so.59'; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        libavdevice59 libavfilter8 libavformat59 libavcodec59 libswscale6 libswresample4 \
        libavutil57 >/dev/null) >&2 || echo "note: FFmpeg libraries not installed; lerobot will decode with PyAV" >&2
fi
if ready; then echo "$PY"; exit 0; fi

base=""
for candidate in "${ROBOT_LOGGER_PYTHON312:-}" "$(command -v python3.12 || true)" \
                 "$HOME"/.pyenv/versions/3.12*/bin/python /root/.pyenv/versions/3.12*/bin/python; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && \
       "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != (3, 12))" 2>/dev/null; then
        base="$candidate"; break
    fi
done
if [ -z "$base" ]; then
    echo "error: no Python 3.12 on this machine (looked for \$ROBOT_LOGGER_PYTHON312, python3.12 on PATH, pyenv 3.12.x); lerobot $LEROBOT_VERSION needs Python >= 3.12" >&2
    exit 3
fi

mkdir -p "$(dirname "$ENV_DIR")"
exec 9>"$ENV_DIR.lock"
flock 9  # one maker at a time; a second caller waits, then finds it ready
if ready; then echo "$PY"; exit 0; fi
echo "making the lerobot $LEROBOT_VERSION reader environment in $ENV_DIR (once, ~5 min)" >&2
rm -rf "$ENV_DIR"
"$base" -m venv "$ENV_DIR"
"$PY" -m pip install --quiet --upgrade pip >&2
"$PY" -m pip install --quiet "lerobot[dataset]==$LEROBOT_VERSION" >&2
"$PY" -c "import lerobot.datasets.lerobot_dataset" >&2
touch "$ENV_DIR/.complete"
echo "$PY"
