# shellcheck shell=bash
# Kafka (KRaft, single combined broker+controller node) for deploy/local/bin/infra.
# Jars come from Maven Central via kafka-pom.xml; no Kafka distribution tarball is used.

KAFKA_TOPIC=phigate.audit.v1
# Every topic phigate uses (the audit topic first; the SIEM copy with literals redacted); phigate
# never auto-creates topics.
KAFKA_TOPICS=(phigate.audit.v1 phigate.siem.v1)
KAFKA_TOPIC_PARTITIONS=6
KAFKA_READY_TIMEOUT=${PHIGATE_KAFKA_TIMEOUT:-90}
# SASL users: admin (topics, ACLs, tests and tools), gateway (produces the audit topic only),
# audit (consumes its groups, produces the SIEM topic).
KAFKA_USERS=(admin gateway audit)

kafka_vars() {
  KAFKA_PORT=${PHIGATE_KAFKA_PORT:-9092}
  check_port_number PHIGATE_KAFKA_PORT "$KAFKA_PORT"
  KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
  # With SASL_SSL, a second client listener on 127.0.0.1 speaks SASL_PLAINTEXT (the same SCRAM
  # users and ACLs, no TLS) for one reader only: `npm run bench`, which measures what TLS costs the
  # data path against the same run without it. No service is configured with it.
  KAFKA_BENCH_PORT=$((KAFKA_PORT + 2))
  KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
  KAFKA_DIR=$PHIGATE_HOME/kafka
  KAFKA_LIBS=$KAFKA_DIR/libs
  KAFKA_DATA=$KAFKA_DIR/data
  KAFKA_CONF_DIR=$KAFKA_DIR/config
  KAFKA_CONF=$KAFKA_CONF_DIR/server.properties
  KAFKA_LOG=$LOG_DIR/kafka.log
  # PHIGATE_KAFKA_SECURE=1 (the default): the client listener is SASL_SSL (SCRAM-SHA-512, a dev
  # CA, topic ACLs), as managed Kafka services require; 0: the old PLAINTEXT listener. The choice is
  # kept in $KAFKA_DIR/secure when the broker starts, so that restarts (outage drills) keep it; set
  # the variable with the broker stopped to change it.
  KAFKA_SECURE_FILE=$KAFKA_DIR/secure
  if [[ -n ${PHIGATE_KAFKA_SECURE:-} ]]; then
    KAFKA_SECURE=$PHIGATE_KAFKA_SECURE
  elif [[ -s $KAFKA_SECURE_FILE ]]; then
    KAFKA_SECURE=$(cat "$KAFKA_SECURE_FILE")
  else
    KAFKA_SECURE=1
  fi
  [[ $KAFKA_SECURE == 0 || $KAFKA_SECURE == 1 ]] || die "PHIGATE_KAFKA_SECURE must be 0 or 1 (got '$KAFKA_SECURE')"
  # TLS material and SASL passwords (mode 600), and the client settings for tools: admin.properties
  # (Java CLI tools) and kcat.conf (kcat -F).
  KAFKA_SECRETS=$PHIGATE_HOME/secrets/kafka
  KAFKA_ADMIN_PROPS=$KAFKA_SECRETS/admin.properties
  KAFKA_KCAT_CONF=$KAFKA_SECRETS/kcat.conf
}

# A SASL user's password: random, created once.
kafka_password() {
  local f=$KAFKA_SECRETS/$1.password
  if [[ ! -s $f ]]; then
    (umask 077 && head -c 512 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 32 >"$f")
  fi
  cat "$f"
}

