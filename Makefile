# sentiserve — the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
HOST ?= 127.0.0.1
PORT ?= 8080
SHARED ?= ../shared

.PHONY: run run-minilm test test-deps bench build fmt lint clean

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
	$(CARGO) bench --locked --bench model -- --warm-up-time 1 --measurement-time 3
	$(CARGO) bench --locked --bench load

build:
	$(CARGO) build --release --locked

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean
