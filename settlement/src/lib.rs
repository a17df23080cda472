//! attn's settlement ledger: double-entry accounts and transfers in integer atomic
//! units, exactly once, on SQLite (the embedded default) or PostgreSQL.
//!
//! It must never depend on gRPC, on the auction or on a payment rail: rails and the
//! SDK depend on it, not the other way round. Its rules ([`rules`], [`check`],
//! [`flow`]'s leg derivation) do no I/O and never read a clock: `now_ms` is a parameter.
//!
//! The model is TigerBeetle's: accounts hold `debits_pending`, `debits_posted`,
//! `credits_pending` and `credits_posted`, with flags that forbid overdrafts; a
//! transfer's id is its idempotency key; transfers are single-phase or two-phase
//! (pending, then post in full or in part, or void, or expiry after a timeout); events
//! can be linked into chains that succeed or fail as a whole; a batch is committed in
//! one database transaction. Rejections ([`Rejection`]) are per-event result codes,
//! not errors: a batch may mix created, already-existing and rejected events. See
//! `docs/ledger.md` for the design and its choices.
//!
//! # Layout
//! - [`model`]: ledgers, accounts, transfers, outcomes, pages.
//! - [`rules`]: the pure state machine every backend runs ([`rules::plan_batch`]),
//!   bounds (`BATCH_MAX`, `AMOUNT_MAX`, …).
//! - [`check`]: the invariants, proved from what is stored.
//! - [`backend`]: the [`LedgerBackend`] trait, [`RetryPolicy`], [`open`] by URL.
//! - [`memory`], [`sqlite`], [`postgres`]: the three backends.
//! - [`flow`]: an impression's settlement: accept (pending, fee legs linked), post,
//!   void, earnings.
//! - [`bench`]: the workload and bare-`INSERT` baseline of the benchmarks.
//! - [`testing`] (feature `test-suite`): the suite every backend passes.
//! - [`error`]: [`Error`] and [`Rejection`].
//!
//! # Example
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! use attn_receipts::Currency;
//! use attn_settlement::*;
//! let ledger = open("sqlite::memory:").await?;
//! let usd = Ledger { id: LedgerId(1), currency: Currency::new("USD")?, scale: 2 };
//! ledger.create_ledgers(&[usd]).await?;
//! let open_account = |id, flags| NewAccount { id: AccountId(id), ledger: usd.id,
//!     kind: AccountKind::UserWallet, flags, user_data: 0 };
//! ledger.create_accounts(&[
//!     open_account(1, AccountFlags::NONE),
//!     open_account(2, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
//! ], 0).await?;
//! let fund = Transfer::single(TransferId(1), AccountId(1), AccountId(2), 100, usd.id, 1);
//! let spend = Transfer::single(TransferId(2), AccountId(2), AccountId(1), 150, usd.id, 1);
//! let outcomes = ledger.submit(&[fund, spend], 1_000).await?;
//! assert!(outcomes[0].is_recorded());
//! assert_eq!(outcomes[1], TransferOutcome::Rejected(Rejection::ExceedsCredits));
//! assert!(ledger.check().await?.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod backend;
pub mod bench;
pub mod check;
pub mod error;
pub mod flow;
pub mod memory;
pub mod model;
pub mod postgres;
pub mod rules;
mod sql;
pub mod sqlite;
#[cfg(feature = "test-suite")]
pub mod testing;

pub use backend::{LedgerBackend, RETRY_ATTEMPTS_MAX, RetryPolicy, open};
pub use check::{CheckReport, Violation};
pub use error::{Error, Rejection};
pub use memory::MemoryLedger;
pub use model::{
    Account, AccountFlags, AccountId, AccountKind, AccountOutcome, Balances, Earnings, HistoryPage,
    Ledger, LedgerId, NewAccount, Transfer, TransferFlags, TransferId, TransferOutcome,
    TransferRecord, TransferStatus,
};
pub use postgres::PostgresLedger;
pub use sqlite::SqliteLedger;
