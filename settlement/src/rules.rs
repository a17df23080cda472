//! The ledger's rules, with no I/O: validation, balance arithmetic, flag checks,
//! idempotency, linked chains and two-phase resolution. Every backend (memory, SQLite,
//! PostgreSQL) loads a [`Snapshot`] of what a batch touches inside its transaction,
//! calls [`plan_batch`], and writes the [`Plan`] back; so the rules exist once, and the
//! simulator runs the very same code in memory. Time is a parameter (`now_ms`): the
//! rules never read a clock.
//!
//! # The balance arithmetic
//! With `A` the pending amount and `p ≤ A` the amount a post settles:
//!
//! | transfer | debit account | credit account |
//! |---|---|---|
//! | single-phase `a` | `debits_posted += a` | `credits_posted += a` |
//! | pending `A` | `debits_pending += A` | `credits_pending += A` |
//! | post `p` of `A` | `debits_pending -= A`, `debits_posted += p` | `credits_pending -= A`, `credits_posted += p` |
//! | void of `A`, or expiry | `debits_pending -= A` | `credits_pending -= A` |
//!
//! Each row adds the same amount to one debit sum and one credit sum of the same
//! ledger, so per ledger Σ`debits_posted` = Σ`credits_posted` and Σ`debits_pending` =
//! Σ`credits_pending` at all times. Flags are checked on the sums *including pending*
//! (`debits_pending + debits_posted ≤ credits_posted`), so a reservation can never be
//! posted into an overdraft; posts, voids and expiries only lower the left side.

use foldhash::HashMap;

use crate::error::{Error, Rejection};
use crate::model::{
    Account, AccountFlags, AccountId, AccountOutcome, Balances, Ledger, LedgerId, NewAccount,
    Transfer, TransferFlags, TransferId, TransferOutcome, TransferRecord, TransferStatus,
};

/// The most events in one batch (transfers or accounts): TigerBeetle's request size.
pub const BATCH_MAX: usize = 8_189;
/// The largest amount, in atomic units: `i64::MAX`, the largest value SQLite's
/// `INTEGER` and PostgreSQL's `BIGINT` store exactly.
pub const AMOUNT_MAX: u64 = i64::MAX as u64;
/// The largest value of any of an account's four sums (same storage bound).
pub const BALANCE_MAX: u64 = i64::MAX as u64;
/// The largest ledger id: `i32::MAX`, the largest PostgreSQL's `INTEGER` stores, so a
/// ledger defined on one backend can be defined on every other.
pub const LEDGER_ID_MAX: u32 = i32::MAX as u32;
/// The most fractional digits of a ledger's atomic unit (that of [`attn_receipts::Money`]).
pub const SCALE_MAX: u32 = attn_receipts::limits::MONEY_SCALE_MAX;
/// The longest timeout of a pending transfer: 90 days.
pub const TIMEOUT_MS_MAX: u64 = 90 * 24 * 60 * 60 * 1_000;
/// The most transfers in one history page.
pub const HISTORY_LIMIT_MAX: u32 = 10_000;
/// The most pending transfers one call of `expire_pending` resolves.
pub const EXPIRE_BATCH_MAX: usize = BATCH_MAX;

const _: () = assert!(AMOUNT_MAX <= BALANCE_MAX);
const _: () = assert!(BALANCE_MAX <= i64::MAX as u64);
const _: () = assert!(EXPIRE_BATCH_MAX <= BATCH_MAX);

/// Checks a ledger definition on its own.
pub fn validate_ledger(ledger: &Ledger) -> Result<(), Error> {
    if ledger.id.0 == 0 {
        return Err(Error::InvalidLedger {
            ledger: ledger.id,
            reason: "id is zero",
        });
    }
    if ledger.id.0 > LEDGER_ID_MAX {
        return Err(Error::InvalidLedger {
            ledger: ledger.id,
            reason: "id is above LEDGER_ID_MAX",
        });
    }
    if ledger.scale > SCALE_MAX {
        return Err(Error::InvalidLedger {
            ledger: ledger.id,
            reason: "scale is above SCALE_MAX",
        });
    }
    Ok(())
}

/// Checks a batch's size.
pub fn validate_batch_len(len: usize) -> Result<(), Error> {
    if len > BATCH_MAX {
        return Err(Error::BatchTooLarge {
            len,
            max: BATCH_MAX,
        });
    }
    Ok(())
}

/// Checks a history limit.
pub fn validate_history_limit(limit: u32) -> Result<(), Error> {
    if limit == 0 || limit > HISTORY_LIMIT_MAX {
        return Err(Error::LimitOutOfRange {
            limit,
            max: HISTORY_LIMIT_MAX,
        });
    }
    Ok(())
}

/// The outcome of creating `new` given what is stored under its id (if anything) and
/// whether its ledger exists.
pub fn create_account(
    new: &NewAccount,
    existing: Option<&Account>,
    ledger_exists: bool,
) -> AccountOutcome {
    if new.id.0 == 0 {
        return AccountOutcome::Rejected(Rejection::IdZero);
    }
    if new.flags.0 & !AccountFlags::ALL.0 != 0 {
        return AccountOutcome::Rejected(Rejection::FlagsInvalid);
    }
    if new.flags.contains(AccountFlags::ALL) {
        return AccountOutcome::Rejected(Rejection::AccountFlagsMutuallyExclusive);
    }
    if new.ledger.0 == 0 {
        return AccountOutcome::Rejected(Rejection::LedgerZero);
    }
    if let Some(existing) = existing {
        let different = if existing.ledger != new.ledger {
            Some("ledger")
        } else if existing.kind != new.kind {
            Some("kind")
        } else if existing.flags != new.flags {
            Some("flags")
        } else if existing.user_data != new.user_data {
            Some("user_data")
        } else {
            None
        };
        return match different {
            Some(field) => {
                AccountOutcome::Rejected(Rejection::AccountExistsWithDifferentFields(field))
            }
            None => AccountOutcome::AlreadyExists,
        };
    }
    if !ledger_exists {
        return AccountOutcome::Rejected(Rejection::LedgerNotFound);
    }
    AccountOutcome::Created
}

