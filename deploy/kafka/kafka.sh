#!/usr/bin/env bash
# Apache Kafka (KRaft) for development and the tests, from the jars on Maven Central: a
# single node (broker + controller in one process), or a cluster of N such nodes on
# loopback (LIENTHONG_KAFKA_BROKERS=3: three voters of the metadata quorum, each also a
# broker; topics replicated 3 times, min.insync.replicas 2).
#
#   deploy/kafka/kafka.sh fetch           copy Kafka and its logging backend into the libs dir (Maven)
#   deploy/kafka/kafka.sh start           fetch if needed, format the storage once, start every
#                                         node, wait until all brokers are registered
#   deploy/kafka/kafka.sh stop            SIGTERM to every node, wait, SIGKILL after the deadline
#   deploy/kafka/kafka.sh status          exit 0 when every node of this home runs and answers
#   deploy/kafka/kafka.sh topics          create Lienthong's topics (idempotent)
#   deploy/kafka/kafka.sh kill N          SIGKILL node N (1..BROKERS), as a crash (for the tests)
#   deploy/kafka/kafka.sh stop-broker N   stop node N cleanly
#   deploy/kafka/kafka.sh start-broker N  start node N again, wait until every broker is registered
#   deploy/kafka/kafka.sh controller      print the node id of the active controller (quorum leader)
#
# Environment (all optional):
#   LIENTHONG_KAFKA_HOME           the folder: config, data, pid, broker.log (.kafka); with
#                                  several brokers, node N in broker-N/ under it
#   LIENTHONG_KAFKA_LIBS           the jars, shareable between homes ($LIENTHONG_KAFKA_HOME/libs)
#   LIENTHONG_KAFKA_BROKERS        1 (default): a single node; 3 (or more, odd): a cluster
#   LIENTHONG_KAFKA_PORT           node 1's client listener on 127.0.0.1 (19092); its controller
#                                  listens on the next port; node N on PORT + 2(N-1) and the next
#   LIENTHONG_KAFKA_PARTITIONS     partitions of each topic created by `topics` (6)
#   LIENTHONG_TOPIC_PREFIX         before every topic name `topics` creates (none), as the
#                                  services read it
#   LIENTHONG_KAFKA_START_TIMEOUT  seconds `start` waits for the brokers to answer (60; 120 for a cluster)
#   LIENTHONG_KAFKA_STOP_TIMEOUT   seconds `stop` waits after SIGTERM before SIGKILL (30)
#   LIENTHONG_KAFKA_JAVA_OPTS      JVM options of each node (-Xms256m -Xmx512m; a cluster's
#                                  nodes -Xms128m -Xmx384m)
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
BROKERS="${LIENTHONG_KAFKA_BROKERS:-1}"
PORT="${LIENTHONG_KAFKA_PORT:-19092}"
PARTITIONS="${LIENTHONG_KAFKA_PARTITIONS:-6}"
STOP_TIMEOUT="${LIENTHONG_KAFKA_STOP_TIMEOUT:-30}"
PYTHON="${LIENTHONG_PYTHON:-$ROOT/.venv/bin/python}"
if [[ ! "$BROKERS" =~ ^[0-9]+$ ]] || ((BROKERS != 1 && (BROKERS < 3 || BROKERS % 2 == 0 || BROKERS > 9))); then
    printf 'kafka: error: LIENTHONG_KAFKA_BROKERS=%s: 1, or an odd number from 3 to 9\n' "$BROKERS" >&2
    exit 2
fi
if ((BROKERS == 1)); then
    REPLICATION=1
    MIN_INSYNC=1
    START_TIMEOUT="${LIENTHONG_KAFKA_START_TIMEOUT:-60}"
    JAVA_OPTS="${LIENTHONG_KAFKA_JAVA_OPTS:--Xms256m -Xmx512m}"
