//! [`PostgresLedger`]: the scale-out backend. Each batch is one `READ COMMITTED`
//! transaction that locks the rows of every account it touches with
//! `SELECT … ORDER BY id FOR UPDATE` (one consistent order, so concurrent batches never
//! deadlock), then reads the transfers it references, plans, and writes with one
//! `UNNEST` statement per table. Every writer of a transfer's status holds its accounts'
//! locks, so the read after locking sees the latest committed state.

use foldhash::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection};

use crate::backend::{LedgerBackend, RetryPolicy};
use crate::check::{self, CheckReport};
use crate::error::Error;
use crate::model::{
    Account, AccountId, AccountOutcome, HistoryPage, Ledger, LedgerId, NewAccount, Transfer,
    TransferId, TransferOutcome, TransferRecord, TransferStatus,
};
use crate::rules::{self, Plan, Snapshot};
use crate::sql::{
    self, AccountRow, LedgerCache, LedgerRow, TransferRow, map_error, stored, stored_user_data,
};

/// Connections in the pool.
pub const POSTGRES_CONNECTIONS_MAX: u32 = 16;
/// How long to wait for a connection (from the pool or a new one).
pub const POSTGRES_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// How long a statement of a ledger opened by URL waits for a row lock held by
/// another transaction before it fails (`lock_not_available`, retried as
/// [`Error::Busy`]): a database locked by someone else is an error, never a hang.
pub const POSTGRES_LOCK_TIMEOUT_MS: u64 = 2_000;

const ACCOUNT_SELECT: &str = "SELECT id, ledger::int8, kind::int8, flags::int8, user_data, \
     debits_pending, debits_posted, credits_pending, credits_posted, created_at_ms FROM accounts";
const TRANSFER_SELECT: &str = "SELECT sequence, id, debit_account, credit_account, amount, \
     ledger::int8, code::int8, user_data, flags::int8, pending_id, timeout_ms, expires_at_ms, \
     status::int8, created_at_ms FROM transfers";

macro_rules! in_write_transaction {
    ($self:ident, $connection:ident => $body:expr) => {
        $self
            .retry
            .run(|| async {
                let mut pooled = $self.pool.acquire().await.map_err(map_error)?;
                let mut tx = pooled.begin().await.map_err(map_error)?;
                let value = {
                    let $connection: &mut PgConnection = &mut tx;
                    $body.await?
                };
                tx.commit().await.map_err(map_error)?;
                Ok(value)
            })
            .await
    };
}

/// A ledger in PostgreSQL.
pub struct PostgresLedger {
    pool: PgPool,
    retry: RetryPolicy,
    ledgers: LedgerCache,
}

impl PostgresLedger {
    /// Connects to `url` and runs the migrations. Statements wait at most
    /// [`POSTGRES_LOCK_TIMEOUT_MS`] for a lock.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| Error::InvalidUrl(url.chars().take(80).collect()))?
            .options([("lock_timeout", format!("{POSTGRES_LOCK_TIMEOUT_MS}ms"))]);
        Self::connect_with(options, RetryPolicy::default()).await
    }

    /// Connects with explicit options (a `search_path` for a test schema, a
    /// `lock_timeout`, say) and retry policy, and runs the migrations.
    pub async fn connect_with(
        options: PgConnectOptions,
        retry: RetryPolicy,
    ) -> Result<Self, Error> {
        let pool = retry
            .run(|| {
                let options = options.clone();
                async move {
                    PgPoolOptions::new()
                        .max_connections(POSTGRES_CONNECTIONS_MAX)
                        .acquire_timeout(Duration::from_millis(POSTGRES_CONNECT_TIMEOUT_MS))
                        .connect_with(options)
                        .await
                        .map_err(map_error)
                }
            })
            .await?;
        // Migrations of every schema of a database share one advisory lock: ledgers
        // opening at once wait for each other, under the retry policy.
        retry
            .run(|| async {
                sqlx::migrate!("../migrations/postgres")
                    .run(&pool)
                    .await
                    .map_err(sql::migration_error)
            })
            .await?;
        Ok(Self {
            pool,
            retry,
            ledgers: LedgerCache::default(),
        })
    }

    /// The pool (for benchmarks that compare with bare statements).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn id_bytes<I: IntoIterator<Item = [u8; 16]>>(ids: I) -> Vec<Vec<u8>> {
    ids.into_iter().map(|bytes| bytes.to_vec()).collect()
}