/// The checks of a transfer that need no state, in [`Rejection`] order.
pub fn validate_transfer(transfer: &Transfer) -> Result<(), Rejection> {
    let flags = transfer.flags;
    if transfer.id.0 == 0 {
        return Err(Rejection::IdZero);
    }
    let phases = [
        TransferFlags::PENDING,
        TransferFlags::POST_PENDING,
        TransferFlags::VOID_PENDING,
    ]
    .into_iter()
    .filter(|phase| flags.contains(*phase))
    .count();
    if flags.0 & !TransferFlags::ALL.0 != 0 || phases > 1 {
        return Err(Rejection::FlagsInvalid);
    }
    let resolves = flags.resolves_pending();
    if resolves {
        if transfer.pending_id.0 == 0 {
            return Err(Rejection::PendingIdZero);
        }
        if transfer.pending_id == transfer.id {
            return Err(Rejection::PendingIdIsSelf);
        }
    } else if transfer.pending_id.0 != 0 {
        return Err(Rejection::PendingIdMustBeZero);
    }
    if !flags.contains(TransferFlags::PENDING) && transfer.timeout_ms != 0 {
        return Err(Rejection::TimeoutReservedForPendingTransfer);
    }
    if transfer.timeout_ms > TIMEOUT_MS_MAX {
        return Err(Rejection::TimeoutExceedsMax);
    }
    if !resolves {
        if transfer.debit_account.0 == 0 {
            return Err(Rejection::DebitAccountIdZero);
        }
        if transfer.credit_account.0 == 0 {
            return Err(Rejection::CreditAccountIdZero);
        }
    }
    if transfer.debit_account == transfer.credit_account && transfer.debit_account.0 != 0 {
        return Err(Rejection::AccountsMustBeDifferent);
    }
    if transfer.amount == 0 && !flags.contains(TransferFlags::VOID_PENDING) {
        return Err(Rejection::AmountZero);
    }
    if transfer.amount > AMOUNT_MAX {
        return Err(Rejection::AmountExceedsMax);
    }
    if !resolves {
        if transfer.ledger.0 == 0 {
            return Err(Rejection::LedgerZero);
        }
        if transfer.code == 0 {
            return Err(Rejection::CodeZero);
        }
    }
    Ok(())
}

/// The ledgers of `requested` that `existing` lacks, each once, after validating
/// them all: what a `create_ledgers` call must insert. [`Error::InvalidLedger`] if one
/// is defined (stored, or earlier in `requested`) with another currency or scale.
pub fn new_ledgers(
    existing: impl Fn(&LedgerId) -> Option<Ledger>,
    requested: &[Ledger],
) -> Result<Vec<Ledger>, Error> {
    validate_batch_len(requested.len())?;
    let mut fresh: Vec<Ledger> = Vec::new();
    for ledger in requested {
        validate_ledger(ledger)?;
        let defined =
            existing(&ledger.id).or_else(|| fresh.iter().find(|l| l.id == ledger.id).copied());
        match defined {
            Some(stored) if stored != *ledger => {
                return Err(Error::InvalidLedger {
                    ledger: ledger.id,
                    reason: "exists with a different currency or scale",
                });
            }
            Some(_) => {}
            None => fresh.push(*ledger),
        }
    }
    Ok(fresh)
}

/// What a `create_accounts` call does: one outcome per account, in order, and the
/// accounts to insert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountsPlan {
    /// One outcome per requested account, in order.
    pub outcomes: Vec<AccountOutcome>,
    /// The accounts created, in request order.
    pub created: Vec<Account>,
}

/// Plans a `create_accounts` call over the stored accounts among the requested ids
/// (`stored`; see [`unique_sorted`]) and the defined ledgers: a repeated id is
/// created once, then compared like a stored account.
pub fn plan_accounts(
    accounts: &[NewAccount],
    mut stored: HashMap<AccountId, Account>,
    ledger_exists: impl Fn(&LedgerId) -> bool,
    now_ms: u64,
) -> AccountsPlan {
    let mut plan = AccountsPlan {
        outcomes: Vec::with_capacity(accounts.len()),
        created: Vec::new(),
    };
    for new in accounts {
        let outcome = create_account(new, stored.get(&new.id), ledger_exists(&new.ledger));
        if outcome == AccountOutcome::Created {
            let account = Account::open(*new, now_ms);
            stored.insert(new.id, account);
            plan.created.push(account);
        }
        plan.outcomes.push(outcome);
    }
    plan
}

