#!/usr/bin/env bash
# Creates the Compose stack's secrets once, as files under deploy/compose/secrets/ (git-ignored):
# random passwords and keys, and the two database URLs built from them. Existing files are kept,
# so re-running is safe; delete the directory (and the pg-data volume) to start over.
#
# The files are world-readable inside a 0700 directory: Compose bind-mounts each file into the
# containers, whose users (uid 1000 for phigate, 999 for postgres) are not the host owner.
set -euo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets
mkdir -p "$dir"
chmod 700 "$dir"

random() { head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c "$1"; }
put() { # name value: written only if missing
  [[ -s $dir/$1 ]] && return 0
  printf '%s' "$2" >"$dir/$1.tmp"
  chmod 444 "$dir/$1.tmp"
  mv "$dir/$1.tmp" "$dir/$1"
}

put pg_admin_password "$(random 32)"
put clinical_gateway_password "$(random 32)"
put audit_db_password "$(random 32)"
put control_db_password "$(random 32)"
# The database links verify the server (its certificate from the dev CA below names "postgres").
verify='sslmode=verify-full&sslrootcert=/run/secrets/internal_ca.pem'
put audit_database_url "postgres://phigate_audit:$(cat "$dir/audit_db_password")@postgres:5432/phigate_audit?$verify"
put gateway_database_url "postgres://phigate_control:$(cat "$dir/control_db_password")@postgres:5432/phigate_control?$verify"
# Kafka's SASL users (SCRAM-SHA-512 for the services, PLAIN for the broker's own admin) and Redis's
# ACL user; the admin's client settings and Redis's ACL file are built from them.
put kafka_admin_password "$(random 32)"
put kafka_gateway_password "$(random 32)"
put kafka_audit_password "$(random 32)"
put kafka_admin.properties "security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"$(cat "$dir/kafka_admin_password")\";
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/internal_ca.pem"
# Read by the broker through its FileConfigProvider (\${file:…:password}): no password in its environment.
put kafka_broker_secrets.properties "password=$(cat "$dir/kafka_admin_password")"
put redis_phigate_password "$(random 32)"
# The default user is off but keeps its permissions (an AOF replay runs as it); phigate's user is
# limited to its key prefixes and channels (docs/operations.md).
put redis_users.acl "user default off ~* &* +@all
user phigate on >$(cat "$dir/redis_phigate_password") ~phigate:* &phigate:* +@all -@admin
"
put sealing_keys.json "{\"active\":\"k1\",\"keys\":{\"k1\":\"$(head -c 32 /dev/urandom | base64 -w0)\"}}"
put masking_token_key "$(random 48)"
put slack_signing_secret "$(random 40)"
put approval_internal_token "$(random 48)"
# Ed25519 key that signs the audit store's checkpoints.
put audit_checkpoint_key "$(openssl genpkey -algorithm ed25519)"
# A self-signed certificate for the gateway's PostgreSQL door (replace with your own in production).
if [[ ! -s $dir/pg_tls_cert.pem || ! -s $dir/pg_tls_key.pem ]]; then
  tmp=$(mktemp -d)
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN=gateway -addext subjectAltName=DNS:gateway,DNS:localhost,IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
  rm -f "$dir/pg_tls_cert.pem" "$dir/pg_tls_key.pem"
  put pg_tls_cert.pem "$(cat "$tmp/cert.pem")"
  put pg_tls_key.pem "$(cat "$tmp/key.pem")"
  rm -rf "$tmp"
fi
# The internal CA and a certificate per service for mutual TLS (gRPC gateway ↔ policy, masking; HTTPS
# gateway → approval's internal API), each valid for its Compose service name, and the server
# certificates of Kafka, Redis and PostgreSQL, which the services verify against the same CA. The
# CA's key is not kept: a new certificate means a new CA (made again when one is missing).
if [[ ! -s $dir/internal_ca.pem || ! -s $dir/approval_internal.pem || ! -s $dir/kafka_server.pem || ! -s $dir/postgres_server.key ]]; then
  tmp=$(mktemp -d)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj "/CN=phigate internal CA" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
  for svc in gateway policy masking approval; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$svc" -keyout "$tmp/$svc.key" -out "$tmp/$svc.csr" 2>/dev/null
    printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' "$svc" >"$tmp/$svc.ext"
    openssl x509 -req -in "$tmp/$svc.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 825 -out "$tmp/$svc.pem" -extfile "$tmp/$svc.ext" 2>/dev/null
  done
  for svc in kafka redis postgres; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$svc" -keyout "$tmp/$svc.key" -out "$tmp/$svc.csr" 2>/dev/null
    printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' "$svc" >"$tmp/$svc.ext"
    openssl x509 -req -in "$tmp/$svc.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 825 -out "$tmp/$svc.pem" -extfile "$tmp/$svc.ext" 2>/dev/null
  done
  rm -f "$dir"/*_internal.pem "$dir"/*_internal.key "$dir"/*_server.pem "$dir"/*_server.key
  # Kafka reads its key and certificate from one PEM file (ssl.keystore.type=PEM, PKCS#8 key).
  put kafka_server.pem "$(cat "$tmp/kafka.key" "$tmp/kafka.pem")"
  put redis_server.pem "$(cat "$tmp/redis.pem")"
  put redis_server.key "$(cat "$tmp/redis.key")"
  put postgres_server.pem "$(cat "$tmp/postgres.pem")"
  put postgres_server.key "$(cat "$tmp/postgres.key")"
  put gateway_internal.pem "$(cat "$tmp/gateway.pem")"
  put gateway_internal.key "$(cat "$tmp/gateway.key")"
  put policy_internal.pem "$(cat "$tmp/policy.pem")"
  put policy_internal.key "$(cat "$tmp/policy.key")"
  put masking_internal.pem "$(cat "$tmp/masking.pem")"
  put masking_internal.key "$(cat "$tmp/masking.key")"
  put approval_internal.pem "$(cat "$tmp/approval.pem")"
  put approval_internal.key "$(cat "$tmp/approval.key")"
  put internal_ca.pem "$(cat "$tmp/ca.pem")"
  rm -rf "$tmp"
fi
printf 'phigate: compose secrets are in %s\n' "$dir" >&2