else
    REPLICATION=3
    MIN_INSYNC=2
    START_TIMEOUT="${LIENTHONG_KAFKA_START_TIMEOUT:-120}"
    JAVA_OPTS="${LIENTHONG_KAFKA_JAVA_OPTS:--Xms128m -Xmx384m}"
fi

POM="$HERE/pom.xml"
TOPICS_PY="$HERE/topics.py"
CLUSTER_ID_FILE="$KAFKA_HOME_DIR/cluster.id"
LOG_ROTATE_BYTES=$((10 * 1024 * 1024))
QUORUM_LOST_GRACE=5

client_port() { printf '%s\n' "$((PORT + 2 * ($1 - 1)))"; }
controller_port() { printf '%s\n' "$((PORT + 2 * ($1 - 1) + 1))"; }

BOOTSTRAP=""
VOTERS=""
for ((n = 1; n <= BROKERS; n++)); do
    BOOTSTRAP="${BOOTSTRAP:+$BOOTSTRAP,}127.0.0.1:$(client_port "$n")"
    VOTERS="${VOTERS:+$VOTERS,}$n@127.0.0.1:$(controller_port "$n")"
done

# The files of node N (the home itself when there is one node, as before clusters).
node() {
    NODE="$1"
    if ((BROKERS == 1)); then NODE_DIR="$KAFKA_HOME_DIR"; else NODE_DIR="$KAFKA_HOME_DIR/broker-$NODE"; fi
    CONFIG="$NODE_DIR/server.properties"
    LOG4J_CONFIG="$NODE_DIR/log4j2.properties"
    DATA="$NODE_DIR/data"
    PID_FILE="$NODE_DIR/broker.pid"
    LOG="$NODE_DIR/broker.log"
    NODE_PORT="$(client_port "$NODE")"
    NODE_CONTROLLER_PORT="$(controller_port "$NODE")"
}
node 1

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

