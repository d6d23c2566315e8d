#!/usr/bin/env bash
# Installs what `make test` needs besides Rust, when it is missing:
#   - redis-server (the Redis cache-tier tests start and kill their own instances),
#   - chromium + chromium-driver (the browser test of the web page),
#   - a Python venv in target/test-venv with openapi-spec-validator (OpenAPI check).
# Debian packages need root (or sudo). Idempotent and quick when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-deps: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

venv=target/test-venv
if [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  echo "test-deps: creating $venv with openapi-spec-validator"
  mkdir -p target
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check openapi-spec-validator
fi
