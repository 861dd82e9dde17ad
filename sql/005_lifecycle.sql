-- Data lifecycle: user_logins partitioned by month (PostgreSQL 11 and later), the archive's
-- manifest, and the audit of quarantine retention. Runs inside the migration transaction, under
-- the migration lock; valid on PostgreSQL 10 through 17.

-- Creates the partition of user_logins for the month of `day` unless it exists, moving that
-- month's rows out of the default partition into it; returns whether it created one. A no-op
-- while user_logins is not partitioned (PostgreSQL 10). SECURITY DEFINER because only the
-- table's owner may add a partition, and the ingest need not be that owner.
CREATE OR REPLACE FUNCTION vaultline_ensure_login_partition(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    first_day date := date_trunc('month', day)::date;
    next_day date := (date_trunc('month', day) + interval '1 month')::date;
    partition_name text := 'user_logins_' || to_char(day, 'YYYY_MM');
BEGIN
    IF day IS NULL OR (SELECT relkind FROM pg_class WHERE oid = 'user_logins'::regclass) <> 'p' THEN
        RETURN false;
    END IF;
    -- Serializes partition creation between sessions: an arbitrary constant, "vlpart" in ASCII.
    PERFORM pg_advisory_xact_lock(130208113980020);
    IF to_regclass(partition_name) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Made apart and attached, so that rows the default partition took for this month (an
    -- insert that came before its partition) move in with it: nothing is lost or doubled.
    EXECUTE format('CREATE TABLE %I (LIKE user_logins INCLUDING DEFAULTS)', partition_name);
    EXECUTE format(
        'WITH moved AS (DELETE FROM user_logins_default WHERE create_date >= %L AND create_date < %L RETURNING *) '
        'INSERT INTO %I SELECT * FROM moved',
        first_day, next_day, partition_name);
    EXECUTE format('ALTER TABLE user_logins ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        partition_name, first_day, next_day);
    RETURN true;
END
$$;
-- A definer function resolves names in the schema of user_logins only, never in a caller's
-- temporary schema.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION vaultline_ensure_login_partition(date) SET search_path = %I, pg_temp',
        current_schema());
END
$$;
-- Callable by the owner and the ingest's role (002_governance.sql). Without it the ingest still
-- writes every row (the default partition takes them), it only cannot create partitions.
REVOKE ALL ON FUNCTION vaultline_ensure_login_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vaultline_ensure_login_partition(date) TO vaultline_ingest;

DO $$
DECLARE
    granted record;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'user_logins'::regclass) = 'p' THEN
        RETURN;
    END IF;
    IF current_setting('server_version_num')::int < 110000 THEN
        -- PostgreSQL 10 has no unique index on a partitioned table: user_logins stays one table,
        -- with the same key as the partitioned one.
        CREATE UNIQUE INDEX IF NOT EXISTS user_logins_message_id_create_date_key
            ON user_logins (message_id, create_date);
        DROP INDEX IF EXISTS user_logins_message_id_key;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'user_logins'::regclass AND NOT tgisinternal)
       OR EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = 'user_logins'::regclass) THEN
        RAISE EXCEPTION 'Cannot partition user_logins: it has triggers or row security policies, which this migration would not carry over';
    END IF;

    -- The upgrade in place: the table and its rows move into a partitioned table of the same
    -- name and exactly the same columns, in this one transaction.
    ALTER TABLE user_logins RENAME TO user_logins_unpartitioned;
    CREATE TABLE user_logins(
        user_id             varchar(128),
        device_type         varchar(32),
        masked_ip           varchar(256),
        masked_device_id    varchar(256),
        locale              varchar(32),
        app_version         integer,
        create_date         date,
        message_id          varchar(128)
    ) PARTITION BY RANGE (create_date);
    -- Exactly once: a unique key on a partitioned table must hold the partition key. create_date
    -- is the UTC date of the message's SQS SentTimestamp, which a redelivery does not change, so
    -- a redelivered message has the same (message_id, create_date) and adds nothing.
    CREATE UNIQUE INDEX user_logins_message_id_create_date_key
        ON user_logins (message_id, create_date);
    -- Rows with no create_date (possible only in a table the original DDL made) and rows of a
    -- month that has no partition yet; the latter move when their month's partition is made.
    CREATE TABLE user_logins_default PARTITION OF user_logins DEFAULT;

    FOR granted IN
        SELECT a.privilege_type, a.grantee, a.is_grantable
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'user_logins_unpartitioned'::regclass AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON user_logins TO %s%s', granted.privilege_type,
            CASE WHEN granted.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(granted.grantee)) END,
            CASE WHEN granted.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    -- Column grants too (the ingest's role reads message_id for ON CONFLICT ... RETURNING).
    FOR granted IN
        SELECT a.attname, p.privilege_type, p.grantee, p.is_grantable
        FROM pg_attribute a, aclexplode(a.attacl) p
        WHERE a.attrelid = 'user_logins_unpartitioned'::regclass AND NOT a.attisdropped
    LOOP
        EXECUTE format('GRANT %s (%I) ON user_logins TO %s%s', granted.privilege_type, granted.attname,
            CASE WHEN granted.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(granted.grantee)) END,
            CASE WHEN granted.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;

    PERFORM vaultline_ensure_login_partition(month)
    FROM (SELECT DISTINCT date_trunc('month', create_date)::date AS month
          FROM user_logins_unpartitioned WHERE create_date IS NOT NULL) AS months;
    INSERT INTO user_logins (user_id, device_type, masked_ip, masked_device_id, locale,
                             app_version, create_date, message_id)
    SELECT user_id, device_type, masked_ip, masked_device_id, locale, app_version, create_date,
           message_id
    FROM user_logins_unpartitioned;
    DROP TABLE user_logins_unpartitioned;
    -- Reveal by person and erasure look rows up by user_id (002_governance.sql).
    CREATE INDEX user_logins_user_id ON user_logins (user_id);
END
$$;

-- This month's and next month's partitions; the ingest keeps them coming (UTC, as create_date).
SELECT vaultline_ensure_login_partition((now() AT TIME ZONE 'UTC')::date),
       vaultline_ensure_login_partition(((now() AT TIME ZONE 'UTC') + interval '1 month')::date);

-- What the archive moved, one row a month. The state says where the month's rows are:
-- exporting and uploaded: in Postgres (an object in S3 may exist, not yet the month's copy);
-- archived: in S3 only, its partition dropped; restored: in Postgres again.
CREATE TABLE archive_manifest (
    month           date PRIMARY KEY CHECK (month = date_trunc('month', month)),
    state           varchar(16) NOT NULL
                    CHECK (state IN ('exporting', 'uploaded', 'archived', 'restored')),
    bucket          text NOT NULL,
    object_key      text NOT NULL,
    row_count       bigint,
    checksum        text,
    object_size     bigint,
    etag            text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    archived_at     timestamptz,
    restored_at     timestamptz
);

-- Every retention run that deleted rows: when, who, which table, the cutoff and the count.
CREATE TABLE retention_audit (
    id              bigserial PRIMARY KEY,
    ran_at          timestamptz NOT NULL DEFAULT now(),
    db_user         text NOT NULL DEFAULT session_user,
    os_user         text NOT NULL,
    table_name      text NOT NULL,
    older_than      timestamptz NOT NULL,
    deleted         bigint NOT NULL
);
