-- History indexes partitioned by epoch: `epoch` is the sequence divided by 16,384
-- (`sequence >> 14`, HISTORY_EPOCH_SHIFT in settlement/src/sqlite.rs), a virtual
-- column that costs no storage. Indexed by (epoch, account, sequence), a batch writes
-- its history entries into the current epoch's part of each index only: a few dozen
-- pages, however large the ledger grows. Indexed by (account, sequence), every batch
-- of random accounts dirtied one page per entry once the index outgrew the batch,
-- and each dirty page is written whole to the WAL at commit.
ALTER TABLE transfers ADD COLUMN epoch INTEGER GENERATED ALWAYS AS (sequence >> 14) VIRTUAL;

DROP INDEX transfers_by_debit_account;
DROP INDEX transfers_by_credit_account;
CREATE INDEX transfers_history_debit ON transfers (epoch, debit_number, sequence);
CREATE INDEX transfers_history_credit ON transfers (epoch, credit_number, sequence);

-- Every epoch that holds a transfer: the ordered outer loop of a history read, which
-- visits one index range per epoch since its cursor.
CREATE TABLE transfer_epochs (epoch INTEGER PRIMARY KEY);
INSERT INTO transfer_epochs (epoch) SELECT DISTINCT epoch FROM transfers;
