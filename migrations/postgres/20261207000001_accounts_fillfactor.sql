-- Accounts' sums are rewritten by every batch that touches them. With free space on
-- each page, PostgreSQL updates a row in place of its page (a heap-only tuple update:
-- no new entry in the primary key index, whose random 16-byte keys would otherwise
-- dirty an index page per account per batch). New pages keep half their space free.
ALTER TABLE accounts SET (fillfactor = 50);
