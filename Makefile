# sentiserve — the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
HOST ?= 127.0.0.1
PORT ?= 8080
SHARED ?= ../shared

.PHONY: run run-minilm install test test-deps bench soak build fmt lint check-cuda clean

## Start the server on the default model (downloaded from the Hugging Face Hub once).
run:
	$(CARGO) run --release -- serve --host $(HOST) --port $(PORT)

## Start the server on the shared MiniLM sentiment model (no network needed).
run-minilm:
	$(CARGO) run --release -- serve --host $(HOST) --port $(PORT) \
		--model minilm=$(SHARED)/models/minilm-l6-sentiment --default minilm

## Unit, parity, end-to-end, fault and browser tests (needs ../shared beside the
## project; installs redis-server, chromium and a validator venv when missing).
test: test-deps
	$(CARGO) test --locked -- --test-threads 2

test-deps:
	scripts/test-deps.sh

## Benchmarks: micro-benchmarks (criterion), then the load benchmark against the
## release server with the PyTorch pipeline side by side (see benches/load.rs).
bench:
	$(CARGO) build --release --locked
	$(CARGO) build --release --locked --example bare_hit
	$(CARGO) bench --locked --bench model -- --warm-up-time 1 --measurement-time 3
	$(CARGO) bench --locked --bench load

## Soak (not in CI): mixed load with cache clears and unload/load cycles against the
## release server; prints errors by status, RSS samples and cache bytes vs bound.
## SOAK_SECONDS (default 180) and SOAK_CLIENTS (default 8) set its length and load.
soak:
	$(CARGO) build --release --locked
	$(CARGO) run --release --locked --example soak

build:
	$(CARGO) build --release --locked

## Put the `sentiserve` binary on PATH (~/.cargo/bin).
install:
	$(CARGO) install --locked --path .

fmt:
	$(CARGO) fmt --all

## Formatting and clippy (warnings are errors; includes the unsafe/doc lints in lib.rs).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

## Type-check the CUDA build with a PyPI CUDA toolkit (no GPU needed).
check-cuda:
	scripts/check-cuda.sh

clean:
	$(CARGO) clean
