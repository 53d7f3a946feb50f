#!/usr/bin/env bash
# Local dev/test stack without Docker: Apache Kafka (KRaft, single node) from Maven Central
# jars and a project-owned PostgreSQL cluster from Debian's postgresql package.
#
#   deploy/local/stack.sh up       start both (idempotent), then print the env lines
#   deploy/local/stack.sh down     stop both (harmless when already down)
#   deploy/local/stack.sh status   show both; exit 0 only when both are up (each probe waits up
#                                  to HITL_STATUS_TIMEOUT seconds, default 20)
#   deploy/local/stack.sh env      print: export KAFKA_BROKERS=... / export DATABASE_URL=...
#   deploy/local/stack.sh scram-user NAME   create or replace a SCRAM-SHA-512 login for the
#                                  SASL listener, the password read from stdin's first line
#
#   eval "$(deploy/local/stack.sh env)"
#
# Progress goes to stderr prefixed with [stack]; only env lines (and status) go to stdout.
# See deploy/local/README.md. The Docker equivalent is docker-compose.yml at the repo root.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd -P)"

# ---------------------------------------------------------------------------------------
# Settings (environment variables, with defaults)
# ---------------------------------------------------------------------------------------
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"                # org.apache.kafka:kafka_2.13 version
KAFKA_PORT="${KAFKA_PORT:-9092}"                       # client listener, 127.0.0.1 only
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}" # KRaft controller listener
# SASL_PLAINTEXT (SCRAM-SHA-512) listener with ACLs; default KAFKA_PORT + 2 (9094), so a private
# stack that moves KAFKA_PORT moves it too instead of colliding with the default stack's.
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-$((${KAFKA_PORT//[!0-9]/} + 2))}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"                       # broker -Xmx
KAFKA_OPTS="${KAFKA_OPTS:-}"                           # extra broker JVM options (word-split)
KAFKA_READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-90}"       # seconds from launch to metadata answers
HITL_PG_PORT="${HITL_PG_PORT:-55432}"                  # not 5432: clear of a system cluster
HITL_STACK_DIR="${HITL_STACK_DIR:-$REPO_ROOT/.stack}"  # runtime state: data, logs, pids
HITL_CACHE_DIR="${HITL_CACHE_DIR:-$REPO_ROOT/.cache}"  # downloaded broker jars
# ---------------------------------------------------------------------------------------

# Fixed names: role/password/database used by DATABASE_URL (same as docker-compose.yml).
readonly PG_ROLE=hitl PG_PASSWORD=hitl PG_DATABASE=hitl

abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
for _port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_PORT" "$HITL_PG_PORT"; do
  [[ "$_port" =~ ^[0-9]+$ ]] || { echo "[stack] error: not a port number: $_port" >&2; exit 2; }
done
HITL_STACK_DIR="$(abspath "$HITL_STACK_DIR")"
HITL_CACHE_DIR="$(abspath "$HITL_CACHE_DIR")"

KAFKA_HOME="$HITL_CACHE_DIR/kafka-$KAFKA_VERSION"   # shared, reusable: libs/ + probe/
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_LIBS_MARKER="$KAFKA_HOME/libs.complete"
KAFKA_PROBE_DIR="$KAFKA_HOME/probe"
KAFKA_DIR="$HITL_STACK_DIR/kafka"                    # per stack: config, data, logs, pid
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LOG="$KAFKA_DIR/server.log"
KAFKA_STDOUT="$KAFKA_DIR/stdout.log"
KAFKA_TOOLS_LOG="$KAFKA_DIR/tools.log"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_PORTFILE="$KAFKA_DIR/kafka.port"
LOG4J_PROPS="$SCRIPT_DIR/log4j2.properties"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }
is_root() { [[ "$(id -u)" -eq 0 ]]; }
now_ms() { local t="${EPOCHREALTIME//[!0-9]/}"; printf '%s\n' "$((10#$t / 1000))"; }
secs_since() { local d=$(($(now_ms) - $1)); printf '%d.%d\n' "$((d / 1000))" "$((d % 1000 / 100))"; }
short_hash() { printf '%s' "$1" | sha256sum | cut -c1-12; }

# True when something accepts TCP connections on 127.0.0.1:$1.
# shellcheck disable=SC2016 # $0 is expanded by the inner bash
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

APT_UPDATED=0
apt_install() {
  is_root || return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  if [[ "$APT_UPDATED" -eq 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 </dev/null
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 </dev/null
}

# ======================================================================================
# Kafka
# ======================================================================================

ensure_java() {
  if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1 \
    || ! command -v mvn >/dev/null 2>&1; then
    apt_install default-jdk-headless maven \
      || die "Java 17+ (java, javac) and Maven (mvn) are needed: apt-get install default-jdk-headless maven"
  fi
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')"
  [[ "${major%%.*}" -ge 17 ]] 2>/dev/null || die "Kafka $KAFKA_VERSION needs Java 17+, found java ${major:-?}"
}

# Broker jars: kafka_2.13 and its runtime dependencies plus the matching Log4j 2 SLF4J
# binding, copied by Maven into $KAFKA_LIBS once; the marker is written only after a
# complete copy, so an interrupted download is redone next time.
ensure_kafka_libs() {
  if [[ -f "$KAFKA_LIBS_MARKER" && -d "$KAFKA_LIBS" ]]; then return 0; fi
  ensure_java
  local t0 tmp mvnlog deps log4j_version slf4j_version binding njars
  t0="$(now_ms)"
  mkdir -p "$KAFKA_HOME"
  tmp="$KAFKA_HOME/libs.tmp.$$"
  mvnlog="$KAFKA_HOME/maven.log"
  deps="$KAFKA_HOME/dependencies.txt"
  rm -rf "$tmp" "$KAFKA_LIBS" "$KAFKA_LIBS_MARKER"
  : >"$mvnlog"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS (once)"
  local -a mvn_cmd=(mvn -B -q -f "$SCRIPT_DIR/pom.xml" -Dkafka.version="$KAFKA_VERSION")
  if ! "${mvn_cmd[@]}" dependency:list -DincludeScope=runtime -DoutputFile="$deps" \
    >>"$mvnlog" 2>&1 </dev/null; then
    tail -n 30 "$mvnlog" >&2
    die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (log: $mvnlog)"
  fi
  log4j_version="$(sed -n 's/.*org\.apache\.logging\.log4j:log4j-core:jar:\([^:]*\):.*/\1/p' "$deps" | head -n 1)"
  slf4j_version="$(sed -n 's/.*org\.slf4j:slf4j-api:jar:\([^:]*\):.*/\1/p' "$deps" | head -n 1)"
  [[ -n "$log4j_version" && -n "$slf4j_version" ]] \
    || die "could not find log4j-core / slf4j-api among Kafka's dependencies ($deps)"
  # The binding must match Kafka's slf4j-api major version (1.x: log4j-slf4j-impl,
  # 2.x: log4j-slf4j2-impl) and Kafka's log4j-core version.
  case "$slf4j_version" in
    1.*) binding=log4j-slf4j-impl ;;
    *) binding=log4j-slf4j2-impl ;;
  esac
  if ! "${mvn_cmd[@]}" dependency:copy-dependencies -DincludeScope=runtime \
    -Dlog4j.binding="$binding" -Dlog4j.version="$log4j_version" -DoutputDirectory="$tmp" \
    >>"$mvnlog" 2>&1 </dev/null; then
    tail -n 30 "$mvnlog" >&2
    die "Maven could not copy the Kafka jars (log: $mvnlog)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" && -f "$tmp/$binding-$log4j_version.jar" ]] \
    || die "Maven finished but $tmp lacks kafka_2.13-$KAFKA_VERSION.jar or $binding-$log4j_version.jar"
  njars="$(find "$tmp" -maxdepth 1 -name '*.jar' | wc -l)"
  mv "$tmp" "$KAFKA_LIBS"
  printf 'kafka=%s\nslf4j-api=%s\nlog4j=%s\nbinding=%s\njars=%s\n' \
    "$KAFKA_VERSION" "$slf4j_version" "$log4j_version" "$binding" "$njars" >"$KAFKA_LIBS_MARKER"
  log "got $njars jars ($(du -sh "$KAFKA_LIBS" | cut -f1)), slf4j-api $slf4j_version + $binding $log4j_version, in $(secs_since "$t0") s"
}

