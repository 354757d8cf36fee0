#!/usr/bin/env bash
# A virtualenv with the Python packages of tests/python/requirements.txt: the `ocpp` package
# (mobilityhouse), which plays the charger in the end-to-end tests, PyJWT, which checks
# joule-auth's tokens, and schemathesis, which fuzzes the REST API against its OpenAPI document;
# implementations we did not write.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import ocpp, websockets, jwt, cryptography, schemathesis, nats, nkeys, openapi_python_client' 2>/dev/null; then
  if ! python3 -m venv .venv 2>/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv
  fi
  .venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt
fi
