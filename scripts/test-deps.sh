#!/usr/bin/env bash
# Installs what `make test` needs besides Rust, when it is missing:
#   - redis-server and redis-cli (the Redis cache-tier tests start and kill their own
#     instances, and build a cluster and a Sentinel setup), openssl (TLS certificates),
#   - chromium + chromium-driver (the browser tests of the web page and Streamlit app),
#   - curl (tests/readme_examples.rs runs the README's curl examples as written),
#   - nginx (the load balancer of the multi-replica topology tests, tests/topology.rs),
#   - a Python venv in target/test-venv: openapi-spec-validator and schemathesis (the
#     OpenAPI checks), the Python client with pytest, huggingface_hub, streamlit and
#     selenium (tests/python_client.rs).
# Debian packages need root (or sudo). Idempotent and quick when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v openssl >/dev/null || need+=(openssl)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v curl >/dev/null || need+=(curl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-deps: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

venv=target/test-venv
# Reinstalled when the pinned list or the client's metadata changes (a stamp holds their hash).
stamp="$venv/.deps-$(cat scripts/py-test-deps.txt clients/python/pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "test-deps: installing the Python test packages into $venv (scripts/py-test-deps.txt)"
  mkdir -p target
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/py-test-deps.txt ./clients/python
  rm -f "$venv"/.deps-*
  touch "$stamp"
fi
