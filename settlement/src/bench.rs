//! What `attn bench ledger` and the criterion bench share: a deterministic workload
//! and the baseline they are measured against, a bare `INSERT` of the same rows into
//! a table of the same shape (same columns, keys and indexes) with no ledger logic.

use foldhash::HashMap;

use attn_receipts::Currency;
use sqlx::{AssertSqlSafe, Connection};

use crate::backend::LedgerBackend;
use crate::error::Error;
use crate::model::{
    AccountFlags, AccountId, AccountKind, Ledger, LedgerId, NewAccount, Transfer, TransferId,
    TransferRecord, TransferStatus,
};
use crate::rules::BATCH_MAX;
use crate::sql::map_error;
use crate::{PostgresLedger, SqliteLedger};

/// The ledger of the workload.
pub const BENCH_LEDGER: LedgerId = LedgerId(1);
/// The table of the baseline.
pub const BARE_TABLE: &str = "bench_bare_transfers";

/// How a [`Workload`] draws its transfers' ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdOrder {
    /// Increasing within a workload (time-based ids, as TigerBeetle recommends): id
    /// index inserts append.
    Sequential,
    /// Uniformly random 128-bit ids (hashes, as the settlement flow's are): id index
    /// inserts land anywhere in the index.
    Random,
}

/// Single-phase transfers between random pairs of `accounts` accounts, with fresh ids;
/// deterministic for a seed (SplitMix64), so a run can be repeated exactly.
#[derive(Clone, Debug)]
pub struct Workload {
    accounts: u64,
    state: u64,
    next_id: u128,
    ids: IdOrder,
}

impl Workload {
    /// A workload over accounts `1..=accounts` (at least 2), ids drawn from `seed`.
    pub fn new(seed: u64, accounts: u64) -> Self {
        Self {
            accounts: accounts.max(2),
            state: seed,
            // A distinct id space per seed: the high 64 bits are the seed.
            next_id: (u128::from(seed) << 64) | 1,
            ids: IdOrder::Sequential,
        }
    }

    /// The same workload with ids drawn in `order` (sequential by default).
    pub fn with_ids(mut self, order: IdOrder) -> Self {
        self.ids = order;
        self
    }