/// `ids` sorted and deduplicated: what a backend reads for a lookup or a batch.
pub fn unique_sorted<T: Ord + Copy>(ids: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut ids: Vec<T> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whether `ledgers` (a backend's cache) defines every ledger `batch` names. Ledgers
/// never change once defined, so a backend reads them again only when this is false
/// (a ledger may have been defined since, or the batch names one that does not exist).
pub fn ledgers_known(batch: &[Transfer], ledgers: &HashMap<LedgerId, Ledger>) -> bool {
    batch
        .iter()
        .all(|t| t.flags.resolves_pending() || ledgers.contains_key(&t.ledger))
}

/// The status updates of an expiry: every due transfer becomes `PendingExpired`.
pub fn expiry_status_updates(due: &[TransferRecord]) -> Vec<(TransferId, TransferStatus)> {
    due.iter()
        .map(|r| (r.transfer.id, TransferStatus::PendingExpired))
        .collect()
}

/// The transfer ids a batch reads: its own ids and the pending transfers it names.
/// Sorted, deduplicated.
pub fn referenced_transfer_ids(batch: &[Transfer]) -> Vec<TransferId> {
    unique_sorted(
        batch
            .iter()
            .flat_map(|t| [t.id, t.pending_id])
            .filter(|id| id.0 != 0),
    )
}

/// The pending transfers a batch resolves (the `pending_id` of its posts and voids).
/// Sorted, deduplicated.
pub fn resolved_pending_ids(batch: &[Transfer]) -> Vec<TransferId> {
    unique_sorted(
        batch
            .iter()
            .filter(|t| t.flags.resolves_pending())
            .map(|t| t.pending_id),
    )
}

/// The account ids a batch reads, given the stored transfers it references (a post or
/// void may leave its accounts to its pending transfer). Sorted, deduplicated: the
/// order in which backends lock them, so concurrent batches never deadlock.
pub fn referenced_account_ids<'a>(
    batch: &[Transfer],
    stored: impl IntoIterator<Item = &'a TransferRecord>,
) -> Vec<AccountId> {
    unique_sorted(
        batch
            .iter()
            .flat_map(|t| [t.debit_account, t.credit_account])
            .chain(
                stored
                    .into_iter()
                    .flat_map(|r| [r.transfer.debit_account, r.transfer.credit_account]),
            )
            .filter(|id| id.0 != 0),
    )
}

/// What a batch may read, loaded by the backend inside its transaction: every ledger,
/// and the stored accounts and transfers the batch references (absent = does not
/// exist).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The defined ledgers.
    pub ledgers: HashMap<LedgerId, Ledger>,
    /// Stored accounts referenced by the batch.
    pub accounts: HashMap<AccountId, Account>,
    /// Stored transfers referenced by the batch.
    pub transfers: HashMap<TransferId, TransferRecord>,
}

/// What a backend must write for a batch, all in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// One outcome per event, in batch order.
    pub outcomes: Vec<TransferOutcome>,
    /// New transfer records, in batch order, with their final status.
    pub inserts: Vec<TransferRecord>,
    /// Accounts whose sums changed, final state, by increasing id.
    pub account_updates: Vec<Account>,
    /// Previously stored pending transfers this batch resolved, with their new status.
    pub status_updates: Vec<(TransferId, TransferStatus)>,
}

enum Undo {
    Balances(AccountId, Balances),
    Inserted(TransferId),
    Status(TransferId, TransferStatus),
}

struct Working {
    snapshot: Snapshot,
    initial_balances: HashMap<AccountId, Balances>,
    initial_status: HashMap<TransferId, TransferStatus>,
    inserted: Vec<TransferId>,
    undo: Vec<Undo>,
}

/// Applies a batch to a snapshot: per event an outcome; linked chains all or none.
///
/// Returns [`Error::Corrupt`] only if the snapshot breaks an invariant the rules rely
/// on (a pending sum below a pending amount): stored data that this code never writes.
///
/// # Example
/// ```
/// use attn_receipts::Currency;
/// use attn_settlement::rules::{plan_batch, Snapshot};
/// use attn_settlement::*;
/// let usd = Ledger { id: LedgerId(1), currency: Currency::new("USD")?, scale: 2 };
/// let mut snapshot = Snapshot::default();
/// snapshot.ledgers.insert(usd.id, usd);
/// for id in [1, 2] {
///     let new = NewAccount { id: AccountId(id), ledger: usd.id, kind: AccountKind::Fees,
///                            flags: AccountFlags::NONE, user_data: 0 };
///     snapshot.accounts.insert(AccountId(id), Account::open(new, 0));
/// }
/// let t = Transfer::single(TransferId(9), AccountId(1), AccountId(2), 500, usd.id, 1);
/// let plan = plan_batch(&[t, t], snapshot, 1_000)?;
/// assert_eq!(plan.outcomes[0], TransferOutcome::Created { created_at_ms: 1_000 });
/// assert_eq!(plan.outcomes[1], TransferOutcome::AlreadyExists { created_at_ms: 1_000 });
/// assert_eq!(plan.inserts.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_batch(batch: &[Transfer], snapshot: Snapshot, now_ms: u64) -> Result<Plan, Error> {
    validate_batch_len(batch.len())?;
    let mut working = Working {
        initial_balances: snapshot
            .accounts
            .iter()
            .map(|(id, account)| (*id, account.balances))
            .collect(),
        initial_status: snapshot
            .transfers
            .iter()
            .map(|(id, record)| (*id, record.status))
            .collect(),
        snapshot,
        inserted: Vec::with_capacity(batch.len()),
        undo: Vec::new(),
    };
    let mut outcomes: Vec<TransferOutcome> = Vec::with_capacity(batch.len());

    // A chain still open at the end of the batch is refused whole, unevaluated.
    let mut open_chain_start = batch.len();
    if batch
        .last()
        .is_some_and(|t| t.flags.contains(TransferFlags::LINKED))
    {
        open_chain_start = batch.len() - 1;
        while open_chain_start > 0
            && batch[open_chain_start - 1]
                .flags
                .contains(TransferFlags::LINKED)
        {
            open_chain_start -= 1;
        }
    }

    let mut index = 0;
    while index < open_chain_start {
        let chain_start = index;
        let undo_mark = working.undo.len();
        let mut failed = false;
        loop {
            let transfer = &batch[index];
            let linked = transfer.flags.contains(TransferFlags::LINKED);
            if failed {
                outcomes.push(TransferOutcome::Rejected(Rejection::LinkedEventFailed));
            } else {
                match working.apply(transfer, now_ms)? {
                    Ok(outcome) => outcomes.push(outcome),
                    Err(rejection) => {
                        outcomes.push(TransferOutcome::Rejected(rejection));
                        if linked || index > chain_start {
                            failed = true;
                            working.rollback(undo_mark);
                            for earlier in &mut outcomes[chain_start..index] {
                                *earlier = TransferOutcome::Rejected(Rejection::LinkedEventFailed);
                            }
                        }
                    }
                }
            }
            index += 1;
            if !linked || index == open_chain_start {
                break;
            }
        }
        // A chain that succeeded is final: its undo entries are no longer needed.
        if !failed {
            working.undo.truncate(undo_mark);
        }
    }
    for position in open_chain_start..batch.len() {
        outcomes.push(TransferOutcome::Rejected(if position + 1 == batch.len() {
            Rejection::LinkedChainOpen
        } else {
            Rejection::LinkedEventFailed
        }));
    }
    debug_assert_eq!(outcomes.len(), batch.len());
    Ok(working.finish(outcomes))
}

