-- phigate demo world: least-privilege upstream roles for database `clinical`.
--
-- Idempotent and convergent: safe to re-run at any time, and every run resets
-- role attributes, memberships and grants to exactly what is declared here
-- (anything extra that someone granted by hand is revoked). Must run AFTER
-- 001-schema.sql, which recreates the tables and thereby drops their grants.
--
-- Run as a superuser, connected to the clinical database:
--   psql -X -v ON_ERROR_STOP=1 -v gateway_password=... -d clinical -f 003-roles.sql
-- or, with psql >= 15, export CLINICAL_GATEWAY_PASSWORD instead of -v (keeps
-- the password out of the process list; apply-clinical-pg.sh does this).
--
-- Roles are cluster-wide; database/schema/table grants apply to the database
-- this file is run in (current_database()).

\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- Gateway password: psql -v gateway_password=... wins; else (psql >= 15) the
-- environment variable CLINICAL_GATEWAY_PASSWORD. Refuse to run without one.
-- ---------------------------------------------------------------------------
\if :{?gateway_password}
\else
\getenv gateway_password CLINICAL_GATEWAY_PASSWORD
\endif
\if :{?gateway_password}
\else
DO $$ BEGIN
  RAISE EXCEPTION 'gateway password not set: run psql with -v gateway_password=... (or export CLINICAL_GATEWAY_PASSWORD, psql >= 15)';
END $$;
\endif

