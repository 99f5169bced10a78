#!/bin/sh
# Builds the folder bench/gpu.sh runs from on a GPU machine that has only the driver (no Node):
#   node.xz                         this machine's Node binary (xz -6)
#   train-step.mjs vlm-generate.mjs train-parity.mjs   the benches, each one ESM bundle (esbuild)
#   *.wasm                          tfjs-backend-wasm's binaries (for the wasm reference run)
#   node_modules/webgpu/            Dawn's Node binding: index.js, package.json, dist/linux-x64/dawn.node.xz
#   libvulkan1_*.deb                the Vulkan loader, when apt-get can download it here (Dawn needs it)
# Usage: sh bench/gpu-pack.sh [out-dir]   (default bench/gpu-pack, ignored by git; ≈ 40 MiB)
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-bench/gpu-pack}
ESBUILD=$(ls -d node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | head -n 1)
WASM=$(ls -d node_modules/.pnpm/@tensorflow+tfjs-backend-wasm@*/node_modules/@tensorflow/tfjs-backend-wasm/dist | head -n 1)
DAWN=$(cd libs/vlm && node -e 'process.stdout.write(require("path").dirname(require.resolve("webgpu/package.json")))')
rm -rf "$OUT"
mkdir -p "$OUT/node_modules/webgpu/dist/linux-x64"

nice -n 19 xz -6 -T1 -c "$(command -v node)" >"$OUT/node.xz"

# ESM bundles with the CommonJS globals tfjs expects (require, __dirname: tfjs-backend-wasm finds its
# .wasm beside the bundle). Dawn is native and the native tfjs packages are optional: left external.
BANNER="import { createRequire as __cr } from 'module'; import { fileURLToPath as __fu } from 'url'; import { dirname as __dn } from 'path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
for bench in train-step vlm-generate train-parity; do
  nice -n 19 "$ESBUILD" "bench/$bench.ts" --bundle --platform=node --format=esm --log-level=warning \
    --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
    --banner:js="$BANNER" --outfile="$OUT/$bench.mjs"
done
cp "$WASM/tfjs-backend-wasm.wasm" "$WASM/tfjs-backend-wasm-simd.wasm" "$OUT/"

cp "$DAWN/index.js" "$DAWN/package.json" "$OUT/node_modules/webgpu/"
nice -n 19 xz -6 -T1 -c "$DAWN/dist/linux-x64/dawn.node" >"$OUT/node_modules/webgpu/dist/linux-x64/dawn.node.xz"

# The Vulkan loader for a bare GPU machine (best effort: needs Debian's package lists here).
(cd "$OUT" && apt-get download libvulkan1 >/dev/null 2>&1) || echo "gpu-pack: no libvulkan1 .deb (apt-get download failed); the GPU machine must have libvulkan1" >&2
cp bench/gpu.sh "$OUT/"
du -sh "$OUT"