# The dev CA of the Kafka link and the broker's certificate (EC P-256, valid for localhost and
# 127.0.0.1), created once. The broker reads PEM directly (ssl.keystore.type=PEM): key + chain.
kafka_tls() {
  local d=$KAFKA_SECRETS
  mkdir -p "$d" && chmod 700 "$d"
  if [[ ! -s $d/ca.pem || ! -s $d/ca.key ]]; then
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=phigate dev Kafka CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null) || die "openssl could not create the Kafka dev CA"
  fi
  if [[ ! -s $d/broker.pem || $d/broker.pem -ot $d/ca.pem ]]; then
    (umask 077 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
      -keyout "$d/broker.key" -out "$d/broker.csr" 2>/dev/null &&
      openssl pkcs8 -topk8 -nocrypt -in "$d/broker.key" -out "$d/broker.p8" &&
      openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 825 -out "$d/broker.crt" \
        -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:kafka\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n') 2>/dev/null &&
      cat "$d/broker.p8" "$d/broker.crt" "$d/ca.pem" >"$d/broker.pem") || die "openssl could not create the Kafka broker certificate"
    rm -f "$d/broker.csr" "$d/broker.key"
  fi
  local pw
  pw=$(kafka_password admin)
  for u in "${KAFKA_USERS[@]}"; do kafka_password "$u" >/dev/null; done
  # admin authenticates with PLAIN (inside TLS): Debian 12's librdkafka 2.0.2, under kcat, cannot
  # do SCRAM with Kafka 4 (a nonce bug fixed in librdkafka 2.6.1), and PLAIN users live in the
  # broker's own config, so admin can create the SCRAM users of data formatted before.
  (umask 077 && cat >"$KAFKA_ADMIN_PROPS" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$pw";
ssl.truststore.type=PEM
ssl.truststore.location=$d/ca.pem
EOF
  )
  (umask 077 && cat >"$KAFKA_KCAT_CONF" <<EOF
security.protocol=SASL_SSL
sasl.mechanisms=PLAIN
sasl.username=admin
sasl.password=$pw
ssl.ca.location=$d/ca.pem
EOF
  )
}

# A Kafka tool's output with SCRAM passwords blanked (a failing tool prints its arguments).
kafka_redact() { sed -E 's/password=[^],[:space:]]*/password=[redacted]/g'; }

# kcat with the client settings of the admin user.
kafka_kcat() {
  if [[ $KAFKA_SECURE == 1 ]]; then kcat -F "$KAFKA_KCAT_CONF" "$@"; else kcat "$@"; fi
}

# Markers of what this data directory holds: the SASL users (a hash of their passwords) and the ACLs
# (a hash of kafka_acls). Each is written once: users at format time or, for data formatted before,
# through the controller; ACLs through the controller once the node is up.
kafka_users_sum() { for u in "${KAFKA_USERS[@]}"; do printf '%s:%s\n' "$u" "$(kafka_password "$u")"; done | sha256sum | cut -d' ' -f1; }
kafka_acls_sum() { declare -f kafka_acls | sha256sum | cut -d' ' -f1; }

# Pid of our running broker, or nothing.
kafka_pid() { our_pid kafka "kafka.Kafka $KAFKA_CONF"; }

kafka_check_ports() {
  local pid
  pid=$(kafka_pid)
  check_port "$KAFKA_PORT" "$pid" "set PHIGATE_KAFKA_PORT"
  check_port "$KAFKA_CONTROLLER_PORT" "$pid" "set PHIGATE_KAFKA_PORT (the Kafka controller uses that port + 1)"
  [[ $KAFKA_SECURE == 0 ]] || check_port "$KAFKA_BENCH_PORT" "$pid" "set PHIGATE_KAFKA_PORT (the bench's SASL_PLAINTEXT listener uses that port + 2)"
}

kafka_pom_sum() { sha256sum "$INFRA_DIR/kafka-pom.xml" | cut -d' ' -f1; }

# True when the jar cache is complete for the current kafka-pom.xml.
kafka_libs_ok() {
  [[ -f $KAFKA_LIBS/.complete && $(cat "$KAFKA_LIBS/.complete") == "$(kafka_pom_sum)" ]]
}

