#!/usr/bin/env bash
# One-shot GPU check (issue 21), sized for a lent GPU machine's ten minutes: builds
# with `--features cuda`, runs the parity tests on the GPU, times whole-file
# classification on the GPU against the CPU, and prints one table.
#
#   scripts/gpu-check.sh            # on a machine with an NVIDIA GPU and its driver
#
# Needs nvcc: on PATH, under CUDA_HOME, or the PyPI toolkit `make check-cuda` installs
# into target/cuda-venv. Steps:
#   1. `nvidia-smi` names the GPU and its compute capability (CUDA_COMPUTE_CAP for
#      candle's kernels);
#   2. `cargo build --release --features cuda` (the server binary and the parity test);
#   3. `tests/parity.rs` with SENTISERVE_TEST_DEVICE=cuda: every family's token ids
#      and logits against transformers' within 1e-4, in the padded layout (the GPU's);
#   4. `sentiserve analyze --input` over the first GPU_CHECK_TEXTS (2,000) IMDb and
#      Amazon sentences with MiniLM f32, `--device cuda` and then `--device cpu`, wall
#      time each without the disk cache (model load included, as a one-off run sees it).
# Writes target/gpu-check/{parity.log,table.md}; exits non-zero when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/gpu-check
mkdir -p "$out"
texts=${GPU_CHECK_TEXTS:-2000}

gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader | head -1) ||
  { echo "gpu-check: nvidia-smi found no GPU" >&2; exit 2; }
echo "gpu-check: $gpu"
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-$(awk -F', ' '{gsub(/\./, "", $4); print $4}' <<<"$gpu")}

if ! command -v nvcc >/dev/null; then
  for root in "${CUDA_HOME:-}" /usr/local/cuda; do
    [ -n "$root" ] && [ -x "$root/bin/nvcc" ] && export PATH="$root/bin:$PATH" CUDA_ROOT="$root" && break
  done
fi
if ! command -v nvcc >/dev/null && [ -x target/cuda-venv/bin/python ]; then
  root=$(target/cuda-venv/bin/python -c 'import os, nvidia; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
  export PATH="$root/bin:$PATH" CUDA_ROOT="$root" CUDA_PATH="$root" CUDARC_CUDA_VERSION=13040
fi
command -v nvcc >/dev/null || { echo "gpu-check: no nvcc (PATH, CUDA_HOME, /usr/local/cuda, target/cuda-venv)" >&2; exit 2; }

step() { printf '%s %s\n' "$(date +%T)" "$*"; }
step "build (--features cuda)"
cargo build --release --locked --features cuda --bin sentiserve
cargo test --release --locked --features cuda --test parity --no-run

step "parity on cuda"
parity=passed
SENTISERVE_TEST_DEVICE=cuda cargo test --release --locked --features cuda --test parity 2>&1 | tee "$out/parity.log" ||
  parity=FAILED
summary=$(grep -E '^test result:' "$out/parity.log" | tail -1 || true)

step "whole-file throughput, cuda vs cpu ($texts texts)"
input="$out/texts.txt"
python3 - "$texts" ../shared/data/uci-sentiment/imdb.jsonl ../shared/data/uci-sentiment/amazon.jsonl >"$input" <<'EOF'
import json, sys
rows = [json.loads(l)["text"].replace("\n", " ") for p in sys.argv[2:] for l in open(p) if l.strip()]
print("\n".join(rows[: int(sys.argv[1])]))
EOF
model=minilm=../shared/models/minilm-l6-sentiment
rate() {
  local device=$1 started ended
  started=$(date +%s.%N)
  target/release/sentiserve analyze --model "$model" --default minilm --device "$device" --no-disk-cache \
    --input "$input" -o "$out/labels-$device.jsonl" >/dev/null
  ended=$(date +%s.%N)
  python3 -c "print(f'{$texts / ($ended - $started):.1f}')"
}
cuda_rate=$(rate cuda)
cpu_rate=$(rate cpu)
# The two runs must label every text alike.
same=$(python3 - "$out/labels-cuda.jsonl" "$out/labels-cpu.jsonl" <<'EOF'
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
print(f"{sum(x.get('label') is not None and x.get('label') == y.get('label') for x, y in zip(a, b))}/{len(a)}")
EOF
)

{
  echo "| GPU | parity (tests/parity.rs on cuda) | MiniLM f32 texts/s cuda | cpu | equal labels |"
  echo "|---|---|---|---|---|"
  echo "| $gpu | $parity ($summary) | $cuda_rate | $cpu_rate | $same |"
} | tee "$out/table.md"
[ "$parity" = passed ]
