//! The one storage trait, [`LedgerBackend`], its retry policy and [`open`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::check::CheckReport;
use crate::error::Error;
use crate::model::{
    Account, AccountId, AccountOutcome, HistoryPage, Ledger, NewAccount, Transfer, TransferId,
    TransferOutcome, TransferRecord,
};

/// A ledger store. Implementations: [`crate::MemoryLedger`], [`crate::SqliteLedger`]
/// (file or memory), [`crate::PostgresLedger`]; all pass [`crate::testing`].
///
/// # Contract
/// An implementation MUST:
/// - run [`crate::rules::plan_batch`] on a snapshot read inside the same transaction
///   that writes the plan, with every account the batch touches locked (or the whole
///   database serialised) from the read to the commit, so balance flags hold under any
///   number of concurrent callers, in this process or others;
/// - commit a batch (and a `create_accounts` call, and an expiry) in one transaction:
///   after a crash or an error either every outcome of the batch is stored or none is;
/// - return `Ok` only once the transaction is durable (for SQLite files,
///   `synchronous = FULL`);
/// - refuse batches above [`crate::rules::BATCH_MAX`] with [`Error::BatchTooLarge`];
/// - retry transient failures (lock contention, serialization failures, a lost
///   connection) under its [`RetryPolicy`], then return [`Error::Busy`] or
///   [`Error::Unavailable`].
///
/// A caller MAY resubmit any batch any number of times, from any process: ids are
/// idempotency keys, so a retry after an ambiguous failure (a timeout after commit)
/// returns [`TransferOutcome::AlreadyExists`] and changes nothing.
/// A caller MUST NOT assume a clock: `now_ms` is always a parameter.
#[async_trait]
pub trait LedgerBackend: Send + Sync {
    /// A short name ("memory", "sqlite", "postgres").
    fn backend_name(&self) -> &'static str;

    /// Defines ledgers; idempotent; [`Error::InvalidLedger`] if one exists with a
    /// different currency or scale.
    async fn create_ledgers(&self, ledgers: &[Ledger]) -> Result<(), Error>;

    /// Every defined ledger, by id.
    async fn ledgers(&self) -> Result<Vec<Ledger>, Error>;

    /// Creates accounts, one outcome each, all in one transaction.
    async fn create_accounts(
        &self,
        accounts: &[NewAccount],
        now_ms: u64,
    ) -> Result<Vec<AccountOutcome>, Error>;

    /// Submits a batch of transfers: one outcome each, in order; linked chains all or
    /// none; the whole batch in one transaction.
    async fn submit(&self, batch: &[Transfer], now_ms: u64) -> Result<Vec<TransferOutcome>, Error>;

    /// The stored accounts among `ids`, by increasing id (missing ones are left out).
    async fn lookup_accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>, Error>;

    /// The stored transfers among `ids`, by increasing id (missing ones are left out).
    async fn lookup_transfers(&self, ids: &[TransferId]) -> Result<Vec<TransferRecord>, Error>;

    /// Accounts by increasing id, strictly after `after`, at most `limit`
    /// (`1..=HISTORY_LIMIT_MAX`).
    async fn accounts(&self, after: Option<AccountId>, limit: u32) -> Result<Vec<Account>, Error>;

    /// The transfers debiting or crediting `account`, by increasing sequence, strictly
    /// after the cursor `after`, at most `limit` (`1..=HISTORY_LIMIT_MAX`).
    async fn history(
        &self,
        account: AccountId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<HistoryPage, Error>;

    /// Expires up to [`crate::rules::EXPIRE_BATCH_MAX`] pending transfers whose timeout
    /// passed at `now_ms`, releasing their pending sums; returns how many. Call until
    /// it returns less than the bound.
    async fn expire_pending(&self, now_ms: u64) -> Result<usize, Error>;

    /// Proves the invariants over everything stored (see [`crate::check`]).
    async fn check(&self) -> Result<CheckReport, Error>;
}

/// The most attempts any retry policy may make.
pub const RETRY_ATTEMPTS_MAX: u32 = 32;

/// How transient failures are retried: up to `attempts_max` attempts in all, sleeping
/// `backoff_initial`, then doubling up to `backoff_max`, between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, `1..=RETRY_ATTEMPTS_MAX` (1 = no retry).
    pub attempts_max: u32,
    /// The first pause.
    pub backoff_initial: Duration,
    /// The longest pause.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts_max: 10,
            backoff_initial: Duration::from_millis(2),
            backoff_max: Duration::from_millis(250),
        }
    }
}

impl RetryPolicy {
    /// No retry at all.
    pub const NONE: Self = Self {
        attempts_max: 1,
        backoff_initial: Duration::ZERO,
        backoff_max: Duration::ZERO,
    };

    /// The pause after failed attempt `attempt` (0-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(16);
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }

    /// Runs `operation` until it succeeds, fails with an error that is not
    /// [transient](Error::is_transient), or the attempts run out.
    pub async fn run<T, F, Fut>(&self, mut operation: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let attempts = self.attempts_max.clamp(1, RETRY_ATTEMPTS_MAX);
        let mut attempt = 0;
        loop {
            match operation().await {
                Err(error) if error.is_transient() && attempt + 1 < attempts => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Opens a ledger from a URL: `sqlite://PATH` (a file, created if missing, WAL,
/// durable commits), `sqlite::memory:` (SQLite in memory), `memory:` (the pure
/// in-memory backend) or `postgres://…` / `postgresql://…`. Migrations run at open.
pub async fn open(url: &str) -> Result<Arc<dyn LedgerBackend>, Error> {
    if url == "memory:" {
        return Ok(Arc::new(crate::MemoryLedger::new()));
    }
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(Arc::new(crate::SqliteLedger::open_memory().await?));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(Error::InvalidUrl(url.to_string()));
        }
        return Ok(Arc::new(crate::SqliteLedger::open_file(path).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(crate::PostgresLedger::connect(url).await?));
    }
    Err(Error::InvalidUrl(url.chars().take(80).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retry_is_bounded_and_stops_on_permanent_errors() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            attempts_max: 4,
            ..RetryPolicy::default()
        };
        let result: Result<(), Error> = policy
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::Busy("locked".into()))
            })
            .await;
        assert!(matches!(result, Err(Error::Busy(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        calls.store(0, Ordering::SeqCst);
        let result: Result<(), Error> = policy
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::Database("syntax".into()))
            })
            .await;
        assert!(matches!(result, Err(Error::Database(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let huge = RetryPolicy {
            attempts_max: u32::MAX,
            ..policy
        };
        calls.store(0, Ordering::SeqCst);
        let _ = huge
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::Unavailable("down".into()))
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), RETRY_ATTEMPTS_MAX);
        assert_eq!(policy.backoff(30), policy.backoff_max);
    }

    #[tokio::test]
    async fn unknown_urls_are_refused() {
        for url in ["mysql://x", "sqlite://", "", "file:x"] {
            assert!(
                matches!(open(url).await, Err(Error::InvalidUrl(_))),
                "{url}"
            );
        }
    }
}
