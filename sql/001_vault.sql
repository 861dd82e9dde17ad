-- The vault core: analytics rows, the encrypted originals, their data keys, quarantine, reveal audit.
-- Runs inside the migration transaction; valid on PostgreSQL 10 through 17.

-- The exercise's DDL, unchanged, so a table it created upgrades in place with its rows.
CREATE TABLE IF NOT EXISTS user_logins(
    user_id             varchar(128),
    device_type         varchar(32),
    masked_ip           varchar(256),
    masked_device_id    varchar(256),
    locale              varchar(32),
    app_version         integer,
    create_date         date
);

-- The SQS message id of each row makes a redelivered message a no-op. Nullable: rows written
-- before the upgrade keep NULL, and a unique index allows any number of NULLs.
ALTER TABLE user_logins ADD COLUMN IF NOT EXISTS message_id varchar(128);
CREATE UNIQUE INDEX IF NOT EXISTS user_logins_message_id_key ON user_logins (message_id);

-- Data keys, stored only wrapped by a key-encryption key (KEK) of the keyring.
CREATE TABLE vault_data_keys (
    id              uuid PRIMARY KEY,
    kek_id          varchar(64) NOT NULL,
    wrapped_key     bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per distinct (field, value): the token and the original, sealed with AES-256-GCM.
CREATE TABLE pii_vault (
    token           varchar(64) PRIMARY KEY,
    field           varchar(32) NOT NULL CHECK (field IN ('ip', 'device_id')),
    data_key_id     uuid NOT NULL REFERENCES vault_data_keys (id),
    nonce           bytea NOT NULL,
    ciphertext      bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Messages that cannot become rows. The reason names fields, never values; the body may carry
-- personal data, so it is sealed like any original.
CREATE TABLE ingest_quarantine (
    message_id      varchar(128) PRIMARY KEY,
    reason          text NOT NULL,
    sent_at         timestamptz,
    received_at     timestamptz NOT NULL DEFAULT now(),
    data_key_id     uuid NOT NULL REFERENCES vault_data_keys (id),
    nonce           bytea NOT NULL,
    body_ciphertext bytea NOT NULL
);

-- Every reveal, written in the transaction that reads the vault, before anything is shown.
CREATE TABLE reveal_audit (
    id              bigserial PRIMARY KEY,
    revealed_at     timestamptz NOT NULL DEFAULT now(),
    db_user         text NOT NULL DEFAULT session_user,
    os_user         text NOT NULL,
    reason          text NOT NULL CHECK (reason <> ''),
    tokens          text[] NOT NULL,
    token_count     integer NOT NULL
);
