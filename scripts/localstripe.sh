#!/usr/bin/env bash
# localstripe (PyPI: a stateful Stripe emulator we did not write), for the Stripe adapter's tests.
#   scripts/localstripe.sh --install   installs it into .venv (next to the Python charger)
#   scripts/localstripe.sh PORT        installs it if needed, then runs it on 127.0.0.1:PORT from scratch
# localstripe has no idempotency keys and no incremental authorisation; the tests say where they use
# Stripe's documented wire format instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import localstripe' 2>/dev/null; then
  bash scripts/ensure-python.sh
  .venv/bin/pip install -q --disable-pip-version-check 'localstripe==1.15.10'
fi
[ "${1:-}" = "--install" ] && exit 0
exec .venv/bin/python -m localstripe --port "${1:-8420}" --from-scratch
