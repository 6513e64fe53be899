# Connectors — the everyday commands. `make help` lists them.
SHELL := /bin/bash
SWIFT ?= swift
# Docker Compose when an engine answers; otherwise the same stack natively (scripts/dev-native.sh).
DOCKER := $(shell docker info >/dev/null 2>&1 && echo yes)
DEV_COMPOSE := docker compose -f docker-compose.dev.yml
PROD_COMPOSE := docker compose --env-file .env.prod -f docker-compose.prod.yml

.PHONY: help build format test bench image-check migrate local-db local-db-stop dev dev-logs dev-down prod prod-logs prod-down migrate-prod logs-auth logs-connectors

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

build: ## debug build of both services
	@scripts/ensure-packages.sh
	$(SWIFT) build

format: ## format the Swift code with the project's .swift-format (make test checks it)
	$(SWIFT) format format -r -i Sources Tests Package.swift

test: ## install what is missing, start throwaway PostgreSQL and Redis, run every test, stop them
	@scripts/ensure-packages.sh
	@$(SWIFT) format lint --strict -r Sources Tests Package.swift || { echo "make test: the code is not formatted; run make format" >&2; exit 1; }
	$(SWIFT) build --build-tests
	SERVICE_BIN_DIR="$$($(SWIFT) build --show-bin-path)" TEST_PYTHON="$$(scripts/ensure-venv.sh)" \
	  SWIFT="$(SWIFT)" scripts/with-test-servers.sh scripts/run-tests.sh

bench: ## release builds under wrk on loopback; writes and prints a Markdown table
	@scripts/ensure-packages.sh
	$(SWIFT) build -c release --product AuthService
	$(SWIFT) build -c release --product ConnectorsService
	$(SWIFT) build -c release --package-path bench/bare-hummingbird --scratch-path .build/bench-bare
	scripts/with-test-servers.sh python3 scripts/bench.py --bin-dir "$$($(SWIFT) build -c release --show-bin-path)" \
	  --bare-bin .build/bench-bare/release/BareHummingbird --bun "$$(scripts/ensure-bun.sh)"

image-check: ## prove the Dockerfile's runtime stage without Docker: both services in a bookworm root as uid 10001 (root; slow)
	scripts/with-test-servers.sh scripts/image-check.sh

migrate: ## apply pending migrations (the Compose dev database, or DATABASE_URL from the environment or .env)
ifeq ($(DOCKER),yes)
	$(DEV_COMPOSE) run --rm migrate
else
	$(SWIFT) run AuthService migrate
endif

local-db: ## start PostgreSQL and Redis for development, data under .data/ (stop: make local-db-stop)
	@scripts/local-db.sh start

local-db-stop: ## stop the servers `make local-db` started
	@scripts/local-db.sh stop

dev: ## the whole stack at https://localhost (Docker Compose, or natively without Docker)
ifeq ($(DOCKER),yes)
	@scripts/dev-cert.sh >/dev/null
	@test -f .env || { cp .env.example .env; echo "created .env from .env.example: fill in the secrets"; }
	$(DEV_COMPOSE) up -d --build
	@echo "https://localhost (self-signed: .data/certs/localhost.crt) · Traefik dashboard http://localhost:8080"
else
	@scripts/dev-native.sh up
endif

dev-logs: ## follow the dev stack's logs
ifeq ($(DOCKER),yes)
	$(DEV_COMPOSE) logs -f --tail=100
else
	@scripts/dev-native.sh logs
endif

dev-down: ## stop the dev stack (data is kept)
ifeq ($(DOCKER),yes)
	$(DEV_COMPOSE) down
else
	@scripts/dev-native.sh down
endif

logs-auth: ## follow the auth service's logs (dev stack)
ifeq ($(DOCKER),yes)
	$(DEV_COMPOSE) logs -f --tail=100 auth
else
	tail -n 100 -F .data/logs/auth.log
endif

logs-connectors: ## follow the connectors service's logs (dev stack)
ifeq ($(DOCKER),yes)
	$(DEV_COMPOSE) logs -f --tail=100 connectors
else
	tail -n 100 -F .data/logs/connectors.log
endif

prod: ## build the images and start production (needs .env.prod and a Docker engine)
	@test -f .env.prod || { echo "make prod: create .env.prod first (cp .env.prod.example .env.prod)" >&2; exit 2; }
	$(PROD_COMPOSE) up -d --build

prod-logs: ## follow production's logs
	$(PROD_COMPOSE) logs -f --tail=100

prod-down: ## stop production (volumes are kept)
	$(PROD_COMPOSE) down

migrate-prod: ## apply pending migrations in production (the one-shot migrate service)
	$(PROD_COMPOSE) run --rm migrate