impl Working {
    fn rollback(&mut self, mark: usize) {
        while self.undo.len() > mark {
            match self.undo.pop() {
                Some(Undo::Balances(id, balances)) => {
                    if let Some(account) = self.snapshot.accounts.get_mut(&id) {
                        account.balances = balances;
                    }
                }
                Some(Undo::Inserted(id)) => {
                    self.snapshot.transfers.remove(&id);
                    let popped = self.inserted.pop();
                    debug_assert_eq!(popped, Some(id));
                }
                Some(Undo::Status(id, status)) => {
                    if let Some(record) = self.snapshot.transfers.get_mut(&id) {
                        record.status = status;
                    }
                }
                None => break,
            }
        }
    }

    fn set_balances(&mut self, id: AccountId, balances: Balances) {
        if let Some(account) = self.snapshot.accounts.get_mut(&id) {
            self.undo.push(Undo::Balances(id, account.balances));
            account.balances = balances;
        }
    }

    fn insert(&mut self, record: TransferRecord) {
        let id = record.transfer.id;
        self.snapshot.transfers.insert(id, record);
        self.inserted.push(id);
        self.undo.push(Undo::Inserted(id));
    }

    fn set_status(&mut self, id: TransferId, status: TransferStatus) {
        if let Some(record) = self.snapshot.transfers.get_mut(&id) {
            self.undo.push(Undo::Status(id, record.status));
            record.status = status;
        }
    }

    /// One event. The outer `Result` is corruption; the inner one the outcome.
    fn apply(
        &mut self,
        transfer: &Transfer,
        now_ms: u64,
    ) -> Result<Result<TransferOutcome, Rejection>, Error> {
        if let Err(rejection) = validate_transfer(transfer) {
            return Ok(Err(rejection));
        }
        if let Some(existing) = self.snapshot.transfers.get(&transfer.id) {
            return Ok(match different_field(existing, transfer) {
                Some(field) => Err(Rejection::ExistsWithDifferentFields(field)),
                None => Ok(TransferOutcome::AlreadyExists {
                    created_at_ms: existing.created_at_ms,
                }),
            });
        }
        if transfer.flags.resolves_pending() {
            self.resolve(transfer, now_ms)
        } else {
            Ok(self.open(transfer, now_ms))
        }
    }

    /// A single-phase or pending transfer.
    fn open(&mut self, transfer: &Transfer, now_ms: u64) -> Result<TransferOutcome, Rejection> {
        if !self.snapshot.ledgers.contains_key(&transfer.ledger) {
            return Err(Rejection::LedgerNotFound);
        }
        let debit = *self
            .snapshot
            .accounts
            .get(&transfer.debit_account)
            .ok_or(Rejection::DebitAccountNotFound)?;
        let credit = *self
            .snapshot
            .accounts
            .get(&transfer.credit_account)
            .ok_or(Rejection::CreditAccountNotFound)?;
        if debit.ledger != credit.ledger {
            return Err(Rejection::AccountsMustHaveTheSameLedger);
        }
        if transfer.ledger != debit.ledger {
            return Err(Rejection::TransferMustHaveTheSameLedgerAsAccounts);
        }
        let amount = transfer.amount;
        let pending = transfer.flags.contains(TransferFlags::PENDING);
        let mut debits = debit.balances;
        let mut credits = credit.balances;
        if pending {
            debits.debits_pending = add(debits.debits_pending, amount)?;
            credits.credits_pending = add(credits.credits_pending, amount)?;
        } else {
            debits.debits_posted = add(debits.debits_posted, amount)?;
            credits.credits_posted = add(credits.credits_posted, amount)?;
        }
        if debit
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && u128::from(debits.debits_pending) + u128::from(debits.debits_posted)
                > u128::from(debits.credits_posted)
        {
            return Err(Rejection::ExceedsCredits);
        }
        if credit
            .flags
            .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
            && u128::from(credits.credits_pending) + u128::from(credits.credits_posted)
                > u128::from(credits.debits_posted)
        {
            return Err(Rejection::ExceedsDebits);
        }
        self.set_balances(debit.id, debits);
        self.set_balances(credit.id, credits);
        let expires_at_ms = (pending && transfer.timeout_ms > 0)
            .then(|| now_ms.saturating_add(transfer.timeout_ms));
        self.insert(TransferRecord {
            transfer: Transfer {
                flags: transfer.flags.without_linked(),
                ..*transfer
            },
            status: if pending {
                TransferStatus::Pending
            } else {
                TransferStatus::Posted
            },
            created_at_ms: now_ms,
            expires_at_ms,
            sequence: 0,
        });
        Ok(TransferOutcome::Created {
            created_at_ms: now_ms,
        })
    }

