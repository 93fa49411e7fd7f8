# Baton: two commands.
#   make dev   - everything locally: AWS endpoint, resources from template.yaml, demo
#                tenant, every function on http://127.0.0.1:3000 with queues and schedules,
#                the demo shop with the widget at http://127.0.0.1:3000/.
#   make test  - every test (the browser tests in Debian's Chromium among them) plus the
#                template checks.
# Both install what they need on first use: .venv/ (moto, aws-sam-cli, cfn-lint),
# web/node_modules/ (from web/package-lock.json), and for the tests Debian's chromium.

CARGO ?= cargo
VENV := .venv
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

export SAM_CLI_TELEMETRY := 0
export AWS_EC2_METADATA_DISABLED := true
export BATON_ROOT := $(CURDIR)

.PHONY: dev test venv build web browser fmt-check check-template lint

venv:
	@infra/local/venv

build:
	@CARGO=$(CARGO) infra/local/build

web:
	@infra/local/web

browser:
	@infra/local/browser

dev: venv build web
	$(TARGET_DIR)/debug/baton-local dev

test: venv fmt-check build web browser
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory check-template

fmt-check:
	$(CARGO) fmt --all -- --check

check-template: venv
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml --region us-east-1

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
