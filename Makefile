# Joule: the one entry point for building, testing and running. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
export JOULE_ADMIN_TOKEN ?= demo-admin-token

.PHONY: help services python build test lint fmt demo run ci clean-test-data

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

services: ## Install (apt) and start PostgreSQL and NATS JetStream if they are not running
	@bash scripts/ensure-services.sh

python: ## A virtualenv with the Python `ocpp` package used as the charger in end-to-end tests
	@bash scripts/ensure-python.sh

build: ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

test: services python ## Run every test: unit, integration (real PostgreSQL + NATS) and end to end
	$(CARGO) test --workspace --no-fail-fast

lint: ## cargo fmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

demo: services ## Run all services, drive simulated chargers through real OCPP sessions, print the results
	$(CARGO) build --bin joule
	./target/debug/joule demo

run: services ## Run all services in one process (JOULE_* settings, see README)
	$(CARGO) run --bin joule -- run --all

ci: lint test ## What CI runs (.ci/run)
