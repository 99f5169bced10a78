# Sourced by the other scripts: installs everything the repo needs on a machine that has only
# Node 20 and npm. pnpm is pinned and run through npx, so no global install is needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PNPM_VERSION=12.20.0
pnpm_() { npx --yes "pnpm@${PNPM_VERSION}" "$@"; }
# Tests start private nats-server processes; install Debian's package if this machine lacks it.
if ! command -v nats-server >/dev/null 2>&1 && [ -x /usr/sbin/nats-server ]; then export PATH="$PATH:/usr/sbin"; fi
if ! command -v nats-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing nats-server (Debian package)" >&2
    (apt-get update -qq && apt-get install -y -qq nats-server) >/dev/null
    export PATH="$PATH:/usr/sbin"
  else
    echo "bootstrap: nats-server not found; install it with: sudo apt-get install nats-server" >&2
    exit 1
  fi
fi
# Browser tests drive Debian's chromium through playwright-core (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing chromium (Debian package, for the browser tests)" >&2
    (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) >/dev/null
  else
    echo "bootstrap: chromium not found; install it with: sudo apt-get install --no-install-recommends chromium" >&2
    exit 1
  fi
fi
pnpm_ install --frozen-lockfile --reporter=silent