    /// A post or void.
    fn resolve(
        &mut self,
        transfer: &Transfer,
        now_ms: u64,
    ) -> Result<Result<TransferOutcome, Rejection>, Error> {
        let Some(pending) = self.snapshot.transfers.get(&transfer.pending_id).copied() else {
            return Ok(Err(Rejection::PendingTransferNotFound));
        };
        let original = pending.transfer;
        if !original.flags.contains(TransferFlags::PENDING) {
            return Ok(Err(Rejection::PendingTransferNotPending));
        }
        let checks = [
            (
                transfer.debit_account.0 != 0 && transfer.debit_account != original.debit_account,
                Rejection::PendingTransferHasDifferentDebitAccount,
            ),
            (
                transfer.credit_account.0 != 0
                    && transfer.credit_account != original.credit_account,
                Rejection::PendingTransferHasDifferentCreditAccount,
            ),
            (
                transfer.ledger.0 != 0 && transfer.ledger != original.ledger,
                Rejection::PendingTransferHasDifferentLedger,
            ),
            (
                transfer.code != 0 && transfer.code != original.code,
                Rejection::PendingTransferHasDifferentCode,
            ),
        ];
        if let Some((_, rejection)) = checks.into_iter().find(|(failed, _)| *failed) {
            return Ok(Err(rejection));
        }
        let post = transfer.flags.contains(TransferFlags::POST_PENDING);
        let amount_ok = if post {
            transfer.amount <= original.amount
        } else {
            transfer.amount == 0 || transfer.amount == original.amount
        };
        if !amount_ok {
            return Ok(Err(Rejection::PendingTransferHasDifferentAmount));
        }
        match pending.status {
            TransferStatus::Pending => {}
            TransferStatus::PendingPosted => {
                return Ok(Err(Rejection::PendingTransferAlreadyPosted));
            }
            TransferStatus::PendingVoided => {
                return Ok(Err(Rejection::PendingTransferAlreadyVoided));
            }
            TransferStatus::PendingExpired => return Ok(Err(Rejection::PendingTransferExpired)),
            TransferStatus::Posted | TransferStatus::Voided => {
                return Err(Error::Corrupt(format!(
                    "pending transfer {} has status {}",
                    original.id,
                    pending.status.name()
                )));
            }
        }
        if pending.expires_at_ms.is_some_and(|expiry| now_ms >= expiry) {
            return Ok(Err(Rejection::PendingTransferExpired));
        }
        let Some(debit) = self.snapshot.accounts.get(&original.debit_account).copied() else {
            return Ok(Err(Rejection::DebitAccountNotFound));
        };
        let Some(credit) = self
            .snapshot
            .accounts
            .get(&original.credit_account)
            .copied()
        else {
            return Ok(Err(Rejection::CreditAccountNotFound));
        };
        let mut debits = debit.balances;
        let mut credits = credit.balances;
        debits.debits_pending = release(debits.debits_pending, original.amount, debit.id)?;
        credits.credits_pending = release(credits.credits_pending, original.amount, credit.id)?;
        let settled = if post {
            transfer.amount
        } else {
            original.amount
        };
        if post {
            match (
                add(debits.debits_posted, settled),
                add(credits.credits_posted, settled),
            ) {
                (Ok(debited), Ok(credited)) => {
                    debits.debits_posted = debited;
                    credits.credits_posted = credited;
                }
                _ => return Ok(Err(Rejection::Overflow)),
            }
        }
        self.set_balances(debit.id, debits);
        self.set_balances(credit.id, credits);
        self.set_status(
            original.id,
            if post {
                TransferStatus::PendingPosted
            } else {
                TransferStatus::PendingVoided
            },
        );
        self.insert(TransferRecord {
            transfer: Transfer {
                id: transfer.id,
                debit_account: original.debit_account,
                credit_account: original.credit_account,
                amount: settled,
                ledger: original.ledger,
                code: original.code,
                user_data: transfer.user_data,
                flags: transfer.flags.without_linked(),
                pending_id: original.id,
                timeout_ms: 0,
            },
            status: if post {
                TransferStatus::Posted
            } else {
                TransferStatus::Voided
            },
            created_at_ms: now_ms,
            expires_at_ms: None,
            sequence: 0,
        });
        Ok(Ok(TransferOutcome::Created {
            created_at_ms: now_ms,
        }))
    }

