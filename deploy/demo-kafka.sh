#!/usr/bin/env bash
# The demo through Kafka: a local broker, `lienthong run` (the API publishing through
# Kafka, the ingest worker, the relay, the checkpointer) on the embedded PostgreSQL,
# and the scripted quarter played against it. Everything it starts, it stops.
# Over mutual TLS, every message signed: the throwaway authority of `make demo`
# (LIENTHONG_PKI_DIR, made here if absent) gives the server its certificate and each
# agency its own; the demo registers the agencies' keys and signs as each of them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export LIENTHONG_DATA_DIR="${LIENTHONG_DATA_DIR:-.lienthong-kafka}"
export LIENTHONG_KAFKA_BOOTSTRAP="127.0.0.1:${LIENTHONG_KAFKA_PORT:-19092}"
export LIENTHONG_GRPC_ADDRESS="${LIENTHONG_GRPC_ADDRESS:-127.0.0.1:50061}"
export LIENTHONG_PKI_DIR="${LIENTHONG_PKI_DIR:-.lienthong/pki}"
export LIENTHONG_TLS_CERT="${LIENTHONG_TLS_CERT:-$LIENTHONG_PKI_DIR/server.pem}"
export LIENTHONG_TLS_KEY="${LIENTHONG_TLS_KEY:-$LIENTHONG_PKI_DIR/server.key}"
export LIENTHONG_TRUST_ANCHORS="${LIENTHONG_TRUST_ANCHORS:-$LIENTHONG_PKI_DIR/ca.pem}"
lienthong=.venv/bin/lienthong

# The throwaway authority, once (what `make demo` makes): before the server starts,
# which needs its certificate.
.venv/bin/python - <<'PY'
from pathlib import Path

from services.app.identity import pki_dir
from services.app.pki import init_pki, roles_of

plans = sorted(Path("data/plans").glob("*.yaml"))
if init_pki(pki_dir(), roles_of(Path("data/agencies.yaml"), plans)):
    print(f"made a throwaway certificate authority in {pki_dir()}")
PY

deploy/kafka/kafka.sh start
deploy/kafka/kafka.sh topics
"$lienthong" plans import data/plans/*.yaml >/dev/null
"$lienthong" run > "$LIENTHONG_DATA_DIR/run.log" 2>&1 &
run_pid=$!
cleanup() {
  kill -TERM "$run_pid" 2>/dev/null || true
  wait "$run_pid" 2>/dev/null || true
  deploy/kafka/kafka.sh stop
}
trap cleanup EXIT
"$lienthong" demo --target "$LIENTHONG_GRPC_ADDRESS"