# Download the broker's runtime classpath into $KAFKA_LIBS (skipped when already complete).
kafka_fetch() {
  local tmp sum
  kafka_libs_ok && return 0
  sum=$(kafka_pom_sum)
  tmp=$KAFKA_DIR/libs.tmp
  rm -rf "$tmp" "$KAFKA_DIR/pom"
  mkdir -p "$KAFKA_DIR/pom"
  # Run Maven on a copy so that nothing (target/ etc.) is written into the repository.
  cp "$INFRA_DIR/kafka-pom.xml" "$KAFKA_DIR/pom/pom.xml"
  say "fetching Kafka jars with Maven (log: $(rel "$LOG_DIR/maven.log"))"
  if ! (cd "$KAFKA_DIR/pom" && mvn -B -q -Dstyle.color=never dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp") >>"$LOG_DIR/maven.log" 2>&1; then
    tail -n 20 "$LOG_DIR/maven.log" >&2 || true
    die "Maven could not fetch the Kafka jars (full log: $LOG_DIR/maven.log): check that Maven Central is reachable, then rerun"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "Maven finished but no kafka_2.13 jar was copied (see $LOG_DIR/maven.log)"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  printf '%s\n' "$sum" >"$KAFKA_LIBS/.complete"
}

# Run a Kafka CLI class from our jars (warnings to stderr).
kafka_tool() {
  java -Xmx256m -Xms32m -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$INFRA_DIR/kafka-tools-log4j2.xml" \
    -cp "$KAFKA_LIBS/*" "$@"
}

kafka_write_config() {
  mkdir -p "$KAFKA_CONF_DIR" "$KAFKA_DATA"
  cp "$INFRA_DIR/kafka-log4j2.xml" "$KAFKA_CONF_DIR/log4j2.xml"
  local listener=PLAINTEXT bench='' bench_map=''
  if [[ $KAFKA_SECURE == 1 ]]; then
    listener=SASL_SSL bench=",BENCH://127.0.0.1:$KAFKA_BENCH_PORT" bench_map=,BENCH:SASL_PLAINTEXT
  fi
  (umask 077 && cat >"$KAFKA_CONF" <<EOF
# Generated by deploy/local/bin/infra on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listener://127.0.0.1:$KAFKA_PORT$bench,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listener://127.0.0.1:$KAFKA_PORT$bench
controller.listener.names=CONTROLLER
inter.broker.listener.name=$listener
listener.security.protocol.map=CONTROLLER:PLAINTEXT,$listener:$listener$bench_map
log.dirs=$KAFKA_DATA
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
log.segment.bytes=134217728
EOF
  )
  [[ $KAFKA_SECURE == 1 ]] || return 0
  kafka_secure_config >>"$KAFKA_CONF"
  cat >>"$KAFKA_CONF" <<EOF
listener.name.bench.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.bench.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
}

# The SASL_SSL listener's settings (also the 3-node cluster's, kafka-cluster.sh). The controller
# listener stays PLAINTEXT on 127.0.0.1 (this machine only): its principal, ANONYMOUS, is a super
# user so that the node can talk to itself and infra can manage users.
kafka_secure_config() {
  cat <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$(kafka_password admin)" user_admin="$(kafka_password admin)";
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_SECRETS/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_SECRETS/ca.pem
ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
EOF
}

# The SASL users as StorageTool --add-scram arguments.
kafka_scram_args() {
  local u
  for u in "${KAFKA_USERS[@]}"; do printf '%s\n' --add-scram "SCRAM-SHA-512=[name=$u,password=$(kafka_password "$u")]"; done
}

# Least privilege on the local broker (docs/operations.md lists the same for a managed cluster):
# the gateway may only produce to the audit topic; the audit service reads the audit topic with its
# two consumer groups, produces to the SIEM topic, and to the audit topic only to announce a
# quarantined message. Tests and tools use admin.
kafka_acls() {
  # Three JVMs in parallel: each takes a few seconds to start on two cores.
  local pids=() pid rc=0
  kafka_acl --allow-principal User:gateway --operation Write --operation Describe --topic phigate.audit.v1 &
  pids+=($!)
  kafka_acl --allow-principal User:audit --operation Read --operation Describe --topic phigate.audit.v1 \
    --group phigate-audit --group phigate-audit-siem &
  pids+=($!)
  kafka_acl --allow-principal User:audit --operation Write --operation Describe --topic phigate.audit.v1 --topic phigate.siem.v1 &
  pids+=($!)
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  return $rc
}

kafka_acl() {
  kafka_tool org.apache.kafka.tools.AclCommand --bootstrap-controller "127.0.0.1:$KAFKA_CONTROLLER_PORT" --add --force "$@" >>"$KAFKA_LOG" 2>&1
}

# SCRAM users (when the data was formatted without them) and ACLs, once per data directory: users
# as admin (PLAIN) through the broker, ACLs through the controller listener.
kafka_auth() {
  local u users acls
  [[ $KAFKA_SECURE == 1 ]] || return 0
  users=$(kafka_users_sum)
  acls=$(kafka_acls_sum)
  [[ $(cat "$KAFKA_DATA/.phigate-users" 2>/dev/null) != "$users" ]] || [[ $(cat "$KAFKA_DATA/.phigate-acls" 2>/dev/null) != "$acls" ]] || return 0
  if [[ $(cat "$KAFKA_DATA/.phigate-users" 2>/dev/null) != "$users" ]]; then
    say "creating Kafka SASL users ${KAFKA_USERS[*]}"
    for u in "${KAFKA_USERS[@]}"; do
      # On failure ConfigCommand prints its arguments, the password included: redacted in the log.
      if ! kafka_tool kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_BROKERS" --command-config "$KAFKA_ADMIN_PROPS" --alter \
        --add-config "SCRAM-SHA-512=[password=$(kafka_password "$u")]" --entity-type users --entity-name "$u" 2>&1 | kafka_redact >>"$KAFKA_LOG"; then
        kafka_fail "could not create the Kafka SASL user $u (see $KAFKA_LOG)"
      fi
    done
    printf '%s\n' "$users" >"$KAFKA_DATA/.phigate-users"
  fi
  if [[ $(cat "$KAFKA_DATA/.phigate-acls" 2>/dev/null) != "$acls" ]]; then
    say "creating Kafka ACLs (gateway: produce the audit topic; audit: consume it, produce the SIEM topic)"
    kafka_acls || kafka_fail "could not create the Kafka ACLs (see $KAFKA_LOG)"
    printf '%s\n' "$acls" >"$KAFKA_DATA/.phigate-acls"
  fi
}

# Format the storage directory once, with a cluster id generated once and kept in $KAFKA_DIR/cluster.id.
kafka_format() {
  local id
  [[ -f $KAFKA_DATA/meta.properties ]] && return 0
  if [[ ! -s $KAFKA_DIR/cluster.id ]]; then
    id=$(kafka_tool kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOG" | tail -n 1)
    [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "could not generate a Kafka cluster id (got '$id'; see $KAFKA_LOG)"
    printf '%s\n' "$id" >"$KAFKA_DIR/cluster.id"
  fi
  id=$(cat "$KAFKA_DIR/cluster.id")
  say "formatting Kafka storage (cluster id $id)"
  local scram=()
  [[ $KAFKA_SECURE == 0 ]] || mapfile -t scram < <(kafka_scram_args)
  if ! kafka_tool kafka.tools.StorageTool format --cluster-id "$id" --config "$KAFKA_CONF" \
    --ignore-formatted "${scram[@]}" 2>&1 | kafka_redact >>"$KAFKA_LOG"; then
    tail_log "$KAFKA_LOG"
    die "formatting Kafka storage in $KAFKA_DATA failed (see $KAFKA_LOG)"
  fi
  [[ $KAFKA_SECURE == 0 ]] || kafka_users_sum >"$KAFKA_DATA/.phigate-users"
}

# Start the broker in the background (returns at once; kafka_wait waits for it).
kafka_start() {
  local pid
  pid=$(kafka_pid)
  [[ -z $pid ]] || return 0
  [[ $KAFKA_SECURE == 0 ]] || kafka_tls
  kafka_write_config
  mkdir -p "$KAFKA_DIR" && printf '%s\n' "$KAFKA_SECURE" >"$KAFKA_SECURE_FILE"
  kafka_format
  say "starting Kafka on $KAFKA_BROKERS"
  # setsid: own session, so that signals to the caller's process group do not reach the broker.
  # 9>&-: the daemon must not inherit the lock of `infra up` (see take_lock).
  setsid nohup java -Xms256m -Xmx512m -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$KAFKA_CONF_DIR/log4j2.xml" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF" >>"$KAFKA_LOG" 2>&1 </dev/null 9>&- &
  printf '%s\n' "$!" >"$RUN_DIR/kafka.pid"
}

# kcat metadata for our topics; succeeds only when every topic and its partitions are visible.
kafka_topic_visible() {
  local out t
  for t in "${KAFKA_TOPICS[@]}"; do
    out=$(kafka_kcat -L -b "$KAFKA_BROKERS" -t "$t" -m 3 2>/dev/null) || return 1
    grep -q "topic \"$t\" with [1-9][0-9]* partitions" <<<"$out" || return 1
  done
}

# True when the broker answers metadata requests.
kafka_broker_up() {
  local out
  out=$(kafka_kcat -L -b "$KAFKA_BROKERS" -m 3 2>/dev/null) || return 1
  [[ $out == *" 1 brokers:"* ]]
}

kafka_fail() {
  tail_log "$KAFKA_LOG"
  die "$1"
}

# Wait until the broker answers, create the topic if missing, wait until its metadata is visible.
kafka_wait() {
  local deadline created="" out t
  deadline=$(($(now) + KAFKA_READY_TIMEOUT))
  local admin=()
  [[ $KAFKA_SECURE == 0 ]] || admin=(--command-config "$KAFKA_ADMIN_PROPS")
  if [[ $KAFKA_SECURE == 1 ]]; then
    until kafka_broker_up; do
      [[ -n $(kafka_pid) ]] || kafka_fail "Kafka exited during startup (see $KAFKA_LOG)"
      (($(now) < deadline)) || kafka_fail "Kafka did not answer within ${KAFKA_READY_TIMEOUT}s (see $KAFKA_LOG)"
      sleep 0.5
    done
    kafka_auth
  fi
  until kafka_topic_visible; do
    [[ -n $(kafka_pid) ]] || kafka_fail "Kafka exited during startup (see $KAFKA_LOG)"
    if (($(now) >= deadline)); then
      kafka_fail "Kafka was not ready within ${KAFKA_READY_TIMEOUT}s (see $KAFKA_LOG)"
    fi
    if [[ -z $created ]] && kafka_broker_up; then
      say "creating topics ${KAFKA_TOPICS[*]} ($KAFKA_TOPIC_PARTITIONS partitions each)"
      created=1
      for t in "${KAFKA_TOPICS[@]}"; do
        if ! out=$(kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" "${admin[@]}" \
          --create --if-not-exists --topic "$t" --partitions "$KAFKA_TOPIC_PARTITIONS" \
          --replication-factor 1 --config min.insync.replicas=1 2>&1); then
          say "creating topic $t failed, will retry: $(tail -n 1 <<<"$out")"
          created=""
        fi
      done
      [[ -n $created ]] && continue
    fi
    sleep 1
  done
}

kafka_stop() {
  local pid
  pid=$(kafka_pid)
  if [[ -n $pid ]]; then
    say "stopping Kafka (pid $pid)"
    stop_pid kafka "$pid" 20
  fi
  rm -f "$RUN_DIR/kafka.pid"
}

kafka_describe() {
  local pid
  pid=$(kafka_pid)
  if [[ -n $pid ]]; then
    printf 'kafka     running  %s (controller :%s)  pid %s  topic %s  data %s  log %s\n' \
      "$KAFKA_BROKERS" "$KAFKA_CONTROLLER_PORT" "$pid" "$KAFKA_TOPIC" "$(rel "$KAFKA_DATA")" "$(rel "$KAFKA_LOG")"
  else
    printf 'kafka     stopped\n'
  fi
}

# The client settings of the tools identity (admin) for `infra env`: @phigate/config's
# kafkaSecurityFields, plus KAFKA_KCAT_CONFIG for `kcat -F`.
kafka_env() {
  [[ $KAFKA_SECURE == 1 ]] || return 0
  printf '%s\n' KAFKA_SECURITY_PROTOCOL=SASL_SSL "KAFKA_SSL_CA_FILE=$KAFKA_SECRETS/ca.pem" KAFKA_SASL_MECHANISM=scram-sha-512 \
    KAFKA_SASL_USERNAME=admin "KAFKA_SASL_PASSWORD_FILE=$KAFKA_SECRETS/admin.password" "KAFKA_KCAT_CONFIG=$KAFKA_KCAT_CONF" \
    "KAFKA_BENCH_PLAINTEXT_BROKERS=127.0.0.1:$KAFKA_BENCH_PORT"
}
