//! The crate's error enum ([`Error`]: the operation itself failed) and the result
//! codes of single events ([`Rejection`]: one transfer or account was refused, which
//! is a normal answer, not a failure: a batch can mix created and rejected events).

use std::fmt;

use crate::model::{AccountId, LedgerId, TransferId};

/// Why an operation on the ledger failed. Nothing of a failed write was recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This error occurs when the database cannot be reached (connection refused,
    /// host unknown, pool timed out) or the file cannot be opened.
    #[error("ledger database unavailable: {0}")]
    Unavailable(String),
    /// This error occurs when the database stayed locked by another writer (SQLite
    /// `SQLITE_BUSY`) or the transaction kept losing to concurrent ones (PostgreSQL
    /// serialization failure or deadlock) for the whole retry policy.
    #[error("ledger database busy: {0}")]
    Busy(String),
    /// This error occurs when the database answers with an error that is not transient
    /// (a constraint, a syntax error: a bug or a schema that is not ours).
    #[error("ledger database error: {0}")]
    Database(String),
    /// This error occurs when the migrations cannot be applied at open.
    #[error("ledger migration failed: {0}")]
    Migration(String),
    /// This error occurs when `--db` / `open(url)` is neither `sqlite://PATH`,
    /// `sqlite::memory:` nor `postgres://…`.
    #[error(
        "unsupported ledger URL {0:?}: expected sqlite://PATH, sqlite::memory: or postgres://…"
    )]
    InvalidUrl(String),
    /// This error occurs when a stored value is out of the model's range (a negative
    /// sum, an unknown kind code, an id that is not 16 bytes): the database was written
    /// by something else.
    #[error("ledger data corrupt: {0}")]
    Corrupt(String),
    /// This error occurs when a batch holds more than [`crate::rules::BATCH_MAX`] events.
    #[error("batch of {len} events exceeds BATCH_MAX = {max}")]
    BatchTooLarge {
        /// The events submitted.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// This error occurs when a history page asks for more than
    /// [`crate::rules::HISTORY_LIMIT_MAX`] transfers or zero.
    #[error("history limit {limit} is not in 1..={max}")]
    LimitOutOfRange {
        /// The limit asked.
        limit: u32,
        /// The bound.
        max: u32,
    },
    /// This error occurs when a ledger definition is invalid (id zero, scale above
    /// [`crate::rules::SCALE_MAX`]) or differs from the one already stored.
    #[error("ledger {ledger}: {reason}")]
    InvalidLedger {
        /// The ledger.
        ledger: LedgerId,
        /// What is wrong.
        reason: &'static str,
    },
    /// This error occurs when an operation names a ledger that is not defined.
    #[error("ledger {0} is not defined")]
    LedgerNotFound(LedgerId),
    /// This error occurs when an operation names an account that does not exist.
    #[error("account {0} does not exist")]
    AccountNotFound(AccountId),
    /// This error occurs when money of one currency is given for a ledger of another.
    #[error("ledger {ledger} is in {expected}, not {found}")]
    CurrencyMismatch {
        /// The ledger.
        ledger: LedgerId,
        /// Its currency.
        expected: String,
        /// The currency given.
        found: String,
    },
    /// This error occurs when an amount cannot be converted to or from atomic units
    /// exactly (precision loss, out of range).
    #[error("amount: {0}")]
    Money(String),
    /// This error occurs when an amount given at the API edge is negative: the ledger
    /// moves value by transfers between accounts, never by negative amounts.
    #[error("amount {0} is negative")]
    AmountNegative(String),
    /// This error occurs when an amount given at the API edge is more than
    /// [`crate::rules::AMOUNT_MAX`] atomic units of its ledger.
    #[error("amount {0} exceeds AMOUNT_MAX atomic units")]
    AmountExceedsMax(String),
    /// This error occurs when an amount given at the API edge has more fractional
    /// digits than its ledger's atomic unit (converting would lose value).
    #[error("amount {amount} has more than the {scale} fractional digits of its ledger")]
    AmountTooPrecise {
        /// The amount.
        amount: String,
        /// The ledger's scale.
        scale: u32,
    },
    /// This error occurs when a hex id does not parse.
    #[error("invalid id {0:?}: expected 1 to 32 hex digits")]
    InvalidId(String),
    /// This error occurs when a settlement-flow batch is refused by the ledger: the
    /// event at `index` was rejected for `reason` (its linked chain was not recorded).
    #[error("transfer {id} (event {index} of the batch) rejected: {reason}")]
    Rejected {
        /// The index of the first rejected event.
        index: usize,
        /// Its transfer id.
        id: TransferId,
        /// Why.
        reason: Rejection,
    },
    /// This error occurs when a fee rate is above one million parts per million, or the
    /// fees exceed the amount.
    #[error("invalid fee split: {0}")]
    InvalidFees(&'static str),
}

impl Error {
    /// Whether retrying the same operation later may succeed ([`Error::Unavailable`],
    /// [`Error::Busy`]). Retrying is always safe: writes are idempotent by id.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Busy(_))
    }
}