# The readiness probe (KafkaReady.java, AdminClient describeCluster), compiled once.
ensure_kafka_probe() {
  local src="$SCRIPT_DIR/KafkaReady.java" cls="$KAFKA_PROBE_DIR/KafkaReady.class" tmp
  if [[ -f "$cls" && ! "$src" -nt "$cls" ]]; then return 0; fi
  ensure_java
  tmp="$KAFKA_HOME/probe.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp" "$KAFKA_PROBE_DIR"
  javac -nowarn -d "$tmp" -cp "$KAFKA_LIBS/*" "$src" >&2 || die "could not compile $src"
  mv -f "$tmp/KafkaReady.class" "$cls"
  rm -rf "$tmp"
}

# Run a short-lived Java tool on the broker classpath; Log4j output goes to tools.log.
kafka_tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -cp "$KAFKA_LIBS/*:$KAFKA_PROBE_DIR" \
    -Dlog4j2.configurationFile="$LOG4J_PROPS" \
    -Dhitl.log.file="$KAFKA_TOOLS_LOG" -Dhitl.log.level=WARN \
    "$@"
}

write_kafka_properties() {
  cat >"$KAFKA_PROPS" <<EOF
# Written by deploy/local/stack.sh on every start; edit the script, not this file.
# Single-node KRaft: this process is both broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT},SASL_PLAINTEXT://127.0.0.1:${KAFKA_SASL_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},SASL_PLAINTEXT://127.0.0.1:${KAFKA_SASL_PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=${KAFKA_DATA}

# A second client listener that authenticates (SCRAM-SHA-512, logins made with 'stack.sh
# scram-user') and enforces ACLs, to try a secured client against. The plaintext listener and
# the controller keep working exactly as before: their principal, User:ANONYMOUS, is a super
# user, so every test and tool on KAFKA_PORT needs no ACL. A SASL principal gets only what an
# ACL grants it (allow.everyone.if.no.acl.found stays false): the point of the listener.
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false

# Topics are created explicitly (pnpm topics / the test kit), never on first use.
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=3
default.replication.factor=1

# Internal topics on one node: replication 1 and few partitions, so the group and
# transaction coordinators load fast.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=10
group.initial.rebalance.delay.ms=0

# After an unclean stop (kill -9, reboot) the restarted broker must wait for its old
# registration to expire before it is unfenced (DUPLICATE_BROKER_REGISTRATION until then);
# with the default 9 s session such a restart took ~14 s. Broker and controller share this
# one JVM, so a shorter session is safe.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=5000

# Small footprint for a dev box / CI (2 cores).
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=33554432
log.index.size.max.bytes=1048576
log.segment.bytes=67108864
log.retention.hours=24
EOF
}

