-- An account's four sums live in a narrow table of their own, keyed by the account's
-- number. Every batch rewrites the sums of the accounts it touches, and a commit
-- writes each page it changed, whole, to the WAL: rows of five integers fill about a
-- third of the pages that whole account rows did. An account's row is opened with zero
-- sums when the account is created (the trigger below).
CREATE TABLE balances (
    number          INTEGER PRIMARY KEY REFERENCES accounts (number),
    debits_pending  INTEGER NOT NULL CHECK (debits_pending >= 0),
    debits_posted   INTEGER NOT NULL CHECK (debits_posted >= 0),
    credits_pending INTEGER NOT NULL CHECK (credits_pending >= 0),
    credits_posted  INTEGER NOT NULL CHECK (credits_posted >= 0)
);

INSERT INTO balances (number, debits_pending, debits_posted, credits_pending, credits_posted)
SELECT number, debits_pending, debits_posted, credits_pending, credits_posted
FROM accounts ORDER BY number;

ALTER TABLE accounts DROP COLUMN debits_pending;
ALTER TABLE accounts DROP COLUMN debits_posted;
ALTER TABLE accounts DROP COLUMN credits_pending;
ALTER TABLE accounts DROP COLUMN credits_posted;

CREATE TRIGGER accounts_open_balances AFTER INSERT ON accounts
BEGIN
    INSERT INTO balances (number, debits_pending, debits_posted, credits_pending,
        credits_posted)
    VALUES (new.number, 0, 0, 0, 0);
END;
