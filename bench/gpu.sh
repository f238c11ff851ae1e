#!/usr/bin/env bash
# Everything a GPU machine must show, in one run of at most ~8 minutes on an H100/H200:
# the `cuda` tests, then the benchmarks, every figure into one results file.
#
#   bash bench/gpu.sh prepare        HERE, with network: wheels into .whl/, GL libraries into .gl/,
#                                    NVIDIA's reference code into .nvlabs/ (NVLABS_CLONE=<a clone of
#                                    github.com/NVlabs/stylegan3>), a fixture into .fixtures/ (all git-ignored)
#   bash bench/gpu.sh                THERE, on the GPU machine (no network needed), from the repo root;
#                                    carry .whl .gl .nvlabs .fixtures.  Results: $OUT/gpu-results.md when $OUT
#                                    is set, else bench/gpu-results.md (git-ignored)
#   LP_GPU_DRY=1 bash bench/gpu.sh   dry run on any machine (a CPU will do): the same steps with tiny
#                                    networks and sizes, seconds each; proves the script runs, measures
#                                    nothing worth quoting
#
# Steps (each one's time is printed; a failing step is reported and the next one runs):
#   1. install: wheels from .whl/ into /tmp/lp-site (the GPU image has torch, numpy, pillow, aiohttp;
#      not moderngl, python-osc, tomlkit, imageio-ffmpeg...), GL/EGL libraries from .gl/*.deb
#   2. tests: the `cuda`-marked tests and the device-ownership tests (pytest -m cuda ...)
#   3. NVIDIA's custom CUDA ops: built once (timeout), else their reference ops, and the results say so
#   4. bench/generator.py: StyleGAN2 config-f, StyleGAN3-T and -R at 1024², batch 1 and 8,
#      fp32 / fp16 / fp16 + CUDA graphs, NVIDIA's code on the same weights, fp16-vs-fp32 relative L2
#   5. bench/latency.py: the live loop headless at 1920x1080, 60 fps, with the 1024² network (fps,
#      frame p99, stutter, control-to-photon median/p99, which upload path ran and its cost)
#   6. latentperform render: 10 s at 1920x1080 offline with the same network (frames/s)
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DRY=${LP_GPU_DRY:-0}

