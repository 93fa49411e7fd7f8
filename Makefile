# Baton: two commands.
#   make dev   - everything locally: AWS endpoint, resources from template.yaml, demo
#                tenant, every function on http://127.0.0.1:3000 with queues and schedules.
#   make test  - every test plus the template checks.
# Both install what they need (.venv/ with moto, aws-sam-cli, cfn-lint) on first use.

CARGO ?= cargo
VENV := .venv
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

export SAM_CLI_TELEMETRY := 0
export AWS_EC2_METADATA_DISABLED := true
export BATON_ROOT := $(CURDIR)

.PHONY: dev test venv build fmt-check check-template lint

venv:
	@infra/local/venv

build:
	@CARGO=$(CARGO) infra/local/build

dev: venv build
	$(TARGET_DIR)/debug/baton-local dev

test: venv fmt-check build
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory check-template

fmt-check:
	$(CARGO) fmt --all -- --check

check-template: venv
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml --region us-east-1

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
