#!/bin/sh
# The GPU benches on a machine with a GPU and its driver and nothing else (no Node): unpacks the
# folder bench/gpu-pack.sh builds, then prints one JSON line per run:
#   1. parity: 5 SFT + 5 DPO losses on the `test` preset, wasm vs webgpu (ok when all within 1e-3);
#   2. bench/train-step.ts and bench/vlm-generate.ts on each preset of $GPU_PRESETS, on webgpu.
# Usage: sh gpu.sh [pack-dir]      (default: the folder holding this script, if it has node.xz,
#                                   else bench/gpu-pack)
# Knobs: GPU_PRESETS ("small base large"), GPU_BATCH (8), GPU_STEPS (5), GPU_TOKENS (64),
#        GPU_MATMUL (4096: the reference matmul's side), GPU_TIMEOUT (240 s per bench run at most),
#        GPU_DEADLINE (540 s for the whole script: a run gets what is left, so it ends inside a
#        10-minute device command; runs that find under 15 s left are reported as skipped),
#        GPU_BACKEND (webgpu; `GPU_BACKEND=wasm GPU_PRESETS=test GPU_MATMUL=256` checks the pack on a CPU).
# Needs: sh, xz (or python3), libvulkan.so.1 (or the libvulkan1 .deb from the pack and dpkg), and
# the NVIDIA Vulkan ICD (found where the NVIDIA container runtime puts it, or $VK_DRIVER_FILES).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -ge 1 ]; then PACK=$1; elif [ -f "$HERE/node.xz" ]; then PACK=$HERE; else PACK=$HERE/gpu-pack; fi
PACK=$(cd "$PACK" && pwd)
[ -f "$PACK/node.xz" ] || { echo "gpu.sh: $PACK has no node.xz (build it with: sh bench/gpu-pack.sh)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/isrdpo-gpu.XXXXXX)

unxz() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1"; else python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' "$1"; fi
}
unxz "$PACK/node.xz" >"$WORK/node"
chmod +x "$WORK/node"
cp "$PACK"/*.mjs "$PACK"/*.wasm "$WORK/"
mkdir -p "$WORK/node_modules/webgpu/dist/linux-x64"
cp "$PACK/node_modules/webgpu/index.js" "$PACK/node_modules/webgpu/package.json" "$WORK/node_modules/webgpu/"
unxz "$PACK/node_modules/webgpu/dist/linux-x64/dawn.node.xz" >"$WORK/node_modules/webgpu/dist/linux-x64/dawn.node"

# Dawn dlopens the Vulkan loader; bring it from the pack where the machine lacks it.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  deb=$(ls "$PACK"/libvulkan1_*.deb 2>/dev/null | head -n 1 || true)
  [ -n "$deb" ] || { echo "gpu.sh: no libvulkan.so.1 here and no libvulkan1 .deb in $PACK" >&2; exit 2; }
  dpkg -x "$deb" "$WORK/vulkan"
  LD_LIBRARY_PATH="$WORK/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then
      VK_DRIVER_FILES=$f
      export VK_DRIVER_FILES
      break
    fi
  done
fi

cd "$WORK"
LIMIT=${GPU_TIMEOUT:-240}
START=$(date +%s)
DEADLINE=${GPU_DEADLINE:-540}
BACKEND=${GPU_BACKEND:-webgpu}
# One run: its last line if that is JSON, else one JSON line with its exit status and first error
# line. Each run's stderr is kept in $WORK/<label>.err.
run() {
  label=$1
  shift
  left=$((DEADLINE - ($(date +%s) - START)))
  if [ "$left" -lt 15 ]; then
    printf '{"run":"%s","error":"skipped: the %s-s deadline is spent"}\n' "$label" "$DEADLINE"
    return
  fi
  limit=$LIMIT
  if [ "$left" -lt "$limit" ]; then limit=$left; fi
  if command -v timeout >/dev/null 2>&1; then set -- timeout "$limit" ./node "$@"; else set -- ./node "$@"; fi
  rc=0
  out=$("$@" 2>"$label.err") || rc=$?
  last=$(printf '%s\n' "$out" | tail -n 1)
  case $last in
    "{"*) printf '{"run":"%s",%s\n' "$label" "${last#\{}" ;;
    *)
      if [ "$rc" -eq 124 ]; then why="timed out after $limit s"; else why=$(grep -m 1 -E '^[A-Za-z]*Error' "$label.err" || tail -n 1 "$label.err" || true); fi
      printf '{"run":"%s","error":"%s"}\n' "$label" "$(printf '%s' "exit $rc: $why" | tr -d '"\\' | cut -c1-300)"
      ;;
  esac
}

parity_wasm=$(run parity-wasm train-parity.mjs --backend wasm)
parity_gpu=$(run "parity-$BACKEND" train-parity.mjs --backend "$BACKEND")
./node -e '
  const [a, b] = process.argv.slice(1).map((s) => JSON.parse(s));
  if (a.error || b.error) { console.log(JSON.stringify({ run: "parity", ok: false, wasm: a, other: b })); process.exit(0); }
  const diffs = ["sft", "dpo"].flatMap((k) => a[k].map((x, i) => Math.abs(x - b[k][i])));
  const maxDiff = Math.max(...diffs);
  console.log(JSON.stringify({ run: "parity", ok: maxDiff <= 1e-3 && diffs.length === 10, maxDiff, wasm: a, other: b }));
' "$parity_wasm" "$parity_gpu"

for preset in ${GPU_PRESETS:-small base large}; do
  run "train-step-$preset" train-step.mjs --backend "$BACKEND" --preset "$preset" --batch "${GPU_BATCH:-8}" --steps "${GPU_STEPS:-5}" --matmul "${GPU_MATMUL:-4096}"
  run "vlm-generate-$preset" vlm-generate.mjs --backend "$BACKEND" --preset "$preset" --tokens "${GPU_TOKENS:-64}"
done
echo "gpu.sh: each run's stderr is in $WORK/<run>.err" >&2