if [ "${1:-}" = prepare ]; then
  # Run where pip and apt reach their registries.  The GPU image runs Python 3.12 on x86-64.
  set -e
  ex=$(git rev-parse --git-path info/exclude)
  for d in /.whl/ /.gl/ /.nvlabs/ /.fixtures/ /bench/gpu-results.md; do grep -qxF "$d" "$ex" 2>/dev/null || echo "$d" >> "$ex"; done
  mkdir -p .whl .gl .nvlabs/stylegan3 .fixtures/stylegan
  # imageio-ffmpeg 0.5.1: its bundled ffmpeg is 27 MB (0.8's is 68 MB, over the 64 MiB a run carries)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux2010_x86_64 --platform manylinux1_x86_64 -d .whl \
    moderngl glcontext python-osc tomlkit imageio-ffmpeg==0.5.1 mido soundfile
  # the StyleGAN3 fixture the cuda tests load (../shared does not travel with the checkout)
  cp ../shared/fixtures/stylegan/sg3-t-64.pkl .fixtures/stylegan/ 2>/dev/null || echo "note: no ../shared fixtures to copy"
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial && apt-get $o update -qq && (cd .gl && apt-get $o download -q libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  if [ -n "${NVLABS_CLONE:-}" ]; then   # a clone of github.com/NVlabs/stylegan3 (non-commercial licence)
    git -C "$NVLABS_CLONE" archive HEAD LICENSE.txt dnnlib torch_utils training/__init__.py \
      training/networks_stylegan2.py training/networks_stylegan3.py | tar -x -C .nvlabs/stylegan3
  fi
  [ -f .nvlabs/stylegan3/training/networks_stylegan2.py ] || echo "note: no NVIDIA reference in .nvlabs/stylegan3 (set NVLABS_CLONE=<clone> and run prepare again)"
  du -shc .whl .gl .nvlabs .fixtures   # with the checkout, at most 64 MiB travel
  exit 0
fi

RESULTS=${OUT:+$OUT/gpu-results.md}
RESULTS=${RESULTS:-$REPO/bench/gpu-results.md}
WORK=$(mktemp -d /tmp/lp-gpu.XXXX)
: > "$RESULTS"
say() { echo "$*" | tee -a "$RESULTS"; }
step() {  # step "title" command...: runs it, its output into the results, its time after it
  local title=$1; shift
  say ""; say "## $title"; say '```'
  local t0=$SECONDS
  "$@" 2>&1 | tee -a "$RESULTS"
  local rc=${PIPESTATUS[0]}
  say '```'; say "($title: exit $rc, $((SECONDS - t0)) s)"
}

say "# latentperform GPU run, $(date -u '+%Y-%m-%d %H:%M UTC')$([ "$DRY" = 1 ] && echo ' -- DRY RUN (tiny sizes; not GPU figures)')"
say ""
say "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' + local changes')"
say "- machine: $(nproc) CPUs; GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo none)"

# 1. install ---------------------------------------------------------------------------------
SITE=/tmp/lp-site
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE .whl/*.whl \
    && say "- installed from .whl/: $(ls .whl | sed 's/-[0-9].*//' | tr '\n' ' ')"
fi
if compgen -G ".gl/*.deb" > /dev/null && [ "$(id -u)" = 0 ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  say "- GL/EGL libraries unpacked from .gl/"
fi
[ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] && \
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export PYTHONPATH="$REPO:$REPO/bench:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export TORCH_EXTENSIONS_DIR=/tmp/lp-torch-ext LATENTPERFORM_CACHE_DIR=$WORK/cache
[ -d .fixtures/stylegan ] && export LP_FIXTURES=$REPO/.fixtures/stylegan
say "- python: $(python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "CUDA", torch.cuda.is_available())' 2>&1)"
say "- EGL: $(python3 -c 'from latentperform.render import HeadlessSurface as H; s = H((16, 16)); i = s.ctx.info; print(i["GL_VENDOR"], "/", i["GL_RENDERER"])' 2>&1 | tail -1)"

# 2. tests -----------------------------------------------------------------------------------
step "cuda tests and device ownership" python3 -m pytest -q -p no:cacheprovider -rs \
  tests/models/test_cuda.py tests/render/test_interop_cuda.py tests/models/test_device.py \
  $(ls tests/engine/test_engine_device.py 2>/dev/null)

# 3. NVIDIA's custom ops ------------------------------------------------------------------------
OPS=auto
if [ "$DRY" = 1 ]; then
  step "NVIDIA reference" python3 bench/nvidia_ref.py
else
  step "NVIDIA's custom CUDA ops (build, at most 150 s)" timeout 150 python3 bench/nvidia_ref.py --build-ops \
    || OPS=ref
  [ "$OPS" = ref ] && say "NVIDIA's custom ops did not build in time or failed: their reference ops are timed instead."
fi

# 4. generator ---------------------------------------------------------------------------------
if [ "$DRY" = 1 ]; then
  step "generator (dry run: tiny networks)" python3 bench/generator.py --dry-run --batches 1 2
else
  step "generator: config-f, StyleGAN3-T/-R 1024², batch 1 and 8" timeout 270 python3 bench/generator.py \
    --frames 50 --sizes 1024 --sg3-sizes 1024 --sg3-kinds t r --batches 1 8 --nvidia-ops $OPS
fi

# 5. live loop ---------------------------------------------------------------------------------
if [ "$DRY" = 1 ]; then RES=64; SIZE=320x180; SECS=4; TINY=--tiny; else RES=1024; SIZE=1920x1080; SECS=15; TINY=; fi
SHOW=$(python3 bench/gpu_nets.py --out "$WORK" --resolution $RES $TINY 2>&1 | tail -1)
say ""; say "model for the live loop and the render: ${SHOW#*$'\t'}"
SHOW=${SHOW%%$'\t'*}
step "live loop headless $SIZE, 60 fps, ${RES}² network" timeout 120 python3 bench/latency.py \
  --sizes $SIZE --seconds $SECS --fps 60 --patch "$SHOW"

# 6. offline render ----------------------------------------------------------------------------
render() {  # the last "rendering N/N frames, X fps" line is the render loop's rate (model load excluded)
  local t0=$SECONDS
  timeout 180 python3 -m latentperform.cli render "$SHOW" --seconds "$1" --size $SIZE --fps 30 \
    --out "$WORK/render.mp4" || return $?
  echo "offline render: $1 s at 30 fps, $SIZE, in $((SECONDS - t0)) s wall (process start and model load included)"
}
step "offline render, $SIZE, 30 fps" render $([ "$DRY" = 1 ] && echo 2 || echo 10)

say ""
say "(total: $SECONDS s)"
rm -rf "$WORK"
