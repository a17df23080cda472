//! [`MemoryLedger`]: the rules over plain maps behind a mutex. For tests and the
//! simulator, which runs the product's own ledger logic deterministically.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::backend::LedgerBackend;
use crate::check::{self, CheckReport};
use crate::error::Error;
use crate::model::{
    Account, AccountId, AccountOutcome, HistoryPage, Ledger, LedgerId, NewAccount, Transfer,
    TransferId, TransferOutcome, TransferRecord, TransferStatus,
};
use crate::rules::{self, Snapshot};

#[derive(Default)]
struct State {
    ledgers: BTreeMap<LedgerId, Ledger>,
    accounts: BTreeMap<AccountId, Account>,
    transfers: HashMap<TransferId, TransferRecord>,
    /// Transfer ids by sequence (sequence `n` at index `n - 1`).
    log: Vec<TransferId>,
    /// Per account, the sequences of its transfers, increasing.
    by_account: HashMap<AccountId, Vec<u64>>,
}

/// An in-memory ledger running the same rules as the database backends. Not durable.
///
/// # Example
/// ```
/// use attn_receipts::Currency;
/// use attn_settlement::*;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let ledger = MemoryLedger::new();
/// let usd = Ledger { id: LedgerId(1), currency: Currency::new("USD")?, scale: 2 };
/// ledger.create_ledgers(&[usd]).await?;
/// let account = |id| NewAccount { id: AccountId(id), ledger: usd.id,
///     kind: AccountKind::Fees, flags: AccountFlags::NONE, user_data: 0 };
/// ledger.create_accounts(&[account(1), account(2)], 0).await?;
/// let t = Transfer::single(TransferId(7), AccountId(1), AccountId(2), 250, usd.id, 1);
/// let outcomes = ledger.submit(&[t], 10).await?;
/// assert!(outcomes[0].is_recorded());
/// assert!(ledger.check().await?.is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct MemoryLedger {
    state: Mutex<State>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a bug in the rules; the
        // state is still the last fully applied batch (plans are applied without
        // panicking paths), so keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Submits a batch synchronously (what the simulator calls in its rounds).
    pub fn submit_now(
        &self,
        batch: &[Transfer],
        now_ms: u64,
    ) -> Result<Vec<TransferOutcome>, Error> {
        rules::validate_batch_len(batch.len())?;
        let mut state = self.state();
        let mut snapshot = Snapshot {
            ledgers: state.ledgers.iter().map(|(id, l)| (*id, *l)).collect(),
            ..Snapshot::default()
        };
        for id in rules::referenced_transfer_ids(batch) {
            if let Some(record) = state.transfers.get(&id) {
                snapshot.transfers.insert(id, *record);
            }
        }
        for id in rules::referenced_account_ids(batch, snapshot.transfers.values()) {
            if let Some(account) = state.accounts.get(&id) {
                snapshot.accounts.insert(id, *account);
            }
        }
        let plan = rules::plan_batch(batch, snapshot, now_ms)?;
        for account in &plan.account_updates {
            state.accounts.insert(account.id, *account);
        }
        for (id, status) in &plan.status_updates {
            if let Some(record) = state.transfers.get_mut(id) {
                record.status = *status;
            }
        }
        for record in &plan.inserts {
            let mut record = *record;
            record.sequence = state.log.len() as u64 + 1;
            let t = record.transfer;
            state.log.push(t.id);
            for account in [t.debit_account, t.credit_account] {
                state
                    .by_account
                    .entry(account)
                    .or_default()
                    .push(record.sequence);
            }
            state.transfers.insert(t.id, record);
        }
        Ok(plan.outcomes)
    }
}