/// Why one transfer or account was refused. A result code, like TigerBeetle's
/// `CreateTransferResult`: checked in the order the variants are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Another event of its linked chain was rejected, so this one was not recorded.
    LinkedEventFailed,
    /// The batch ended while a linked chain was still open (the last event carried
    /// the `LINKED` flag).
    LinkedChainOpen,
    /// The id is zero.
    IdZero,
    /// Flags outside the defined bits, or more than one of pending / post / void.
    FlagsInvalid,
    /// A post or void without a `pending_id`.
    PendingIdZero,
    /// A `pending_id` on a transfer that is not a post or a void.
    PendingIdMustBeZero,
    /// A post or void naming itself.
    PendingIdIsSelf,
    /// A timeout on a transfer that is not pending.
    TimeoutReservedForPendingTransfer,
    /// The timeout is above [`crate::rules::TIMEOUT_MS_MAX`].
    TimeoutExceedsMax,
    /// A debit account id of zero (on a transfer that is not a post or a void).
    DebitAccountIdZero,
    /// A credit account id of zero (on a transfer that is not a post or a void).
    CreditAccountIdZero,
    /// Debit and credit account are the same.
    AccountsMustBeDifferent,
    /// The amount is zero (a void may carry zero; a post may not).
    AmountZero,
    /// The amount is above [`crate::rules::AMOUNT_MAX`].
    AmountExceedsMax,
    /// The ledger is zero (on a transfer that is not a post or a void).
    LedgerZero,
    /// The code is zero (on a transfer that is not a post or a void).
    CodeZero,
    /// The ledger is not defined.
    LedgerNotFound,
    /// A transfer with this id exists with different fields (named).
    ExistsWithDifferentFields(&'static str),
    /// The debit account does not exist.
    DebitAccountNotFound,
    /// The credit account does not exist.
    CreditAccountNotFound,
    /// The two accounts are on different ledgers.
    AccountsMustHaveTheSameLedger,
    /// The transfer's ledger is not its accounts' ledger (wrong ledger).
    TransferMustHaveTheSameLedgerAsAccounts,
    /// The pending transfer named does not exist.
    PendingTransferNotFound,
    /// The transfer named is not a pending transfer.
    PendingTransferNotPending,
    /// The post or void names a debit account other than the pending transfer's.
    PendingTransferHasDifferentDebitAccount,
    /// The post or void names a credit account other than the pending transfer's.
    PendingTransferHasDifferentCreditAccount,
    /// The post or void names a ledger other than the pending transfer's.
    PendingTransferHasDifferentLedger,
    /// The post or void names a code other than the pending transfer's.
    PendingTransferHasDifferentCode,
    /// A post above the pending amount, or a void of another amount.
    PendingTransferHasDifferentAmount,
    /// The pending transfer was already posted.
    PendingTransferAlreadyPosted,
    /// The pending transfer was already voided.
    PendingTransferAlreadyVoided,
    /// The pending transfer's timeout passed.
    PendingTransferExpired,
    /// A sum of an account would exceed [`crate::rules::BALANCE_MAX`].
    Overflow,
    /// The debit account has `DEBITS_MUST_NOT_EXCEED_CREDITS` and this would break it
    /// (insufficient funds).
    ExceedsCredits,
    /// The credit account has `CREDITS_MUST_NOT_EXCEED_DEBITS` and this would break it.
    ExceedsDebits,
    /// An account with this id exists with different fields (named).
    AccountExistsWithDifferentFields(&'static str),
    /// An account with both balance flags (it could never move).
    AccountFlagsMutuallyExclusive,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExistsWithDifferentFields(field) => {
                write!(f, "a transfer with this id exists with a different {field}")
            }
            Self::AccountExistsWithDifferentFields(field) => {
                write!(f, "an account with this id exists with a different {field}")
            }
            other => write!(f, "{other:?}"),
        }
    }
}
