#!/usr/bin/env bash
# The demo through Kafka: a local broker, `lienthong run` (the API publishing through
# Kafka, the ingest worker, the relay) on the embedded PostgreSQL, and the scripted
# quarter played against it. Everything it starts, it stops.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export LIENTHONG_DATA_DIR="${LIENTHONG_DATA_DIR:-.lienthong-kafka}"
export LIENTHONG_KAFKA_BOOTSTRAP="127.0.0.1:${LIENTHONG_KAFKA_PORT:-19092}"
export LIENTHONG_GRPC_ADDRESS="${LIENTHONG_GRPC_ADDRESS:-127.0.0.1:50061}"
lienthong=.venv/bin/lienthong

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
