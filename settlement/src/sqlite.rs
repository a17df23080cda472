//! [`SqliteLedger`]: the embedded default. A file in WAL mode with
//! `synchronous = FULL` (a batch is acknowledged only once it is on disk), or a
//! database in memory. Writers are serialised: in this process by a mutex, across
//! processes by `BEGIN IMMEDIATE` (the write lock is taken before the snapshot is
//! read, so flags hold whatever runs concurrently).
//!
//! # Durability
//! In WAL mode with `synchronous = FULL`, SQLite appends a transaction's pages to the
//! write-ahead log and `fsync`s the log before `COMMIT` returns; `submit` returns only
//! after that. An acknowledged batch is therefore on disk: a killed process, a kernel
//! crash or a power cut (on a disk that honours `fsync`) cannot lose it, and recovery
//! replays the log. (`NORMAL` would `fsync` only at checkpoints: safe from a killed
//! process, but the last acknowledged batches could vanish with the power; it is not
//! used.)
//!
//! # Cost of a batch
//! A commit writes every page it dirtied, whole, to the log, so the ledger keeps that
//! count low: account sums are aggregated per batch and written once per account;
//! history is indexed by epoch (see [`HISTORY_EPOCH_SHIFT`]); transfers name their
//! accounts by number. Every statement is a round trip to the connection's thread,
//! so a batch runs few: one multi-row statement per kind of write (padded to one of a
//! few sizes, so it stays prepared), no read of its own ids unless one turns out to
//! be stored. Writes are `OR FAIL`: a failed statement fails the batch, which is
//! rolled back whole, so SQLite keeps no statement journal.

use foldhash::{HashMap, HashMapExt};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{Sqlite, SqliteArguments};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, AssertSqlSafe, Connection, Encode, Type};

use crate::backend::{LedgerBackend, RetryPolicy};
use crate::check::{self, CheckReport};
use crate::error::Error;
use crate::model::{
    Account, AccountId, AccountOutcome, Balances, HistoryPage, Ledger, LedgerId, NewAccount,
    Transfer, TransferId, TransferOutcome, TransferRecord, TransferStatus,
};
use crate::rules::{self, Plan, Snapshot};
use crate::sql::{
    self, AccountRow, LedgerCache, LedgerRow, TransferRow, map_error, padded_chunks, placeholders,
    rows_per_statement, statement_text, stored, stored_user_data,
};

/// How long a writer waits for another process's write lock before `SQLITE_BUSY`.
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;
/// Page cache per connection, KiB.
pub const SQLITE_CACHE_KIB: u32 = 32 * 1024;
/// WAL pages between automatic checkpoints (SQLite's default is 1,000).
pub const SQLITE_WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;
/// Connections of a file-backed pool (one writer at a time; the rest read).
pub const SQLITE_CONNECTIONS_MAX: u32 = 4;
/// The most ids per `IN (…)` lookup: a whole batch's in one statement.
const IDS_PER_LOOKUP_MAX: usize = 8_192;
/// Parameters per inserted transfer row.
const TRANSFER_INSERT_WIDTH: usize = 13;

/// Transfers as read (a [`TransferRow`]): rows name their accounts by number, so the
/// ids come from `accounts` (a left join: a row whose account is missing fails to
/// decode instead of vanishing). `t` is the transfers table.
const TRANSFER_SELECT: &str = "SELECT t.sequence, t.id, d.id, c.id, t.amount, t.ledger, \
     t.code, t.user_data, t.flags, t.pending_id, t.timeout_ms, t.expires_at_ms, t.status, \
     t.created_at_ms FROM transfers AS t \
     LEFT JOIN accounts AS d ON d.number = t.debit_number \
     LEFT JOIN accounts AS c ON c.number = t.credit_number";
/// An account's fields in [`AccountRow`] order: `a` is `accounts`, `b` its sums in
/// `balances` (a left join: an account without sums fails to decode instead of
/// vanishing), as joined by [`ACCOUNTS_WITH_SUMS`].
const ACCOUNT_FIELDS: &str = "a.id, a.ledger, a.kind, a.flags, a.user_data, \
     b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted, a.created_at_ms";
/// Accounts with their sums.
const ACCOUNTS_WITH_SUMS: &str = "accounts AS a LEFT JOIN balances AS b ON b.number = a.number";

const _: () = assert!(IDS_PER_LOOKUP_MAX <= sql::PARAMETERS_MAX);
const _: () = assert!(IDS_PER_LOOKUP_MAX.is_power_of_two());
const _: () = assert!(IDS_PER_LOOKUP_MAX >= crate::rules::BATCH_MAX);

/// The parameters of one statement, allocated once at their final count (a batch's
/// statements bind thousands).
struct Params(SqliteArguments);

impl Params {
    fn with_capacity(count: usize) -> Self {
        let mut arguments = SqliteArguments::default();
        arguments.reserve(count, 0);
        Self(arguments)
    }

    fn push<'t, T: Encode<'t, Sqlite> + Type<Sqlite>>(
        &mut self,
        value: T,
    ) -> Result<&mut Self, Error> {
        self.0
            .add(value)
            .map_err(|e| Error::Database(format!("binding a parameter: {e}")))?;
        Ok(self)
    }
}

