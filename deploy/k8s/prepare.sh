#!/usr/bin/env bash
# Fills an overlay's git-ignored inputs before `kubectl apply -k`:
#
#   deploy/k8s/prepare.sh local        demo policies and SQL into overlays/local/generated/, random
#                                      secrets into overlays/local/secrets/ (kept if present)
#   deploy/k8s/prepare.sh production   the repository's policies into overlays/production/policies/
#                                      (a starting point), then lists the secret files still missing
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

random() { head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c "$1"; }

case ${1:-} in
  local)
    o=$here/overlays/local
    mkdir -p "$o/generated/policies" "$o/generated/postgres/clinical-pg" "$o/generated/postgres/migrations/audit" "$o/generated/postgres/migrations/gateway"
    cp "$root"/deploy/local/policies/*.yaml "$o/generated/policies/"
    cp "$root/deploy/compose/postgres/init-phigate.sh" "$root/deploy/local/demo/apply-clinical-pg.sh" "$o/generated/postgres/"
    cp "$root"/deploy/local/demo/clinical-pg/*.sql "$o/generated/postgres/clinical-pg/"
    cp "$root"/services/audit/migrations/*.sql "$o/generated/postgres/migrations/audit/"
    cp "$root"/services/gateway/migrations/*.sql "$o/generated/postgres/migrations/gateway/"
    s=$o/secrets
    mkdir -p "$s" && chmod 700 "$s"
    put() { [[ -s $s/$1 ]] || (umask 077 && printf '%s' "$2" >"$s/$1"); }
    put pg-admin-password "$(random 32)"
    put clinical-gateway-password "$(random 32)"
    put audit-db-password "$(random 32)"
    put control-db-password "$(random 32)"
    # Derived values are written every time (an older checkout's plaintext URLs are replaced): the
    # links verify the in-cluster servers against the dev CA below (a key of each service's Secret).
    verify='sslmode=verify-full&sslrootcert=/etc/phigate/secrets/infra-ca.crt'
    rm -f "$s/audit-database-url" "$s/gateway-database-url" "$s/redis-url" "$s/kafka-admin.properties" "$s/kafka-broker.properties" "$s/redis-users.acl"
    put audit-database-url "postgres://phigate_audit:$(cat "$s/audit-db-password")@postgres:5432/phigate_audit?$verify"
    put gateway-database-url "postgres://phigate_control:$(cat "$s/control-db-password")@postgres:5432/phigate_control?$verify"
    # Redis over TLS, as the ACL user phigate (REDIS_USERNAME, REDIS_PASSWORD_FILE); the default user is off
    # but keeps its permissions (an AOF replay runs as it).
    put redis-url "rediss://redis:6379"
    put redis-password "$(random 32)"
    put redis-users.acl "user default off ~* &* +@all
user phigate on >$(cat "$s/redis-password") ~phigate:* &phigate:* +@all -@admin
"
    # Kafka's SASL users: SCRAM-SHA-512 per service, PLAIN for the broker's admin (read by the broker
    # through its FileConfigProvider, and by the tools in kafka-admin.properties).
    put kafka-admin-password "$(random 32)"
    put gateway-kafka-password "$(random 32)"
    put audit-kafka-password "$(random 32)"
    put kafka-broker.properties "password=$(cat "$s/kafka-admin-password")"
    put kafka-admin.properties "security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"$(cat "$s/kafka-admin-password")\";
ssl.truststore.type=PEM
ssl.truststore.location=/etc/kafka/tls/ca.crt"
    put sealing-keys.json "{\"active\":\"k1\",\"keys\":{\"k1\":\"$(head -c 32 /dev/urandom | base64 -w0)\"}}"
    put masking-token-key "$(random 48)"
    put slack-signing-secret "$(random 40)"
    put slack-webhook-url "http://slack-sink:9401/services/T0PHIGATE/B0APPROVALS/local-dev"
    put approval-internal-token "$(random 48)"
    put audit-checkpoint-key "$(openssl genpkey -algorithm ed25519)"
    # A self-signed certificate for the gateway's PostgreSQL door (clients connect with TLS).
    if [[ ! -s $s/pg-tls-cert.pem || ! -s $s/pg-tls-key.pem ]]; then
      (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN=gateway \
        -addext subjectAltName=DNS:gateway,DNS:gateway.phigate.svc,DNS:localhost -keyout "$s/pg-tls-key.pem" -out "$s/pg-tls-cert.pem" 2>/dev/null)
    fi
    # The internal CA and a certificate per service for mutual TLS (gRPC to policy and masking, HTTPS
    # to approval's internal API), valid for the Service names, and the server certificates of the
    # in-cluster Kafka, Redis and PostgreSQL (the same CA: infra-ca.crt); made again when one is missing.
    if [[ ! -s $s/internal-ca.crt || ! -s $s/approval-internal.crt || ! -s $s/kafka-tls.crt || ! -s $s/infra-ca.crt ]]; then
      t=$(mktemp -d)
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj "/CN=phigate internal CA" \
        -keyout "$t/ca.key" -out "$t/ca.crt" 2>/dev/null
      for svc in gateway policy masking approval; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$svc" -keyout "$t/$svc.key" -out "$t/$svc.csr" 2>/dev/null
        printf 'subjectAltName=DNS:%s,DNS:%s.phigate.svc,DNS:%s.phigate.svc.cluster.local\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' "$svc" "$svc" "$svc" >"$t/$svc.ext"
        openssl x509 -req -in "$t/$svc.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial -days 825 -out "$t/$svc.crt" -extfile "$t/$svc.ext" 2>/dev/null
        (umask 077 && cp "$t/$svc.crt" "$s/$svc-internal.crt" && cp "$t/$svc.key" "$s/$svc-internal.key")
      done
      for svc in kafka redis postgres; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$svc" -keyout "$t/$svc.key" -out "$t/$svc.csr" 2>/dev/null
        printf 'subjectAltName=DNS:%s,DNS:%s-0.%s,DNS:%s.phigate.svc,DNS:%s.phigate.svc.cluster.local,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' \
          "$svc" "$svc" "$svc" "$svc" "$svc" >"$t/$svc.ext"
        openssl x509 -req -in "$t/$svc.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial -days 825 -out "$t/$svc.crt" -extfile "$t/$svc.ext" 2>/dev/null
        (umask 077 && cp "$t/$svc.crt" "$s/$svc-tls.crt" && cp "$t/$svc.key" "$s/$svc-tls.key")
      done
      (umask 077 && cp "$t/ca.crt" "$s/internal-ca.crt" && cp "$t/ca.crt" "$s/infra-ca.crt")
      rm -rf "$t"
    fi
    echo "overlay local is ready: kubectl apply -k $o" >&2
    ;;
  production)
    o=$here/overlays/production
    mkdir -p "$o/policies"
    for f in "$root"/deploy/local/policies/*.yaml; do [[ -e $o/policies/$(basename "$f") ]] || cp "$f" "$o/policies/"; done
    missing=0
    for f in gateway-database-url redis-url sealing-keys.json clinical-pg-password audit-database-url slack-signing-secret \
      slack-webhook-url approval-internal-token masking-token-key audit-checkpoint-key pg-tls-cert.pem pg-tls-key.pem \
      internal-ca.crt gateway-internal.crt gateway-internal.key policy-internal.crt policy-internal.key masking-internal.crt masking-internal.key \
      approval-internal.crt approval-internal.key \
      gateway-kafka-password audit-kafka-password; do
      if [[ ! -s $o/secrets/$f ]]; then echo "missing secret file: $o/secrets/$f" >&2; missing=1; fi
    done
    exit $missing
    ;;
  *) echo "usage: prepare.sh local|production" >&2; exit 2 ;;
esac
