# shellcheck shell=bash
# Shared helpers for deploy/local/bin/infra (sourced, not executed).
# Expects PHIGATE_HOME, RUN_DIR and LOG_DIR to be set by the caller.

# Progress and errors go to stderr so that `infra env` keeps stdout clean.
say() { printf 'infra: %s\n' "$*" >&2; }
die() {
  printf 'infra: %s\n' "$*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

now() { date +%s; }

# cmdline_of PID: the process's command line with NULs as spaces (empty if gone or a zombie).
cmdline_of() {
  { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true
}

# pid_matches PID PATTERN: true when PID is alive and its command line contains PATTERN.
pid_matches() {
  local pid=$1 pattern=$2 cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$(cmdline_of "$pid")
  [[ -n $cmd && $cmd == *"$pattern"* ]]
}

# our_pid NAME PATTERN: prints the pid from $RUN_DIR/NAME.pid when that process is alive and
# its command line contains PATTERN (guards against a reused pid); prints nothing otherwise.
our_pid() {
  local file=$RUN_DIR/$1.pid pid
  [[ -s $file ]] || return 0
  pid=$(head -n 1 "$file" | tr -dc '0-9')
  if pid_matches "$pid" "$2"; then
    printf '%s\n' "$pid"
  fi
}

# stop_pid NAME PID [SECONDS]: SIGTERM, wait up to SECONDS (default 20), then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 limit=${3:-20} i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < limit * 4; i++)); do
    [[ -n $(cmdline_of "$pid") ]] || return 0
    sleep 0.25
  done
  say "$name (pid $pid) did not stop within ${limit}s: sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    [[ -n $(cmdline_of "$pid") ]] || return 0
    sleep 0.25
  done
}

# check_port PORT OUR_PID HINT: dies with one sentence when PORT is listened on by a process
# other than OUR_PID (empty when the service is not running).
check_port() {
  local port=$1 ours=$2 hint=$3 out pids pid name
  if have ss; then
    out=$(ss -Hltnp "sport = :$port" 2>/dev/null || true)
    [[ -n $out ]] || return 0
    pids=$(grep -o 'pid=[0-9]*' <<<"$out" | cut -d= -f2 | sort -u || true)
    if [[ -n $ours ]] && grep -qx "$ours" <<<"$pids"; then
      return 0
    fi
    pid=$(head -n 1 <<<"$pids")
    if [[ -n $pid ]]; then
      name=$(cat "/proc/$pid/comm" 2>/dev/null || echo unknown)
      die "port $port is taken by pid $pid ($name): stop it or $hint"
    fi
    die "port $port is taken by another process: stop it or $hint"
  fi
  # No ss: we can only tell that something answers.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [[ -z $ours ]]; then
    die "port $port is taken by another process: stop it or $hint"
  fi
}

# check_port_number VAR VALUE: dies unless VALUE is a usable TCP port.
check_port_number() {
  if [[ ! $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65534)); then
    die "$1=$2 is not a valid port number: use a number between 1 and 65534"
  fi
}

# ensure_packages BIN:PACKAGE...: installs, with apt-get, the Debian packages whose binary is missing.
# A BIN starting with / is a path to test; a BIN of "-" means the package is missing unconditionally.
ensure_packages() {
  local missing=() pair bin pkg rc made_policy=""
  for pair in "$@"; do
    bin=${pair%%:*}
    pkg=${pair#*:}
    if [[ $bin == - ]]; then
      missing+=("$pkg")
    elif [[ $bin == /* ]]; then
      [[ -x $bin ]] || missing+=("$pkg")
    else
      have "$bin" || missing+=("$pkg")
    fi
  done
  ((${#missing[@]})) || return 0
  have apt-get || die "apt-get is not available, so the missing Debian packages (${missing[*]}) cannot be installed: install them by hand and rerun"
  say "installing Debian packages: ${missing[*]} (log: $LOG_DIR/apt.log)"
  # Keep the packages' own services (Debian's redis, postgres cluster, pgbouncer) from starting:
  # we run our own instances. Debian images usually have this file already.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, written by phigate infra during apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  rc=0
  {
    apt-get -o DPkg::Lock::Timeout=300 update &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
  } >>"$LOG_DIR/apt.log" 2>&1 || rc=$?
  if [[ -n $made_policy ]]; then
    rm -f /usr/sbin/policy-rc.d
  fi
  if ((rc != 0)); then
    tail -n 20 "$LOG_DIR/apt.log" >&2 || true
    die "apt-get failed to install ${missing[*]} (full log: $LOG_DIR/apt.log): fix apt (network, sources) or install them by hand, then rerun"
  fi
}

# java_major: the major version of `java` on PATH (e.g. 17), or nothing.
java_major() {
  local v
  v=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  [[ $v == 1.* ]] && v=${v#1.}
  printf '%s\n' "${v%%[!0-9]*}"
}

# tail_log FILE: the last 20 lines of a service log, to stderr.
tail_log() {
  if [[ -f $1 ]]; then
    say "last 20 lines of $1:"
    tail -n 20 "$1" >&2 || true
  fi
}

# fix_traversal PATH USER: adds o+x to each ancestor directory of PATH (PATH included) that USER
# cannot traverse, and prints one line naming them.
fix_traversal() {
  local path=$1 user=$2 cur="" part fixed=()
  local -a parts
  IFS=/ read -r -a parts <<<"${path#/}"
  for part in "${parts[@]}"; do
    [[ -n $part ]] || continue
    cur+="/$part"
    [[ -d $cur ]] || break
    if ! runuser -u "$user" -- test -x "$cur"; then
      chmod o+x "$cur"
      fixed+=("$cur")
    fi
  done
  if ((${#fixed[@]})); then
    say "added o+x to ${fixed[*]} so that the '$user' user can reach $path"
  fi
}

# rel PATH: PATH shown relative to the current directory when it lies below it (for short messages).
rel() {
  case $1 in
    "$PWD"/*) printf '%s\n' "${1#"$PWD"/}" ;;
    *) printf '%s\n' "$1" ;;
  esac
}