# True if process $1 is this stack's broker: kafka.Kafka with this stack's server.properties
# (guards against a recycled pid, and tells this stack's broker from another stack's).
is_our_kafka() {
  local cmdline
  cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
  [[ "$cmdline" == *"kafka.Kafka $KAFKA_PROPS "* ]]
}
# Alive and not a zombie (an exited child not yet reaped still answers kill -0).
pid_alive() {
  local stat
  stat="$(cat 2>/dev/null "/proc/$1/stat")" || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}
# Prints the pid of this stack's broker if it is alive (pid file + live, matching process).
kafka_pid() {
  local pid
  [[ -f "$KAFKA_PIDFILE" ]] || return 1
  pid="$(cat "$KAFKA_PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && is_our_kafka "$pid" && printf '%s\n' "$pid"
}
find_kafka_by_cmdline() {
  local d
  for d in /proc/[0-9]*; do
    if is_our_kafka "${d#/proc/}"; then printf '%s\n' "${d#/proc/}"; return 0; fi
  done
  return 1
}

kafka_format_once() {
  if [[ -f "$KAFKA_DATA/meta.properties" ]]; then return 0; fi
  local cluster_id
  cluster_id="$(kafka_tool kafka.tools.StorageTool random-uuid 2>>"$KAFKA_TOOLS_LOG" | tail -n 1)"
  [[ -n "$cluster_id" ]] || die "StorageTool random-uuid failed (see $KAFKA_TOOLS_LOG)"
  log "formatting $KAFKA_DATA (cluster id $cluster_id)"
  kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" --ignore-formatted \
    >>"$KAFKA_TOOLS_LOG" 2>&1 || { tail -n 20 "$KAFKA_TOOLS_LOG" >&2; die "StorageTool format failed"; }
}

