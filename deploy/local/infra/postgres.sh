# shellcheck shell=bash
# PostgreSQL (Debian's server binaries, our own cluster run as the OS user postgres; the Debian
# cluster and its service are not used) for deploy/local/bin/infra.

PG_READY_TIMEOUT=${PHIGATE_PG_TIMEOUT:-60}
PG_ADMIN_USER=phigate_admin

pg_vars() {
  PG_PORT=${PHIGATE_PG_PORT:-5432}
  check_port_number PHIGATE_PG_PORT "$PG_PORT"
  PG_HOST=127.0.0.1
  PG_DIR=$PHIGATE_HOME/postgres
  PG_DATA=$PG_DIR/data
  PG_SOCK=$PG_DIR/run
  PG_LOG=$LOG_DIR/postgres.log
  PG_SECRET=$PHIGATE_HOME/secrets/pg_admin_password
  # TLS by default (PHIGATE_PG_TLS=0: without, as before), with a server certificate from the dev CA
  # of the internal links. pg_hba keeps its `host` lines, so loopback clients without TLS (psql,
  # pgbench, tests) still connect; phigate's own links ask for verify-full in their URLs.
  PG_TLS=${PHIGATE_PG_TLS:-1}
  [[ $PG_TLS == 0 || $PG_TLS == 1 ]] || die "PHIGATE_PG_TLS must be 0 or 1"
  PG_TLS_DIR=$PHIGATE_HOME/secrets/internal-tls
  # A running server is described as it was started (like its port): switch by stop and start.
  if [[ -n $(pg_pid) ]]; then
    if grep -q '^ssl = on' "$PG_DATA/phigate.conf" 2>/dev/null; then PG_TLS=1; else PG_TLS=0; fi
  fi
}

# The server certificate (for localhost, 127.0.0.1 and postgres), from the dev CA, copied into the
# data directory: PostgreSQL wants its key owned by the server's user with mode 600.
pg_tls() {
  dev_ca "$PG_TLS_DIR"
  dev_cert "$PG_TLS_DIR" postgres serverAuth
  [[ -s $PG_TLS_DIR/postgres.pem ]] || die "openssl could not create the Postgres certificate"
  install -o postgres -g postgres -m 644 "$PG_TLS_DIR/postgres.pem" "$PG_DATA/server.crt"
  install -o postgres -g postgres -m 600 "$PG_TLS_DIR/postgres.key" "$PG_DATA/server.key"
}

# KEY=VALUE lines of infra env besides the URL: the CA that signs the server's certificate.
pg_env() {
  [[ $PG_TLS == 1 ]] || return 0
  printf 'PG_TLS_CA_FILE=%s\n' "$PG_TLS_DIR/ca.pem"
}

# The server's bin dir: PHIGATE_PG_BIN, else the version the data dir was made with, else the
# newest installed. Prints nothing when no server is installed.
pg_bindir() {
  local d ver
  if [[ -n ${PHIGATE_PG_BIN:-} ]]; then
    printf '%s\n' "$PHIGATE_PG_BIN"
    return 0
  fi
  if [[ -s $PG_DATA/PG_VERSION ]]; then
    ver=$(cat "$PG_DATA/PG_VERSION")
    if [[ -x /usr/lib/postgresql/$ver/bin/postgres ]]; then
      printf '%s\n' "/usr/lib/postgresql/$ver/bin"
      return 0
    fi
  fi
  while IFS= read -r d; do
    if [[ -x $d/bin/postgres && -x $d/bin/initdb ]]; then
      printf '%s\n' "$d/bin"
      return 0
    fi
  done < <(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort -V -r)
}

# Pid of our running postmaster, or nothing. Falls back to the cluster's own postmaster.pid
# (and refreshes our pidfile) so that a lost pidfile does not make us start a second server.
pg_pid() {
  local pid
  pid=$(our_pid postgres "$PG_DATA")
  if [[ -z $pid && -s $PG_DATA/postmaster.pid ]]; then
    pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9')
    if pid_matches "$pid" "$PG_DATA"; then
      [[ ! -d $RUN_DIR ]] || printf '%s\n' "$pid" >"$RUN_DIR/postgres.pid"
    else
      pid=""
    fi
  fi
  [[ -z $pid ]] || printf '%s\n' "$pid"
}

pg_check_ports() {
  check_port "$PG_PORT" "$(pg_pid)" "set PHIGATE_PG_PORT"
}

# The admin password: generated once (hex, so it needs no URL encoding), kept with mode 600.
pg_password() {
  if [[ ! -s $PG_SECRET ]]; then
    mkdir -p "$(dirname "$PG_SECRET")"
    chmod 700 "$(dirname "$PG_SECRET")"
    (
      umask 077
      od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$PG_SECRET.tmp"
    )
    mv "$PG_SECRET.tmp" "$PG_SECRET"
  fi
  chmod 600 "$PG_SECRET"
  tr -d '\n' <"$PG_SECRET"
}

pg_admin_url() {
  printf 'postgres://%s:%s@%s:%s/postgres\n' "$PG_ADMIN_USER" "$(pg_password)" "$PG_HOST" "$PG_PORT"
}

# Run a command as the postgres user, from a directory it can enter.
as_postgres() {
  (cd "$PG_DIR" && runuser -u postgres -- "$@")
}

