#!/usr/bin/env bash
# Create/refresh the phigate demo "clinical" PostgreSQL database.
#
#   PG_ADMIN_URL=postgres://postgres:pw@127.0.0.1:5432/postgres \
#   CLINICAL_GATEWAY_PASSWORD=... \
#     deploy/local/demo/apply-clinical-pg.sh
#
# Env:
#   PG_ADMIN_URL               superuser connection to the `postgres` database
#                              (URI or "key=value" conninfo)        [required]
#   CLINICAL_GATEWAY_PASSWORD  password to set for phigate_gateway  [required]
#   CLINICAL_DEMO_FORCE_RELOAD=1  reload schema+data even if current [optional]
#
# Steps: create database `clinical` if missing; if demo_meta.version differs
# from the hash of clinical-pg/001-schema.sql + 002-data.sql (or is missing),
# run 001 + 002 + 003 in ONE transaction, else run only 003 (roles/grants are
# always re-applied, they are cheap and convergent). Needs psql on PATH.
# Output: one line on stderr (plus psql's errors, if any). Exit status != 0
# on failure.
set -euo pipefail

: "${PG_ADMIN_URL:?PG_ADMIN_URL (superuser URL to the postgres database) is required}"
: "${CLINICAL_GATEWAY_PASSWORD:?CLINICAL_GATEWAY_PASSWORD is required}"

db=clinical
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/clinical-pg"
start_ns=$(date +%s%N)

# Same server/credentials as PG_ADMIN_URL, database `clinical`.
with_db() {
  local u=$1
  case $u in
    postgres://*|postgresql://*)
      local scheme=${u%%://*} rest=${u#*://} query=""
      if [[ $rest == *\?* ]]; then query="?${rest#*\?}"; rest=${rest%%\?*}; fi
      printf '%s://%s/%s%s' "$scheme" "${rest%%/*}" "$2" "$query" ;;
    *) printf '%s dbname=%s' "$u" "$2" ;;   # conninfo: last keyword wins
  esac
}
clinical_url=$(with_db "$PG_ADMIN_URL" "$db")

export PGAPPNAME=phigate-demo-apply
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

# 1. Database. template0 + UTF8 + C locale: identical encoding and sort order
#    on every machine, so ORDER BY on text columns is reproducible too.
if [[ -z $("${PSQL[@]}" -At -d "$PG_ADMIN_URL" -c "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
  "${PSQL[@]}" -d "$PG_ADMIN_URL" \
    -c "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" >/dev/null
fi

# 2. Is the loaded data current?
want=$(cat "$dir/001-schema.sql" "$dir/002-data.sql" | sha256sum | cut -c1-16)
have=$("${PSQL[@]}" -At -d "$clinical_url" <<'SQL'
SELECT to_regclass('public.demo_meta') IS NOT NULL AS has_meta \gset
\if :has_meta
SELECT coalesce(max(version), '') FROM public.demo_meta;
\endif
SQL
)

# 3. Apply. The gateway password reaches 003-roles.sql via the environment
#    (\getenv, psql >= 15) so it never appears in the process list; older
#    psql gets it as -v.
pw_args=()
psql_major=$(psql -V | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
if (( psql_major < 15 )); then pw_args=(-v "gateway_password=$CLINICAL_GATEWAY_PASSWORD"); fi
export CLINICAL_GATEWAY_PASSWORD

if [[ $have != "$want" || ${CLINICAL_DEMO_FORCE_RELOAD:-0} == 1 ]]; then
  "${PSQL[@]}" --single-transaction -d "$clinical_url" -v "data_version=$want" ${pw_args[@]+"${pw_args[@]}"} \
    -f "$dir/001-schema.sql" -f "$dir/002-data.sql" -f "$dir/003-roles.sql" >/dev/null
  what="loaded demo data $want"
else
  "${PSQL[@]}" --single-transaction -d "$clinical_url" ${pw_args[@]+"${pw_args[@]}"} \
    -f "$dir/003-roles.sql" >/dev/null
  what="demo data $want current, roles re-applied"
fi

ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
printf 'clinical-pg: %s (%d.%03ds)\n' "$what" $((ms / 1000)) $((ms % 1000)) >&2
