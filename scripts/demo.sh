#!/usr/bin/env bash
# The main job of README.md: set-up, then the embedded ISR-DPO demo. Extra arguments go to `isrdpo demo`.
source "$(dirname "$0")/bootstrap.sh"
pnpm_ isrdpo demo "$@"