/// History is indexed by epoch, `sequence >> HISTORY_EPOCH_SHIFT` (16,384 transfers;
/// the generated column `transfers.epoch` of the migrations): a batch adds its
/// history entries to the current epoch's part of each index, so the pages it dirties
/// stay few however large the ledger grows; a history read visits one index range per
/// epoch after its cursor.
pub const HISTORY_EPOCH_SHIFT: u32 = 14;

/// Runs `$body` (an expression using `$connection` and `$cache`) in a write
/// transaction (`BEGIN IMMEDIATE`, in-process writers serialised on one connection),
/// committed once, under the retry policy. The account cache is checked against
/// `PRAGMA data_version` inside the transaction and updated only after the commit.
macro_rules! in_write_transaction {
    ($self:ident, $connection:ident, $cache:ident => $body:expr) => {
        $self
            .retry
            .run(|| async {
                let mut writer = $self.writer.lock().await;
                let outcome = async {
                    let Writer {
                        connection: held,
                        cache: $cache,
                    } = &mut *writer;
                    // A file's writer keeps one connection of its own (detached from the
                    // pool, so dropping the ledger needs no runtime); in memory, the
                    // pool's only connection is borrowed per write.
                    let mut borrowed = None;
                    let connection: &mut SqliteConnection = if $self.hold_writer {
                        if held.is_none() {
                            let fresh = $self.pool.acquire().await.map_err(map_error)?.detach();
                            *held = Some(configure_writer(fresh).await?);
                        }
                        held.as_mut()
                            .ok_or_else(|| Error::Unavailable("no writer connection".into()))?
                    } else {
                        &mut **borrowed.insert($self.pool.acquire().await.map_err(map_error)?)
                    };
                    let mut tx = connection
                        .begin_with("BEGIN IMMEDIATE")
                        .await
                        .map_err(map_error)?;
                    let (version,): (i64,) = sqlx::query_as("PRAGMA data_version")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_error)?;
                    $cache.begin(version);
                    let value = {
                        let $connection: &mut SqliteConnection = &mut tx;
                        $body.await?
                    };
                    tx.commit().await.map_err(map_error)?;
                    $cache.commit(version);
                    Ok(value)
                }
                .await;
                if outcome.is_err() {
                    // The connection may be broken and the cache stale: start afresh.
                    writer.connection = None;
                    writer.cache.clear();
                }
                outcome
            })
            .await
    };
}

/// Page cache of the writer's connection, KiB. Reads of the indexes of random ids are
/// served by the memory map (the OS page cache) beyond it; a larger cache is not free:
/// every commit walks the cache's hash table to drop pages past the end of the file
/// (`pcache1TruncateUnsafe`), which at 256 MiB took 8% of a batch of 1,000 and at
/// 32 MiB 2%.
pub const SQLITE_WRITER_CACHE_KIB: u32 = 32 * 1024;
/// Memory-mapped I/O of the writer's connection, bytes.
pub const SQLITE_WRITER_MMAP_BYTES: u64 = 1 << 30;

async fn configure_writer(mut connection: SqliteConnection) -> Result<SqliteConnection, Error> {
    for pragma in [
        format!("PRAGMA cache_size = -{SQLITE_WRITER_CACHE_KIB}"),
        format!("PRAGMA mmap_size = {SQLITE_WRITER_MMAP_BYTES}"),
    ] {
        sqlx::query(AssertSqlSafe(pragma))
            .execute(&mut connection)
            .await
            .map_err(map_error)?;
    }
    Ok(connection)
}

/// The most accounts the writer caches (it starts afresh beyond).
pub const ACCOUNT_CACHE_MAX: usize = 1_000_000;

/// Accounts as of the writer's last commit, with their numbers. Valid while
/// `PRAGMA data_version` on the writer's connection is unchanged, that is while no
/// other connection (another process) committed: then the batch path reads no
/// account it has seen before.
#[derive(Default)]
struct AccountCache {
    version: Option<i64>,
    accounts: HashMap<AccountId, (i64, Account)>,
    staged: Vec<(i64, Account)>,
}

impl AccountCache {
    fn begin(&mut self, version: i64) {
        if self.version != Some(version) {
            self.accounts.clear();
        }
        self.version = None;
        self.staged.clear();
    }

    fn stage(&mut self, number: i64, account: Account) {
        self.staged.push((number, account));
    }

    fn commit(&mut self, version: i64) {
        for (number, account) in self.staged.drain(..) {
            self.accounts.insert(account.id, (number, account));
        }
        if self.accounts.len() > ACCOUNT_CACHE_MAX {
            self.accounts.clear();
        }
        self.version = Some(version);
    }

    fn clear(&mut self) {
        self.version = None;
        self.accounts.clear();
        self.staged.clear();
    }
}

struct Writer {
    /// The connection writes go through (kept for a file, so `data_version` compares
    /// like with like; for memory, the pool's only connection, taken per write).
    connection: Option<SqliteConnection>,
    cache: AccountCache,
}

/// A ledger in SQLite.
pub struct SqliteLedger {
    pool: SqlitePool,
    writer: tokio::sync::Mutex<Writer>,
    hold_writer: bool,
    retry: RetryPolicy,
    ledgers: LedgerCache,
}

