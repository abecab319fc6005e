# NimbusFleet. `make run` builds the server and the dashboard, then starts the embedded
# server with a demo organisation; `make test` provisions PostgreSQL, Redis, a Kafka-compatible
# broker (tansu) and Chromium if needed and runs the whole test suite.

# One build directory outside the clone, shared by every checkout on this machine.
CARGO_TARGET_DIR ?= $(HOME)/.cache/nimbusfleet/target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/debug/nimbusfleet
BIND ?= 127.0.0.1:8080
DATA_DIR ?= ./data

.PHONY: run build test openapi docs lint fmt bench clean-data

run: build
	$(BIN) serve --demo --simulate 5 --bind $(BIND) --data-dir $(DATA_DIR)

# The binary and the dashboard (frontend/dist), installing missing build tools first.
build:
	scripts/build.sh

test:
	scripts/test.sh

# Regenerates the committed OpenAPI document from the code.
openapi: build
	$(BIN) openapi --output openapi/openapi.json

# Regenerates everything produced from the code: the OpenAPI document and the README's
# error and settings tables.
docs: openapi
	scripts/readme-tables.py $(BIN)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

# On PostgreSQL: GET /api/v1/drones/{id} throughput and latency (wrk), then telemetry
# ingest, raw COPY and live latency, then the airspace checks against 100,000 fences and
# 10,000 plans, then the dashboard with 2,000 drones in Chromium (one
# JSON line per figure).
bench:
	bench/all.sh

clean-data:
	rm -rf $(DATA_DIR)

# The distributed topology as processes on this machine, no Docker (scripts/cluster.sh): nginx
# in front of 3 API replicas, 2 ingest workers, tansu, Redis and PostgreSQL with a catalog and
# 4 shards. Prints the URL, the demo logins and where each log is.
.PHONY: cluster cluster-down cluster-status
cluster:
	scripts/cluster.sh up

cluster-down:
	scripts/cluster.sh down

cluster-status:
	scripts/cluster.sh status
