-- Governance: roles, a hash-chained append-only audit, and reveal and erasure through SECURITY
-- DEFINER functions, so the database itself decides who recovers personal data and records it.
-- Runs inside the migration transaction as the schema owner; valid on PostgreSQL 10 through 17.
-- Every function here gets search_path pinned to pg_catalog, this schema, pg_temp (at the end).

-- Roles are shared by the whole cluster: another database's migration may create them at the same
-- moment, so a role that appears meanwhile is no error. Operators grant them to login users.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['vaultline_ingest', 'vaultline_analyst',
                                     'vaultline_revealer', 'vaultline_auditor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL;
                WHEN insufficient_privilege THEN
                    RAISE EXCEPTION 'Cannot create role "%": permission denied: run the migration as a role with CREATEROLE, or have a superuser create the vaultline roles first', role_name
                        USING ERRCODE = 'insufficient_privilege';
            END;
        END IF;
    END LOOP;
END $$;

-- SHA-256: built in from PostgreSQL 11; PostgreSQL 10 needs the pgcrypto extension.
DO $$
BEGIN
    IF current_setting('server_version_num')::integer >= 110000 THEN
        EXECUTE $f$CREATE FUNCTION vaultline_sha256(data bytea) RETURNS bytea
            LANGUAGE sql IMMUTABLE STRICT AS 'SELECT pg_catalog.sha256(data)'$f$;
    ELSE
        CREATE EXTENSION IF NOT EXISTS pgcrypto;
        EXECUTE format($f$CREATE FUNCTION vaultline_sha256(data bytea) RETURNS bytea
            LANGUAGE sql IMMUTABLE STRICT AS 'SELECT %I.digest(data, ''sha256'')'$f$,
            (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
             WHERE e.extname = 'pgcrypto'));
    END IF;
END $$;

-- A person's rows, for reveal by person and erasure.
CREATE INDEX IF NOT EXISTS user_logins_user_id ON user_logins (user_id);

-- The audit: one row per reveal, failed reveal, erasure, policy change or other recorded act.
-- Ids are dense and assigned under a lock, so the rows form one chain in id order.
ALTER TABLE reveal_audit
    ALTER COLUMN id DROP DEFAULT,
    ALTER COLUMN os_user DROP NOT NULL,
    ADD COLUMN kind text NOT NULL DEFAULT 'reveal' CHECK (kind ~ '^[a-z_]{1,32}$'),
    ADD COLUMN detail text,
    ADD COLUMN user_id varchar(128),
    ADD COLUMN bulk boolean NOT NULL DEFAULT false,
    ADD COLUMN masked boolean NOT NULL DEFAULT false,
    ADD COLUMN unknown_tokens text[] NOT NULL DEFAULT '{}',
    ADD COLUMN ref_id bigint,
    ADD COLUMN xid bigint,
    ADD COLUMN prev_hash text,
    ADD COLUMN row_hash text;
DROP SEQUENCE IF EXISTS reveal_audit_id_seq;
COMMENT ON COLUMN reveal_audit.os_user IS 'the operating-system user the client claims; db_user is the identity';
COMMENT ON COLUMN reveal_audit.xid IS 'the transaction that wrote the row; a reveal is fetched only from a later one';

-- One field of a row's hashed content: its UTF-8 length, a colon and the text; NULL is "~".
CREATE FUNCTION vaultline_audit_field(value text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN value IS NULL THEN '~'
                ELSE octet_length(convert_to(value, 'UTF8'))::text || ':' || value END
$$;

-- A row's content as hashed; lib/vault/audit_chain.ts computes the same text.
CREATE FUNCTION vaultline_audit_content(a reveal_audit) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'vaultline-audit/v1' || E'\n'
        || vaultline_audit_field((a).id::text)
        || vaultline_audit_field(to_char((a).revealed_at AT TIME ZONE 'UTC',
                                         'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        || vaultline_audit_field((a).kind)
        || vaultline_audit_field((a).db_user)
        || vaultline_audit_field((a).os_user)
        || vaultline_audit_field((a).reason)
        || vaultline_audit_field((a).detail)
        || vaultline_audit_field((a).user_id::text)
        || vaultline_audit_field(CASE WHEN (a).bulk THEN 't' ELSE 'f' END)
        || vaultline_audit_field(CASE WHEN (a).masked THEN 't' ELSE 'f' END)
        || vaultline_audit_field((a).ref_id::text)
        || vaultline_audit_field((a).token_count::text)
        || vaultline_audit_field(cardinality((a).tokens)::text)
        || coalesce((SELECT string_agg(vaultline_audit_field(t), '' ORDER BY n)
                     FROM unnest((a).tokens) WITH ORDINALITY AS u(t, n)), '')
        || vaultline_audit_field(cardinality((a).unknown_tokens)::text)
        || coalesce((SELECT string_agg(vaultline_audit_field(t), '' ORDER BY n)
                     FROM unnest((a).unknown_tokens) WITH ORDINALITY AS u(t, n)), '')
$$;

-- SHA-256, hex, of the previous row's hash, a newline and the row's content.
CREATE FUNCTION vaultline_audit_hash(prev_hash text, a reveal_audit) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(vaultline_sha256(convert_to(prev_hash || E'\n' || vaultline_audit_content(a),
                                              'UTF8')), 'hex')
$$;

-- Rows written before this migration join the chain in id order.
DO $$
DECLARE
    r reveal_audit;
    prev text := repeat('0', 64);
BEGIN
    FOR r IN SELECT * FROM reveal_audit ORDER BY id LOOP
        r.prev_hash := prev;
        r.row_hash := vaultline_audit_hash(prev, r);
        UPDATE reveal_audit SET prev_hash = r.prev_hash, row_hash = r.row_hash WHERE id = r.id;
        prev := r.row_hash;
    END LOOP;
END $$;
ALTER TABLE reveal_audit
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN row_hash SET NOT NULL;

-- Every insert, whoever makes it, is numbered, timed, attributed to the session user and chained
-- to the row before it. The advisory lock (an arbitrary constant, "vaudit" in ASCII) serializes
-- appends; read committed lets the insert see the row the previous holder committed.
CREATE FUNCTION vaultline_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last reveal_audit;
BEGIN
    IF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
        RAISE EXCEPTION 'Cannot append to reveal_audit in a % transaction: the chain needs read committed',
            current_setting('transaction_isolation') USING ERRCODE = 'VL005';
    END IF;
    PERFORM pg_advisory_xact_lock(130160953420148);
    SELECT * INTO last FROM reveal_audit ORDER BY id DESC LIMIT 1;
    NEW.id := coalesce(last.id, 0) + 1;
    NEW.revealed_at := clock_timestamp();
    NEW.db_user := session_user;
    NEW.xid := txid_current();
    NEW.prev_hash := coalesce(last.row_hash, repeat('0', 64));
    NEW.row_hash := vaultline_audit_hash(NEW.prev_hash, NEW);
    RETURN NEW;
END $$;
CREATE TRIGGER reveal_audit_chain BEFORE INSERT ON reveal_audit
    FOR EACH ROW EXECUTE PROCEDURE vaultline_audit_chain();

CREATE FUNCTION vaultline_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'Cannot % reveal_audit: it is append-only', lower(TG_OP)
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER reveal_audit_no_update BEFORE UPDATE OR DELETE ON reveal_audit
    FOR EACH ROW EXECUTE PROCEDURE vaultline_audit_append_only();
CREATE TRIGGER reveal_audit_no_truncate BEFORE TRUNCATE ON reveal_audit
    FOR EACH STATEMENT EXECUTE PROCEDURE vaultline_audit_append_only();

-- The reveal policy, one row, set by the owner (deno task migrate); revealers cannot change it.
CREATE TABLE reveal_policy (
    id                  boolean PRIMARY KEY DEFAULT true CHECK (id),
    min_reason_chars    integer NOT NULL DEFAULT 8 CHECK (min_reason_chars BETWEEN 1 AND 1000),
    reason_pattern      text CHECK (reason_pattern <> ''),
    bulk_limit          integer NOT NULL DEFAULT 1000 CHECK (bulk_limit >= 1)
);
INSERT INTO reveal_policy DEFAULT VALUES;

-- Characters of `t` that show: whitespace, controls and invisible format characters (zero-width
-- spaces and joiners, bidi controls, variation selectors, fillers, tags) do not count.
CREATE FUNCTION vaultline_visible_length(t text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT char_length(regexp_replace(t, E'[\\u0001-\\u0020\\u007F-\\u00A0\\u00AD\\u034F\\u061C\\u115F\\u1160\\u1680\\u17B4\\u17B5\\u180B-\\u180F\\u2000-\\u200F\\u2028-\\u202F\\u205F-\\u206F\\u2800\\u3000\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0\\uFFF0-\\uFFFB\\U0001BCA0-\\U0001BCA3\\U0001D173-\\U0001D17A\\U000E0000-\\U000E0FFF]', '', 'g'))
$$;

-- Refuses a reason the policy does not accept; SQLSTATE VL001.
CREATE FUNCTION vaultline_check_reason(p_reason text) RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
    rules reveal_policy;
BEGIN
    SELECT * INTO rules FROM reveal_policy;
    IF p_reason IS NULL OR vaultline_visible_length(p_reason) < rules.min_reason_chars THEN
        RAISE EXCEPTION 'Invalid reason: the policy wants at least % visible characters',
            rules.min_reason_chars USING ERRCODE = 'VL001';
    END IF;
    IF rules.reason_pattern IS NOT NULL AND p_reason !~ rules.reason_pattern THEN
        RAISE EXCEPTION 'Invalid reason: the policy wants it to match "%"', rules.reason_pattern
            USING ERRCODE = 'VL001';
    END IF;
END $$;

-- Sets the policy; a change is itself audited. Called by deno task migrate, as the owner.
CREATE FUNCTION vaultline_set_reveal_policy(
    p_min_reason_chars integer, p_reason_pattern text, p_bulk_limit integer
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF p_reason_pattern IS NOT NULL THEN
        PERFORM '' ~ p_reason_pattern;
    END IF;
    UPDATE reveal_policy
    SET min_reason_chars = p_min_reason_chars, reason_pattern = p_reason_pattern,
        bulk_limit = p_bulk_limit
    WHERE (min_reason_chars, reason_pattern, bulk_limit)
          IS DISTINCT FROM (p_min_reason_chars, p_reason_pattern, p_bulk_limit);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO reveal_audit (kind, reason, detail, tokens, token_count)
    VALUES ('policy', 'reveal policy changed',
            format('min_reason_chars=%s reason_pattern=%s bulk_limit=%s', p_min_reason_chars,
                   coalesce(quote_literal(p_reason_pattern), 'none'), p_bulk_limit),
            '{}', 0);
    RETURN true;
END $$;

-- Records a reveal of `p_tokens` (distinct, in order) after checking the reason, the tokens'
-- form and the bulk limit; returns the audit row's id. Not granted: the two below call it.
CREATE FUNCTION vaultline_record_reveal(
    p_tokens text[], p_reason text, p_os_user text, p_bulk boolean, p_masked boolean,
    p_user_id text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    wanted text[];
    known text[];
    unknown text[];
    rules reveal_policy;
    audit_id bigint;
BEGIN
    PERFORM vaultline_check_reason(p_reason);
    wanted := ARRAY(SELECT t FROM unnest(p_tokens) WITH ORDINALITY AS u(t, n)
                    GROUP BY t ORDER BY min(n));
    IF EXISTS (SELECT 1 FROM unnest(wanted) AS t
               WHERE t IS NULL OR t !~ '^(ip|dev)[0-9]{1,2}_[A-Za-z0-9_-]{32}$') THEN
        RAISE EXCEPTION 'Invalid token: expected ip or dev, a key version, "_" and 32 base64url characters'
            USING ERRCODE = 'VL002';
    END IF;
    SELECT * INTO rules FROM reveal_policy;
    IF cardinality(wanted) > rules.bulk_limit AND NOT coalesce(p_bulk, false) THEN
        RAISE EXCEPTION 'Cannot reveal % tokens without bulk: the policy allows % at once',
            cardinality(wanted), rules.bulk_limit USING ERRCODE = 'VL003';
    END IF;
    known := ARRAY(SELECT t FROM unnest(wanted) WITH ORDINALITY AS u(t, n)
                   WHERE EXISTS (SELECT 1 FROM pii_vault v WHERE v.token = u.t) ORDER BY n);
    unknown := ARRAY(SELECT t FROM unnest(wanted) WITH ORDINALITY AS u(t, n)
                     WHERE NOT EXISTS (SELECT 1 FROM pii_vault v WHERE v.token = u.t) ORDER BY n);
    INSERT INTO reveal_audit (kind, os_user, reason, user_id, tokens, token_count, unknown_tokens,
                              bulk, masked)
    VALUES ('reveal', p_os_user, p_reason, p_user_id, known, cardinality(known), unknown,
            coalesce(p_bulk, false), coalesce(p_masked, false))
    RETURNING id INTO audit_id;
    RETURN audit_id;
END $$;

-- Reveal, step 1: records the request and returns its audit id. The sealed entries come from
-- vaultline_reveal_entries in a later transaction, so none leaves before this row commits.
CREATE FUNCTION vaultline_reveal(
    p_tokens text[], p_reason text, p_os_user text DEFAULT NULL, p_bulk boolean DEFAULT false,
    p_masked boolean DEFAULT false
) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF p_tokens IS NULL OR cardinality(p_tokens) = 0 THEN
        RAISE EXCEPTION 'Invalid tokens: name at least one' USING ERRCODE = 'VL002';
    END IF;
    RETURN vaultline_record_reveal(p_tokens, p_reason, p_os_user, p_bulk, p_masked, NULL);
END $$;

-- Reveal by person, step 1: records a request for every token of `p_user_id`'s rows.
CREATE FUNCTION vaultline_reveal_user(
    p_user_id text, p_reason text, p_os_user text DEFAULT NULL, p_bulk boolean DEFAULT false,
    p_masked boolean DEFAULT false
) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF p_user_id IS NULL OR p_user_id = '' THEN
        RAISE EXCEPTION 'Invalid user id: it is empty' USING ERRCODE = 'VL002';
    END IF;
    RETURN vaultline_record_reveal(
        ARRAY(SELECT t FROM (SELECT masked_ip AS t FROM user_logins WHERE user_id = p_user_id
                             UNION
                             SELECT masked_device_id FROM user_logins WHERE user_id = p_user_id) m
              WHERE t ~ '^(ip|dev)[0-9]{1,2}_[A-Za-z0-9_-]{32}$' ORDER BY t),
        p_reason, p_os_user, p_bulk, p_masked, p_user_id);
END $$;

-- Reveal, step 2: the sealed entries of a committed request by the same session user, one row
-- per token it recorded; the columns after `token` are NULL for a token the vault did not hold.
CREATE FUNCTION vaultline_reveal_entries(p_audit_id bigint)
RETURNS TABLE (token text, field text, data_key_id uuid, kek_id text, wrapped_key bytea,
               nonce bytea, ciphertext bytea)
LANGUAGE plpgsql SECURITY DEFINER AS $$
#variable_conflict use_column
DECLARE
    request reveal_audit;
BEGIN
    SELECT * INTO request FROM reveal_audit a WHERE a.id = p_audit_id AND a.kind = 'reveal';
    IF NOT FOUND OR request.db_user <> session_user THEN
        RAISE EXCEPTION 'Cannot fetch reveal #%: no such reveal by "%"', p_audit_id, session_user
            USING ERRCODE = 'VL004';
    END IF;
    IF request.xid = txid_current() THEN
        RAISE EXCEPTION 'Cannot fetch reveal #% in the transaction that recorded it: commit it first',
            p_audit_id USING ERRCODE = 'VL004';
    END IF;
    -- The tokens it revealed in their order, then the unknown ones, never looked up again.
    RETURN QUERY
        SELECT u.t, v.field::text, v.data_key_id, k.kek_id::text, k.wrapped_key, v.nonce,
               v.ciphertext
        FROM (SELECT r.t, r.n, true AS known
              FROM unnest(request.tokens) WITH ORDINALITY AS r(t, n)
              UNION ALL
              SELECT r.t, r.n + cardinality(request.tokens), false
              FROM unnest(request.unknown_tokens) WITH ORDINALITY AS r(t, n)) u
        LEFT JOIN pii_vault v ON u.known AND v.token = u.t
        LEFT JOIN vault_data_keys k ON k.id = v.data_key_id
        ORDER BY u.n;
END $$;

-- Records that a fetched reveal failed on the client: an entry did not open, or its value did
-- not match its token. Only the session user that made the reveal can say so.
CREATE FUNCTION vaultline_reveal_failed(p_audit_id bigint, p_detail text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    request reveal_audit;
    audit_id bigint;
BEGIN
    SELECT * INTO request FROM reveal_audit a WHERE a.id = p_audit_id AND a.kind = 'reveal';
    IF NOT FOUND OR request.db_user <> session_user THEN
        RAISE EXCEPTION 'Cannot record a failure of reveal #%: no such reveal by "%"', p_audit_id,
            session_user USING ERRCODE = 'VL004';
    END IF;
    INSERT INTO reveal_audit (kind, os_user, reason, detail, user_id, ref_id, tokens, token_count)
    VALUES ('reveal_failed', request.os_user, request.reason, coalesce(p_detail, 'failed'),
            request.user_id, request.id, '{}', 0)
    RETURNING id INTO audit_id;
    RETURN audit_id;
END $$;

-- Erasure: `p_user_id`'s rows get tombstones that equal nothing, and the vault entries only
-- those rows used are deleted; entries another person's rows use stay. The audit row keeps
-- counts, not the tokens, which would let a token key holder confirm guesses.
CREATE FUNCTION vaultline_forget(p_user_id text, p_reason text, p_os_user text DEFAULT NULL)
RETURNS TABLE (audit_id bigint, rows_forgotten bigint, entries_deleted bigint,
               entries_kept bigint)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    mine text[];
    shared text[];
    n_rows bigint;
    n_deleted bigint;
    new_id bigint;
BEGIN
    PERFORM vaultline_check_reason(p_reason);
    IF p_user_id IS NULL OR p_user_id = '' THEN
        RAISE EXCEPTION 'Invalid user id: it is empty' USING ERRCODE = 'VL002';
    END IF;
    -- Ingest batches write pii_vault before user_logins: holding this lock, none is half done,
    -- and none can start using an entry between the check below and the delete.
    LOCK TABLE pii_vault IN SHARE ROW EXCLUSIVE MODE;
    mine := ARRAY(SELECT masked_ip FROM user_logins WHERE user_id = p_user_id
                  UNION
                  SELECT masked_device_id FROM user_logins WHERE user_id = p_user_id);
    shared := ARRAY(SELECT DISTINCT v.t
                    FROM user_logins l,
                         LATERAL (VALUES (l.masked_ip), (l.masked_device_id)) AS v(t)
                    WHERE l.user_id IS DISTINCT FROM p_user_id AND v.t = ANY (mine));
    UPDATE user_logins
    SET masked_ip = CASE WHEN masked_ip IS NULL THEN NULL
                         ELSE 'forgotten_' || md5(random()::text || clock_timestamp()::text) END,
        masked_device_id = CASE WHEN masked_device_id IS NULL THEN NULL
                         ELSE 'forgotten_' || md5(random()::text || clock_timestamp()::text) END
    WHERE user_id = p_user_id;
    GET DIAGNOSTICS n_rows = ROW_COUNT;
    DELETE FROM pii_vault WHERE token = ANY (mine) AND NOT (token = ANY (shared));
    GET DIAGNOSTICS n_deleted = ROW_COUNT;
    INSERT INTO reveal_audit (kind, os_user, reason, user_id, detail, tokens, token_count)
    VALUES ('forget', p_os_user, p_reason, p_user_id,
            format('%s rows tombstoned, %s vault entries deleted, %s kept for other people',
                   n_rows, n_deleted, cardinality(shared)),
            '{}', 0)
    RETURNING reveal_audit.id INTO new_id;
    RETURN QUERY SELECT new_id, n_rows, n_deleted, cardinality(shared)::bigint;
END $$;

-- Any other recorded act (a quarantine replay, say); the kinds above have their own functions.
-- Granted to no role here: the owner calls it, or grants it to the role that needs it.
CREATE FUNCTION vaultline_audit_append(
    p_kind text, p_reason text, p_os_user text DEFAULT NULL, p_detail text DEFAULT NULL,
    p_tokens text[] DEFAULT '{}', p_user_id text DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    audit_id bigint;
BEGIN
    IF p_kind IN ('reveal', 'reveal_failed', 'forget', 'policy') THEN
        RAISE EXCEPTION 'Cannot append a "%" row: only its own function writes it', p_kind
            USING ERRCODE = 'VL002';
    END IF;
    PERFORM vaultline_check_reason(p_reason);
    INSERT INTO reveal_audit (kind, os_user, reason, detail, user_id, tokens, token_count)
    VALUES (p_kind, p_os_user, p_reason, p_detail, p_user_id, coalesce(p_tokens, '{}'),
            coalesce(cardinality(p_tokens), 0))
    RETURNING id INTO audit_id;
    RETURN audit_id;
END $$;

-- Definer functions run as the owner: pin their lookups (pg_temp last, so a caller's temporary
-- table cannot stand in for one of ours), and let nobody call anything unless granted below.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.proname LIKE 'vaultline\_%' AND p.pronamespace = current_schema()::regnamespace
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', f,
                       current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;

-- Least privilege. The ingest inserts (and reads back only the keys its ON CONFLICT and
-- RETURNING name); the analyst reads the analytics table; the revealer goes through the
-- functions; the auditor reads the audit. No role may update or delete anything.
REVOKE ALL ON user_logins, pii_vault, vault_data_keys, ingest_quarantine, reveal_audit,
    reveal_policy, vaultline_migrations FROM PUBLIC;
GRANT SELECT ON vaultline_migrations
    TO vaultline_ingest, vaultline_analyst, vaultline_revealer, vaultline_auditor;
GRANT INSERT ON user_logins, pii_vault, vault_data_keys, ingest_quarantine TO vaultline_ingest;
GRANT SELECT (message_id, create_date) ON user_logins TO vaultline_ingest;
GRANT SELECT (token) ON pii_vault TO vaultline_ingest;
GRANT SELECT (id) ON vault_data_keys TO vaultline_ingest;
GRANT SELECT (message_id) ON ingest_quarantine TO vaultline_ingest;
GRANT SELECT ON user_logins TO vaultline_analyst;
GRANT SELECT ON reveal_audit, reveal_policy TO vaultline_auditor;
GRANT EXECUTE ON FUNCTION
    vaultline_reveal(text[], text, text, boolean, boolean),
    vaultline_reveal_user(text, text, text, boolean, boolean),
    vaultline_reveal_entries(bigint),
    vaultline_reveal_failed(bigint, text),
    vaultline_forget(text, text, text)
    TO vaultline_revealer;