#[async_trait]
impl LedgerBackend for MemoryLedger {
    fn backend_name(&self) -> &'static str {
        "memory"
    }

    async fn create_ledgers(&self, ledgers: &[Ledger]) -> Result<(), Error> {
        let mut state = self.state();
        for ledger in rules::new_ledgers(|id| state.ledgers.get(id).copied(), ledgers)? {
            state.ledgers.insert(ledger.id, ledger);
        }
        Ok(())
    }

    async fn ledgers(&self) -> Result<Vec<Ledger>, Error> {
        Ok(self.state().ledgers.values().copied().collect())
    }

    async fn create_accounts(
        &self,
        accounts: &[NewAccount],
        now_ms: u64,
    ) -> Result<Vec<AccountOutcome>, Error> {
        rules::validate_batch_len(accounts.len())?;
        let mut state = self.state();
        let stored: HashMap<AccountId, Account> = accounts
            .iter()
            .filter_map(|new| state.accounts.get(&new.id).map(|a| (a.id, *a)))
            .collect();
        let plan = rules::plan_accounts(
            accounts,
            stored,
            |id| state.ledgers.contains_key(id),
            now_ms,
        );
        for account in plan.created {
            state.accounts.insert(account.id, account);
        }
        Ok(plan.outcomes)
    }

    async fn submit(&self, batch: &[Transfer], now_ms: u64) -> Result<Vec<TransferOutcome>, Error> {
        self.submit_now(batch, now_ms)
    }

    async fn lookup_accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>, Error> {
        rules::validate_batch_len(ids.len())?;
        let state = self.state();
        let mut found: Vec<Account> = ids
            .iter()
            .filter_map(|id| state.accounts.get(id).copied())
            .collect();
        found.sort_unstable_by_key(|a| a.id);
        found.dedup_by_key(|a| a.id);
        Ok(found)
    }

    async fn lookup_transfers(&self, ids: &[TransferId]) -> Result<Vec<TransferRecord>, Error> {
        rules::validate_batch_len(ids.len())?;
        let state = self.state();
        let mut found: Vec<TransferRecord> = ids
            .iter()
            .filter_map(|id| state.transfers.get(id).copied())
            .collect();
        found.sort_unstable_by_key(|r| r.transfer.id);
        found.dedup_by_key(|r| r.transfer.id);
        Ok(found)
    }

    async fn accounts(&self, after: Option<AccountId>, limit: u32) -> Result<Vec<Account>, Error> {
        rules::validate_history_limit(limit)?;
        let state = self.state();
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        Ok(state
            .accounts
            .range((start, std::ops::Bound::Unbounded))
            .take(limit as usize)
            .map(|(_, a)| *a)
            .collect())
    }

    async fn history(
        &self,
        account: AccountId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<HistoryPage, Error> {
        rules::validate_history_limit(limit)?;
        let state = self.state();
        let sequences = state
            .by_account
            .get(&account)
            .map_or(&[][..], |v| v.as_slice());
        let start = after.map_or(0, |cursor| sequences.partition_point(|s| *s <= cursor));
        let page: Vec<TransferRecord> = sequences[start..]
            .iter()
            .take(limit as usize)
            .filter_map(|sequence| {
                let id = state.log.get(usize::try_from(*sequence).ok()? - 1)?;
                state.transfers.get(id).copied()
            })
            .collect();
        Ok(HistoryPage::new(page, limit))
    }

    async fn expire_pending(&self, now_ms: u64) -> Result<usize, Error> {
        let mut state = self.state();
        let mut due: Vec<TransferRecord> = state
            .transfers
            .values()
            .filter(|r| {
                r.status == TransferStatus::Pending
                    && r.expires_at_ms.is_some_and(|expiry| expiry <= now_ms)
            })
            .copied()
            .collect();
        due.sort_unstable_by_key(|r| r.sequence);
        due.truncate(rules::EXPIRE_BATCH_MAX);
        let mut accounts: HashMap<AccountId, Account> = HashMap::new();
        for record in &due {
            for id in [
                record.transfer.debit_account,
                record.transfer.credit_account,
            ] {
                if let Some(account) = state.accounts.get(&id) {
                    accounts.insert(id, *account);
                }
            }
        }
        let changed = rules::plan_expiry(&due, &mut accounts, now_ms)?;
        for account in changed {
            state.accounts.insert(account.id, account);
        }
        for record in &due {
            if let Some(stored) = state.transfers.get_mut(&record.transfer.id) {
                stored.status = TransferStatus::PendingExpired;
            }
        }
        Ok(due.len())
    }

    async fn check(&self) -> Result<CheckReport, Error> {
        let state = self.state();
        Ok(check::check(
            state.ledgers.values(),
            state.accounts.values(),
            state.transfers.values(),
        ))
    }
}