impl SqliteLedger {
    /// Opens (creating if missing) a database file, in WAL mode with durable commits,
    /// and runs the migrations.
    pub async fn open_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))
            // Random ids make random index inserts: keep the hot pages in memory and
            // checkpoint the WAL less often (both measured in `attn bench ledger`).
            .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
            .pragma(
                "wal_autocheckpoint",
                SQLITE_WAL_AUTOCHECKPOINT_PAGES.to_string(),
            )
            // Statement journals of multi-row statements stay in memory.
            .pragma("temp_store", "MEMORY");
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_CONNECTIONS_MAX)
            .connect_with(options)
            .await
            .map_err(map_error)?;
        let mut ledger = Self::from_pool(pool, RetryPolicy::default()).await?;
        ledger.hold_writer = true;
        Ok(ledger)
    }

    /// Opens a fresh database in memory (one connection: an in-memory SQLite database
    /// lives and dies with its connection), and runs the migrations.
    pub async fn open_memory() -> Result<Self, Error> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(map_error)?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(map_error)?;
        Self::from_pool(pool, RetryPolicy::default()).await
    }

    /// A ledger over an existing pool (migrations run now).
    pub async fn from_pool(pool: SqlitePool, retry: RetryPolicy) -> Result<Self, Error> {
        sqlx::migrate!("../migrations/sqlite")
            .run(&pool)
            .await
            .map_err(sql::migration_error)?;
        Ok(Self {
            pool,
            writer: tokio::sync::Mutex::new(Writer {
                connection: None,
                cache: AccountCache::default(),
            }),
            hold_writer: false,
            retry,
            ledgers: LedgerCache::default(),
        })
    }

    /// The same ledger with another retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The pool (for benchmarks that compare with bare statements).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Inserts `records` into `table` (a table of the shape of `transfers`) in one
    /// transaction through the writer's connection, exactly as a batch's rows are
    /// written: the benchmarks' bare baseline.
    pub(crate) async fn insert_bare(
        &self,
        table: &'static str,
        records: &[TransferRecord],
        numbers: &HashMap<AccountId, i64>,
    ) -> Result<(), Error> {
        in_write_transaction!(self, connection, _cache => async {
            let first = next_sequence(connection, table).await?;
            match insert_transfer_rows(connection, table, records, |id| numbers.get(id).copied(), first)
                .await?
            {
                Inserted::All => Ok(()),
                Inserted::IdStored => Err(Error::Database(format!("an id is stored in {table}"))),
            }
        })
    }
}

async fn load_ledgers(
    connection: &mut SqliteConnection,
) -> Result<HashMap<LedgerId, Ledger>, Error> {
    let rows: Vec<LedgerRow> =
        sqlx::query_as("SELECT id, currency, scale FROM ledgers ORDER BY id")
            .fetch_all(&mut *connection)
            .await
            .map_err(map_error)?;
    sql::ledgers_from_rows(rows)
}

/// The sequence the next row of `table` gets: sequences are assigned by the writer,
/// under the write lock, so it knows each row's epoch.
async fn next_sequence(connection: &mut SqliteConnection, table: &str) -> Result<i64, Error> {
    let sql = format!("SELECT coalesce(max(sequence), 0) + 1 FROM {table}");
    let (next,): (i64,) = sqlx::query_as(AssertSqlSafe(sql))
        .fetch_one(&mut *connection)
        .await
        .map_err(map_error)?;
    Ok(next)
}

/// An account as read with its `number` (the rowid keying the history indexes).
type NumberedAccountRow = (i64, Vec<u8>, i64, i64, i64, i64, i64, i64, i64, i64, i64);

async fn load_accounts(
    connection: &mut SqliteConnection,
    ids: &[AccountId],
) -> Result<Vec<Account>, Error> {
    Ok(load_numbered_accounts(connection, ids)
        .await?
        .into_iter()
        .map(|(_, account)| account)
        .collect())
}

async fn load_numbered_accounts(
    connection: &mut SqliteConnection,
    ids: &[AccountId],
) -> Result<Vec<(i64, Account)>, Error> {
    let ids: Vec<[u8; 16]> = ids.iter().map(|id| id.to_bytes()).collect();
    let rows: Vec<NumberedAccountRow> = fetch_by_ids(connection, "accounts by id", &ids, || {
        format!("SELECT a.number, {ACCOUNT_FIELDS} FROM {ACCOUNTS_WITH_SUMS} WHERE a.id IN")
    })
    .await?;
    rows.into_iter()
        .map(|row| {
            let (number, id, ledger, kind, flags, user_data, dp, dpo, cp, cpo, created) = row;
            let account = sql::account_from_row((
                id, ledger, kind, flags, user_data, dp, dpo, cp, cpo, created,
            ))?;
            Ok((number, account))
        })
        .collect()
}

async fn load_transfers(
    connection: &mut SqliteConnection,
    ids: &[TransferId],
) -> Result<Vec<TransferRecord>, Error> {
    let ids: Vec<[u8; 16]> = ids.iter().map(|id| id.to_bytes()).collect();
    let rows: Vec<TransferRow> = fetch_by_ids(connection, "transfers by id", &ids, || {
        format!("{TRANSFER_SELECT} WHERE t.id IN")
    })
    .await?;
    sql::transfers_from_rows(rows)
}

