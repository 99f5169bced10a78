#!/usr/bin/env bash
# The test command of README.md and .ci/run: set-up, contract checks, typecheck, the whole suite.
source "$(dirname "$0")/bootstrap.sh"
echo "== buf lint"; pnpm_ exec buf lint
echo "== generated code is up to date"
pnpm_ exec buf generate
git diff --exit-code --stat -- libs/contracts/src/gen || { echo "libs/contracts is stale: run 'pnpm generate' and commit" >&2; exit 1; }
if git rev-parse --verify -q origin/main >/dev/null && [ "$(git rev-parse HEAD)" != "$(git rev-parse origin/main)" ]; then
  echo "== buf breaking (against origin/main)"; pnpm_ exec buf breaking --against '.git#branch=origin/main'
fi
echo "== lint and format (biome)"; pnpm_ exec biome ci .
echo "== typecheck"; pnpm_ exec tsc -p tsconfig.json && pnpm_ exec tsc -p apps/dashboard/tsconfig.json
echo "== tests"; pnpm_ exec vitest run