async fn load_ledgers(connection: &mut PgConnection) -> Result<HashMap<LedgerId, Ledger>, Error> {
    let rows: Vec<LedgerRow> =
        sqlx::query_as("SELECT id::int8, currency, scale::int8 FROM ledgers ORDER BY id")
            .fetch_all(&mut *connection)
            .await
            .map_err(map_error)?;
    sql::ledgers_from_rows(rows)
}

async fn load_accounts(
    connection: &mut PgConnection,
    ids: &[AccountId],
    lock: bool,
) -> Result<Vec<Account>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // A join with UNNEST rather than `id = ANY($1)`: a cached generic plan of the
    // latter may scan the whole table; this one always probes the primary key.
    let sql = if lock {
        format!(
            "{ACCOUNT_SELECT} JOIN UNNEST($1::bytea[]) AS k(key) ON id = k.key ORDER BY id FOR UPDATE OF accounts"
        )
    } else {
        format!("{ACCOUNT_SELECT} JOIN UNNEST($1::bytea[]) AS k(key) ON id = k.key ORDER BY id")
    };
    let rows: Vec<AccountRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(id_bytes(ids.iter().map(|id| id.to_bytes())))
        .fetch_all(&mut *connection)
        .await
        .map_err(map_error)?;
    sql::accounts_from_rows(rows)
}

async fn load_transfers(
    connection: &mut PgConnection,
    ids: &[TransferId],
) -> Result<Vec<TransferRecord>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<TransferRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{TRANSFER_SELECT} JOIN UNNEST($1::bytea[]) AS k(key) ON id = k.key"
    )))
    .bind(id_bytes(ids.iter().map(|id| id.to_bytes())))
    .fetch_all(&mut *connection)
    .await
    .map_err(map_error)?;
    sql::transfers_from_rows(rows)
}

async fn write_account_updates(
    connection: &mut PgConnection,
    accounts: &[Account],
) -> Result<(), Error> {
    if accounts.is_empty() {
        return Ok(());
    }
    let column =
        |f: fn(&Account) -> u64| -> Vec<i64> { accounts.iter().map(|a| stored(f(a))).collect() };
    let result = sqlx::query(
        "UPDATE accounts AS a SET debits_pending = v.dp, debits_posted = v.dpo, \
         credits_pending = v.cp, credits_posted = v.cpo \
         FROM UNNEST($1::bytea[], $2::int8[], $3::int8[], $4::int8[], $5::int8[]) \
           AS v(id, dp, dpo, cp, cpo) WHERE a.id = v.id",
    )
    .bind(id_bytes(accounts.iter().map(|a| a.id.to_bytes())))
    .bind(column(|a| a.balances.debits_pending))
    .bind(column(|a| a.balances.debits_posted))
    .bind(column(|a| a.balances.credits_pending))
    .bind(column(|a| a.balances.credits_posted))
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;
    if result.rows_affected() != accounts.len() as u64 {
        return Err(Error::Database(format!(
            "updated {} of {} accounts",
            result.rows_affected(),
            accounts.len()
        )));
    }
    Ok(())
}

async fn write_status_updates(
    connection: &mut PgConnection,
    updates: &[(TransferId, TransferStatus)],
) -> Result<(), Error> {
    if updates.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE transfers AS t SET status = v.status \
         FROM UNNEST($1::bytea[], $2::int2[]) AS v(id, status) WHERE t.id = v.id",
    )
    .bind(id_bytes(updates.iter().map(|(id, _)| id.to_bytes())))
    .bind(
        updates
            .iter()
            .map(|(_, status)| i16::from(status.code()))
            .collect::<Vec<i16>>(),
    )
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