/// The rows of `select` (a query ending in `… IN`) for `ids`: one statement per
/// [`IDS_PER_LOOKUP_MAX`] ids, padded as writes are ([`padded_chunks`]) by repeating
/// the last id, harmless in `IN`, so the statement stays prepared. `name` keys its
/// text.
async fn fetch_by_ids<R>(
    connection: &mut SqliteConnection,
    name: &'static str,
    ids: &[[u8; 16]],
    select: impl Fn() -> String,
) -> Result<Vec<R>, Error>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let mut found = Vec::new();
    let mut offset = 0;
    for (count, size) in padded_chunks(ids.len(), IDS_PER_LOOKUP_MAX) {
        let chunk = &ids[offset..offset + count];
        let sql = statement_text(name, "", 0, size, || {
            format!("{} ({})", select(), vec!["?"; size].join(","))
        });
        let mut params = Params::with_capacity(size);
        for index in 0..size {
            params.push(chunk[index.min(count - 1)].to_vec())?;
        }
        let query = sqlx::query_as_with::<_, R, _>(sql, params.0);
        found.extend(query.fetch_all(&mut *connection).await.map_err(map_error)?);
        offset += count;
    }
    Ok(found)
}

/// An account as stored when the batch began: its `number` (the rowid keying the
/// history indexes and the cheapest lookup SQLite has) and its sums.
#[derive(Clone, Copy, Debug)]
struct Stored {
    number: i64,
    sums: Balances,
}

impl Stored {
    fn of(number: i64, account: &Account) -> Self {
        Self {
            number,
            sums: account.balances,
        }
    }
}

/// The account sums, in the order of the bits of a change mask.
const SUM_COLUMNS: [&str; 4] = [
    "debits_pending",
    "debits_posted",
    "credits_pending",
    "credits_posted",
];

fn sums(balances: &Balances) -> [u64; 4] {
    [
        balances.debits_pending,
        balances.debits_posted,
        balances.credits_pending,
        balances.credits_posted,
    ]
}

/// Writes the final sums of `accounts`, addressed by number, and only the sums that
/// changed since `known`: accounts are grouped by which of their four sums changed
/// and each group is written by multi-row statements that set those columns only (a
/// single-phase transfer changes one sum per side, so a batch binds two values per
/// account rather than five).
async fn write_account_updates(
    connection: &mut SqliteConnection,
    accounts: &[Account],
    known: &HashMap<AccountId, Stored>,
) -> Result<(), Error> {
    let mut groups: [Vec<(i64, [u64; 4])>; 16] = std::array::from_fn(|_| Vec::new());
    for account in accounts {
        let before = known
            .get(&account.id)
            .ok_or_else(|| Error::Corrupt(format!("account {} has no number", account.id)))?;
        let (old, new) = (sums(&before.sums), sums(&account.balances));
        let mask = (0..4).fold(0, |mask, i| mask | (usize::from(old[i] != new[i]) << i));
        if mask != 0 {
            groups[mask].push((before.number, new));
        }
    }
    for (mask, rows) in groups
        .iter()
        .enumerate()
        .filter(|(_, rows)| !rows.is_empty())
    {
        let columns: Vec<usize> = (0..4).filter(|i| mask & (1 << i) != 0).collect();
        let width = 1 + columns.len();
        let mut offset = 0;
        for (count, size) in padded_chunks(rows.len(), rows_per_statement(width, 0)) {
            // Padding rows have no number: they match no account.
            // `VALUES` in `FROM` directly (not a CTE, which SQLite materialises first).
            let sql = statement_text("account sums", "accounts", mask as u32, size, || {
                let sets: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, &column)| format!("{} = v.column{}", SUM_COLUMNS[column], i + 2))
                    .collect();
                format!(
                    "UPDATE OR FAIL balances SET {} FROM (VALUES {}) AS v \
                     WHERE balances.number = v.column1",
                    sets.join(", "),
                    placeholders(size, width)
                )
            });
            let mut params = Params::with_capacity(size * width);
            for (number, new) in &rows[offset..offset + count] {
                params.push(*number)?;
                for &column in &columns {
                    params.push(stored(new[column]))?;
                }
            }
            params.pad((size - count) * width)?;
            update_rows(connection, sql, params, count, "account sums").await?;
            offset += count;
        }
    }
    Ok(())
}

async fn write_status_updates(
    connection: &mut SqliteConnection,
    updates: &[(TransferId, TransferStatus)],
) -> Result<(), Error> {
    let mut offset = 0;
    for (count, size) in padded_chunks(updates.len(), rows_per_statement(2, 0)) {
        // Padding rows have no id: they match no transfer.
        let sql = statement_text("transfer statuses", "transfers", 0, size, || {
            format!(
                "UPDATE OR FAIL transfers SET status = v.column2 FROM (VALUES {}) AS v \
                 WHERE transfers.id = v.column1",
                placeholders(size, 2)
            )
        });
        let mut params = Params::with_capacity(size * 2);
        for (id, status) in &updates[offset..offset + count] {
            params
                .push(id.to_bytes().to_vec())?
                .push(i64::from(status.code()))?;
        }
        params.pad((size - count) * 2)?;
        update_rows(connection, sql, params, count, "transfer statuses").await?;
        offset += count;
    }
    Ok(())
}

/// Runs a padded multi-row `UPDATE` and checks that it changed exactly its `count`
/// real rows (padding rows match none).
async fn update_rows(
    connection: &mut SqliteConnection,
    sql: AssertSqlSafe<std::sync::Arc<str>>,
    params: Params,
    count: usize,
    what: &str,
) -> Result<(), Error> {
    let result = sqlx::query_with(sql, params.0)
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    if result.rows_affected() != count as u64 {
        return Err(Error::Database(format!(
            "updated {} of {count} {what}",
            result.rows_affected()
        )));
    }
    Ok(())
}

