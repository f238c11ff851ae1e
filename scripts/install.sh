#!/usr/bin/env bash
# Install latentperform and what it needs to run, on Debian/Ubuntu or any machine with pip.
#   bash scripts/install.sh          the program (GL/EGL and PortAudio system libraries, then pip)
#   bash scripts/install.sh --test   also what the tests need (Xvfb, Xorg dummy, JACK, ImageMagick, pytest,
#                                    librosa, headless Chromium + chromedriver + selenium) and the optional extras (Ableton Link, NDI, virtual camera)
# On a machine with an NVIDIA GPU, install the CUDA build of torch first (pytorch.org); this
# script keeps a torch that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_pkgs="libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libportaudio2"
# systemd: systemd-analyze checks the units `latentperform install` writes (tests/service)
[ $want_test = 1 ] && apt_pkgs="$apt_pkgs systemd"
# liblo-tools: oscsend/oscdump, a real OSC client nobody here wrote (tests/inputs, tests/engine)
[ $want_test = 1 ] && apt_pkgs="$apt_pkgs xvfb xauth x11-utils imagemagick jackd2 xserver-xorg-core xserver-xorg-video-dummy x11-xserver-utils xdotool chromium chromium-driver liblo-tools"
# the beat tracker's real-music tests render General MIDI with fluidsynth (tests/features/test_real_music.py)
[ $want_test = 1 ] && apt_pkgs="$apt_pkgs fluidsynth fluid-soundfont-gm"

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  missing=""
  for p in $apt_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    echo "installing system packages:$missing"
    $sudo apt-get update -qq
    # jackd2 asks about realtime priority; answer non-interactively
    echo "jackd2 jackd/tweak_rt_limits boolean false" | $sudo debconf-set-selections 2>/dev/null || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
else
  echo "note: no apt-get here; make sure OpenGL/EGL and PortAudio libraries are installed"
fi

py=${PYTHON:-python3}
if ! $py -c "import torch" >/dev/null 2>&1; then
  # a CPU build: small, and what the built-in generator needs
  $py -m pip install -q "torch==2.13.0"
fi
if [ $want_test = 1 ]; then
  # the optional outputs and Link too, so their tests run for real instead of skipping
  $py -m pip install -q -e ".[test,link,ndi,virtualcam]"
else
  $py -m pip install -q -e .
fi
echo "latentperform installed: try  latentperform run --headless --seconds 10 --record first-show.mp4"