/// Inserts transfer rows with one `UNNEST` statement (also used by the benchmark's
/// bare baseline, into a table of the same shape).
pub async fn insert_transfer_rows(
    connection: &mut PgConnection,
    table: &str,
    records: &[TransferRecord],
) -> Result<(), Error> {
    if records.is_empty() {
        return Ok(());
    }
    let ints = |f: fn(&TransferRecord) -> i64| -> Vec<i64> { records.iter().map(f).collect() };
    let sql = format!(
        "INSERT INTO {table} (id, debit_account, credit_account, amount, ledger, code, \
         user_data, flags, pending_id, timeout_ms, expires_at_ms, status, created_at_ms) \
         SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::bytea[], $4::int8[], $5::int4[], \
           $6::int4[], $7::int8[], $8::int2[], $9::bytea[], $10::int8[], $11::int8[], \
           $12::int2[], $13::int8[])"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(id_bytes(records.iter().map(|r| r.transfer.id.to_bytes())))
        .bind(id_bytes(
            records.iter().map(|r| r.transfer.debit_account.to_bytes()),
        ))
        .bind(id_bytes(
            records.iter().map(|r| r.transfer.credit_account.to_bytes()),
        ))
        .bind(ints(|r| stored(r.transfer.amount)))
        .bind(
            records
                .iter()
                .map(|r| i32::try_from(r.transfer.ledger.0).unwrap_or(i32::MAX))
                .collect::<Vec<i32>>(),
        )
        .bind(
            records
                .iter()
                .map(|r| i32::from(r.transfer.code))
                .collect::<Vec<i32>>(),
        )
        .bind(ints(|r| stored_user_data(r.transfer.user_data)))
        .bind(
            records
                .iter()
                .map(|r| i16::try_from(r.transfer.flags.0).unwrap_or(i16::MAX))
                .collect::<Vec<i16>>(),
        )
        .bind(
            records
                .iter()
                .map(|r| {
                    (r.transfer.pending_id.0 != 0)
                        .then(|| r.transfer.pending_id.to_bytes().to_vec())
                })
                .collect::<Vec<Option<Vec<u8>>>>(),
        )
        .bind(ints(|r| stored(r.transfer.timeout_ms)))
        .bind(
            records
                .iter()
                .map(|r| r.expires_at_ms.map(stored))
                .collect::<Vec<Option<i64>>>(),
        )
        .bind(
            records
                .iter()
                .map(|r| i16::from(r.status.code()))
                .collect::<Vec<i16>>(),
        )
        .bind(ints(|r| stored(r.created_at_ms)))
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    Ok(())
}

async fn create_ledgers_tx(
    connection: &mut PgConnection,
    ledgers: &[Ledger],
) -> Result<HashMap<LedgerId, Ledger>, Error> {
    // Serialise ledger definitions: they are rare and must not race.
    sqlx::query("LOCK TABLE ledgers IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    let mut all = load_ledgers(connection).await?;
    for ledger in rules::new_ledgers(|id| all.get(id).copied(), ledgers)? {
        sqlx::query("INSERT INTO ledgers (id, currency, scale) VALUES ($1, $2, $3)")
            .bind(
                i32::try_from(ledger.id.0).map_err(|_| Error::InvalidLedger {
                    ledger: ledger.id,
                    reason: "id above i32::MAX",
                })?,
            )
            .bind(ledger.currency.as_str())
            .bind(i32::try_from(ledger.scale).unwrap_or(i32::MAX))
            .execute(&mut *connection)
            .await
            .map_err(map_error)?;
        all.insert(ledger.id, ledger);
    }
    Ok(all)
}

async fn create_accounts_tx(
    connection: &mut PgConnection,
    accounts: &[NewAccount],
    now_ms: u64,
) -> Result<Vec<AccountOutcome>, Error> {
    let ledgers = load_ledgers(connection).await?;
    let ids = rules::unique_sorted(accounts.iter().map(|a| a.id));
    let existing: HashMap<AccountId, Account> = load_accounts(connection, &ids, true)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let rules::AccountsPlan { outcomes, created } =
        rules::plan_accounts(accounts, existing, |id| ledgers.contains_key(id), now_ms);
    if !created.is_empty() {
        let ints = |f: fn(&Account) -> i64| -> Vec<i64> { created.iter().map(f).collect() };
        // A concurrent creation of the same id makes this fail with a unique violation:
        // classified as an error to retry, after which the account is found.
        sqlx::query(
            "INSERT INTO accounts (id, ledger, kind, flags, user_data, debits_pending, \
             debits_posted, credits_pending, credits_posted, created_at_ms) \
             SELECT id, ledger, kind, flags, user_data, 0, 0, 0, 0, created_at_ms \
             FROM UNNEST($1::bytea[], $2::int4[], $3::int2[], $4::int2[], $5::int8[], $6::int8[]) \
               AS v(id, ledger, kind, flags, user_data, created_at_ms)",
        )
        .bind(id_bytes(created.iter().map(|a| a.id.to_bytes())))
        .bind(
            created
                .iter()
                .map(|a| i32::try_from(a.ledger.0).unwrap_or(i32::MAX))
                .collect::<Vec<i32>>(),
        )
        .bind(
            created
                .iter()
                .map(|a| i16::try_from(a.kind.code()).unwrap_or(i16::MAX))
                .collect::<Vec<i16>>(),
        )
        .bind(
            created
                .iter()
                .map(|a| i16::try_from(a.flags.0).unwrap_or(i16::MAX))
                .collect::<Vec<i16>>(),
        )
        .bind(ints(|a| stored_user_data(a.user_data)))
        .bind(ints(|a| stored(a.created_at_ms)))
        .execute(&mut *connection)
        .await
        .map_err(|error| match map_error(error) {
            Error::Database(text) if text.contains("accounts_pkey") => Error::Busy(text),
            other => other,
        })?;
    }
    Ok(outcomes)
}

async fn submit_tx(
    connection: &mut PgConnection,
    batch: &[Transfer],
    now_ms: u64,
    cached: &HashMap<LedgerId, Ledger>,
) -> Result<(Vec<TransferOutcome>, HashMap<LedgerId, Ledger>), Error> {
    let ledgers = if rules::ledgers_known(batch, cached) {
        cached.clone()
    } else {
        load_ledgers(connection).await?
    };
    // Posts and voids may leave their accounts to the pending transfer: learn them
    // first (unlocked), lock every account in id order, then read under the locks.
    let pending_ids = rules::resolved_pending_ids(batch);
    let referenced_pending = load_transfers(connection, &pending_ids).await?;
    let locked_ids = rules::referenced_account_ids(batch, referenced_pending.iter());
    let accounts: HashMap<AccountId, Account> = load_accounts(connection, &locked_ids, true)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let transfer_ids = rules::referenced_transfer_ids(batch);
    let transfers: HashMap<TransferId, TransferRecord> = load_transfers(connection, &transfer_ids)
        .await?
        .into_iter()
        .map(|r| (r.transfer.id, r))
        .collect();
    // Only the pending transfers that posts and voids resolve move their accounts'
    // sums; a stored transfer that merely shares an id with an event of the batch is
    // compared, never applied, so its accounts need no lock.
    let locked: HashSet<AccountId> = locked_ids.iter().copied().collect();
    let resolved = pending_ids.iter().filter_map(|id| transfers.get(id));
    if rules::referenced_account_ids(batch, resolved)
        .iter()
        .any(|id| !locked.contains(id))
    {
        // A pending transfer appeared between the two reads: start again.
        return Err(Error::Busy(
            "a referenced pending transfer was created concurrently".into(),
        ));
    }
    let snapshot = Snapshot {
        ledgers: ledgers.clone(),
        accounts,
        transfers,
    };
    let plan = rules::plan_batch(batch, snapshot, now_ms)?;
    apply_plan(connection, &plan).await?;
    Ok((plan.outcomes, ledgers))
}

async fn apply_plan(connection: &mut PgConnection, plan: &Plan) -> Result<(), Error> {
    write_account_updates(connection, &plan.account_updates).await?;
    write_status_updates(connection, &plan.status_updates).await?;
    insert_transfer_rows(connection, "transfers", &plan.inserts).await
}

async fn expire_tx(connection: &mut PgConnection, now_ms: u64) -> Result<usize, Error> {
    let select = format!(
        "{TRANSFER_SELECT} WHERE status = 2 AND expires_at_ms IS NOT NULL \
         AND expires_at_ms <= $1 ORDER BY expires_at_ms, sequence LIMIT $2"
    );
    let candidates = sql::transfers_from_rows(
        sqlx::query_as::<_, TransferRow>(AssertSqlSafe(select))
            .bind(stored(now_ms))
            .bind(rules::EXPIRE_BATCH_MAX as i64)
            .fetch_all(&mut *connection)
            .await
            .map_err(map_error)?,
    )?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let ids = rules::referenced_account_ids(&[], candidates.iter());
    let mut accounts: HashMap<AccountId, Account> = load_accounts(connection, &ids, true)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    // Under the locks: keep only those still pending (a post may have won the race).
    let candidate_ids: Vec<TransferId> = candidates.iter().map(|r| r.transfer.id).collect();
    let due: Vec<TransferRecord> = load_transfers(connection, &candidate_ids)
        .await?
        .into_iter()
        .filter(|r| r.status == TransferStatus::Pending)
        .collect();
    let changed = rules::plan_expiry(&due, &mut accounts, now_ms)?;
    write_account_updates(connection, &changed).await?;
    write_status_updates(connection, &rules::expiry_status_updates(&due)).await?;
    Ok(due.len())
}

#[async_trait]
impl LedgerBackend for PostgresLedger {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn create_ledgers(&self, ledgers: &[Ledger]) -> Result<(), Error> {
        // Refused before the transaction when invalid on their own.
        rules::new_ledgers(|_| None, ledgers)?;
        let all =
            in_write_transaction!(self, connection => create_ledgers_tx(connection, ledgers))?;
        self.ledgers.set(&all);
        Ok(())
    }

    async fn ledgers(&self) -> Result<Vec<Ledger>, Error> {
        let mut connection = self.pool.acquire().await.map_err(map_error)?;
        let mut ledgers: Vec<Ledger> = load_ledgers(&mut connection).await?.into_values().collect();
        ledgers.sort_unstable_by_key(|l| l.id);
        Ok(ledgers)
    }

    async fn create_accounts(
        &self,
        accounts: &[NewAccount],
        now_ms: u64,
    ) -> Result<Vec<AccountOutcome>, Error> {
        rules::validate_batch_len(accounts.len())?;
        in_write_transaction!(self, connection => create_accounts_tx(connection, accounts, now_ms))
    }

    async fn submit(&self, batch: &[Transfer], now_ms: u64) -> Result<Vec<TransferOutcome>, Error> {
        rules::validate_batch_len(batch.len())?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let cached = self.ledgers.get();
        let (outcomes, ledgers) = in_write_transaction!(self, connection => submit_tx(connection, batch, now_ms, &cached))?;
        self.ledgers.set(&ledgers);
        Ok(outcomes)
    }

    async fn lookup_accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>, Error> {
        rules::validate_batch_len(ids.len())?;
        let ids = rules::unique_sorted(ids.iter().copied());
        let mut connection = self.pool.acquire().await.map_err(map_error)?;
        load_accounts(&mut connection, &ids, false).await
    }

    async fn lookup_transfers(&self, ids: &[TransferId]) -> Result<Vec<TransferRecord>, Error> {
        rules::validate_batch_len(ids.len())?;
        let ids = rules::unique_sorted(ids.iter().copied());
        let mut connection = self.pool.acquire().await.map_err(map_error)?;
        let mut found = load_transfers(&mut connection, &ids).await?;
        found.sort_unstable_by_key(|r| r.transfer.id);
        Ok(found)
    }

    async fn accounts(&self, after: Option<AccountId>, limit: u32) -> Result<Vec<Account>, Error> {
        rules::validate_history_limit(limit)?;
        let after = after.map_or_else(Vec::new, |id| id.to_bytes().to_vec());
        let rows: Vec<AccountRow> = sqlx::query_as(AssertSqlSafe(format!(
            "{ACCOUNT_SELECT} WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_error)?;
        sql::accounts_from_rows(rows)
    }

    async fn history(
        &self,
        account: AccountId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<HistoryPage, Error> {
        rules::validate_history_limit(limit)?;
        let sql = format!(
            "{TRANSFER_SELECT} WHERE sequence IN ( \
               (SELECT sequence FROM transfers WHERE debit_account = $1 AND sequence > $2 \
                ORDER BY sequence LIMIT $3) \
               UNION (SELECT sequence FROM transfers WHERE credit_account = $1 \
                AND sequence > $2 ORDER BY sequence LIMIT $3)) \
             ORDER BY sequence LIMIT $3"
        );
        let rows: Vec<TransferRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(account.to_bytes().to_vec())
            .bind(stored(after.unwrap_or(0)))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(HistoryPage::new(sql::transfers_from_rows(rows)?, limit))
    }

    async fn expire_pending(&self, now_ms: u64) -> Result<usize, Error> {
        in_write_transaction!(self, connection => expire_tx(connection, now_ms))
    }

    async fn check(&self) -> Result<CheckReport, Error> {
        let mut connection = self.pool.acquire().await.map_err(map_error)?;
        let mut tx = connection.begin().await.map_err(map_error)?;
        // One snapshot for all three reads.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let ledgers = load_ledgers(&mut tx).await?;
        let accounts = sql::accounts_from_rows(
            sqlx::query_as::<_, AccountRow>(AssertSqlSafe(format!("{ACCOUNT_SELECT} ORDER BY id")))
                .fetch_all(&mut *tx)
                .await
                .map_err(map_error)?,
        )?;
        let transfers = sql::transfers_from_rows(
            sqlx::query_as::<_, TransferRow>(AssertSqlSafe(format!(
                "{TRANSFER_SELECT} ORDER BY sequence"
            )))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_error)?,
        )?;
        tx.commit().await.map_err(map_error)?;
        Ok(check::check(ledgers.values(), &accounts, &transfers))
    }
}
