-- phigate demo world: PostgreSQL "clinical" database, SYNTHETIC data.
--
-- Every value below is a pure function of a row number: the only source of
-- "randomness" is md5('<purpose>:<n>'), so loading this file into an empty
-- schema (001-schema.sql) yields byte-identical tables every time, on any
-- machine, regardless of the session's TimeZone or DateStyle (timestamps are
-- built in UTC with minute offsets only; text is built with to_char/format).
-- No random(), no now() (except demo_meta.loaded_at, which is not demo data).
--
-- None of these people exist. SSNs use area numbers 900-999, which the SSA
-- never issues; e-mail addresses use the reserved example.org/.com/.net.
--
-- Shapes (see README.md): 10,000 patients, 2-4 encounters each (~30,000),
-- ~2/3 of encounters have a claim (~20,000). About half of the free-text
-- notes contain planted identifiers (phone, SSN, e-mail, MRN, dates, DOB,
-- street address, ZIP, age over 89, relative's name); the rest contain none
-- (and some carry identifier look-alikes such as "BP 132/84" or "500 mg").
--
-- Optional psql variable :data_version is recorded in demo_meta; the apply
-- script passes a hash of 001-schema.sql + 002-data.sql.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
\if :{?data_version}
\else
\set data_version 'unversioned'
\endif

-- ---------------------------------------------------------------------------
-- Generator helpers. pg_temp: they vanish with the session, nothing is left
-- behind in the clinical database.
-- ---------------------------------------------------------------------------

-- Deterministic 48-bit non-negative hash of (purpose, n).
CREATE FUNCTION pg_temp.h(seed text, n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT ('x' || substr(md5(seed || ':' || n::text), 1, 12))::bit(48)::bigint $$;

CREATE FUNCTION pg_temp.pick(arr text[], seed text, n bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT arr[1 + (pg_temp.h(seed, n) % cardinality(arr))::int] $$;

-- MRN-0001234 style. (n * 7127 + 104729) mod 10^7 is a bijection on
-- 0..10^7-1 because gcd(7127, 10^7) = 1, so MRNs are unique and scattered.
CREATE FUNCTION pg_temp.mrn(n bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT 'MRN-' || lpad(((n * 7127 + 104729) % 10000000)::text, 7, '0') $$;

-- 9AA-GG-SSSS: area 900-999 (never issued by the SSA), group 01-99, serial 0001-9999.
CREATE FUNCTION pg_temp.ssn(seed text, n bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$
  SELECT '9' || lpad((x % 100)::text, 2, '0')
      || '-' || lpad((1 + (x / 100) % 99)::text, 2, '0')
      || '-' || lpad((1 + (x / 9900) % 9999)::text, 4, '0')
  FROM (SELECT pg_temp.h(seed, n) AS x) s
$$;

-- US phone number in one of five written styles:
-- 0 "(AAA) EEE-LLLL"  1 "AAA-EEE-LLLL"  2 "AAA.EEE.LLLL"  3 "+1 AAA EEE LLLL"  4 "AAAEEELLLL"
CREATE FUNCTION pg_temp.phone(seed text, n bigint, style int) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$
  SELECT CASE style
           WHEN 0 THEN format('(%s) %s-%s', a, e, l)
           WHEN 1 THEN format('%s-%s-%s', a, e, l)
           WHEN 2 THEN format('%s.%s.%s', a, e, l)
           WHEN 3 THEN format('+1 %s %s %s', a, e, l)
           ELSE a || e || l
         END
  FROM (SELECT (ARRAY['212','312','415','617','713','206','303','404','503','602',
                      '702','801','919','646','818','305','214','512','615','720',
                      '555'])[1 + (x % 21)::int] AS a,
               (200 + (x / 21) % 800)::text AS e,
               lpad(((x / 16800) % 10000)::text, 4, '0') AS l
        FROM (SELECT pg_temp.h(seed, n) AS x) s0) s
$$;

-- Payer member id in one of several real-world shapes, stable per patient.
-- Shape 2 is a Medicare Beneficiary Identifier look-alike (11 chars, no S/L/O/I/B/Z).
CREATE FUNCTION pg_temp.member_id(n bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT
AS $$
  SELECT CASE pg_temp.h('member-kind', n) % 5
           WHEN 0 THEN 'W'   || lpad((y % 1000000000)::text, 9, '0')
           WHEN 1 THEN 'XEH' || lpad((y % 1000000000)::text, 9, '0')
           WHEN 2 THEN (1 + y % 9)::text
                    || substr(L, 1 + ((y / 9) % 20)::int, 1)
                    || substr(A, 1 + ((y / 180) % 30)::int, 1)
                    || ((y / 5400) % 10)::text
                    || substr(L, 1 + ((y / 54000) % 20)::int, 1)
                    || substr(A, 1 + ((y / 1080000) % 30)::int, 1)
                    || ((y / 32400000) % 10)::text
                    || substr(L, 1 + ((y / 324000000) % 20)::int, 1)
                    || substr(L, 1 + ((y / 6480000000) % 20)::int, 1)
                    || ((y / 129600000000) % 10)::text
                    || ((y / 1296000000000) % 10)::text
           WHEN 3 THEN 'MCD' || lpad((y % 100000000)::text, 8, '0')
           ELSE 'U' || lpad((y % 100000000)::text, 8, '0') || '01'
         END
  FROM (SELECT pg_temp.h('member-num', n) AS y,
               'ACDEFGHJKMNPQRTUVWXY'::text AS L,
               '0123456789ACDEFGHJKMNPQRTUVWXY'::text AS A) s
$$;

-- ---------------------------------------------------------------------------
-- patients: 10,000
-- ---------------------------------------------------------------------------
INSERT INTO public.patients (id, mrn, first_name, last_name, ssn, dob, zip, phone, email, notes)
SELECT
    i, mrn, first_name, last_name,
    CASE WHEN pg_temp.h('ssn-missing', i) % 25 = 0 THEN NULL ELSE ssn_full END,
    dob, zip,
    CASE WHEN pg_temp.h('phone-missing', i) % 30 = 0 THEN NULL ELSE phone_own END,
    CASE WHEN pg_temp.h('email-missing', i) % 10 = 0 THEN NULL ELSE email_own END,
    CASE tmpl
      -- with identifiers ------------------------------------------------------
      WHEN 0 THEN format('Pt called from %s re: refill; SSN on file %s; follow-up %s.',
                         phone_other, ssn_full, to_char(d1, 'YYYY-MM-DD'))
      WHEN 1 THEN format('Prefers contact via %s. %s cross-ref (sibling, same household).',
                         email_own, pg_temp.mrn(1 + (i + 37 + pg_temp.h('sib', i) % 500) % 10000))
      WHEN 2 THEN format('Emergency contact: %s %s %s, %s.',
                         relation, rel_first, last_name, phone_other)
      WHEN 3 THEN format('DOB %s verified at check-in; lives in %s.',
                         to_char(dob, 'MM/DD/YYYY'), zip)
      WHEN 4 THEN format('Outside records faxed over; SSN %s on cover sheet, confirm with pt.',
                         replace(ssn_full, '-', ''))
      WHEN 5 THEN format('Lives at %s %s, %s. Callback %s after 5pm.',
                         house_no, street, zip, phone_other)
      WHEN 6 THEN format('%s y/o seen for annual wellness visit; %s %s accompanied pt.',
                         age, relation, rel_first)
      WHEN 7 THEN format('Pt states new email %s.%s%s@example.com and cell %s; update chart. Seen %s.',
                         lower(translate(first_name, 'éëñúáíó''', 'eenuaio')),
                         lower(translate(last_name, 'éëñúáíó''', 'eenuaio')),
                         (pg_temp.h('em2', i) % 100)::text, phone_other,
                         to_char(d1, 'Mon DD, YYYY'))
      WHEN 14 THEN format('Flu vaccine declined; pt will reconsider at visit on %s.', to_char(d1, 'FMMM/FMDD/YY'))
      -- without identifiers ---------------------------------------------------
      WHEN 8  THEN 'No known drug allergies.'
      WHEN 9  THEN 'Routine follow-up; vitals stable. BP 128/82, HR 71.'
      WHEN 10 THEN 'Diet-controlled; A1c 6.8 on last check. Recheck in 3 months.'
      WHEN 11 THEN 'Patient reports adherence to medication regimen.'
      WHEN 12 THEN 'Discussed smoking cessation; pt receptive, 1/2 ppd currently.'
      WHEN 13 THEN 'Metformin 500 mg twice daily; lisinopril 10 mg daily.'
      ELSE NULL
    END
FROM (
    SELECT i, first_name, last_name, dob,
           pg_temp.mrn(i) AS mrn,
           pg_temp.ssn('ssn', i) AS ssn_full,
           pg_temp.phone('phone', i, (pg_temp.h('phone-style', i) % 2)::int) AS phone_own,
           pg_temp.phone('phone-other', i, (pg_temp.h('phone-other-style', i) % 5)::int) AS phone_other,
           lower(translate(first_name, 'éëñúáíó''', 'eenuaio')) || '.'
             || lower(translate(last_name, 'éëñúáíó''', 'eenuaio')) || i::text || '@example.org' AS email_own,
           CASE WHEN pg_temp.h('zip-kind', i) % 100 < 12
                THEN pg_temp.pick(ARRAY['036','059','063','102','203','556','692','790','821',
                                        '823','830','831','878','879','884','890','893'], 'zip3r', i)
                ELSE pg_temp.pick(ARRAY['100','104','112','606','608','900','902','917','770',
                                        '773','191','021','331','941','945','980','303','852',
                                        '802','972','482','551','432','282','372','787','752',
                                        '021','104','112'], 'zip3', i)
           END || lpad((pg_temp.h('zip2', i) % 100)::text, 2, '0') AS zip,
           (pg_temp.h('pt-tmpl', i) % 16)::int AS tmpl,
           date '2024-01-02' + (pg_temp.h('d1', i) % 730)::int AS d1,
           extract(year FROM age(date '2024-06-30', dob))::int AS age,
           split_part(rel, ' ', 1) AS relation,
           split_part(rel, ' ', 2) AS rel_first,
           (1 + pg_temp.h('house', i) % 9899)::text AS house_no,
           pg_temp.pick(ARRAY['Elm St','Oak Ave','Maple Dr','Cedar Ln','Pine St','Washington Blvd',
                              'Lakeview Rd','Main St','2nd Ave','Hillcrest Ct'], 'street', i) AS street
    FROM (
        SELECT i,
               pg_temp.pick(ARRAY[
                 'James','Mary','Robert','Patricia','John','Jennifer','Michael','Linda','David','Elizabeth',
                 'William','Barbara','Richard','Susan','Joseph','Jessica','Thomas','Sarah','Carlos','Karen',
                 'Daniel','Lisa','Matthew','Nancy','Anthony','Betty','Mark','Sandra','Wei','Ashley',
                 'Steven','Kimberly','Andrew','Emily','Kenji','Donna','Joshua','Michelle','Kevin','Carol',
                 'Brian','Amanda','José','Dorothy','Timothy','Melissa','Ronald','Deborah','Jamal','Stephanie',
                 'Priya','Rebecca','Ahmed','Sharon','Zoë','Laura','Dmitri','Cynthia','Renée','Aaliyah'], 'fn', i) AS first_name,
               pg_temp.pick(ARRAY[
                 'Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','Rodriguez','Martinez',
                 'Hernandez','Lopez','Gonzalez','Wilson','Anderson','Thomas','Taylor','Moore','Jackson','Martin',
                 'Lee','Perez','Thompson','White','Harris','Sanchez','Clark','Ramirez','Lewis','Robinson',
                 'Walker','Young','Allen','King','Wright','Scott','Torres','Nguyen','Hill','Flores',
                 'Green','Adams','Nelson','Baker','Hall','Rivera','Campbell','Mitchell','Carter','Roberts',
                 'O''Brien','Núñez','Smith-Jones','Kowalski','Patel','Kim','Chen','Okafor','Yamamoto','Haddad',
                 'Schmidt','Ivanova','Begay','Kealoha','Fitzgerald','MacDonald','Dubois','Rossi','Singh','Cohen'], 'ln', i) AS last_name,
               date '1920-01-01' + (pg_temp.h('dob', i) % (date '2020-12-31' - date '1920-01-01' + 1))::int AS dob,
               pg_temp.pick(ARRAY['daughter Maria','son John','wife Linda','husband Robert','sister Ana',
                                  'brother Michael','neighbor Grace','caregiver David','daughter Keisha',
                                  'son Luis','wife Mei','husband Tariq'], 'rel', i) AS rel
        FROM generate_series(1, 10000) AS g(i)
    ) n
) p
ORDER BY i;

-- ---------------------------------------------------------------------------
-- encounters: 2-4 per patient (~30,000), ids 1..N in (patient, admitted_at) order
-- ---------------------------------------------------------------------------
INSERT INTO public.encounters (id, patient_id, admitted_at, discharged_at, diagnosis_code, notes)
SELECT
    row_number() OVER (ORDER BY patient_id, admitted_at, k) AS id,
    patient_id, admitted_at,
    CASE WHEN pg_temp.h('still-admitted', key) % 40 = 0 THEN NULL
         ELSE admitted_at + make_interval(mins => (60 + pg_temp.h('los', key) % (10 * 1440))::int)
    END,
    (codes)[dx], 
    CASE tmpl
      -- with identifiers ------------------------------------------------------
      WHEN 0 THEN format('Seen for %s. Spoke with %s at %s re: discharge plan.',
                         lower((descs)[dx]), relation, phone_other)
      WHEN 1 THEN format('Admitted via ED. Pt identified by %s and DOB %s.',
                         mrn, to_char(dob, 'MM/DD/YYYY'))
      WHEN 2 THEN format('Follow-up scheduled %s at clinic; reminder sent to %s.%s%s@example.net.',
                         to_char((admitted_at AT TIME ZONE 'UTC')::date + 14 + (pg_temp.h('fu', key) % 60)::int, 'YYYY-MM-DD'),
                         lower(translate(first_name, 'éëñúáíó''', 'eenuaio')),
                         lower(translate(last_name, 'éëñúáíó''', 'eenuaio')),
                         (pg_temp.h('em3', key) % 100)::text)
      WHEN 3 THEN format('Outside records received; SSN %s listed on face sheet. %s %s confirmed identity.',
                         pg_temp.ssn('ssn', patient_id), first_name, last_name)
      WHEN 4 THEN format('Pt, age %s, has hx of %s.',
                         extract(year FROM age((admitted_at AT TIME ZONE 'UTC')::date, dob))::int,
                         lower((descs)[dx]))
      WHEN 5 THEN format('Discharged home, %s %s, zip %s; home health referral. Call %s with questions.',
                         (1 + pg_temp.h('house', patient_id) % 9899)::text,
                         pg_temp.pick(ARRAY['Elm St','Oak Ave','Maple Dr','Cedar Ln','Pine St','Washington Blvd',
                                            'Lakeview Rd','Main St','2nd Ave','Hillcrest Ct'], 'street', patient_id),
                         zip, pg_temp.phone('clinic', key, 1))
      -- without identifiers ---------------------------------------------------
      WHEN 6  THEN 'BP 132/84, HR 76, SpO2 97% RA. Continue current meds.'
      WHEN 7  THEN 'Labs WNL. Return PRN.'
      WHEN 8  THEN 'Wound healing well; sutures removed, steri-strips applied.'
      WHEN 9  THEN 'Pain controlled on acetaminophen 650 mg q6h PRN.'
      WHEN 10 THEN format('Dx %s (%s) reviewed with patient; verbalized understanding.', (codes)[dx], (descs)[dx])
      ELSE NULL
    END
FROM (
    SELECT p.id AS patient_id, p.mrn, p.first_name, p.last_name, p.dob, p.zip, k,
           p.id * 10 + k AS key,
           (pg_temp.h('enc-tmpl', p.id * 10 + k) % 12)::int AS tmpl,
           pg_temp.pick(ARRAY['daughter','son','wife','husband','sister','brother','caregiver'], 'erel', p.id * 10 + k) AS relation,
           pg_temp.phone('enc-phone', p.id * 10 + k, (pg_temp.h('enc-phone-style', p.id * 10 + k) % 5)::int) AS phone_other,
           (s.start_d + make_interval(mins => (pg_temp.h('admit', p.id * 10 + k)
                                              % ((date '2025-01-01' - s.start_d) * 1440))::int))
             AT TIME ZONE 'UTC' AS admitted_at,
           1 + (pg_temp.h('dx', p.id * 10 + k) % cardinality(c.codes))::int AS dx,
           c.codes, c.descs
    FROM public.patients p
    CROSS JOIN LATERAL generate_series(1, 2 + (pg_temp.h('enc-count', p.id) % 3)::int) AS g(k)
    CROSS JOIN LATERAL (SELECT greatest(date '2019-01-01', p.dob + 1) AS start_d) s
    CROSS JOIN (SELECT
        ARRAY['I10','E11.9','E78.5','J45.909','M54.50','F32.9','J44.9','N18.30','I25.10','K21.9',
              'E66.9','I48.91','J18.9','N39.0','R07.9','S72.001A','Z00.00','F41.1','G43.909','I50.9',
              'E03.9','U07.1','O80','Z23','F10.20','B20','I10','E11.9','Z00.00','J06.9'] AS codes,
        ARRAY['Essential (primary) hypertension',
              'Type 2 diabetes mellitus without complications',
              'Hyperlipidemia, unspecified',
              'Unspecified asthma, uncomplicated',
              'Low back pain, unspecified',
              'Major depressive disorder, single episode, unspecified',
              'Chronic obstructive pulmonary disease, unspecified',
              'Chronic kidney disease, stage 3 unspecified',
              'Atherosclerotic heart disease of native coronary artery without angina pectoris',
              'Gastro-esophageal reflux disease without esophagitis',
              'Obesity, unspecified',
              'Unspecified atrial fibrillation',
              'Pneumonia, unspecified organism',
              'Urinary tract infection, site not specified',
              'Chest pain, unspecified',
              'Fracture of unspecified part of neck of right femur, initial encounter',
              'Encounter for general adult medical examination without abnormal findings',
              'Generalized anxiety disorder',
              'Migraine, unspecified, not intractable, without status migrainosus',
              'Heart failure, unspecified',
              'Hypothyroidism, unspecified',
              'COVID-19',
              'Encounter for full-term uncomplicated delivery',
              'Encounter for immunization',
              'Alcohol dependence, uncomplicated',
              'Human immunodeficiency virus [HIV] disease',
              'Essential (primary) hypertension',
              'Type 2 diabetes mellitus without complications',
              'Encounter for general adult medical examination without abnormal findings',
              'Acute upper respiratory infection, unspecified'] AS descs) c
) e
ORDER BY patient_id, admitted_at, k;

-- ---------------------------------------------------------------------------
-- claims: one for ~2/3 of encounters (~20,000), ids 1..N in encounter order
-- ---------------------------------------------------------------------------
INSERT INTO public.claims (id, patient_id, encounter_id, payer_member_id, amount, status)
SELECT
    row_number() OVER (ORDER BY e.id),
    e.patient_id, e.id,
    pg_temp.member_id(e.patient_id),
    ((2500 + (x % 250000) * (1 + (x / 250000) % 4)) / 100.0)::numeric(12,2),
    CASE WHEN s < 11 THEN 'paid'
         WHEN s < 14 THEN 'submitted'
         WHEN s < 17 THEN 'pending'
         ELSE 'denied'
    END
FROM public.encounters e
CROSS JOIN LATERAL (SELECT pg_temp.h('amount', e.id) AS x,
                           pg_temp.h('status', e.id) % 20 AS s) v
WHERE pg_temp.h('claim', e.id) % 3 <> 0
ORDER BY e.id;

-- Explicit ids were inserted: move the sequence past them so that
-- claims_writer's INSERTs (which use the default) don't collide.
DO $$
BEGIN
  PERFORM setval(pg_get_serial_sequence('public.claims', 'id'),
                 (SELECT coalesce(max(id), 0) + 1 FROM public.claims), false);
END
$$;

INSERT INTO public.demo_meta (version) VALUES (:'data_version');

ANALYZE public.patients, public.encounters, public.claims;
