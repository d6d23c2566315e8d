#!/usr/bin/env bash
# Type-checks the GPU build (`cargo check --features cuda`) without a GPU or a system
# CUDA install: the CUDA toolkit comes from PyPI's wheels (nvcc 13.5, runtime, CCCL)
# in a venv under target/. candle's kernels compile to PTX for compute capability 9.0
# (Hopper); the final link would need the driver's libcuda, which `check` does not do.
# cudarc 0.19 does not know CUDA 13.5 yet, so it is told 13.4's API (13040).
#
# `--if-changed` (what CI runs) skips the check when nothing the CUDA build depends on
# has changed since it last passed: the digest of the normal/build dependency graph
# with `--features cuda` (crates, versions, features) and of every source file that
# mentions the cuda or metal feature equals `.ci/cuda-verified.sha256`, which a
# passing run rewrites (commit it). Code without such cfgs compiles the same with or
# without the feature (candle's `Device` has its `Cuda` variant either way), so a
# change elsewhere cannot break only the GPU build; a new or bumped dependency can.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.ci/cuda-verified.sha256
digest() {
  local graph
  graph=$(cargo tree --locked -e normal,build,features --features cuda --prefix none) || return 1
  {
    # Without the checkout's path (`sentiserve v0.1.0 (/some/dir)`), so a clone
    # anywhere gets the digest its inputs have.
    sed -E 's| \(/[^)]*\)( \(\*\))?$|\1|' <<<"$graph" | sort -u
    grep -rlE 'feature *= *"(cuda|metal)"' src | sort | xargs -r cat
    sed -n '/^\[features\]/,/^\[/p' Cargo.toml
  } | sha256sum | cut -d' ' -f1
}
current=$(digest) || { echo "check-cuda: cargo tree failed" >&2; exit 1; }
if [ "${1:-}" = "--if-changed" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$current" ]; then
  echo "check-cuda: skipped, the CUDA build's inputs are unchanged since it last passed (digest $current)"
  exit 0
fi

venv=target/cuda-venv
nvcc_version=13.5.37
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/pip" show -q nvidia-cuda-nvcc >/dev/null 2>&1; then
  echo "check-cuda: installing the CUDA toolkit wheels into $venv"
  mkdir -p target
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "nvidia-cuda-nvcc==$nvcc_version" "nvidia-cuda-runtime==$nvcc_version" "nvidia-cuda-cccl==13.3.5.0.6"
fi
cuda_root=$("$venv/bin/python" -c 'import os, nvidia; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
[ -x "$cuda_root/bin/nvcc" ] || { echo "check-cuda: no nvcc under $cuda_root" >&2; exit 1; }

export CUDA_ROOT="$cuda_root" CUDA_PATH="$cuda_root" PATH="$cuda_root/bin:$PATH"
export CUDA_COMPUTE_CAP=90 CUDARC_CUDA_VERSION=13040
"$cuda_root/bin/nvcc" --version | tail -1
cargo check --locked --features cuda --all-targets --target-dir target/cuda-check
echo "$current" > "$stamp"
echo "check-cuda: passed; $stamp updated (digest $current)"