broker_pid() {  # prints the pid of the current node's broker when it runs, else fails
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

write_config() {  # of the current node
    local threads=4
    ((BROKERS == 1)) || threads=2
    cat >"$CONFIG" <<EOF
# Written by deploy/kafka/kafka.sh at every start; edits are overwritten.
process.roles=broker,controller
node.id=$NODE
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:$NODE_PORT,CONTROLLER://127.0.0.1:$NODE_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$NODE_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=6
auto.create.topics.enable=false
default.replication.factor=$REPLICATION
min.insync.replicas=$MIN_INSYNC
unclean.leader.election.enable=false
offsets.topic.replication.factor=$REPLICATION
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_INSYNC
share.coordinator.state.topic.replication.factor=$REPLICATION
share.coordinator.state.topic.min.isr=$MIN_INSYNC
group.initial.rebalance.delay.ms=0
# After a crash (SIGKILL) the controller keeps the old registration of the broker until
# its session times out, and the restarted broker waits for that: 9 s by default. A
# short session also moves the leadership of a dead broker's partitions within 3 s.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
log.segment.bytes=16777216
num.network.threads=2
num.io.threads=$threads
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

format_storage() {  # of the current node, once
    if [[ -f "$DATA/meta.properties" ]]; then
        return 0
    fi
    say "formatting $DATA (cluster id $(cat "$CLUSTER_ID_FILE"), node $NODE)"
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

check_node() {  # N is a node of this home
    [[ "${1:-}" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= BROKERS)) \
        || die "name a node from 1 to $BROKERS (LIENTHONG_KAFKA_BROKERS=$BROKERS)"
}

prepare() {  # what starting any node needs
    need java "Kafka 4 needs Java 17 or newer"
    need_python
    fetch
    mkdir -p "$KAFKA_HOME_DIR"
    [[ -s "$CLUSTER_ID_FILE" ]] || new_cluster_id >"$CLUSTER_ID_FILE"
}

launch() {  # start the current node's process, without waiting for it
    local pid
    if pid="$(broker_pid)"; then
        say "node $NODE already running (pid $pid) at 127.0.0.1:$NODE_PORT"
        return 0
    fi
    for p in "$NODE_PORT" "$NODE_CONTROLLER_PORT"; do
        port_in_use "$p" && die "127.0.0.1:$p is already in use (another broker?): set LIENTHONG_KAFKA_PORT"
    done
    mkdir -p "$NODE_DIR"
    rm -f "$PID_FILE"
    rotate_log
    printf '\n===== kafka.sh start %s: node %s, 127.0.0.1:%s, controller 127.0.0.1:%s =====\n' \
        "$(date -Iseconds)" "$NODE" "$NODE_PORT" "$NODE_CONTROLLER_PORT" >>"$LOG"
    write_config
    format_storage
    say "starting node $NODE at 127.0.0.1:$NODE_PORT (log $LOG)"
    # shellcheck disable=SC2086  # JAVA_OPTS is a list of options
    nohup java $JAVA_OPTS -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
        -cp "$LIBS/*" kafka.Kafka "$CONFIG" >>"$LOG" 2>&1 </dev/null &
    printf '%s\n' "$!" >"$PID_FILE"
}

await_node() {  # the current node (pid $1) answers, and every broker of the cluster is registered
    if ! "$PYTHON" "$TOPICS_PY" ready --bootstrap "127.0.0.1:$NODE_PORT" --deadline "$START_TIMEOUT" \
        --pid "$1" --cluster-id "$(cat "$CLUSTER_ID_FILE")" --brokers "$BROKERS"; then
        printf -- '--- last lines of %s ---\n' "$LOG" >&2
        tail -n 40 "$LOG" >&2
        return 1
    fi
}

fail_start() {  # stop what a failed start left running, then die
    local n pid
    for ((n = 1; n <= BROKERS; n++)); do
        node "$n"
        if pid="$(broker_pid)"; then stop_pid "$pid" >&2 || true; fi
        rm -f "$PID_FILE"
    done
    die "$1"
}

start() {
    local n started
    local -a pids=()
    prepare
    started=$SECONDS
    # Format the nodes' storage side by side (a JVM each); launch formats any that failed.
    for ((n = 1; n <= BROKERS; n++)); do
        node "$n"
        if ! broker_pid >/dev/null && [[ ! -f "$DATA/meta.properties" ]]; then
            mkdir -p "$NODE_DIR"
            write_config
            (format_storage || true) &
        fi
    done
    wait
    for ((n = 1; n <= BROKERS; n++)); do
        node "$n"
        launch
        pids[n]="$(broker_pid || true)"
    done
    for ((n = 1; n <= BROKERS; n++)); do
        node "$n"
        [[ -n "${pids[n]}" ]] || fail_start "node $n exited during its start (log: $LOG)"
        await_node "${pids[n]}" \
            || fail_start "node $n did not become ready within ${START_TIMEOUT} s (stopped; log: $LOG)"
    done
    if ((BROKERS == 1)); then
        say "broker ready (pid ${pids[1]}) in $((SECONDS - started)) s at $BOOTSTRAP"
    else
        say "$BROKERS brokers ready in $((SECONDS - started)) s at $BOOTSTRAP (home $KAFKA_HOME_DIR)"
    fi
}

start_broker() {
    check_node "$1"
    prepare
    node "$1"
    launch
    local pid
    pid="$(broker_pid)" || die "node $1 exited during its start (log: $LOG)"
    await_node "$pid" || die "node $1 did not become ready within ${START_TIMEOUT} s (log: $LOG)"
    say "node $1 ready (pid $pid)"
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

stop_node() {  # the current node, cleanly
    local pid
    if ! pid="$(broker_pid)"; then
        rm -f "$PID_FILE"
        say "node $NODE not running"
        return 0
    fi
    say "stopping node $NODE (pid $pid)"
    stop_pid "$pid"
    rm -f "$PID_FILE"
    say "node $NODE stopped"
}

stop() {
    local n pid left lost_at="" deadline
    local -a pids=()
    # SIGTERM to every node at once. A node's controlled shutdown needs the quorum (a
    # majority of the nodes): once a majority has exited, the others wait for it in
    # vain, so they get QUORUM_LOST_GRACE seconds, then SIGKILL (their logs are
    # recovered at the next start; every acknowledged record is on a majority).
    for ((n = 1; n <= BROKERS; n++)); do
        node "$n"
        if pid="$(broker_pid)"; then
            pids[n]="$pid"
            say "stopping node $n (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    while :; do
        left=0
        for pid in "${pids[@]}"; do alive "$pid" && left=$((left + 1)); done
        ((left == 0)) && break
        if ((BROKERS > 1 && left <= BROKERS / 2)) && [[ -z "$lost_at" ]]; then lost_at=$SECONDS; fi
        if ((SECONDS >= deadline)) || [[ -n "$lost_at" && $((SECONDS - lost_at)) -ge $QUORUM_LOST_GRACE ]]; then
            for pid in "${pids[@]}"; do
                if alive "$pid"; then
                    say "the broker (pid $pid) did not stop (no quorum left, or ${STOP_TIMEOUT} s): SIGKILL"
                    kill -KILL "$pid" 2>/dev/null || true
                fi
            done
        fi
        sleep 0.1
    done
    for ((n = 1; n <= BROKERS; n++)); do
        node "$n"
        rm -f "$PID_FILE"
    done
    if ((${#pids[@]} == 0)); then say "not running (home $KAFKA_HOME_DIR)"; else say "stopped"; fi
}

kill_node() {  # SIGKILL, as a crash
    check_node "$1"
    node "$1"
    local pid
    pid="$(broker_pid)" || die "node $1 is not running"
    kill -KILL "$pid"
    while alive "$pid"; do sleep 0.05; done
    rm -f "$PID_FILE"
    say "node $1 (pid $pid) killed"
}

status() {
    local n pid failed=0
    need_python
    for ((n = 1; n <= BROKERS; n++)); do
        node "$n"
        if ! pid="$(broker_pid)"; then
            say "node $n not running (home $NODE_DIR)"
            failed=3
            continue
        fi
        if "$PYTHON" "$TOPICS_PY" ready --bootstrap "127.0.0.1:$NODE_PORT" --deadline 5 --pid "$pid" \
            --cluster-id "$(cat "$CLUSTER_ID_FILE")" >/dev/null; then
            say "node $n running (pid $pid) and answering at 127.0.0.1:$NODE_PORT; home $NODE_DIR"
        else
            say "node $n running (pid $pid) but not answering at 127.0.0.1:$NODE_PORT"
            ((failed == 3)) || failed=1
        fi
    done
    exit "$failed"
}

running_bootstrap() {  # the client addresses of the nodes that run (fails when none does)
    local n list=""
    for ((n = 1; n <= BROKERS; n++)); do
        node "$n"
        if broker_pid >/dev/null; then list="${list:+$list,}127.0.0.1:$NODE_PORT"; fi
    done
    [[ -n "$list" ]] || die "no broker runs in $KAFKA_HOME_DIR: run \`$0 start\` first"
    printf '%s\n' "$list"
}

topics() {
    local bootstrap
    bootstrap="$(running_bootstrap)"
    need_python
    "$PYTHON" "$TOPICS_PY" ensure --bootstrap "$bootstrap" --partitions "$PARTITIONS" \
        --replication-factor "$REPLICATION" --min-insync-replicas "$MIN_INSYNC"
}

controller() {
    local bootstrap
    bootstrap="$(running_bootstrap)"
    need_python
    "$PYTHON" "$TOPICS_PY" controller --bootstrap "$bootstrap"
}

case "${1:-}" in
    fetch) fetch ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    topics) topics ;;
    kill) kill_node "${2:-}" ;;
    stop-broker)
        check_node "${2:-}"
        node "$2"
        stop_node
        ;;
    start-broker) start_broker "${2:-}" ;;
    controller) controller ;;
    *)
        sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
