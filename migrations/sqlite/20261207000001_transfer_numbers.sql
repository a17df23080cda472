-- Transfers name their accounts by number only (`debit_number`, `credit_number`, the
-- accounts' rowids); reads join `accounts` for the ids. Two 16-byte ids less per row
-- make a batch's rows smaller (fewer pages written to the WAL per commit) and cheaper
-- to bind.
--
-- The id's length is no longer checked by a constraint: a CHECK that calls a function
-- makes SQLite keep a statement journal for every multi-row insert (a copy of each
-- page the statement changes, kept to undo it alone), a tenth of a batch. Ids are
-- written from 16-byte values only, and read back through a length check.
CREATE TABLE transfers_by_number (
    sequence       INTEGER PRIMARY KEY,
    id             BLOB    NOT NULL UNIQUE,
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
    credit_number  INTEGER NOT NULL,
    epoch          INTEGER GENERATED ALWAYS AS (sequence >> 14) VIRTUAL
);

INSERT INTO transfers_by_number (sequence, id, amount, ledger, code, user_data, flags,
    pending_id, timeout_ms, expires_at_ms, status, created_at_ms, debit_number,
    credit_number)
SELECT sequence, id, amount, ledger, code, user_data, flags, pending_id, timeout_ms,
    expires_at_ms, status, created_at_ms, debit_number, credit_number
FROM transfers ORDER BY sequence;

DROP TABLE transfers;
ALTER TABLE transfers_by_number RENAME TO transfers;

CREATE INDEX transfers_history_debit ON transfers (epoch, debit_number, sequence);
CREATE INDEX transfers_history_credit ON transfers (epoch, credit_number, sequence);
CREATE INDEX transfers_pending_expiry ON transfers (expires_at_ms)
    WHERE status = 2 AND expires_at_ms IS NOT NULL;
