-- attn settlement ledger, SQLite. Amounts and sums are INTEGER (64-bit signed), so the
-- model caps them at i64::MAX (AMOUNT_MAX, BALANCE_MAX). Ids are 16-byte big-endian
-- BLOBs. u64 user data is stored as its two's-complement i64 bit pattern.

CREATE TABLE ledgers (
    id       INTEGER PRIMARY KEY CHECK (id > 0),
    currency TEXT    NOT NULL,
    scale    INTEGER NOT NULL CHECK (scale BETWEEN 0 AND 18)
);

-- `number` is the rowid: a small integer that keys the history indexes (an index on
-- 8-byte integers is about a third of one on 16-byte ids, so random inserts dirty
-- fewer pages per batch).
CREATE TABLE accounts (
    number          INTEGER PRIMARY KEY,
    id              BLOB    NOT NULL UNIQUE CHECK (length(id) = 16),
    ledger          INTEGER NOT NULL REFERENCES ledgers (id),
    kind            INTEGER NOT NULL,
    flags           INTEGER NOT NULL,
    user_data       INTEGER NOT NULL,
    debits_pending  INTEGER NOT NULL CHECK (debits_pending >= 0),
    debits_posted   INTEGER NOT NULL CHECK (debits_posted >= 0),
    credits_pending INTEGER NOT NULL CHECK (credits_pending >= 0),
    credits_posted  INTEGER NOT NULL CHECK (credits_posted >= 0),
    created_at_ms   INTEGER NOT NULL
);

-- `sequence` is the rowid: the order of insertion, the history cursor.
CREATE TABLE transfers (
    sequence       INTEGER PRIMARY KEY,
    id             BLOB    NOT NULL UNIQUE CHECK (length(id) = 16),
    debit_account  BLOB    NOT NULL,
    credit_account BLOB    NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount > 0),
    ledger         INTEGER NOT NULL,
    code           INTEGER NOT NULL,
    user_data      INTEGER NOT NULL,
    flags          INTEGER NOT NULL,
    pending_id     BLOB,
    timeout_ms     INTEGER NOT NULL,
    expires_at_ms  INTEGER,
    status         INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    debit_number   INTEGER NOT NULL,
    credit_number  INTEGER NOT NULL
);

CREATE INDEX transfers_by_debit_account ON transfers (debit_number, sequence);
CREATE INDEX transfers_by_credit_account ON transfers (credit_number, sequence);
-- Open pending transfers with a timeout, for expiry.
CREATE INDEX transfers_pending_expiry ON transfers (expires_at_ms)
    WHERE status = 2 AND expires_at_ms IS NOT NULL;