-- ---------------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------------
DO $$
DECLARE r text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'phigate_gateway') THEN
    CREATE ROLE phigate_gateway LOGIN NOINHERIT;
  END IF;
  FOREACH r IN ARRAY ARRAY['clinical_reader', 'claims_writer', 'analytics_reader'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END
$$;

-- Re-assert attributes every run (they may have been changed by hand).
ALTER ROLE phigate_gateway  WITH LOGIN   NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS VALID UNTIL 'infinity';
ALTER ROLE clinical_reader  WITH NOLOGIN           NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE claims_writer    WITH NOLOGIN           NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE analytics_reader WITH NOLOGIN           NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

COMMENT ON ROLE phigate_gateway  IS 'phigate upstream login. Owns nothing, no direct privileges; reaches data only via SET ROLE to a purpose role.';
COMMENT ON ROLE clinical_reader  IS 'phigate purpose role: read patients, encounters, claims.';
COMMENT ON ROLE claims_writer    IS 'phigate purpose role: read claims + patients(id); insert/update claims.';
COMMENT ON ROLE analytics_reader IS 'phigate purpose role: same reads as clinical_reader; separate identity for the AI/analytics agent in database logs.';

-- Password: SCRAM-hashed by the server. Keep the statements that carry the
-- cleartext password out of the server log (log_statement = all/ddl would
-- otherwise record it).
SET password_encryption = 'scram-sha-256';
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SELECT length(:'gateway_password') = 0 AS gateway_password_empty \gset
\if :gateway_password_empty
DO $$ BEGIN RAISE EXCEPTION 'gateway password is empty'; END $$;
\endif
ALTER ROLE phigate_gateway PASSWORD :'gateway_password';
RESET log_min_duration_statement;
RESET log_statement;

-- ---------------------------------------------------------------------------
-- Memberships: phigate_gateway is a member of exactly the three purpose
-- roles (SET ROLE allowed, no ADMIN OPTION, no inheritance); the purpose
-- roles are members of nothing. Anything else is revoked.
-- ---------------------------------------------------------------------------
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT g.rolname AS granted, m.rolname AS member
    FROM pg_auth_members am
    JOIN pg_roles g ON g.oid = am.roleid
    JOIN pg_roles m ON m.oid = am.member
    WHERE m.rolname IN ('phigate_gateway', 'clinical_reader', 'claims_writer', 'analytics_reader')
      AND NOT (m.rolname = 'phigate_gateway'
               AND g.rolname IN ('clinical_reader', 'claims_writer', 'analytics_reader'))
  LOOP
    EXECUTE format('REVOKE %I FROM %I', r.granted, r.member);
  END LOOP;
END
$$;

SELECT current_setting('server_version_num')::int >= 160000 AS pg16_or_later \gset
\if :pg16_or_later
-- PostgreSQL 16+: per-grant options; make the intent explicit on the grant
-- itself rather than relying only on the role's NOINHERIT attribute.
GRANT clinical_reader, claims_writer, analytics_reader TO phigate_gateway
  WITH INHERIT FALSE, SET TRUE, ADMIN FALSE;
\else
GRANT clinical_reader, claims_writer, analytics_reader TO phigate_gateway;
REVOKE ADMIN OPTION FOR clinical_reader, claims_writer, analytics_reader FROM phigate_gateway;
\endif

-- ---------------------------------------------------------------------------
-- Database: nobody but phigate_gateway may connect; nobody gets TEMP/CREATE.
-- (Superusers bypass these checks.)
-- ---------------------------------------------------------------------------
DO $$
BEGIN
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM phigate_gateway, clinical_reader, claims_writer, analytics_reader',
                 current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO phigate_gateway', current_database());
END
$$;

-- ---------------------------------------------------------------------------
-- Schema public: no CREATE for anyone (PUBLIC keeps the default USAGE, so an
-- un-SET gateway gets "permission denied for table ..." rather than
-- "relation does not exist"); USAGE granted explicitly to the purpose roles so
-- they keep working even if PUBLIC's USAGE is revoked later.
-- ---------------------------------------------------------------------------
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM phigate_gateway, clinical_reader, claims_writer, analytics_reader;
GRANT USAGE ON SCHEMA public TO clinical_reader, claims_writer, analytics_reader;

-- ---------------------------------------------------------------------------
-- Tables and sequences: wipe (table-level REVOKE also removes column-level
-- grants), then grant exactly the matrix below. Nothing for phigate_gateway.
-- ---------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES    IN SCHEMA public FROM PUBLIC, phigate_gateway, clinical_reader, claims_writer, analytics_reader;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, phigate_gateway, clinical_reader, claims_writer, analytics_reader;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM phigate_gateway, clinical_reader, claims_writer, analytics_reader;

-- clinical_reader: read the three clinical tables.
GRANT SELECT ON public.patients, public.encounters, public.claims TO clinical_reader;

-- analytics_reader: the same reads; separate role so the AI agent's upstream
-- identity is distinguishable in database logs / pg_stat_activity.
GRANT SELECT ON public.patients, public.encounters, public.claims TO analytics_reader;

-- claims_writer: read claims and only patients.id (to look up / validate the
-- patient; no demographics), create claims via the sequence, and update
-- claims -- every column except the primary key. No DELETE, no TRUNCATE.
-- (Foreign-key checks run as the table owner, so no REFERENCES grant needed.)
GRANT SELECT ON public.claims TO claims_writer;
GRANT SELECT (id) ON public.patients TO claims_writer;
GRANT INSERT ON public.claims TO claims_writer;
GRANT UPDATE (patient_id, encounter_id, payer_member_id, amount, status) ON public.claims TO claims_writer;
GRANT USAGE ON SEQUENCE public.claims_id_seq TO claims_writer;

-- ---------------------------------------------------------------------------
-- Self-check: fail the whole apply if the result isn't least privilege.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  roles text[] := ARRAY['phigate_gateway', 'clinical_reader', 'claims_writer', 'analytics_reader'];
  t text;
BEGIN
  -- Owns nothing, anywhere in the cluster.
  IF EXISTS (SELECT 1 FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid
             WHERE d.deptype = 'o' AND r.rolname = ANY (roles)) THEN
    RAISE EXCEPTION 'least-privilege check: a phigate role owns database objects';
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ANY (roles)
             AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)) THEN
    RAISE EXCEPTION 'least-privilege check: a phigate role has an elevated attribute';
  END IF;
  IF (SELECT rolinherit FROM pg_roles WHERE rolname = 'phigate_gateway') THEN
    RAISE EXCEPTION 'least-privilege check: phigate_gateway must be NOINHERIT';
  END IF;
  -- The gateway itself (no SET ROLE) can touch no table or sequence here.
  FOR t IN SELECT c.oid::regclass::text FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  LOOP
    IF has_table_privilege('phigate_gateway', t, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
       OR has_any_column_privilege('phigate_gateway', t, 'SELECT,INSERT,UPDATE,REFERENCES') THEN
      RAISE EXCEPTION 'least-privilege check: phigate_gateway has a direct privilege on %', t;
    END IF;
  END LOOP;
  IF has_schema_privilege('phigate_gateway', 'public', 'CREATE')
     OR has_database_privilege('phigate_gateway', current_database(), 'CREATE,TEMPORARY') THEN
    RAISE EXCEPTION 'least-privilege check: phigate_gateway can create objects';
  END IF;
  -- No purpose role can write the patient/encounter tables.
  IF has_table_privilege('clinical_reader',  'public.claims', 'INSERT,UPDATE,DELETE,TRUNCATE')
     OR has_table_privilege('analytics_reader', 'public.claims', 'INSERT,UPDATE,DELETE,TRUNCATE')
     OR has_any_column_privilege('claims_writer', 'public.patients', 'INSERT,UPDATE')
     OR has_column_privilege('claims_writer', 'public.patients', 'ssn', 'SELECT')
     OR has_table_privilege('claims_writer', 'public.claims', 'DELETE,TRUNCATE') THEN
    RAISE EXCEPTION 'least-privilege check: purpose role grants exceed the declared matrix';
  END IF;
END
$$;

\if :pg16_or_later
-- PostgreSQL 16+: ALTER ROLE ... NOINHERIT no longer changes existing grants,
-- so check the grant-level options too.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_auth_members
             WHERE member = 'phigate_gateway'::regrole
               AND (inherit_option OR admin_option OR NOT set_option)) THEN
    RAISE EXCEPTION 'least-privilege check: phigate_gateway memberships must be INHERIT FALSE, SET TRUE, ADMIN FALSE';
  END IF;
END
$$;
\endif
