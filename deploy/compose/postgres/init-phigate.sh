#!/usr/bin/env bash
# PostgreSQL image init (runs once, on an empty data directory, as the postgres user, while the
# server listens on its unix socket only): the clinical demo database and the services' own
# databases, each with its least-privilege role, from the SQL the local runner uses
# (deploy/local/demo, services/*/migrations, mounted read-only under /phigate).
# Passwords come from the Compose secrets under /run/secrets.
(
  set -euo pipefail
  admin="host=/var/run/postgresql user=${POSTGRES_USER} dbname=postgres"

  PG_ADMIN_URL=$admin CLINICAL_GATEWAY_PASSWORD=$(cat /run/secrets/clinical_gateway_password) \
    bash /phigate/demo/apply-clinical-pg.sh

  migrate() { # database role password-file sql-files...
    local db=$1 role=$2 pwfile=$3 f
    shift 3
    psql -X -q -v ON_ERROR_STOP=1 -d "$admin" -c "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8'"
    for f in "$@"; do
      PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "host=/var/run/postgresql user=${POSTGRES_USER} dbname=$db" \
        -v "app_role=$role" -v "app_password=$(cat "$pwfile")" -f "$f" >/dev/null
    done
  }
  migrate phigate_audit phigate_audit /run/secrets/audit_db_password /phigate/migrations/audit/*.sql
  migrate phigate_control phigate_control /run/secrets/control_db_password /phigate/migrations/gateway/*.sql
)
