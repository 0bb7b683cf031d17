#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, broker + controller in one process) for
# development and the tests, from the jars on Maven Central.
#
#   deploy/kafka/kafka.sh fetch    copy Kafka and its logging backend into the libs dir (Maven)
#   deploy/kafka/kafka.sh start    fetch if needed, format the storage once, start, wait until ready
#   deploy/kafka/kafka.sh stop     SIGTERM, wait, SIGKILL after the deadline
#   deploy/kafka/kafka.sh status   exit 0 when the broker of this home runs and answers
#   deploy/kafka/kafka.sh topics   create Lienthong's topics (idempotent)
#
# Environment (all optional):
#   LIENTHONG_KAFKA_HOME           the broker's folder: config, data, pid, broker.log (.kafka)
#   LIENTHONG_KAFKA_LIBS           the jars, shareable between homes ($LIENTHONG_KAFKA_HOME/libs)
#   LIENTHONG_KAFKA_PORT           the client listener on 127.0.0.1 (19092); the controller
#                                  listens on the next port
#   LIENTHONG_KAFKA_PARTITIONS     partitions of each topic created by `topics` (6)
#   LIENTHONG_TOPIC_PREFIX         before every topic name `topics` creates (none), as the
#                                  services read it
#   LIENTHONG_KAFKA_START_TIMEOUT  seconds `start` waits for the broker to answer (60)
#   LIENTHONG_KAFKA_STOP_TIMEOUT   seconds `stop` waits after SIGTERM before SIGKILL (30)
#   LIENTHONG_KAFKA_JAVA_OPTS      JVM options (-Xms256m -Xmx512m)
#   LIENTHONG_PYTHON               the Python with kafka-python installed (.venv/bin/python)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

absolute() {  # a path made absolute against the current directory
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

KAFKA_HOME_DIR="$(absolute "${LIENTHONG_KAFKA_HOME:-$ROOT/.kafka}")"
LIBS="$(absolute "${LIENTHONG_KAFKA_LIBS:-$KAFKA_HOME_DIR/libs}")"
PORT="${LIENTHONG_KAFKA_PORT:-19092}"
CONTROLLER_PORT="$((PORT + 1))"
PARTITIONS="${LIENTHONG_KAFKA_PARTITIONS:-6}"
START_TIMEOUT="${LIENTHONG_KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${LIENTHONG_KAFKA_STOP_TIMEOUT:-30}"
JAVA_OPTS="${LIENTHONG_KAFKA_JAVA_OPTS:--Xms256m -Xmx512m}"
PYTHON="${LIENTHONG_PYTHON:-$ROOT/.venv/bin/python}"

POM="$HERE/pom.xml"
TOPICS_PY="$HERE/topics.py"
CONFIG="$KAFKA_HOME_DIR/server.properties"
LOG4J_CONFIG="$KAFKA_HOME_DIR/log4j2.properties"
DATA="$KAFKA_HOME_DIR/data"
CLUSTER_ID_FILE="$KAFKA_HOME_DIR/cluster.id"
PID_FILE="$KAFKA_HOME_DIR/broker.pid"
LOG="$KAFKA_HOME_DIR/broker.log"
BOOTSTRAP="127.0.0.1:$PORT"
LOG_ROTATE_BYTES=$((10 * 1024 * 1024))

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is not installed ($2)"
}

need_python() {
    [[ -x "$PYTHON" ]] || die "no Python at $PYTHON: run \`make setup\` (or set LIENTHONG_PYTHON)"
    "$PYTHON" -c 'import kafka' 2>/dev/null \
        || die "kafka-python is not installed in $PYTHON: run \`make setup\`"
}

# ---------------------------------------------------------------------------- fetch

pom_stamp() { sha256sum "$POM" | cut -d' ' -f1; }

libs_ready() {
    [[ -f "$LIBS/.fetched" && "$(cat "$LIBS/.fetched")" == "$(pom_stamp)" ]]
}

fetch() {
    if libs_ready; then
        say "Kafka jars already in $LIBS"
        return 0
    fi
    need mvn "Maven 3 fetches Kafka from Maven Central"
    need java "Kafka 4 needs Java 17 or newer"
    mkdir -p "$(dirname "$LIBS")"
    # One fetch at a time per libs dir (homes share it): the others wait, then find it done.
    exec 9>"$LIBS.lock"
    flock 9
    if libs_ready; then
        say "Kafka jars already in $LIBS"
        exec 9>&-
        return 0
    fi
    local version tmp started
    version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
    tmp="$LIBS.tmp.$$"
    rm -rf "$tmp"
    say "fetching Apache Kafka $version and log4j2 from Maven Central into $LIBS ..."
    started=$SECONDS
    # (Debian's Maven 3.8 prints colour resets even in batch mode: strip them.)
    if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1 \
        | sed -e 's/\x1b\[[0-9;]*m//g'; then
        rm -rf "$tmp"
        exec 9>&-
        die "Maven could not fetch Kafka (see above)"
    fi
    pom_stamp >"$tmp/.fetched"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    exec 9>&-
    say "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $((SECONDS - started)) s"
}

# ---------------------------------------------------------------------------- process

