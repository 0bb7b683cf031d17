# Lienthong — the few targets people need. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp


.PHONY: help setup demo demo-kafka test unit lint format clean protos protos-check buf-lint serve

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install Lienthong with its dev tools

demo: $(STAMP)  ## import the four ward plans and play a scripted quarter over gRPC (embedded PostgreSQL)
	$(BIN)/lienthong demo

demo-kafka: $(STAMP)  ## the same quarter through Kafka: a local broker and full mode (needs Java and Maven)
	deploy/demo-kafka.sh

test: $(STAMP) browser probe  ## the whole test suite (unit + integration on a real PostgreSQL, the dashboard in Chromium)
	$(BIN)/pytest

.PHONY: browser dashboard
browser:  ## install Debian's chromium and chromium-driver for the dashboard's browser tests, when missing
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium chromium-driver; }

dashboard: $(STAMP)  ## the live dashboard on 127.0.0.1:8057, reading the API of `make serve` as the auditor
	$(BIN)/lienthong dashboard

unit: $(STAMP)  ## the pure unit tests only (no database)
	$(BIN)/pytest tests/unit

.PHONY: test-cluster
test-cluster: $(STAMP)  ## a 3-broker Kafka cluster: a broker and the active controller killed mid-run, three ingest workers in one group (skipped by make test)
	LIENTHONG_TEST_CLUSTER=1 $(BIN)/pytest -q tests/cluster

.PHONY: deploy-check
deploy-check: $(STAMP)  ## validate deploy/ without a cluster: k8s manifests (bundled schemas, CRDs), compose, topics and settings
	$(BIN)/pytest -q tests/deploy

lint: $(STAMP)  ## ruff, mypy and the layer contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

PROTOC = $(BIN)/python -m grpc_tools.protoc -I protos \
	--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc
PROTO_FILES = $(wildcard protos/lienthong/v1/*.proto)
GEN_INIT = '"""Generated from protos/ by `make protos`. Do not edit."""'

# $(call generate,DIR): the Python and typed stubs of every proto, into DIR/lienthong/v1.
define generate
	mkdir -p $(1)
	$(PROTOC) --python_out=$(1) --grpc_python_out=$(1) --mypy_out=quiet:$(1) --mypy_grpc_out=quiet:$(1) $(PROTO_FILES)
	echo $(GEN_INIT) > $(1)/lienthong/__init__.py
	echo $(GEN_INIT) > $(1)/lienthong/v1/__init__.py
	touch $(1)/lienthong/v1/py.typed
endef

protos: $(STAMP)  ## regenerate the committed stubs in gen/ from protos/
	rm -rf gen/lienthong
	$(call generate,gen)

protos-check: $(STAMP)  ## fail when the committed stubs differ from what protos/ generates
	rm -rf .tmp-gen
	$(call generate,.tmp-gen)
	diff -r -x __pycache__ gen/lienthong .tmp-gen/lienthong || { echo "gen/ is stale: run make protos and commit"; rm -rf .tmp-gen; exit 1; }
	rm -rf .tmp-gen
	@echo "generated stubs are fresh"

BUF_VERSION = v1.75.0
# the version the image builds (deploy/Dockerfile), so the probe tests run what is deployed
PROBE_VERSION = $(shell sed -n 's/^ARG GRPC_HEALTH_PROBE_VERSION=//p' deploy/Dockerfile)
.PHONY: probe
probe:  ## grpc_health_probe, as the image has it, into .tools/ (the probe tests run the deployed probe commands with it)
	test -x .tools/bin/grpc-health-probe || GOBIN=$(CURDIR)/.tools/bin go install github.com/grpc-ecosystem/grpc-health-probe@$(PROBE_VERSION)

buf-lint:  ## buf lint of protos/ (installs buf with go install into .tools/)
	test -x .tools/bin/buf || GOBIN=$(CURDIR)/.tools/bin go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	.tools/bin/buf lint

serve: $(STAMP)  ## run the gRPC API on the embedded PostgreSQL over mutual TLS (certificates in .lienthong/pki, made on first run)
	$(BIN)/lienthong pki init
	$(BIN)/lienthong serve

.PHONY: kafka-fetch kafka-start kafka-stop
kafka-fetch:  ## fetch Apache Kafka from Maven Central into .kafka/libs (needs Maven and Java 17)
	deploy/kafka/kafka.sh fetch

kafka-start: $(STAMP)  ## start the local Kafka broker (LIENTHONG_KAFKA_PORT, default 19092; LIENTHONG_KAFKA_BROKERS=3: a cluster) and create the topics
	deploy/kafka/kafka.sh start
	deploy/kafka/kafka.sh topics

kafka-stop:  ## stop the local Kafka broker (LIENTHONG_KAFKA_BROKERS=3: every node of the cluster)
	deploy/kafka/kafka.sh stop

format: $(STAMP)  ## apply ruff's formatter and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:  ## remove the local embedded database and caches (keeps .venv)
	rm -rf .lienthong .pytest_cache .mypy_cache .ruff_cache .hypothesis .tmp-gen

.PHONY: bench
B ?=
bench: $(STAMP)  ## the benchmarks against their baselines (B=b1 runs one); results in bench/results/, table in README (B3 installs ghz with go)
	$(BIN)/python -m bench $(B)