    fn finish(self, outcomes: Vec<TransferOutcome>) -> Plan {
        let Working {
            snapshot,
            initial_balances,
            initial_status,
            inserted,
            ..
        } = self;
        let inserts: Vec<TransferRecord> = inserted
            .iter()
            .filter_map(|id| snapshot.transfers.get(id).copied())
            .collect();
        let mut account_updates: Vec<Account> = snapshot
            .accounts
            .values()
            .filter(|account| initial_balances.get(&account.id) != Some(&account.balances))
            .copied()
            .collect();
        account_updates.sort_unstable_by_key(|account| account.id);
        let mut status_updates: Vec<(TransferId, TransferStatus)> = initial_status
            .iter()
            .filter_map(|(id, before)| {
                let now = snapshot.transfers.get(id)?.status;
                (now != *before).then_some((*id, now))
            })
            .collect();
        status_updates.sort_unstable_by_key(|(id, _)| *id);
        Plan {
            outcomes,
            inserts,
            account_updates,
            status_updates,
        }
    }
}

/// Compares a stored transfer with a resubmission; `None` if it is the same transfer.
fn different_field(existing: &TransferRecord, submitted: &Transfer) -> Option<&'static str> {
    let stored = &existing.transfer;
    if stored.flags != submitted.flags.without_linked() {
        return Some("flags");
    }
    if submitted.flags.resolves_pending() {
        let inherits = |submitted: u128, stored: u128| submitted == 0 || submitted == stored;
        if stored.pending_id != submitted.pending_id {
            return Some("pending_id");
        }
        if !inherits(submitted.debit_account.0, stored.debit_account.0) {
            return Some("debit_account");
        }
        if !inherits(submitted.credit_account.0, stored.credit_account.0) {
            return Some("credit_account");
        }
        if !inherits(submitted.ledger.0.into(), stored.ledger.0.into()) {
            return Some("ledger");
        }
        if !inherits(submitted.code.into(), stored.code.into()) {
            return Some("code");
        }
        let void = submitted.flags.contains(TransferFlags::VOID_PENDING);
        if !(submitted.amount == stored.amount || void && submitted.amount == 0) {
            return Some("amount");
        }
    } else {
        let fields = [
            (
                stored.debit_account != submitted.debit_account,
                "debit_account",
            ),
            (
                stored.credit_account != submitted.credit_account,
                "credit_account",
            ),
            (stored.amount != submitted.amount, "amount"),
            (stored.ledger != submitted.ledger, "ledger"),
            (stored.code != submitted.code, "code"),
            (stored.timeout_ms != submitted.timeout_ms, "timeout_ms"),
        ];
        if let Some((_, field)) = fields.into_iter().find(|(differs, _)| *differs) {
            return Some(field);
        }
    }
    if stored.user_data != submitted.user_data {
        return Some("user_data");
    }
    None
}

fn add(sum: u64, amount: u64) -> Result<u64, Rejection> {
    sum.checked_add(amount)
        .filter(|total| *total <= BALANCE_MAX)
        .ok_or(Rejection::Overflow)
}

fn release(sum: u64, amount: u64, account: AccountId) -> Result<u64, Error> {
    sum.checked_sub(amount).ok_or_else(|| {
        Error::Corrupt(format!(
            "account {account}: pending sum {sum} below a pending amount {amount}"
        ))
    })
}

