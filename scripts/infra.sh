#!/usr/bin/env bash
# Real local PostgreSQL + Kafka (KRaft) on 127.0.0.1, without Docker.
#
#   scripts/infra.sh up|down|restart [pg|kafka]   (default: both)
#   scripts/infra.sh status | env
#   scripts/infra.sh kafka-run CLASS [ARGS...]     (Kafka CLI tools, see below)
#
# State lives in <repo>/.local (gitignored): data, logs, pid files and the
# ports, which are picked once and reused so restarts keep the same URLs and
# data. `up` is idempotent and ends by writing .local/infra.env
# (DATABASE_URL=..., KAFKA_BROKERS=...). RT_LOCAL_DIR names another state dir
# in place of .local: a second, private pair of services on ports of its own,
# which a fault test may stop and restart without disturbing anyone else.
set -euo pipefail
# runuser, useradd and friends live in sbin, which a minimal root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=${RT_LOCAL_DIR:-$ROOT/.local}
RT_CACHE=${RT_CACHE:-$HOME/.cache/requesttasker}
KAFKA_VERSION=3.9.1
KAFKA_LIBS=$RT_CACHE/kafka-$KAFKA_VERSION/libs
ENV_FILE=$LOCAL/infra.env
READY_TIMEOUT=90

log() { echo "[infra] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# shellcheck source=scripts/progress.sh
. "$ROOT/scripts/progress.sh"
# shellcheck source=scripts/debian-packages.sh
. "$ROOT/scripts/debian-packages.sh"

# On a bare Debian machine, what the services need comes from Debian the first time (README, "Two commands").
need() {
  local cmd=$1 package=$2
  command -v "$cmd" >/dev/null && return
  log "$cmd not found; installing Debian's $package"
  rt_apt_install "$package" || die "$cmd not found and $package could not be installed"
}

# Two free loopback ports at once (both sockets held open so they differ).
free_ports() {
  need python3 python3
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Port stored in a state file, picking one the first time.
port_file() {
  local f=$1
  [[ -s $f ]] || free_ports 1 >"$f"
  cat "$f"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- PostgreSQL

PG_DIR=$LOCAL/pg

# Highest installed major version's bin dir (Debian layout).
pg_bin_dir() { compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n1; }

pg_bin() {
  if ! pg_bin_dir >/dev/null; then
    log "no PostgreSQL server binaries; installing Debian's postgresql"
    rt_apt_install postgresql || die "postgresql could not be installed"
  fi
  pg_bin_dir
}

# initdb/postgres refuse to run as root, so the server runs as `postgres`
# (from /, as our cwd may be unreadable to that user).
as_pg() {
  if [[ $(id -u) == 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_prepare_dirs() {
  if [[ $(id -u) != 0 ]]; then mkdir -p "$PG_DIR"; return; fi
  id postgres &>/dev/null ||
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
  if [[ ! -e $PG_DIR ]]; then
    mkdir -p "$PG_DIR"
    chown postgres: "$PG_DIR"
    # The postgres user must be able to reach the data dir; a clone under a
    # private home (e.g. /root, mode 700) does not allow that, so keep the
    # data outside and link it in.
    if ! runuser -u postgres -- test -w "$PG_DIR"; then
      local ext
      ext=/var/lib/requesttasker/$(echo -n "$ROOT" | sha1sum | cut -c1-12)/pg
      log "postgres cannot reach $PG_DIR; keeping its data in $ext"
      rmdir "$PG_DIR"
      mkdir -p "$ext"
      chown postgres: "$ext" "$(dirname "$ext")"
      chmod 755 /var/lib/requesttasker
      ln -s "$ext" "$PG_DIR"
    fi
  fi
  pg_resolve_dir
}

# postgres must see the real path, not one through the link in the repo.
pg_resolve_dir() { if [[ -L $PG_DIR ]]; then PG_DIR=$(readlink -f "$PG_DIR"); fi; }
pg_resolve_dir

# A postmaster.pid left by a crash or machine restart may name a pid that is
# now another process; postgres would then refuse to start, so drop it.
pg_clear_stale_pid() {
  local f=$PG_DIR/data/postmaster.pid pid
  [[ -f $f ]] || return 0
  pid=$(head -n1 "$f")
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) != postgres ]]; then
    log "removing stale postmaster.pid (pid $pid)"
    rm -f "$f" "$PG_DIR"/.s.PGSQL.*
  fi
}

pg_running() {
  [[ -d $PG_DIR/data ]] && pg_clear_stale_pid &&
    as_pg "$(pg_bin)/pg_ctl" status -D "$PG_DIR/data" &>/dev/null
}

pg_up() {
  local bin port
  bin=$(pg_bin)
  pg_prepare_dirs
  port=$(port_file "$LOCAL/pg.port")
  if pg_running; then log "postgres already running on 127.0.0.1:$port"; return; fi

  if [[ ! -f $PG_DIR/data/PG_VERSION ]]; then
    rm -rf "$PG_DIR/data"
    rt_progress "[infra] initdb in $PG_DIR/data" --log "$PG_DIR/initdb.log" \
      as_pg "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --encoding=UTF8 --no-locale ||
      { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    echo "include_if_exists = 'requesttasker.conf'" >>"$PG_DIR/data/postgresql.conf"
  fi
  # Clients use TCP; the socket is a convenience, skipped where the path would
  # exceed the kernel's 107-byte limit for socket names.
  local sockdir=$PG_DIR
  ((${#PG_DIR} < 90)) || sockdir=
  # Rewritten on every start so edits here apply to existing data dirs.
  # Durability stays ON (fsync, synchronous_commit): tests and benchmarks must
  # see the same commit cost as production.
  as_pg tee "$PG_DIR/data/requesttasker.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
fsync = on
synchronous_commit = on
max_connections = 200
shared_buffers = 128MB
EOF
  # Trust on loopback only (listen_addresses keeps the server off the network).
  as_pg tee "$PG_DIR/data/pg_hba.conf" >/dev/null <<'EOF'
local all all              trust
host  all all 127.0.0.1/32 trust
EOF

  log "starting postgres on 127.0.0.1:$port"
  # 9>&-: the daemon must not inherit our lock fd (it would hold the lock forever).
  as_pg "$bin/pg_ctl" start -w -t "$READY_TIMEOUT" -D "$PG_DIR/data" -l "$PG_DIR/log" >/dev/null 9>&- ||
    { tail -n 30 "$PG_DIR/log" >&2; die "postgres did not start"; }

  "$bin/psql" -qAt -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres >/dev/null <<'SQL'
SELECT 'CREATE ROLE tasker LOGIN SUPERUSER PASSWORD ''tasker'''
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tasker') \gexec
SELECT 'CREATE DATABASE tasker OWNER tasker'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tasker') \gexec
SQL
}

pg_down() {
  [[ -d $PG_DIR/data ]] || return 0
  if pg_running; then
    log "stopping postgres"
    as_pg "$(pg_bin)/pg_ctl" stop -w -m fast -D "$PG_DIR/data" >/dev/null
  fi
}

# --------------------------------------------------------------------- Kafka

KAFKA_DIR=$LOCAL/kafka
KAFKA_PID=$KAFKA_DIR/kafka.pid

# Kafka's jars from Maven Central, resolved once into the tools cache.
# kafka_2.13 carries kafka.Kafka and kafka.tools.StorageTool; kafka-tools adds
# the CLIs (org.apache.kafka.tools.TopicCommand, ...) minus connect-runtime,
# which only the Connect tools need and which drags in jetty/jersey. Kafka
# logs through slf4j, whose pom brings no backend: without slf4j-reload4j +
# reload4j (what the official tarball ships) the broker would log nothing.
kafka_libs() {
  [[ -f $KAFKA_LIBS/.complete ]] && return
  need mvn maven # once, to fetch Kafka's jars
  local tmp
  tmp=$(mktemp -d)
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.requesttasker</groupId><artifactId>kafka-libs</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
  </dependencies>
</project>
EOF
  rm -rf "$KAFKA_LIBS.tmp"
  # Output goes to a file: Maven 3.8 prints stray colour codes even with -q -B.
  rt_progress "[infra] resolving Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS (once)" \
    --log "$tmp/mvn.log" \
    mvn -B -q -f "$tmp/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp" ||
    { cat "$tmp/mvn.log" >&2; die "maven could not resolve the Kafka jars"; }
  rm -rf "$tmp" "$KAFKA_LIBS"
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  touch "$KAFKA_LIBS/.complete"
}

# Our pid file only counts if that pid is still a Kafka JVM (pids get reused
# after a machine restart).
kafka_running() {
  local pid
  [[ -s $KAFKA_PID ]] || return 1
  pid=$(cat "$KAFKA_PID")
  if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q 'kafka\.Kafka'; then return 0; fi
  log "removing stale kafka pid file (pid $pid)"
  rm -f "$KAFKA_PID"
  return 1
}

kafka_up() {
  local port cport
  mkdir -p "$KAFKA_DIR"
  if [[ ! -s $KAFKA_DIR/ports ]]; then free_ports 2 >"$KAFKA_DIR/ports"; fi
  read -r port cport <"$KAFKA_DIR/ports"
  if kafka_running; then log "kafka already running on 127.0.0.1:$port"; return; fi
  need java openjdk-17-jre-headless
  kafka_libs

  cat >"$KAFKA_DIR/server.properties" <<EOF
# Single-node KRaft: this one process is both broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=12
# One broker, so every replication factor / ISR minimum is 1.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
# Topics are created explicitly by the app/tests, never by a typo.
auto.create.topics.enable=false
# Consumers in tests join at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
EOF
  cat >"$KAFKA_DIR/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
EOF

  # Format the log dir once; the cluster id must stay the same afterwards.
  if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
    [[ -s $KAFKA_DIR/cluster.id ]] ||
      # Never one starting with '-', which the format tool would read as an option (Kafka's own random-uuid
      # avoids those for the same reason).
      python3 -c 'import base64,uuid
while (i := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"): pass
print(i)' >"$KAFKA_DIR/cluster.id"
    rt_progress "[infra] formatting kafka storage" --log "$KAFKA_DIR/format.log" \
      java -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" -cp "$KAFKA_LIBS/*" \
      kafka.tools.StorageTool format --ignore-formatted \
      -t "$(cat "$KAFKA_DIR/cluster.id")" -c "$KAFKA_DIR/server.properties" ||
      { cat "$KAFKA_DIR/format.log" >&2; die "kafka storage format failed"; }
  fi

  port_open "$port" && die "port $port is taken by something else"
  log "starting kafka on 127.0.0.1:$port (controller :$cport)"
  rm -f "$KAFKA_PID"
  [[ -f $KAFKA_DIR/server.log ]] && mv "$KAFKA_DIR/server.log" "$KAFKA_DIR/server.log.1"
  # setsid: detach from our process group so the broker outlives this script
  # and whatever runner started it; the inner shell records the JVM's own pid.
  # No inherited stdio or lock fd, or callers waiting on them would hang.
  # shellcheck disable=SC2016 # expanded by the inner shell
  KAFKA_DIR=$KAFKA_DIR KAFKA_LIBS=$KAFKA_LIBS setsid bash -c '
    echo $$ >"$KAFKA_DIR/kafka.pid"
    exec java -Xmx512m -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties"
  ' </dev/null >"$KAFKA_DIR/server.log" 2>&1 9>&- &

  local start=$SECONDS
  until [[ -s $KAFKA_PID ]]; do
    sleep 0.1
    ((SECONDS - start < 10)) || die "kafka launcher did not start (log: $KAFKA_DIR/server.log)"
  done
  # Ready = the broker logged its start AND its listener accepts connections.
  local said=$SECONDS
  until grep -q 'Kafka Server started' "$KAFKA_DIR/server.log" && port_open "$port"; do
    sleep 0.5
    if ((SECONDS - said >= 15)); then
      log "  ... waiting for kafka: $((SECONDS - start)) s so far"
      said=$SECONDS
    fi
    if ! kafka_running || ((SECONDS - start > READY_TIMEOUT)); then
      tail -n 40 "$KAFKA_DIR/server.log" >&2
      die "kafka not ready after $((SECONDS - start)) s (log: $KAFKA_DIR/server.log)"
    fi
  done
  log "kafka ready in $((SECONDS - start)) s"
}

kafka_down() {
  kafka_running || return 0
  local pid i
  pid=$(cat "$KAFKA_PID")
  log "stopping kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  # Controlled shutdown usually takes a few seconds; don't wait forever.
  for ((i = 0; i < 40; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "kafka still up after 20 s; killing"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$KAFKA_PID"
}

# Kafka's own CLIs against the local broker, e.g.
#   scripts/infra.sh kafka-run org.apache.kafka.tools.TopicCommand \
#     --bootstrap-server "$KAFKA_BROKERS" --list
# (quote the classpath glob: java expands 'libs/*' itself, the shell must not).
kafka_run() {
  kafka_libs
  mkdir -p "$KAFKA_DIR"
  printf '%s\n' 'log4j.rootLogger=WARN, stderr' \
    'log4j.appender.stderr=org.apache.log4j.ConsoleAppender' \
    'log4j.appender.stderr.Target=System.err' \
    'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout' \
    'log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n' >"$KAFKA_DIR/tools-log4j.properties"
  exec java -Xmx256m -Dlog4j.configuration="file:$KAFKA_DIR/tools-log4j.properties" -cp "$KAFKA_LIBS/*" "$@"
}

# ---------------------------------------------------------------- commands

write_env() {
  : >"$ENV_FILE.tmp"
  [[ -s $LOCAL/pg.port ]] &&
    echo "DATABASE_URL=postgres://tasker:tasker@127.0.0.1:$(cat "$LOCAL/pg.port")/tasker" >>"$ENV_FILE.tmp"
  [[ -s $KAFKA_DIR/ports ]] &&
    echo "KAFKA_BROKERS=127.0.0.1:$(cut -d' ' -f1 "$KAFKA_DIR/ports")" >>"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

status() {
  if [[ -d $PG_DIR/data ]] && pg_running; then
    echo "postgres: running on 127.0.0.1:$(cat "$LOCAL/pg.port")"
  else
    echo "postgres: stopped"
  fi
  if kafka_running; then
    echo "kafka:    running on 127.0.0.1:$(cut -d' ' -f1 "$KAFKA_DIR/ports") (pid $(cat "$KAFKA_PID"))"
  else
    echo "kafka:    stopped"
  fi
}

cmd=${1:-}
if [[ $cmd == kafka-run ]]; then shift; kafka_run "$@"; fi
what=${2:-all}
case $what in all | pg | kafka) ;; *) die "unknown service '$what' (pg|kafka)" ;; esac
svc() { [[ $what == all || $what == "$1" ]]; }

mkdir -p "$LOCAL"
# One infra.sh at a time changes state (parallel task runs may all call `up`).
if [[ $cmd == up || $cmd == down || $cmd == restart ]]; then
  exec 9>"$LOCAL/infra.lock"
  flock 9
fi

case $cmd in
  up)
    if svc pg; then pg_up; fi
    if svc kafka; then kafka_up; fi
    write_env
    cat "$ENV_FILE"
    ;;
  down)
    if svc kafka; then kafka_down; fi
    if svc pg; then pg_down; fi
    ;;
  restart)
    if svc kafka; then kafka_down; kafka_up; fi
    if svc pg; then pg_down; pg_up; fi
    write_env
    ;;
  status) status ;;
  env)
    [[ -f $ENV_FILE ]] || die "no $ENV_FILE yet: run '$0 up'"
    cat "$ENV_FILE"
    ;;
  *)
    echo "usage: $0 up|down|restart [pg|kafka] | status | env | kafka-run CLASS [ARGS...]" >&2
    exit 2
    ;;
esac