KAFKA_STARTED_AT=""
KAFKA_LAUNCHED=0
# Starts the broker in the background unless this stack's broker is already running.
kafka_start() {
  local pid
  mkdir -p "$KAFKA_DIR" "$KAFKA_DATA"
  if pid="$(kafka_pid)"; then
    local running_port
    running_port="$(cat "$KAFKA_PORTFILE" 2>/dev/null || true)"
    if [[ -n "$running_port" && "$running_port" != "$KAFKA_PORT" ]]; then
      die "this stack's broker (pid $pid) listens on port $running_port, not KAFKA_PORT=$KAFKA_PORT: run 'down' first"
    fi
    # Warn, not fail: a broker started by an older stack.sh serves everything else as before.
    if ! grep -q "^listeners=.*SASL_PLAINTEXT://127.0.0.1:${KAFKA_SASL_PORT}\$" "$KAFKA_PROPS" 2>/dev/null; then
      log "warning: this broker has no SASL listener on 127.0.0.1:$KAFKA_SASL_PORT (started by an older stack.sh or with another KAFKA_SASL_PORT); 'down' then 'up' to get one"
    fi
    log "kafka already running (pid $pid)"
    return 0
  fi
  rm -f "$KAFKA_PIDFILE"
  if port_open "$KAFKA_PORT"; then
    die "127.0.0.1:$KAFKA_PORT is already in use by another process (not this stack's broker in $KAFKA_DIR); stop it or set KAFKA_PORT"
  fi
  if port_open "$KAFKA_CONTROLLER_PORT"; then
    die "127.0.0.1:$KAFKA_CONTROLLER_PORT is already in use by another process; stop it or set KAFKA_CONTROLLER_PORT"
  fi
  if port_open "$KAFKA_SASL_PORT"; then
    die "127.0.0.1:$KAFKA_SASL_PORT is already in use by another process; stop it or set KAFKA_SASL_PORT"
  fi
  write_kafka_properties
  kafka_format_once
  printf '\n==== %s starting kafka %s\n' "$(date -Is)" "$KAFKA_VERSION" >>"$KAFKA_STDOUT"
  local -a extra_opts=()
  read -r -a extra_opts <<<"$KAFKA_OPTS"
  KAFKA_STARTED_AT="$(now_ms)"
  # setsid + nohup: the broker outlives this script and its terminal/process group.
  # fd 9 (the stack lock) is closed so the broker does not hold it.
  (
    cd "$KAFKA_DIR"
    exec nohup setsid java -Xmx"$KAFKA_HEAP" \
      -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
      -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$LOG4J_PROPS" \
      -Dhitl.log.file="$KAFKA_LOG" -Dhitl.log.level=INFO \
      "${extra_opts[@]}" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS"
  ) </dev/null >>"$KAFKA_STDOUT" 2>&1 9>&- &
  pid=$!
  # setsid normally execs in place (same pid); if it had to fork, find the JVM instead.
  for _ in $(seq 1 20); do
    if is_our_kafka "$pid"; then break; fi
    if ! pid_alive "$pid"; then
      pid="$(find_kafka_by_cmdline || true)"
      [[ -n "$pid" ]] && break
      tail -n 20 "$KAFKA_STDOUT" >&2
      die "kafka exited right away (see $KAFKA_STDOUT)"
    fi
    sleep 0.1
  done
  if ! is_our_kafka "$pid"; then
    tail -n 20 "$KAFKA_STDOUT" >&2
    die "cannot find the kafka process just started (see $KAFKA_STDOUT)"
  fi
  printf '%s\n' "$pid" >"$KAFKA_PIDFILE"
  printf '%s\n' "$KAFKA_PORT" >"$KAFKA_PORTFILE"
  KAFKA_LAUNCHED=1
  log "kafka $KAFKA_VERSION starting (pid $pid), log: $KAFKA_LOG"
}

kafka_log_tail() {
  log "---- last lines of $KAFKA_LOG ----"
  tail -n 40 "$KAFKA_LOG" >&2 2>/dev/null || true
  if [[ -s "$KAFKA_STDOUT" ]]; then
    log "---- last lines of $KAFKA_STDOUT ----"
    tail -n 20 "$KAFKA_STDOUT" >&2
  fi
}

