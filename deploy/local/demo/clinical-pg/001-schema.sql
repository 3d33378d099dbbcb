-- phigate demo world: PostgreSQL "clinical" database, schema.
--
-- Applied by ../apply-clinical-pg.sh as a superuser, connected to database
-- `clinical`, in one transaction together with 002-data.sql and
-- 003-roles.sql. This file DROPS AND RECREATES the demo tables, which also
-- drops every grant on them: 003-roles.sql must run afterwards (the apply
-- script always runs it).
--
-- Changing this file changes the data version (the apply script hashes
-- 001-schema.sql + 002-data.sql), so the next apply reloads.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- All four in one statement so the foreign keys among them don't matter.
-- Deliberately no CASCADE: if someone built a view on these tables, fail
-- loudly instead of silently dropping it.
DROP TABLE IF EXISTS public.claims, public.encounters, public.patients, public.demo_meta;

CREATE TABLE public.patients (
    id          bigint PRIMARY KEY,
    mrn         text NOT NULL UNIQUE,
    first_name  text,
    last_name   text,
    ssn         text,
    dob         date,
    zip         text,
    phone       text,
    email       text,
    notes       text
);

CREATE TABLE public.encounters (
    id              bigint PRIMARY KEY,
    patient_id      bigint REFERENCES public.patients,
    admitted_at     timestamptz,
    discharged_at   timestamptz,
    diagnosis_code  text,
    notes           text
);

CREATE TABLE public.claims (
    id               bigserial PRIMARY KEY,
    patient_id       bigint REFERENCES public.patients,
    encounter_id     bigint REFERENCES public.encounters,
    payer_member_id  text,
    amount           numeric(12,2),
    status           text
);

CREATE INDEX encounters_patient_id_idx ON public.encounters (patient_id);
CREATE INDEX claims_patient_id_idx     ON public.claims (patient_id);
CREATE INDEX claims_encounter_id_idx   ON public.claims (encounter_id);

-- Load marker. Written as the last step of 002-data.sql, inside the same
-- transaction, so a half-finished load never looks current. No role other
-- than the table owner (the superuser) has any privilege on it.
CREATE TABLE public.demo_meta (
    version    text NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.patients   IS 'phigate demo: SYNTHETIC patients (not real people). See deploy/local/demo/clinical-pg/README.md';
COMMENT ON TABLE public.encounters IS 'phigate demo: SYNTHETIC encounters';
COMMENT ON TABLE public.claims     IS 'phigate demo: SYNTHETIC claims';
COMMENT ON TABLE public.demo_meta  IS 'phigate demo: data version marker used by apply-clinical-pg.sh';
