# Joule: the one entry point for building, testing and running. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
export JOULE_ADMIN_TOKEN ?= demo-admin-token-8d3f6b1e9a4c27

.PHONY: help services python build test lint fmt demo run ci fuzz clean-test-data bench-pricing localstripe bench-payments bench-auth bench-api

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

services: ## Install (apt) and start PostgreSQL and NATS JetStream if they are not running
	@bash scripts/ensure-services.sh

python: ## A virtualenv (.venv) with tests/python/requirements.txt: `ocpp` (the charger of end-to-end tests), PyJWT, schemathesis
	@bash scripts/ensure-python.sh

localstripe: ## localstripe (PyPI), the Stripe emulator the Stripe adapter's tests run against, in .venv
	@bash scripts/localstripe.sh --install

build: ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

test: services python localstripe ## Run every test: unit, integration (real PostgreSQL + NATS) and end to end
	$(CARGO) test --workspace --no-fail-fast

lint: ## cargo fmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

# `make demo` is quiet: the build and the services' logs stay out of the tour (logs in target/joule-demo.log);
# `make demo V=1` shows both.
demo: services ## A guided tour: all services, simulated chargers through real OCPP sessions, then an API key to try; Ctrl-C stops it (V=1: logs)
	@echo "Building joule (cargo build --bin joule; the first build takes a few minutes)"
	@$(CARGO) build $(if $(filter 1,$(V)),,--quiet) --bin joule
	@./target/debug/joule demo --serve $(if $(filter 1,$(V)),--verbose,--log-file target/joule-demo.log)

run: services ## Run all services in one process (JOULE_* settings, see README)
	$(CARGO) run --bin joule -- run --all

ci: lint test fuzz ## What CI runs (.ci/run): lint, every test, each fuzz target for FUZZ_SECS

bench-pricing: services ## Pricing throughput vs ocpi-tariffs 0.48.0 on one corpus, and re-rating 1M stored sessions
	@bash scripts/bench-pricing.sh

.PHONY: bench-gateway bench-gateway-quick
bench-gateway: services ## Gateway at scale: idle connections (memory each), msgs/s and p99 latency, reconnect storm (BENCHMARKS.md)
	@bash scripts/bench-gateway.sh

bench-gateway-quick: services ## The same benchmark at small scale (2,000 chargers, 30 s load runs) to check it works
	@BENCH_CHARGERS=2000 BENCH_LOAD_CHARGERS=200 BENCH_LOAD_SECS=30 bash scripts/bench-gateway.sh

bench-payments: services ## Authorisations + captures per second through the payments service (sandbox provider)
	JOULE_LOG=$${JOULE_LOG:-warn} $(CARGO) run --release -p joule-payments --example bench

bench-auth: services ## Credential check + rate limit per request (issue 13: <= 50 us), vs raw SHA-256
	$(CARGO) run --release -p joule-api --example bench_auth

bench-api: services ## Authenticated GET /v1/sessions/{id} under wrk (issue 14: >= 5,000/s, p99 < 20 ms), vs raw PostgreSQL reads
	bash scripts/bench-api.sh

FUZZ_SECS ?= 60
fuzz: ## Run each cargo-fuzz target (OCPP frames, tariff JSON) for FUZZ_SECS seconds from its committed corpus
	@bash scripts/fuzz.sh $(FUZZ_SECS)