# Waits (bounded) until the broker answers metadata requests; fails if it dies meanwhile.
kafka_wait_ready() {
  local pid probe_pid out rc=0 t0
  pid="$(cat "$KAFKA_PIDFILE" 2>/dev/null || true)"
  if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! is_our_kafka "$pid"; then
    kafka_log_tail
    die "kafka is not running (it exited right after starting?)"
  fi
  t0="${KAFKA_STARTED_AT:-$(now_ms)}"
  out="$KAFKA_DIR/ready.out"
  # The timeout counts from the broker's launch, not from the probe's start.
  local remaining=$((KAFKA_READY_TIMEOUT - ($(now_ms) - t0) / 1000))
  [[ "$remaining" -ge 1 ]] || remaining=1
  kafka_tool KafkaReady "127.0.0.1:$KAFKA_PORT" "$remaining" --group-coordinator \
    >"$out" 2>&1 9>&- &
  probe_pid=$!
  local hard_deadline=$(($(now_ms) + (remaining + 15) * 1000))
  while kill -0 "$probe_pid" 2>/dev/null; do
    if ! is_our_kafka "$pid"; then
      kill "$probe_pid" 2>/dev/null || true
      wait "$probe_pid" 2>/dev/null || true
      kafka_log_tail
      die "kafka (pid $pid) exited while starting"
    fi
    if [[ "$(now_ms)" -gt "$hard_deadline" ]]; then
      kill -KILL "$probe_pid" 2>/dev/null || true
      echo "readiness probe hung" >>"$out"
    fi
    sleep 0.2
  done
  wait "$probe_pid" || rc=$?
  if [[ "$rc" -ne 0 ]]; then
    cat "$out" >&2 || true
    kafka_log_tail
    if [[ "$KAFKA_LAUNCHED" -eq 1 ]]; then
      log "stopping the broker that did not become ready"
      kafka_stop
    fi
    die "kafka did not answer metadata requests on 127.0.0.1:$KAFKA_PORT within ${KAFKA_READY_TIMEOUT} s"
  fi
  local info metadata_at
  info="$(tail -n 1 "$out")"
  metadata_at="$(sed -n 's/^metadataReadyAt=//p' "$out")"
  if [[ -n "$KAFKA_STARTED_AT" && "$metadata_at" =~ ^[0-9]+$ ]]; then
    local d=$((metadata_at - t0))
    log "kafka answered metadata $((d / 1000)).$((d % 1000 / 100)) s after launch; group coordinator ready after $(secs_since "$t0") s"
  fi
  log "kafka ready on 127.0.0.1:$KAFKA_PORT ($info)"
}

kafka_stop() {
  local pid
  if ! pid="$(kafka_pid)"; then
    # No pid file (or stale): still catch a broker of this stack started some other way.
    pid="$(find_kafka_by_cmdline || true)"
    if [[ -z "$pid" ]]; then
      rm -f "$KAFKA_PIDFILE" "$KAFKA_PORTFILE"
      log "kafka not running"
      return 0
    fi
  fi
  log "stopping kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    is_our_kafka "$pid" || break
    sleep 0.1
  done
  if is_our_kafka "$pid"; then
    log "kafka did not exit within 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      is_our_kafka "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$KAFKA_PIDFILE" "$KAFKA_PORTFILE"
  log "kafka stopped"
}

# ======================================================================================
# PostgreSQL
# ======================================================================================
# The cluster is this project's own (initdb'd into the stack dir), independent of any
# Debian-managed cluster such as 15/main on 5432, which is neither used nor touched.
# As root, initdb/pg_ctl refuse to run, so they run as the 'postgres' system user via
# runuser, and the data directory is owned by that user. That user must be able to
# traverse $HITL_STACK_DIR; if it cannot (e.g. the repo is under /root, mode 0700),
# the cluster lives in /var/tmp/hitl-stack-<hash of HITL_STACK_DIR>/postgres instead.
# As a non-root user, everything runs as that user.

PG_BIN="" PG_DATA="" PG_SOCK="" PG_LOG=""
PG_RUN=()

pg_find_bin() {
  local v="" d
  if [[ -n "$PG_DATA" && -f "$PG_DATA/PG_VERSION" ]]; then
    v="$(cat "$PG_DATA/PG_VERSION")"
    [[ -x "/usr/lib/postgresql/$v/bin/initdb" ]] && { PG_BIN="/usr/lib/postgresql/$v/bin"; return 0; }
  fi
  d="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$d" ]] && { PG_BIN="$(dirname "$d")"; return 0; }
  if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    PG_BIN="$(pg_config --bindir)"; return 0
  fi
  return 1
}