broker_pid() {  # prints the pid of this home's broker when it runs, else fails
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    # The pid may have been reused by another process since: check it is our broker.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $CONFIG" || return 1
    printf '%s\n' "$pid"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

new_cluster_id() {  # Kafka's format: 16 random bytes, base64url without padding, not starting with '-'
    "$PYTHON" - <<'EOF'
import base64, uuid
while True:
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not cid.startswith("-"):
        print(cid)
        break
EOF
}

write_config() {
    cat >"$CONFIG" <<EOF
# Written by deploy/kafka/kafka.sh at every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=6
auto.create.topics.enable=false
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a crash (SIGKILL) the controller keeps the old registration of the broker until
# its session times out, and the restarted broker waits for that: 9 s by default.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
log.segment.bytes=16777216
num.network.threads=2
num.io.threads=4
EOF
    cat >"$LOG4J_CONFIG" <<'EOF'
# Written by deploy/kafka/kafka.sh: everything to stdout, which goes to broker.log.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

format_storage() {
    if [[ -f "$DATA/meta.properties" ]]; then
        return 0
    fi
    [[ -s "$CLUSTER_ID_FILE" ]] || new_cluster_id >"$CLUSTER_ID_FILE"
    say "formatting $DATA (cluster id $(cat "$CLUSTER_ID_FILE"))"
    # shellcheck disable=SC2086  # JAVA_OPTS is a list of options
    java $JAVA_OPTS -Dlog4j2.configurationFile="$LOG4J_CONFIG" -cp "$LIBS/*" \
        kafka.tools.StorageTool format -t "$(cat "$CLUSTER_ID_FILE")" -c "$CONFIG" >>"$LOG" 2>&1 \
        || { tail -n 20 "$LOG" >&2; die "formatting the storage failed (log: $LOG)"; }
}

rotate_log() {
    if [[ -f "$LOG" ]] && (($(stat -c %s "$LOG") > LOG_ROTATE_BYTES)); then
        mv -f "$LOG" "$LOG.1"
    fi
}

start() {
    local pid started
    if pid="$(broker_pid)"; then
        say "already running (pid $pid) at $BOOTSTRAP; home $KAFKA_HOME_DIR"
        "$PYTHON" "$TOPICS_PY" ready --bootstrap "$BOOTSTRAP" --deadline "$START_TIMEOUT" --pid "$pid" \
            --cluster-id "$(cat "$CLUSTER_ID_FILE")"
        return 0
    fi
    need java "Kafka 4 needs Java 17 or newer"
    need_python
    fetch
    for p in "$PORT" "$CONTROLLER_PORT"; do
        port_in_use "$p" && die "127.0.0.1:$p is already in use (another broker?): set LIENTHONG_KAFKA_PORT"
    done
    mkdir -p "$KAFKA_HOME_DIR"
    rm -f "$PID_FILE"
    rotate_log
    printf '\n===== kafka.sh start %s: %s, controller 127.0.0.1:%s =====\n' \
        "$(date -Iseconds)" "$BOOTSTRAP" "$CONTROLLER_PORT" >>"$LOG"
    write_config
    format_storage
    started=$SECONDS
    say "starting the broker at $BOOTSTRAP (home $KAFKA_HOME_DIR, log $LOG)"
    # shellcheck disable=SC2086  # JAVA_OPTS is a list of options
    nohup java $JAVA_OPTS -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
        -cp "$LIBS/*" kafka.Kafka "$CONFIG" >>"$LOG" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    if ! "$PYTHON" "$TOPICS_PY" ready --bootstrap "$BOOTSTRAP" --deadline "$START_TIMEOUT" \
        --pid "$pid" --cluster-id "$(cat "$CLUSTER_ID_FILE")"; then
        printf -- '--- last lines of %s ---\n' "$LOG" >&2
        tail -n 40 "$LOG" >&2
        rm -f "$PID_FILE"
        if alive "$pid"; then
            stop_pid "$pid" >&2 || true
            die "the broker did not become ready within ${START_TIMEOUT} s (stopped it; log: $LOG)"
        fi
        die "the broker exited during its start (log: $LOG)"
    fi
    say "broker ready (pid $pid) in $((SECONDS - started)) s"
}

alive() {  # the process exists and has not exited (a zombie waiting for its reaper has)
    kill -0 "$1" 2>/dev/null && [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]
}

stop_pid() {
    local pid="$1" deadline
    kill -TERM "$pid" 2>/dev/null || return 0
    deadline=$((SECONDS + STOP_TIMEOUT))
    while alive "$pid"; do
        if ((SECONDS >= deadline)); then
            say "the broker (pid $pid) did not stop within ${STOP_TIMEOUT} s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            while alive "$pid"; do sleep 0.1; done
            break
        fi
        sleep 0.1
    done
}

stop() {
    local pid
    if ! pid="$(broker_pid)"; then
        rm -f "$PID_FILE"
        say "not running (home $KAFKA_HOME_DIR)"
        return 0
    fi
    say "stopping the broker (pid $pid)"
    stop_pid "$pid"
    rm -f "$PID_FILE"
    say "stopped"
}

status() {
    local pid
    if ! pid="$(broker_pid)"; then
        say "not running (home $KAFKA_HOME_DIR)"
        exit 3
    fi
    need_python
    if "$PYTHON" "$TOPICS_PY" ready --bootstrap "$BOOTSTRAP" --deadline 5 --pid "$pid" \
        --cluster-id "$(cat "$CLUSTER_ID_FILE")" >/dev/null; then
        say "running (pid $pid) and answering at $BOOTSTRAP; home $KAFKA_HOME_DIR"
    else
        say "running (pid $pid) but not answering at $BOOTSTRAP"
        exit 1
    fi
}

topics() {
    broker_pid >/dev/null || die "no broker runs in $KAFKA_HOME_DIR: run \`$0 start\` first"
    need_python
    "$PYTHON" "$TOPICS_PY" ensure --bootstrap "$BOOTSTRAP" --partitions "$PARTITIONS"
}

case "${1:-}" in
    fetch) fetch ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    topics) topics ;;
    *)
        sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