/// The columns of an inserted transfer row, in parameter order.
const TRANSFER_INSERT_COLUMNS: [&str; TRANSFER_INSERT_WIDTH] = [
    "id",
    "amount",
    "ledger",
    "code",
    "user_data",
    "flags",
    "pending_id",
    "timeout_ms",
    "expires_at_ms",
    "status",
    "created_at_ms",
    "debit_number",
    "credit_number",
];

/// A value to bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Null,
    Int(i64),
    Id([u8; 16]),
}

impl Params {
    /// `count` nulls: the parameters of padding rows.
    fn pad(&mut self, count: usize) -> Result<&mut Self, Error> {
        for _ in 0..count {
            self.push(Option::<i64>::None)?;
        }
        Ok(self)
    }

    fn push_value(&mut self, value: Value) -> Result<&mut Self, Error> {
        match value {
            Value::Null => self.push(Option::<i64>::None),
            Value::Int(int) => self.push(int),
            Value::Id(bytes) => self.push(bytes.to_vec()),
        }
    }
}

/// Inserts transfer rows with multi-row statements; they take the sequences from
/// `first` on, the table's next (also the benchmark's bare baseline, into a table of
/// the same shape).
///
/// A column whose value is the same in every row of a statement (the time, the
/// ledger, the code, the flags of a batch, most often) is bound once, not per row:
/// `INSERT ... SELECT ?, column1, ... FROM (VALUES (...), ...)`, which yields the rows
/// in order. The id always varies.
async fn insert_transfer_rows(
    connection: &mut SqliteConnection,
    table: &'static str,
    records: &[TransferRecord],
    number_of: impl Fn(&AccountId) -> Option<i64>,
    first: i64,
) -> Result<Inserted, Error> {
    let number = |id: &AccountId| {
        number_of(id).ok_or_else(|| Error::Corrupt(format!("account {id} has no number")))
    };
    let rows = records
        .iter()
        .map(|record| {
            let t = &record.transfer;
            Ok([
                Value::Id(t.id.to_bytes()),
                Value::Int(stored(t.amount)),
                Value::Int(i64::from(t.ledger.0)),
                Value::Int(i64::from(t.code)),
                Value::Int(stored_user_data(t.user_data)),
                Value::Int(i64::from(t.flags.0)),
                if t.pending_id.0 == 0 {
                    Value::Null
                } else {
                    Value::Id(t.pending_id.to_bytes())
                },
                Value::Int(stored(t.timeout_ms)),
                record
                    .expires_at_ms
                    .map_or(Value::Null, |at| Value::Int(stored(at))),
                Value::Int(i64::from(record.status.code())),
                Value::Int(stored(record.created_at_ms)),
                Value::Int(number(&t.debit_account)?),
                Value::Int(number(&t.credit_account)?),
            ])
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let Some(head) = rows.first() else {
        return Ok(Inserted::All);
    };
    // Bit c: column c is the same in every row (never the id, column 0).
    let uniform = (1..TRANSFER_INSERT_WIDTH)
        .filter(|&c| rows.iter().all(|row| row[c] == head[c]))
        .fold(0u32, |mask, c| mask | 1 << c);
    let is_uniform = |c: usize| uniform & (1 << c) != 0;
    let uniform_count = uniform.count_ones() as usize;
    let width = TRANSFER_INSERT_WIDTH - uniform_count;
    let mut offset = 0;
    for (count, size) in padded_chunks(rows.len(), rows_per_statement(width, uniform_count)) {
        // Padding rows have no id (column1) and are not inserted.
        let sql = statement_text("transfer rows", table, uniform, size, || {
            let mut varying = 0;
            let values: Vec<String> = (0..TRANSFER_INSERT_WIDTH)
                .map(|c| {
                    if is_uniform(c) {
                        "?".to_owned()
                    } else {
                        varying += 1;
                        format!("column{varying}")
                    }
                })
                .collect();
            format!(
                "INSERT OR FAIL INTO {table} ({}) SELECT {} FROM (VALUES {}) \
                 WHERE column1 IS NOT NULL",
                TRANSFER_INSERT_COLUMNS.join(", "),
                values.join(", "),
                placeholders(size, varying)
            )
        });
        let mut params = Params::with_capacity(uniform_count + size * width);
        for c in (0..TRANSFER_INSERT_WIDTH).filter(|&c| is_uniform(c)) {
            params.push_value(head[c])?;
        }
        for row in &rows[offset..offset + count] {
            for c in (0..TRANSFER_INSERT_WIDTH).filter(|&c| !is_uniform(c)) {
                params.push_value(row[c])?;
            }
        }
        params.pad((size - count) * width)?;
        let result = match sqlx::query_with(sql, params.0)
            .execute(&mut *connection)
            .await
        {
            Ok(result) => result,
            // `id` is the one unique column bound (the sequence is the rowid, not bound).
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Ok(Inserted::IdStored);
            }
            Err(e) => return Err(map_error(e)),
        };
        offset += count;
        // Rows take the next rowids (max + 1: nothing is ever deleted), which the writer
        // read under the write lock; checked, since history relies on it.
        let expected = first + offset as i64 - 1;
        if result.last_insert_rowid() != expected {
            return Err(Error::Corrupt(format!(
                "transfer rows took sequences up to {}, not {expected}",
                result.last_insert_rowid()
            )));
        }
    }
    Ok(Inserted::All)
}

/// What [`insert_transfer_rows`] did.
enum Inserted {
    /// Every row.
    All,
    /// A row's id is stored already: the statement failed on it (`OR FAIL`), and the
    /// rows before it, in this statement and earlier ones, are in the transaction.
    IdStored,
}

async fn create_ledgers_tx(
    connection: &mut SqliteConnection,
    ledgers: &[Ledger],
) -> Result<HashMap<LedgerId, Ledger>, Error> {
    let mut all = load_ledgers(connection).await?;
    for ledger in rules::new_ledgers(|id| all.get(id).copied(), ledgers)? {
        sqlx::query("INSERT INTO ledgers (id, currency, scale) VALUES (?, ?, ?)")
            .bind(i64::from(ledger.id.0))
            .bind(ledger.currency.as_str())
            .bind(i64::from(ledger.scale))
            .execute(&mut *connection)
            .await
            .map_err(map_error)?;
        all.insert(ledger.id, ledger);
    }
    Ok(all)
}

async fn create_accounts_tx(
    connection: &mut SqliteConnection,
    accounts: &[NewAccount],
    now_ms: u64,
) -> Result<Vec<AccountOutcome>, Error> {
    let ledgers = load_ledgers(connection).await?;
    let ids = rules::unique_sorted(accounts.iter().map(|a| a.id));
    let existing: HashMap<AccountId, Account> = load_accounts(connection, &ids)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let rules::AccountsPlan { outcomes, created } =
        rules::plan_accounts(accounts, existing, |id| ledgers.contains_key(id), now_ms);
    let mut offset = 0;
    for (count, size) in padded_chunks(created.len(), rows_per_statement(6, 0)) {
        // Padding rows have no id and are not inserted; each account's zero sums are
        // opened in `balances` by a trigger.
        let sql = statement_text("account rows", "accounts", 0, size, || {
            format!(
                "INSERT OR FAIL INTO accounts (id, ledger, kind, flags, user_data, \
                 created_at_ms) SELECT * FROM (VALUES {}) WHERE column1 IS NOT NULL",
                placeholders(size, 6)
            )
        });
        let mut params = Params::with_capacity(size * 6);
        for account in &created[offset..offset + count] {
            params
                .push(account.id.to_bytes().to_vec())?
                .push(i64::from(account.ledger.0))?
                .push(i64::from(account.kind.code()))?
                .push(i64::from(account.flags.0))?
                .push(stored_user_data(account.user_data))?
                .push(stored(account.created_at_ms))?;
        }
        params.pad((size - count) * 6)?;
        sqlx::query_with(sql, params.0)
            .execute(&mut *connection)
            .await
            .map_err(map_error)?;
        offset += count;
    }
    Ok(outcomes)
}

async fn submit_tx(
    connection: &mut SqliteConnection,
    cache: &mut AccountCache,
    batch: &[Transfer],
    now_ms: u64,
    cached: &HashMap<LedgerId, Ledger>,
) -> Result<(Vec<TransferOutcome>, HashMap<LedgerId, Ledger>), Error> {
    let ledgers = if rules::ledgers_known(batch, cached) {
        cached.clone()
    } else {
        load_ledgers(connection).await?
    };
    // First as if none of the batch's own ids were stored (fresh ids: the common
    // case), reading only the pending transfers it names. That plan stands only if it
    // inserts every transfer of the batch, and the insert, which runs before anything
    // else is written, finds none of their ids stored; otherwise nothing of it is
    // written, and the batch is planned again with its own ids read (a resubmission
    // gets its first result, a rejection is decided knowing what is stored).
    let pending_ids = rules::resolved_pending_ids(batch);
    let fresh = plan_and_apply(
        connection,
        cache,
        batch,
        now_ms,
        &ledgers,
        &pending_ids,
        false,
    )
    .await?;
    let outcomes = match fresh {
        Applied::Done(outcomes) => outcomes,
        Applied::ReadOwnIds => {
            let all_ids = rules::referenced_transfer_ids(batch);
            match plan_and_apply(connection, cache, batch, now_ms, &ledgers, &all_ids, true).await?
            {
                Applied::Done(outcomes) => outcomes,
                Applied::ReadOwnIds => {
                    return Err(Error::Corrupt(
                        "a transfer id read as absent is stored".into(),
                    ));
                }
            }
        }
    };
    Ok((outcomes, ledgers))
}

/// What [`plan_and_apply`] did.
enum Applied {
    /// The batch is written; its outcomes.
    Done(Vec<TransferOutcome>),
    /// Nothing is written: the batch's own ids were not read, and the plan does not
    /// insert every transfer or an id it inserts is stored.
    ReadOwnIds,
}

/// Plans `batch` over the stored transfers `transfer_ids` and what they and the batch
/// name, and writes the plan. Unless `transfer_ids` holds the batch's own ids
/// (`own_ids_read`), the plan is written only if it inserts every transfer and none of
/// their ids is stored.
async fn plan_and_apply(
    connection: &mut SqliteConnection,
    cache: &mut AccountCache,
    batch: &[Transfer],
    now_ms: u64,
    ledgers: &HashMap<LedgerId, Ledger>,
    transfer_ids: &[TransferId],
    own_ids_read: bool,
) -> Result<Applied, Error> {
    let transfers: HashMap<TransferId, TransferRecord> = load_transfers(connection, transfer_ids)
        .await?
        .into_iter()
        .map(|r| (r.transfer.id, r))
        .collect();
    let account_ids = rules::referenced_account_ids(batch, transfers.values());
    let mut known: HashMap<AccountId, Stored> = HashMap::with_capacity(account_ids.len());
    let mut accounts: HashMap<AccountId, Account> = HashMap::with_capacity(account_ids.len());
    let mut missing = Vec::new();
    for id in account_ids {
        match cache.accounts.get(&id) {
            Some(&(number, account)) => {
                known.insert(id, Stored::of(number, &account));
                accounts.insert(id, account);
            }
            None => missing.push(id),
        }
    }
    for (number, account) in load_numbered_accounts(connection, &missing).await? {
        known.insert(account.id, Stored::of(number, &account));
        accounts.insert(account.id, account);
        cache.stage(number, account);
    }
    let snapshot = Snapshot {
        ledgers: ledgers.clone(),
        accounts,
        transfers,
    };
    let plan = rules::plan_batch(batch, snapshot, now_ms)?;
    if !own_ids_read && plan.inserts.len() != batch.len() {
        return Ok(Applied::ReadOwnIds);
    }
    if let Inserted::IdStored = apply_plan(connection, &plan, &known).await? {
        return Ok(Applied::ReadOwnIds);
    }
    for account in &plan.account_updates {
        if let Some(stored) = known.get(&account.id) {
            cache.stage(stored.number, *account);
        }
    }
    Ok(Applied::Done(plan.outcomes))
}

async fn expire_tx(
    connection: &mut SqliteConnection,
    cache: &mut AccountCache,
    now_ms: u64,
) -> Result<usize, Error> {
    let sql = format!(
        "{TRANSFER_SELECT} WHERE t.status = 2 \
         AND t.expires_at_ms IS NOT NULL AND t.expires_at_ms <= ? \
         ORDER BY t.expires_at_ms, t.sequence LIMIT ?"
    );
    let rows: Vec<TransferRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(stored(now_ms))
        .bind(rules::EXPIRE_BATCH_MAX as i64)
        .fetch_all(&mut *connection)
        .await
        .map_err(map_error)?;
    let due = sql::transfers_from_rows(rows)?;
    if due.is_empty() {
        return Ok(0);
    }
    let ids = rules::referenced_account_ids(&[], due.iter());
    let numbered = load_numbered_accounts(connection, &ids).await?;
    let known: HashMap<AccountId, Stored> = numbered
        .iter()
        .map(|(number, account)| (account.id, Stored::of(*number, account)))
        .collect();
    let mut accounts: HashMap<AccountId, Account> =
        numbered.into_iter().map(|(_, a)| (a.id, a)).collect();
    let changed = rules::plan_expiry(&due, &mut accounts, now_ms)?;
    write_account_updates(connection, &changed, &known).await?;
    for account in &changed {
        if let Some(stored) = known.get(&account.id) {
            cache.stage(stored.number, *account);
        }
    }
    write_status_updates(connection, &rules::expiry_status_updates(&due)).await?;
    Ok(due.len())
}

/// Writes a plan: its transfer rows first, so that a stored id is found before
/// anything else is written (the rows already inserted are then deleted, and nothing
/// of the plan remains).
async fn apply_plan(
    connection: &mut SqliteConnection,
    plan: &Plan,
    known: &HashMap<AccountId, Stored>,
) -> Result<Inserted, Error> {
    if !plan.inserts.is_empty() {
        let first = next_sequence(connection, "transfers").await?;
        let number_of = |id: &AccountId| known.get(id).map(|stored| stored.number);
        let inserted =
            insert_transfer_rows(connection, "transfers", &plan.inserts, number_of, first).await?;
        if let Inserted::IdStored = inserted {
            sqlx::query("DELETE FROM transfers WHERE sequence >= ?")
                .bind(first)
                .execute(&mut *connection)
                .await
                .map_err(map_error)?;
            return Ok(Inserted::IdStored);
        }
        // A batch spans at most two epochs (BATCH_MAX < 2^HISTORY_EPOCH_SHIFT).
        let last = first + plan.inserts.len() as i64 - 1;
        sqlx::query("INSERT OR IGNORE INTO transfer_epochs (epoch) VALUES (?), (?)")
            .bind(first >> HISTORY_EPOCH_SHIFT)
            .bind(last >> HISTORY_EPOCH_SHIFT)
            .execute(&mut *connection)
            .await
            .map_err(map_error)?;
    }
    write_account_updates(connection, &plan.account_updates, known).await?;
    write_status_updates(connection, &plan.status_updates).await?;
    Ok(Inserted::All)
}

const _: () = assert!(crate::rules::BATCH_MAX < 1 << HISTORY_EPOCH_SHIFT);

#[async_trait]
impl LedgerBackend for SqliteLedger {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn create_ledgers(&self, ledgers: &[Ledger]) -> Result<(), Error> {
        // Refused before the transaction when invalid on their own.
        rules::new_ledgers(|_| None, ledgers)?;
        let all = in_write_transaction!(self, connection, _cache => create_ledgers_tx(connection, ledgers))?;
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
        in_write_transaction!(self, connection, _cache => create_accounts_tx(connection, accounts, now_ms))
    }

    async fn submit(&self, batch: &[Transfer], now_ms: u64) -> Result<Vec<TransferOutcome>, Error> {
        rules::validate_batch_len(batch.len())?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let cached = self.ledgers.get();
        let (outcomes, ledgers) = in_write_transaction!(self, connection, cache => submit_tx(connection, cache, batch, now_ms, &cached))?;
        self.ledgers.set(&ledgers);
        Ok(outcomes)
    }

    async fn lookup_accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>, Error> {
        rules::validate_batch_len(ids.len())?;
        let ids = rules::unique_sorted(ids.iter().copied());
        let mut connection = self.pool.acquire().await.map_err(map_error)?;
        let mut found = load_accounts(&mut connection, &ids).await?;
        found.sort_unstable_by_key(|a| a.id);
        Ok(found)
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
        let sql = format!(
            "SELECT {ACCOUNT_FIELDS} FROM {ACCOUNTS_WITH_SUMS} WHERE a.id > ? \
             ORDER BY a.id LIMIT ?"
        );
        let rows: Vec<AccountRow> = sqlx::query_as(AssertSqlSafe(sql))
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
        let cursor = stored(after.unwrap_or(0));
        // Per side, the epochs from the cursor's on in order, and in each the account's
        // range of the epoch index in sequence order: rows come out by sequence, so
        // `LIMIT` stops the scan (no sort), and an epoch without the account costs one
        // index probe.
        let side = |column: &str, index: &str| {
            format!(
                "SELECT sequence FROM (SELECT t.sequence FROM transfer_epochs AS e \
                 CROSS JOIN transfers AS t INDEXED BY {index} \
                 ON t.epoch = e.epoch AND t.{column} = ?1 AND t.sequence > ?2 \
                 WHERE e.epoch >= ?3 ORDER BY e.epoch, t.sequence LIMIT ?4)"
            )
        };
        let sql = format!(
            "{TRANSFER_SELECT} WHERE t.sequence IN ({} UNION {}) \
             ORDER BY t.sequence LIMIT ?4",
            side("debit_number", "transfers_history_debit"),
            side("credit_number", "transfers_history_credit"),
        );
        let mut connection = self.pool.acquire().await.map_err(map_error)?;
        let mut tx = connection.begin().await.map_err(map_error)?;
        let number: Option<(i64,)> = sqlx::query_as("SELECT number FROM accounts WHERE id = ?")
            .bind(account.to_bytes().to_vec())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_error)?;
        let Some((number,)) = number else {
            return Ok(HistoryPage::new(Vec::new(), limit));
        };
        let rows: Vec<TransferRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(number)
            .bind(cursor)
            .bind(cursor >> HISTORY_EPOCH_SHIFT)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        Ok(HistoryPage::new(sql::transfers_from_rows(rows)?, limit))
    }

    async fn expire_pending(&self, now_ms: u64) -> Result<usize, Error> {
        in_write_transaction!(self, connection, cache => expire_tx(connection, cache, now_ms))
    }

    async fn check(&self) -> Result<CheckReport, Error> {
        // One read transaction: a consistent snapshot even while writers run.
        let mut connection = self.pool.acquire().await.map_err(map_error)?;
        let mut tx = connection.begin().await.map_err(map_error)?;
        let ledgers = load_ledgers(&mut tx).await?;
        let sql = format!("SELECT {ACCOUNT_FIELDS} FROM {ACCOUNTS_WITH_SUMS} ORDER BY a.id");
        let accounts = sql::accounts_from_rows(
            sqlx::query_as::<_, AccountRow>(AssertSqlSafe(sql))
                .fetch_all(&mut *tx)
                .await
                .map_err(map_error)?,
        )?;
        let sql = format!("{TRANSFER_SELECT} ORDER BY t.sequence");
        let transfers = sql::transfers_from_rows(
            sqlx::query_as::<_, TransferRow>(AssertSqlSafe(sql))
                .fetch_all(&mut *tx)
                .await
                .map_err(map_error)?,
        )?;
        tx.commit().await.map_err(map_error)?;
        Ok(check::check(ledgers.values(), &accounts, &transfers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{self, Workload};

    /// Writes use `OR FAIL` (no statement journal): a statement that fails midway
    /// leaves its earlier rows in the transaction, and the transaction is rolled back
    /// whole, so nothing of the batch is written and the next batch goes through.
    #[tokio::test]
    async fn a_statement_failing_midway_writes_nothing() {
        let ledger = SqliteLedger::open_memory().await.expect("open");
        bench::prepare(&ledger, 4).await.expect("prepare");
        let mut workload = Workload::new(3, 4);
        let batch = workload.batch(10);
        // The last row's amount breaks a CHECK: the insert fails on it, after nine rows.
        let mut records = bench::rows(&batch, 1);
        records[9].transfer.amount = 0;
        let numbers = |id: &AccountId| i64::try_from(id.0).ok();
        let failed = in_write_transaction!(ledger, connection, _cache => async {
            insert_transfer_rows(connection, "transfers", &records, numbers, 1).await
        });
        assert!(failed.is_err(), "the zero amount fails the statement");
        let found = ledger
            .lookup_transfers(&batch.iter().map(|t| t.id).collect::<Vec<_>>())
            .await
            .expect("lookup");
        assert!(found.is_empty(), "nothing of the failed batch: {found:?}");
        let outcomes = ledger.submit(&batch, 1).await.expect("submit");
        assert!(outcomes.iter().all(|o| o.is_recorded()));
        assert!(ledger.check().await.expect("check").is_ok());
    }
}
