-- attn settlement ledger, PostgreSQL. Amounts and sums are BIGINT, so the model caps
-- them at i64::MAX (AMOUNT_MAX, BALANCE_MAX). Ids are 16-byte big-endian BYTEA.
-- u64 user data is stored as its two's-complement BIGINT bit pattern.

CREATE TABLE ledgers (
    id       INTEGER PRIMARY KEY CHECK (id > 0),
    currency TEXT    NOT NULL,
    scale    INTEGER NOT NULL CHECK (scale BETWEEN 0 AND 18)
);

CREATE TABLE accounts (
    id              BYTEA    PRIMARY KEY CHECK (length(id) = 16),
    ledger          INTEGER  NOT NULL REFERENCES ledgers (id),
    kind            SMALLINT NOT NULL,
    flags           SMALLINT NOT NULL,
    user_data       BIGINT   NOT NULL,
    debits_pending  BIGINT   NOT NULL CHECK (debits_pending >= 0),
    debits_posted   BIGINT   NOT NULL CHECK (debits_posted >= 0),
    credits_pending BIGINT   NOT NULL CHECK (credits_pending >= 0),
    credits_posted  BIGINT   NOT NULL CHECK (credits_posted >= 0),
    created_at_ms   BIGINT   NOT NULL
);

-- `sequence` is the order of insertion, the history cursor. Under concurrent writers
-- it is allocated before commit, so a reader paging while others write may see a
-- lower sequence appear later; a page read after the writers finish is complete.
CREATE TABLE transfers (
    sequence       BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             BYTEA    NOT NULL UNIQUE CHECK (length(id) = 16),
    debit_account  BYTEA    NOT NULL,
    credit_account BYTEA    NOT NULL,
    amount         BIGINT   NOT NULL CHECK (amount > 0),
    ledger         INTEGER  NOT NULL,
    code           INTEGER  NOT NULL,
    user_data      BIGINT   NOT NULL,
    flags          SMALLINT NOT NULL,
    pending_id     BYTEA,
    timeout_ms     BIGINT   NOT NULL,
    expires_at_ms  BIGINT,
    status         SMALLINT NOT NULL,
    created_at_ms  BIGINT   NOT NULL
);

CREATE INDEX transfers_by_debit_account ON transfers (debit_account, sequence);
CREATE INDEX transfers_by_credit_account ON transfers (credit_account, sequence);
CREATE INDEX transfers_pending_expiry ON transfers (expires_at_ms)
    WHERE status = 2 AND expires_at_ms IS NOT NULL;