    fn next_random(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next `len` transfers.
    pub fn batch(&mut self, len: usize) -> Vec<Transfer> {
        (0..len)
            .map(|_| {
                let debit = 1 + self.next_random() % self.accounts;
                let offset = 1 + self.next_random() % (self.accounts - 1);
                let credit = 1 + (debit - 1 + offset) % self.accounts;
                let id = match self.ids {
                    IdOrder::Sequential => {
                        self.next_id += 1;
                        TransferId(self.next_id - 1)
                    }
                    IdOrder::Random => TransferId(
                        (u128::from(self.next_random()) << 64 | u128::from(self.next_random()))
                            .max(1),
                    ),
                };
                Transfer::single(
                    id,
                    AccountId(u128::from(debit)),
                    AccountId(u128::from(credit)),
                    1 + self.next_random() % 1_000,
                    BENCH_LEDGER,
                    1,
                )
            })
            .collect()
    }
}

/// Defines the ledger and accounts `1..=accounts` (no flags) on `ledger`.
pub async fn prepare(ledger: &dyn LedgerBackend, accounts: u64) -> Result<(), Error> {
    ledger
        .create_ledgers(&[Ledger {
            id: BENCH_LEDGER,
            currency: Currency::new("USD").map_err(|e| Error::Money(e.to_string()))?,
            scale: 6,
        }])
        .await?;
    let all: Vec<NewAccount> = (1..=u128::from(accounts))
        .map(|id| NewAccount {
            id: AccountId(id),
            ledger: BENCH_LEDGER,
            kind: AccountKind::UserWallet,
            flags: AccountFlags::NONE,
            user_data: 0,
        })
        .collect();
    for chunk in all.chunks(BATCH_MAX) {
        ledger.create_accounts(chunk, 0).await?;
    }
    Ok(())
}

/// The rows the ledger stores for single-phase transfers.
pub fn rows(batch: &[Transfer], now_ms: u64) -> Vec<TransferRecord> {
    batch
        .iter()
        .map(|transfer| TransferRecord {
            transfer: *transfer,
            status: TransferStatus::Posted,
            created_at_ms: now_ms,
            expires_at_ms: None,
            sequence: 0,
        })
        .collect()
}

/// Creates the baseline table in a SQLite ledger's database: the shape of `transfers`
/// (same columns, the same virtual `epoch`, the same keys and indexes).
pub async fn create_bare_table_sqlite(ledger: &SqliteLedger) -> Result<(), Error> {
    let shift = crate::sqlite::HISTORY_EPOCH_SHIFT;
    for statement in [
        format!(
            "CREATE TABLE IF NOT EXISTS {BARE_TABLE} (sequence INTEGER PRIMARY KEY, \
             id BLOB NOT NULL UNIQUE, amount INTEGER NOT NULL CHECK (amount > 0), \
             ledger INTEGER NOT NULL, code INTEGER NOT NULL, user_data INTEGER NOT NULL, \
             flags INTEGER NOT NULL, pending_id BLOB, timeout_ms INTEGER NOT NULL, \
             expires_at_ms INTEGER, status INTEGER NOT NULL, created_at_ms INTEGER NOT NULL, \
             debit_number INTEGER NOT NULL, credit_number INTEGER NOT NULL, \
             epoch INTEGER GENERATED ALWAYS AS (sequence >> {shift}) VIRTUAL)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {BARE_TABLE}_debit ON {BARE_TABLE} \
             (epoch, debit_number, sequence)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {BARE_TABLE}_credit ON {BARE_TABLE} \
             (epoch, credit_number, sequence)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {BARE_TABLE}_expiry ON {BARE_TABLE} (expires_at_ms) \
             WHERE status = 2 AND expires_at_ms IS NOT NULL"
        ),
    ] {
        sqlx::query(AssertSqlSafe(statement))
            .execute(ledger.pool())
            .await
            .map_err(map_error)?;
    }
    Ok(())
}

/// Inserts rows into the SQLite baseline table in one `BEGIN IMMEDIATE` transaction,
/// through the ledger's own writer connection (the same page cache, memory map and
/// durable commit as a batch) with the same multi-row statements.
pub async fn bare_insert_sqlite(
    ledger: &SqliteLedger,
    records: &[TransferRecord],
) -> Result<(), Error> {
    // The workload's account ids are small integers: use them as account numbers.
    let numbers: HashMap<AccountId, i64> = records
        .iter()
        .flat_map(|r| [r.transfer.debit_account, r.transfer.credit_account])
        .map(|id| (id, (id.0 & u128::from(u64::MAX >> 1)) as i64))
        .collect();
    ledger.insert_bare(BARE_TABLE, records, &numbers).await
}

/// Creates the baseline table in a PostgreSQL ledger's schema.
pub async fn create_bare_table_postgres(ledger: &PostgresLedger) -> Result<(), Error> {
    for statement in [
        format!(
            "CREATE TABLE IF NOT EXISTS {BARE_TABLE} (sequence BIGINT GENERATED ALWAYS AS \
             IDENTITY PRIMARY KEY, id BYTEA NOT NULL UNIQUE CHECK (length(id) = 16), \
             debit_account BYTEA NOT NULL, credit_account BYTEA NOT NULL, \
             amount BIGINT NOT NULL CHECK (amount > 0), ledger INTEGER NOT NULL, \
             code INTEGER NOT NULL, user_data BIGINT NOT NULL, flags SMALLINT NOT NULL, \
             pending_id BYTEA, timeout_ms BIGINT NOT NULL, expires_at_ms BIGINT, \
             status SMALLINT NOT NULL, created_at_ms BIGINT NOT NULL)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {BARE_TABLE}_debit ON {BARE_TABLE} (debit_account, sequence)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {BARE_TABLE}_credit ON {BARE_TABLE} (credit_account, sequence)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {BARE_TABLE}_expiry ON {BARE_TABLE} (expires_at_ms) \
             WHERE status = 2 AND expires_at_ms IS NOT NULL"
        ),
    ] {
        sqlx::query(AssertSqlSafe(statement))
            .execute(ledger.pool())
            .await
            .map_err(map_error)?;
    }
    Ok(())
}

/// Inserts rows into the PostgreSQL baseline table in one transaction.
pub async fn bare_insert_postgres(
    ledger: &PostgresLedger,
    records: &[TransferRecord],
) -> Result<(), Error> {
    let mut connection = ledger.pool().acquire().await.map_err(map_error)?;
    let mut tx = connection.begin().await.map_err(map_error)?;
    crate::postgres::insert_transfer_rows(&mut tx, BARE_TABLE, records).await?;
    tx.commit().await.map_err(map_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_is_deterministic_valid_and_fresh() {
        let mut a = Workload::new(7, 10);
        let mut b = Workload::new(7, 10);
        let first = a.batch(100);
        assert_eq!(first, b.batch(100));
        assert!(
            first
                .iter()
                .all(|t| crate::rules::validate_transfer(t).is_ok())
        );
        assert!(first.iter().all(
            |t| (1..=10).contains(&t.debit_account.0) && (1..=10).contains(&t.credit_account.0)
        ));
        let second = a.batch(100);
        assert!(second.iter().all(|t| first.iter().all(|f| f.id != t.id)));
        let mut random = Workload::new(7, 10).with_ids(IdOrder::Random);
        let drawn = random.batch(100);
        assert_eq!(
            drawn,
            Workload::new(7, 10).with_ids(IdOrder::Random).batch(100)
        );
        assert!(
            drawn.windows(2).any(|w| w[0].id > w[1].id),
            "not increasing"
        );
        assert!(drawn.iter().all(|t| first.iter().all(|f| f.id != t.id)));
    }
}
