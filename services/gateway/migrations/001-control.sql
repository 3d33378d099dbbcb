-- Gateway control database: the connection registry. Applied by an administrator (npm run
-- stack:up does it locally) with psql variables :app_role and :app_password. Credentials are
-- stored only sealed (AES-256-GCM, see docs/adr/0006); the gateway's role may read and change
-- registry rows and nothing else.
\set ON_ERROR_STOP on

CREATE TABLE IF NOT EXISTS connections (
  name                 text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  type                 text NOT NULL CHECK (type IN ('postgresql')),
  host                 text NOT NULL,
  port                 int NOT NULL CHECK (port BETWEEN 1 AND 65535),
  database             text NOT NULL,
  username             text NOT NULL,
  default_schema       text NOT NULL DEFAULT 'public',
  pool_max             int NOT NULL DEFAULT 10 CHECK (pool_max BETWEEN 1 AND 200),
  statement_timeout_ms int NOT NULL DEFAULT 30000 CHECK (statement_timeout_ms >= 100),
  -- {"v":1,"alg":"A256GCM","kid":...,"iv":...,"ct":...,"tag":...}; never plaintext.
  credential           jsonb NOT NULL CHECK (credential ? 'kid' AND credential ? 'ct' AND NOT credential ? 'password'),
  source               text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'config')),
  version              bigint NOT NULL DEFAULT 1,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', :'app_role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'app_role', :'app_password') \gexec
REVOKE ALL ON connections FROM PUBLIC;
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON connections TO %I', :'app_role') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'app_role') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