/// Releases expired pending transfers: for each of `expired` (stored, status
/// [`TransferStatus::Pending`], `expires_at_ms <= now_ms`), the pending sums of its
/// accounts drop by its amount. Returns the accounts changed (final state, by id).
/// `accounts` must hold every account of `expired`.
pub fn plan_expiry(
    expired: &[TransferRecord],
    accounts: &mut HashMap<AccountId, Account>,
    now_ms: u64,
) -> Result<Vec<Account>, Error> {
    let mut changed: Vec<AccountId> = Vec::new();
    for record in expired {
        let transfer = &record.transfer;
        let due = record.expires_at_ms.is_some_and(|expiry| expiry <= now_ms);
        if record.status != TransferStatus::Pending || !due {
            return Err(Error::Corrupt(format!(
                "transfer {} handed to expiry is not a due pending transfer",
                transfer.id
            )));
        }
        for (id, debit_side) in [
            (transfer.debit_account, true),
            (transfer.credit_account, false),
        ] {
            let account = accounts.get_mut(&id).ok_or_else(|| {
                Error::Corrupt(format!("account {id} of {} missing", transfer.id))
            })?;
            let sum = if debit_side {
                &mut account.balances.debits_pending
            } else {
                &mut account.balances.credits_pending
            };
            *sum = release(*sum, transfer.amount, id)?;
            changed.push(id);
        }
    }
    changed.sort_unstable();
    changed.dedup();
    Ok(changed
        .into_iter()
        .filter_map(|id| accounts.get(&id).copied())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AccountKind;
    use attn_receipts::Currency;

    const USD: LedgerId = LedgerId(1);
    const EUR: LedgerId = LedgerId(2);

    fn snapshot(accounts: &[(u128, LedgerId, AccountFlags, u64)]) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (id, code) in [(USD, "USD"), (EUR, "EUR")] {
            let currency = Currency::new(code).expect("valid currency");
            snapshot.ledgers.insert(
                id,
                Ledger {
                    id,
                    currency,
                    scale: 2,
                },
            );
        }
        for (id, ledger, flags, credits) in accounts {
            let mut account = Account::open(
                NewAccount {
                    id: AccountId(*id),
                    ledger: *ledger,
                    kind: AccountKind::UserWallet,
                    flags: *flags,
                    user_data: 0,
                },
                0,
            );
            account.balances.credits_posted = *credits;
            snapshot.accounts.insert(AccountId(*id), account);
        }
        snapshot
    }

    fn single(id: u128, debit: u128, credit: u128, amount: u64) -> Transfer {
        Transfer::single(
            TransferId(id),
            AccountId(debit),
            AccountId(credit),
            amount,
            USD,
            1,
        )
    }

    fn rejected(plan: &Plan, index: usize) -> Option<Rejection> {
        match plan.outcomes[index] {
            TransferOutcome::Rejected(rejection) => Some(rejection),
            _ => None,
        }
    }

    #[test]
    fn static_validation_refuses_bad_amounts_and_ids() {
        let good = single(1, 1, 2, 5);
        assert_eq!(validate_transfer(&good), Ok(()));
        let cases = [
            (Transfer { amount: 0, ..good }, Rejection::AmountZero),
            (
                Transfer {
                    amount: AMOUNT_MAX + 1,
                    ..good
                },
                Rejection::AmountExceedsMax,
            ),
            (
                Transfer {
                    id: TransferId(0),
                    ..good
                },
                Rejection::IdZero,
            ),
            (
                Transfer {
                    credit_account: AccountId(1),
                    ..good
                },
                Rejection::AccountsMustBeDifferent,
            ),
            (Transfer { code: 0, ..good }, Rejection::CodeZero),
            (
                Transfer {
                    ledger: LedgerId(0),
                    ..good
                },
                Rejection::LedgerZero,
            ),
            (
                Transfer {
                    timeout_ms: 5,
                    ..good
                },
                Rejection::TimeoutReservedForPendingTransfer,
            ),
            (
                Transfer {
                    flags: TransferFlags::PENDING,
                    timeout_ms: TIMEOUT_MS_MAX + 1,
                    ..good
                },
                Rejection::TimeoutExceedsMax,
            ),
            (
                Transfer {
                    flags: TransferFlags::PENDING.union(TransferFlags::POST_PENDING),
                    ..good
                },
                Rejection::FlagsInvalid,
            ),
            (
                Transfer {
                    flags: TransferFlags(64),
                    ..good
                },
                Rejection::FlagsInvalid,
            ),
            (
                Transfer {
                    pending_id: TransferId(7),
                    ..good
                },
                Rejection::PendingIdMustBeZero,
            ),
            (
                Transfer::post(TransferId(3), TransferId(0), 1),
                Rejection::PendingIdZero,
            ),
            (
                Transfer::post(TransferId(3), TransferId(3), 1),
                Rejection::PendingIdIsSelf,
            ),
            (
                Transfer::post(TransferId(3), TransferId(4), 0),
                Rejection::AmountZero,
            ),
        ];
        for (transfer, expected) in cases {
            assert_eq!(validate_transfer(&transfer), Err(expected), "{transfer:?}");
        }
        assert_eq!(
            validate_transfer(&Transfer::void(TransferId(3), TransferId(4))),
            Ok(())
        );
    }

    #[test]
    fn overdraft_is_refused_and_pending_counts() {
        let flags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
        let snap = snapshot(&[(1, USD, flags, 100), (2, USD, AccountFlags::NONE, 0)]);
        let pending = Transfer {
            flags: TransferFlags::PENDING,
            ..single(1, 1, 2, 60)
        };
        let plan = plan_batch(
            &[pending, single(2, 1, 2, 50), single(3, 1, 2, 40)],
            snap,
            5,
        )
        .expect("plan");
        assert!(plan.outcomes[0].is_recorded());
        assert_eq!(rejected(&plan, 1), Some(Rejection::ExceedsCredits));
        assert!(plan.outcomes[2].is_recorded());
        let debit = plan.account_updates[0];
        assert_eq!(debit.balances.debits_pending, 60);
        assert_eq!(debit.balances.debits_posted, 40);
    }

    #[test]
    fn wrong_ledger_is_refused() {
        let snap = snapshot(&[
            (1, USD, AccountFlags::NONE, 0),
            (2, EUR, AccountFlags::NONE, 0),
            (3, EUR, AccountFlags::NONE, 0),
        ]);
        let plan = plan_batch(
            &[
                single(1, 1, 2, 5),
                single(2, 2, 3, 5),
                Transfer {
                    ledger: LedgerId(9),
                    ..single(3, 2, 3, 5)
                },
            ],
            snap,
            5,
        )
        .expect("plan");
        assert_eq!(
            rejected(&plan, 0),
            Some(Rejection::AccountsMustHaveTheSameLedger)
        );
        assert_eq!(
            rejected(&plan, 1),
            Some(Rejection::TransferMustHaveTheSameLedgerAsAccounts)
        );
        assert_eq!(rejected(&plan, 2), Some(Rejection::LedgerNotFound));
        assert!(plan.inserts.is_empty());
    }

    #[test]
    fn linked_chain_is_all_or_none() {
        let flags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
        let snap = snapshot(&[(1, USD, flags, 100), (2, USD, AccountFlags::NONE, 0)]);
        let linked = |t: Transfer| Transfer {
            flags: TransferFlags::LINKED,
            ..t
        };
        let batch = [
            linked(single(1, 1, 2, 30)),
            linked(single(2, 1, 2, 30)),
            single(3, 1, 2, 50), // overdraws: the whole chain fails
            single(4, 1, 2, 10),
            linked(single(5, 1, 2, 1)), // open at the end
        ];
        let plan = plan_batch(&batch, snap, 5).expect("plan");
        assert_eq!(rejected(&plan, 0), Some(Rejection::LinkedEventFailed));
        assert_eq!(rejected(&plan, 1), Some(Rejection::LinkedEventFailed));
        assert_eq!(rejected(&plan, 2), Some(Rejection::ExceedsCredits));
        assert!(plan.outcomes[3].is_recorded());
        assert_eq!(rejected(&plan, 4), Some(Rejection::LinkedChainOpen));
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(plan.account_updates[0].balances.debits_posted, 10);
    }

    #[test]
    fn two_phase_post_partial_then_refuse_double_resolution() {
        let snap = snapshot(&[
            (1, USD, AccountFlags::NONE, 0),
            (2, USD, AccountFlags::NONE, 0),
        ]);
        let pending = Transfer {
            flags: TransferFlags::PENDING,
            timeout_ms: 1_000,
            ..single(1, 1, 2, 100)
        };
        let batch = [
            pending,
            Transfer::post(TransferId(2), TransferId(1), 70),
            Transfer::void(TransferId(3), TransferId(1)),
            Transfer::post(TransferId(4), TransferId(9), 1),
        ];
        let plan = plan_batch(&batch, snap, 10).expect("plan");
        assert!(plan.outcomes[1].is_recorded());
        assert_eq!(
            rejected(&plan, 2),
            Some(Rejection::PendingTransferAlreadyPosted)
        );
        assert_eq!(rejected(&plan, 3), Some(Rejection::PendingTransferNotFound));
        assert_eq!(plan.inserts[0].status, TransferStatus::PendingPosted);
        assert_eq!(plan.inserts[0].expires_at_ms, Some(1_010));
        let debit = plan.account_updates[0].balances;
        assert_eq!((debit.debits_pending, debit.debits_posted), (0, 70));
    }

    #[test]
    fn post_after_timeout_is_refused_and_expiry_releases() {
        let mut snap = snapshot(&[
            (1, USD, AccountFlags::NONE, 0),
            (2, USD, AccountFlags::NONE, 0),
        ]);
        let pending = Transfer {
            flags: TransferFlags::PENDING,
            timeout_ms: 100,
            ..single(1, 1, 2, 40)
        };
        let plan = plan_batch(&[pending], snap.clone(), 0).expect("plan");
        for account in &plan.account_updates {
            snap.accounts.insert(account.id, *account);
        }
        snap.transfers.insert(TransferId(1), plan.inserts[0]);
        let late = plan_batch(
            &[Transfer::post(TransferId(2), TransferId(1), 40)],
            snap.clone(),
            100,
        )
        .expect("plan");
        assert_eq!(rejected(&late, 0), Some(Rejection::PendingTransferExpired));
        let changed = plan_expiry(&plan.inserts, &mut snap.accounts, 100).expect("expiry");
        assert!(changed.iter().all(|a| a.balances == Balances::default()));
        assert!(plan_expiry(&plan.inserts, &mut snap.accounts, 99).is_err());
    }

    #[test]
    fn resubmission_is_idempotent_and_conflicts_are_named() {
        let snap = snapshot(&[
            (1, USD, AccountFlags::NONE, 0),
            (2, USD, AccountFlags::NONE, 0),
        ]);
        let t = single(1, 1, 2, 5);
        let plan = plan_batch(
            &[
                t,
                t,
                Transfer { amount: 6, ..t },
                Transfer { user_data: 1, ..t },
            ],
            snap,
            5,
        )
        .expect("plan");
        assert_eq!(
            plan.outcomes[1],
            TransferOutcome::AlreadyExists { created_at_ms: 5 }
        );
        assert_eq!(
            rejected(&plan, 2),
            Some(Rejection::ExistsWithDifferentFields("amount"))
        );
        assert_eq!(
            rejected(&plan, 3),
            Some(Rejection::ExistsWithDifferentFields("user_data"))
        );
        assert_eq!(plan.inserts.len(), 1);
    }

    #[test]
    fn overflow_is_refused() {
        let snap = snapshot(&[
            (1, USD, AccountFlags::NONE, 0),
            (2, USD, AccountFlags::NONE, BALANCE_MAX),
        ]);
        let plan = plan_batch(&[single(1, 1, 2, 1)], snap, 5).expect("plan");
        assert_eq!(rejected(&plan, 0), Some(Rejection::Overflow));
    }

    #[test]
    fn batch_over_max_is_an_error() {
        let batch = vec![single(1, 1, 2, 1); BATCH_MAX + 1];
        assert!(matches!(
            plan_batch(&batch, Snapshot::default(), 0),
            Err(Error::BatchTooLarge { .. })
        ));
        assert!(validate_history_limit(HISTORY_LIMIT_MAX + 1).is_err());
        assert!(validate_history_limit(0).is_err());
    }

    #[test]
    fn accounts_are_idempotent() {
        let new = NewAccount {
            id: AccountId(1),
            ledger: USD,
            kind: AccountKind::Fees,
            flags: AccountFlags::NONE,
            user_data: 3,
        };
        assert_eq!(create_account(&new, None, true), AccountOutcome::Created);
        assert_eq!(
            create_account(&new, None, false),
            AccountOutcome::Rejected(Rejection::LedgerNotFound)
        );
        let stored = Account::open(new, 0);
        assert_eq!(
            create_account(&new, Some(&stored), true),
            AccountOutcome::AlreadyExists
        );
        let other = NewAccount {
            kind: AccountKind::UserWallet,
            ..new
        };
        assert_eq!(
            create_account(&other, Some(&stored), true),
            AccountOutcome::Rejected(Rejection::AccountExistsWithDifferentFields("kind"))
        );
        let both = NewAccount {
            flags: AccountFlags::ALL,
            ..new
        };
        assert_eq!(
            create_account(&both, None, true),
            AccountOutcome::Rejected(Rejection::AccountFlagsMutuallyExclusive)
        );
    }
}
