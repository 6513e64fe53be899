# Connectors — the everyday commands. `make help` lists them.
SHELL := /bin/bash
SWIFT ?= swift

.PHONY: help build test bench migrate local-db local-db-stop dev dev-logs dev-down prod prod-logs prod-down migrate-prod logs-auth logs-connectors

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

build: ## debug build of both services
	@scripts/ensure-packages.sh
	$(SWIFT) build

test: ## install what is missing, start throwaway PostgreSQL and Redis, run every test, stop them
	@scripts/ensure-packages.sh
	$(SWIFT) build --build-tests
	SERVICE_BIN_DIR="$$($(SWIFT) build --show-bin-path)" TEST_PYTHON="$$(scripts/ensure-venv.sh)" \
	  scripts/with-test-servers.sh $(SWIFT) test --skip-build

bench: ## release builds under wrk on loopback; writes and prints a Markdown table
	@scripts/ensure-packages.sh
	$(SWIFT) build -c release --product AuthService
	$(SWIFT) build -c release --product ConnectorsService
	scripts/with-test-servers.sh python3 scripts/bench.py --bin-dir "$$($(SWIFT) build -c release --show-bin-path)"

migrate: ## apply pending migrations to DATABASE_URL (environment or .env)
	$(SWIFT) run AuthService migrate

local-db: ## start PostgreSQL and Redis for development, data under .data/ (stop: make local-db-stop)
	@scripts/local-db.sh start

local-db-stop: ## stop the servers `make local-db` started
	@scripts/local-db.sh stop

dev dev-logs dev-down prod prod-logs prod-down migrate-prod logs-auth logs-connectors:
	@echo "make $@: not yet — the deploy work (Dockerfiles, Compose, Traefik) is still to come." >&2
	@echo "For now: 'make local-db', then 'make migrate', then 'swift run AuthService' and 'swift run ConnectorsService'." >&2
	@exit 2