# Sets PG_DATA, PG_SOCK, PG_LOG, PG_RUN (no side effects, except reading).
pg_paths() {
  local fallback_root
  fallback_root="/var/tmp/hitl-stack-$(short_hash "$HITL_STACK_DIR")"
  PG_DATA="$HITL_STACK_DIR/postgres"
  PG_RUN=()
  if is_root; then
    PG_RUN=(runuser -u postgres --)
    if [[ -f "$fallback_root/postgres/PG_VERSION" ]]; then
      PG_DATA="$fallback_root/postgres"
    elif [[ -d "$HITL_STACK_DIR" ]] && id -u postgres >/dev/null 2>&1 \
      && ! runuser -u postgres -- test -x "$HITL_STACK_DIR" 2>/dev/null; then
      PG_DATA="$fallback_root/postgres"
    fi
  fi
  PG_LOG="$(dirname "$PG_DATA")/postgres.log"
  # Unix socket in the data dir (private to the cluster's owner), unless the path would
  # exceed the ~107-byte socket path limit; then in a short private dir.
  PG_SOCK="$PG_DATA"
  if [[ $((${#PG_DATA} + 20)) -gt 100 ]]; then
    PG_SOCK="$fallback_root/socket"
  fi
}

# Runs a PostgreSQL program as the cluster owner, from a directory that user can enter.
pg_as_owner() { (cd / && "${PG_RUN[@]}" "$@"); }

pg_running() {
  [[ -f "$PG_DATA/postmaster.pid" && -n "$PG_BIN" ]] || return 1
  pid_alive "$(pg_running_pid)" || return 1
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}
pg_running_pid() { head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null; }
pg_running_port() { sed -n '4p' "$PG_DATA/postmaster.pid" 2>/dev/null; }

pg_ensure_installed() {
  pg_find_bin && return 0
  if is_root; then
    # Debian's postinst may create and start its own 'main' cluster on 5432; harmless,
    # this stack uses its own data dir and port.
    apt_install postgresql || die "apt-get install postgresql failed"
    pg_find_bin || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
  else
    die "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): run 'sudo apt-get install postgresql' (or run this script as root, which installs it)"
  fi
}

pg_init_once() {
  local owner parent
  if [[ -f "$PG_DATA/PG_VERSION" ]]; then return 0; fi
  owner="$(id -un)"
  if is_root; then
    owner=postgres
    if [[ "$PG_DATA" != "$HITL_STACK_DIR/postgres" ]]; then
      log "user 'postgres' cannot traverse $HITL_STACK_DIR; using $PG_DATA for the postgres data"
    fi
  fi
  parent="$(dirname "$PG_DATA")"
  mkdir -p "$parent"
  [[ "$parent" == "$HITL_STACK_DIR" ]] || chmod 755 "$parent"
  rm -rf "$PG_DATA"
  mkdir -p "$PG_DATA"
  chown "$owner" "$PG_DATA"
  chmod 700 "$PG_DATA"
  touch "$PG_LOG"
  chown "$owner" "$PG_LOG"
  log "initdb $PG_DATA (PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'))"
  # Local socket: trust (the socket lives in the owner-only data dir); TCP: passwords.
  pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions \
    >>"$PG_LOG" 2>&1 || { tail -n 20 "$PG_LOG" >&2; die "initdb failed (log: $PG_LOG)"; }
  cat >>"$PG_DATA/postgresql.conf" <<'EOF'

# ---- hitl local dev stack (deploy/local/stack.sh) ----
# Port, listen address and socket directory are passed by stack.sh on start.
# Durability is traded for speed on purpose: this cluster holds throwaway dev/test data
# only (a crash may lose or corrupt it; 'rm -rf .stack/postgres' and 'up' starts over).
fsync = off
synchronous_commit = off
full_page_writes = off
# Tests create a database and a connection pool per test.
max_connections = 200
shared_buffers = 128MB
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = -1
EOF
}

pg_start() {
  local owner
  pg_ensure_installed
  mkdir -p "$HITL_STACK_DIR"
  pg_paths
  pg_find_bin
  if pg_running; then
    local port
    port="$(pg_running_port)"
    if [[ "$port" != "$HITL_PG_PORT" ]]; then
      die "this stack's postgres (pid $(pg_running_pid)) listens on port $port, not HITL_PG_PORT=$HITL_PG_PORT: run 'down' first"
    fi
    log "postgres already running (pid $(pg_running_pid))"
  else
    if port_open "$HITL_PG_PORT"; then
      die "127.0.0.1:$HITL_PG_PORT is already in use by another process; stop it or set HITL_PG_PORT"
    fi
    pg_init_once
    owner="$(id -un)"
    is_root && owner=postgres
    if [[ "$PG_SOCK" != "$PG_DATA" ]]; then
      mkdir -p "$PG_SOCK"
      chown "$owner" "$PG_SOCK"
      chmod 700 "$PG_SOCK"
    fi
    touch "$PG_LOG"
    chown "$owner" "$PG_LOG"
    if [[ -f "$PG_DATA/postmaster.pid" ]] && ! pid_alive "$(pg_running_pid)"; then
      # Left by a killed server. Postgres itself ignores a stale lock file only if the pid
      # is gone, not if it is an unreaped zombie (seen where init does not reap orphans).
      log "removing stale postmaster.pid (pid $(pg_running_pid) is gone)"
      rm -f "$PG_DATA/postmaster.pid"
    fi
    log "starting postgres on 127.0.0.1:$HITL_PG_PORT, log: $PG_LOG"
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
      -o "-p $HITL_PG_PORT -k '$PG_SOCK' -c listen_addresses=127.0.0.1" start >&2 9>&- \
      || { tail -n 30 "$PG_LOG" >&2; die "postgres did not start (log: $PG_LOG)"; }
  fi
  for _ in $(seq 1 60); do
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$HITL_PG_PORT" -t 2; then break; fi
    sleep 0.5
  done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$HITL_PG_PORT" -t 2 \
    || { tail -n 30 "$PG_LOG" >&2; die "postgres does not answer pg_isready on 127.0.0.1:$HITL_PG_PORT"; }
  # Role and database, idempotently (password re-set every time).
  pg_as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$HITL_PG_PORT" \
    -U postgres -d postgres >/dev/null <<EOF || die "could not create role/database $PG_ROLE"
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
-- The test kit drops each test's database WITH (FORCE), which must be able to terminate every
-- backend in it, autovacuum workers included: that takes pg_signal_backend.
GRANT pg_signal_backend TO $PG_ROLE;
SELECT 'CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DATABASE') \gexec
EOF
  # End-to-end check of DATABASE_URL's credentials over TCP.
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -At \
    -h 127.0.0.1 -p "$HITL_PG_PORT" -U "$PG_ROLE" -d "$PG_DATABASE" -c 'SELECT 1' >/dev/null \
    || die "cannot log in as $PG_ROLE over TCP on 127.0.0.1:$HITL_PG_PORT"
  log "postgres ready on 127.0.0.1:$HITL_PG_PORT (pid $(pg_running_pid), data $PG_DATA)"
}

pg_stop() {
  pg_paths
  if ! pg_find_bin || ! pg_running; then
    log "postgres not running"
    return 0
  fi
  log "stopping postgres (pid $(pg_running_pid))"
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >&2 \
    || die "pg_ctl stop failed (log: $PG_LOG)"
}

# ======================================================================================
# Commands
# ======================================================================================

take_lock() {
  mkdir -p "$HITL_STACK_DIR"
  exec 9>"$HITL_STACK_DIR/.lock"
  flock -w 300 9 || die "another stack.sh holds $HITL_STACK_DIR/.lock"
}

cmd_env() {
  printf 'export KAFKA_BROKERS=127.0.0.1:%s\n' "$KAFKA_PORT"
  # Not for the services: the SASL listener, for its test in packages/kafka. Left out for a broker
  # started by an older stack.sh, which has none, so that the test skips instead of failing.
  if [[ ! -f "$KAFKA_PROPS" ]] || grep -q "^listeners=.*SASL_PLAINTEXT://127.0.0.1:${KAFKA_SASL_PORT}\$" "$KAFKA_PROPS"; then
    printf 'export HITL_TEST_KAFKA_SASL_BROKERS=127.0.0.1:%s\n' "$KAFKA_SASL_PORT"
  fi
  printf 'export DATABASE_URL=postgres://%s:%s@127.0.0.1:%s/%s\n' \
    "$PG_ROLE" "$PG_PASSWORD" "$HITL_PG_PORT" "$PG_DATABASE"
}

# Fail before starting anything if a port this stack needs is taken by something else.
preflight_ports() {
  if ! kafka_pid >/dev/null; then
    local p
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_PORT"; do
      if port_open "$p"; then
        die "127.0.0.1:$p is already in use by another process (not this stack's broker in $KAFKA_DIR); stop it or set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_PORT"
      fi
    done
  fi
  pg_paths
  if ! { pg_find_bin && pg_running; } && port_open "$HITL_PG_PORT"; then
    die "127.0.0.1:$HITL_PG_PORT is already in use by another process (not this stack's postgres); stop it or set HITL_PG_PORT"
  fi
}

# If 'up' fails after launching the broker, do not leave it behind half set up.
on_up_exit() {
  local rc=$?
  if [[ "$rc" -ne 0 && "$KAFKA_LAUNCHED" -eq 1 ]] && kafka_pid >/dev/null; then
    log "up failed: stopping the broker it started"
    kafka_stop || true
  fi
}

cmd_up() {
  local t0
  t0="$(now_ms)"
  take_lock
  preflight_ports
  trap on_up_exit EXIT
  ensure_kafka_libs
  ensure_kafka_probe
  kafka_start          # the broker boots in the background while postgres starts
  pg_start
  kafka_wait_ready
  trap - EXIT
  log "stack up in $(secs_since "$t0") s (state: $HITL_STACK_DIR)"
  cmd_env
}

# The SCRAM login tool (KafkaScramUser.java), compiled on first use only: 'up' does not wait for it.
ensure_kafka_scram_tool() {
  local src="$SCRIPT_DIR/KafkaScramUser.java" cls="$KAFKA_PROBE_DIR/KafkaScramUser.class" tmp
  if [[ -f "$cls" && ! "$src" -nt "$cls" ]]; then return 0; fi
  ensure_java
  tmp="$KAFKA_HOME/scram.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp" "$KAFKA_PROBE_DIR"
  javac -nowarn -d "$tmp" -cp "$KAFKA_LIBS/*" "$src" >&2 || die "could not compile $src"
  mv -f "$tmp/KafkaScramUser.class" "$cls"
  rm -rf "$tmp"
}

# Creates or replaces a SCRAM-SHA-512 login, through the plaintext listener (a super user), on a
# running broker: works on an existing data dir, unlike 'kafka-storage format --add-scram'.
cmd_scram_user() {
  local user="${1:-}"
  [[ -n "$user" && $# -eq 1 ]] || die "usage: printf '%s\n' PASSWORD | stack.sh scram-user NAME"
  ensure_kafka_libs
  ensure_kafka_scram_tool
  mkdir -p "$KAFKA_DIR" # for tools.log, when the broker is another stack dir's
  kafka_tool KafkaScramUser "127.0.0.1:$KAFKA_PORT" "$user" 9>&- \
    || die "could not set the SCRAM login of $user on 127.0.0.1:$KAFKA_PORT (is the stack up? see $KAFKA_TOOLS_LOG)"
}

cmd_down() {
  take_lock
  kafka_stop
  pg_stop
}

cmd_status() {
  local ok=0 pid info
  # The probe is a JVM that starts, connects and asks the controller: seconds on a loaded machine,
  # so a short timeout calls a healthy broker dead.
  local STATUS_TIMEOUT="${HITL_STATUS_TIMEOUT:-20}"
  if pid="$(kafka_pid)"; then
    if [[ -f "$KAFKA_PROBE_DIR/KafkaReady.class" ]] \
      && info="$(kafka_tool KafkaReady "127.0.0.1:$KAFKA_PORT" "$STATUS_TIMEOUT" 2>/dev/null | tail -n 1)"; then
      printf 'kafka:    running, pid %s, 127.0.0.1:%s, ready (%s)\n' "$pid" "$KAFKA_PORT" "$info"
    else
      printf 'kafka:    process running (pid %s) but not answering on 127.0.0.1:%s within %s s\n' \
        "$pid" "$KAFKA_PORT" "$STATUS_TIMEOUT"
      ok=1
    fi
  else
    printf 'kafka:    stopped\n'
    ok=1
  fi
  pg_paths
  if pg_find_bin && pg_running; then
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$HITL_PG_PORT" -t "$STATUS_TIMEOUT"; then
      printf 'postgres: running, pid %s, 127.0.0.1:%s, data %s\n' \
        "$(pg_running_pid)" "$HITL_PG_PORT" "$PG_DATA"
    else
      printf 'postgres: process running (pid %s, port %s) but not answering on 127.0.0.1:%s within %s s\n' \
        "$(pg_running_pid)" "$(pg_running_port)" "$HITL_PG_PORT" "$STATUS_TIMEOUT"
      ok=1
    fi
  else
    printf 'postgres: stopped\n'
    ok=1
  fi
  return "$ok"
}

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    scram-user) shift; cmd_scram_user "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