pg_init() {
  id postgres >/dev/null 2>&1 || die "the OS user 'postgres' does not exist: reinstall the Debian package postgresql-common"
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
  chmod 755 "$PG_DIR"
  install -d -o postgres -g postgres -m 700 "$PG_SOCK"
  touch "$PG_LOG"
  chown postgres:postgres "$PG_LOG"
  fix_traversal "$PG_DIR" postgres
  fix_traversal "$LOG_DIR" postgres
  if [[ ! -s $PG_DATA/PG_VERSION ]]; then
    install -d -o postgres -g postgres -m 700 "$PG_DATA"
    say "initializing the Postgres cluster in $(rel "$PG_DATA")"
    if ! as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=scram-sha-256 >>"$PG_LOG" 2>&1; then
      tail_log "$PG_LOG"
      die "initdb failed (see $PG_LOG); delete $PG_DATA before retrying"
    fi
    printf "\n# phigate: settings managed by deploy/local/bin/infra\ninclude = 'phigate.conf'\n" >>"$PG_DATA/postgresql.conf"
  fi
  # Rewritten on every start so that PHIGATE_PG_PORT and PHIGATE_HOME changes apply.
  cat >"$PG_DATA/phigate.conf" <<EOF
# Generated by deploy/local/bin/infra on every start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 200
shared_buffers = 256MB
jit = off
password_encryption = scram-sha-256
logging_collector = off
EOF
  if [[ $PG_TLS == 1 ]]; then
    pg_tls
    printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_min_protocol_version = 'TLSv1.2'\n" >>"$PG_DATA/phigate.conf"
  fi
  chown postgres:postgres "$PG_DATA/phigate.conf"
}

pg_start() {
  local stale out
  [[ -n $(pg_pid) ]] && return 0
  pg_init
  # A postmaster.pid left by a crash whose pid now belongs to someone else would block the start.
  if [[ -f $PG_DATA/postmaster.pid ]]; then
    stale=$(head -n 1 "$PG_DATA/postmaster.pid" | tr -dc '0-9')
    if ! pid_matches "$stale" "$PG_DATA"; then
      rm -f "$PG_DATA/postmaster.pid"
    fi
  fi
  say "starting Postgres on $PG_HOST:$PG_PORT"
  if ! out=$(as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_READY_TIMEOUT" -s start 2>&1 </dev/null 9>&-); then
    printf '%s\n' "$out" >>"$PG_LOG"
    tail_log "$PG_LOG"
    die "Postgres did not start within ${PG_READY_TIMEOUT}s (see $PG_LOG)"
  fi
  head -n 1 "$PG_DATA/postmaster.pid" >"$RUN_DIR/postgres.pid"
}

pg_isready_bin() {
  if [[ -x $PG_BIN/pg_isready ]]; then printf '%s\n' "$PG_BIN/pg_isready"; else printf 'pg_isready\n'; fi
}

# Wait for the server, then make sure the admin login exists with the stored password.
pg_wait() {
  local deadline pw isready
  isready=$(pg_isready_bin)
  deadline=$(($(now) + PG_READY_TIMEOUT))
  until "$isready" -q -h "$PG_HOST" -p "$PG_PORT"; do
    if [[ -z $(pg_pid) ]] || (($(now) >= deadline)); then
      tail_log "$PG_LOG"
      die "Postgres was not ready within ${PG_READY_TIMEOUT}s (see $PG_LOG)"
    fi
    sleep 0.5
  done
  pw=$(pg_password)
  # Over the unix socket with peer auth; the password goes through stdin, not the command line.
  if ! as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -d postgres \
    >/dev/null 2>>"$PG_LOG" <<SQL; then
SELECT 'CREATE ROLE $PG_ADMIN_USER' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_ADMIN_USER')\gexec
ALTER ROLE $PG_ADMIN_USER WITH LOGIN SUPERUSER PASSWORD '$pw';
SQL
    tail_log "$PG_LOG"
    die "could not create the Postgres login $PG_ADMIN_USER (see $PG_LOG)"
  fi
  if ! PGPASSWORD=$pw "$PG_BIN/psql" -X -q -At -h "$PG_HOST" -p "$PG_PORT" -U "$PG_ADMIN_USER" -d postgres \
    -c 'select 1' >/dev/null 2>>"$PG_LOG"; then
    tail_log "$PG_LOG"
    die "Postgres is up but $PG_ADMIN_USER cannot log in over TCP (see $PG_LOG)"
  fi
}

pg_stop() {
  local pid
  pid=$(pg_pid)
  if [[ -n $pid ]]; then
    say "stopping Postgres (pid $pid)"
    if [[ -z $PG_BIN ]] || ! as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 20 -s stop >>"$PG_LOG" 2>&1; then
      say "pg_ctl stop -m fast failed: stopping the postmaster by signal"
      stop_pid postgres "$pid" 5
    fi
  fi
  rm -f "$RUN_DIR/postgres.pid"
}

pg_describe() {
  local pid
  pid=$(pg_pid)
  if [[ -n $pid ]]; then
    printf 'postgres  running  %s:%s (login %s%s)  pid %s  data %s  log %s\n' \
      "$PG_HOST" "$PG_PORT" "$PG_ADMIN_USER" "$([[ $PG_TLS == 1 ]] && printf ', TLS' || true)" "$pid" "$(rel "$PG_DATA")" "$(rel "$PG_LOG")"
  else
    printf 'postgres  stopped\n'
  fi
}
