//! `sandbox`: an in-memory rail for tests, demos and the simulator.
//!
//! Its state lives in a [`SandboxStore`], which a [`SandboxRail`] only borrows: open a
//! second rail on the same store and it sees every balance and payment of the first,
//! which is what "restart" means for an in-memory rail. One account, the configured
//! issuer, may go negative: it is where test money comes from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use attn_receipts::{Currency, Money};

use crate::error::{Error, Result};
use crate::rail::{
    AccountName, Capabilities, FeeModel, Finality, PayRequest, PaymentId, PaymentRail,
    PaymentState, PaymentStatus, RailCurrency,
};

/// Default bound on the payments one sandbox store records.
pub const SANDBOX_PAYMENTS_MAX: usize = 4_000_000;

/// How a sandbox rail behaves.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Its id (`sandbox`).
    pub rail_id: String,
    /// The currencies it moves.
    pub currencies: Vec<RailCurrency>,
    /// What it charges; fees are credited to `fee_account`.
    pub fees: FeeModel,
    /// Where fees go.
    pub fee_account: AccountName,
    /// The one account allowed to go negative (where test money comes from).
    pub issuer: Option<AccountName>,
    /// How many `status` calls a payment stays `Pending` before it succeeds (0: it
    /// succeeds at once). Lets tests exercise the pending path deterministically.
    pub pending_polls: u32,
    /// Most payments the store records; beyond it `pay` fails with
    /// [`Error::Storage`].
    pub payments_max: usize,
}

impl SandboxConfig {
    /// A free, immediately final sandbox over `currencies`, with `issuer` as its
    /// issuer account.
    pub fn new(currencies: Vec<RailCurrency>, issuer: AccountName) -> Self {
        Self {
            rail_id: "sandbox".into(),
            currencies,
            fees: FeeModel::FREE,
            fee_account: AccountName::new("sandbox-fees").unwrap_or_else(|_| issuer.clone()),
            issuer: Some(issuer),
            pending_polls: 0,
            payments_max: SANDBOX_PAYMENTS_MAX,
        }
    }
}

#[derive(Clone, Debug)]
struct Record {
    request: PayRequest,
    fee: Money,
    /// `Some(n)`: pending for `n` more status calls.
    pending_polls: Option<u32>,
}

#[derive(Default, Debug)]
struct State {
    /// Atomic units at the currency's scale; only the issuer goes below zero.
    balances: HashMap<(AccountName, Currency), i128>,
    payments: HashMap<PaymentId, Record>,
}

/// The shared in-memory state of sandbox rails. Cloning shares it.
#[derive(Clone, Default, Debug)]
pub struct SandboxStore(Arc<Mutex<State>>);

impl SandboxStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied payment (every
        // mutation below is computed first and applied without fallible steps), so a
        // poisoned lock is still consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The in-memory rail.
///
/// # Example
/// ```
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail};
/// use attn_payment_plugins::{AccountName, PayRequest, PaymentId, PaymentRail, RailCurrency};
/// use attn_receipts::{Currency, Money};
/// let usd = Currency::new("USD")?;
/// let issuer = AccountName::new("issuer")?;
/// let rail = SandboxRail::new(SandboxConfig::new(vec![RailCurrency::with_scale(usd, 2)?], issuer.clone()))?;
/// let alice = AccountName::new("alice")?;
/// let request = PayRequest::new(PaymentId::new("p1")?, issuer, alice.clone(), Money::parse("USD", "5")?, "")?;
/// assert!(rail.pay(&request).await?.is_succeeded());
/// assert!(rail.pay(&request).await?.is_succeeded()); // a retry pays nothing more
/// assert_eq!(rail.balance(&alice, usd).await?, Money::parse("USD", "5")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SandboxRail {
    config: SandboxConfig,
    capabilities: Capabilities,
    store: SandboxStore,
}

impl SandboxRail {
    /// A sandbox on a fresh store.
    pub fn new(config: SandboxConfig) -> Result<Self> {
        Self::open(config, SandboxStore::new())
    }

    /// A sandbox on `store` (shared with any other rail opened on it).
    pub fn open(config: SandboxConfig, store: SandboxStore) -> Result<Self> {
        let capabilities = Capabilities {
            rail_id: config.rail_id.clone(),
            currencies: config.currencies.clone(),
            finality: Finality::Final,
            fees: config.fees,
        };
        capabilities.validate()?;
        Ok(Self {
            config,
            capabilities,
            store,
        })
    }

    /// The store, to open another rail on it.
    pub fn store(&self) -> SandboxStore {
        self.store.clone()
    }

    fn status_of(&self, record: &Record) -> PaymentStatus {
        PaymentStatus {
            payment_id: record.request.payment_id.clone(),
            state: if record.pending_polls.is_some() {
                PaymentState::Pending
            } else {
                PaymentState::Succeeded
            },
            amount: Some(record.request.amount),
            fee: Some(record.fee),
        }
    }

    fn credit(&self, state: &mut State, record: &Record, scale: u32) -> Result<()> {
        let currency = record.request.amount.currency();
        let amount = i128::from(record.request.amount.to_atomic(scale).unwrap_or(0));
        let fee = i128::from(record.fee.to_atomic(scale).unwrap_or(0));
        *state
            .balances
            .entry((record.request.to.clone(), currency))
            .or_default() += amount;
        if fee > 0 {
            *state
                .balances
                .entry((self.config.fee_account.clone(), currency))
                .or_default() += fee;
        }
        Ok(())
    }
}

#[async_trait]
impl PaymentRail for SandboxRail {
    fn id(&self) -> &str {
        &self.capabilities.rail_id
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn pay(&self, request: &PayRequest) -> Result<PaymentStatus> {
        request.validate()?;
        let entry = *self.capabilities.currency(request.amount.currency())?;
        let amount = entry.check(self.id(), &request.amount)?;
        let fee = self.capabilities.fees.fee(&request.amount, entry.scale)?;
        let fee_atomic = fee
            .to_atomic(entry.scale)
            .map_err(|_| Error::PrecisionLoss {
                rail: self.id().into(),
                amount: fee.to_string(),
                scale: entry.scale,
            })?;
        let mut state = self.store.lock();
        if let Some(record) = state.payments.get(&request.payment_id) {
            if !record.request.same_payment(request) {
                return Err(Error::PaymentIdConflict {
                    payment_id: request.payment_id.to_string(),
                });
            }
            return Ok(self.status_of(record));
        }
        if state.payments.len() >= self.config.payments_max {
            return Err(Error::storage(
                self.id(),
                format!("store full: {} payments", self.config.payments_max),
            ));
        }
        let total = i128::from(amount) + i128::from(fee_atomic);
        let key = (request.from.clone(), entry.currency);
        let balance = state.balances.get(&key).copied().unwrap_or(0);
        let is_issuer = self.config.issuer.as_ref() == Some(&request.from);
        if !is_issuer && balance < total {
            return Err(Error::InsufficientFunds {
                rail: self.id().into(),
                account: request.from.to_string(),
                amount: format!("{} + fee {}", request.amount, fee),
            });
        }
        state.balances.insert(key, balance - total);
        let record = Record {
            request: request.clone(),
            fee,
            pending_polls: (self.config.pending_polls > 0).then_some(self.config.pending_polls),
        };
        if record.pending_polls.is_none() {
            self.credit(&mut state, &record, entry.scale)?;
        }
        let status = self.status_of(&record);
        state.payments.insert(request.payment_id.clone(), record);
        Ok(status)
    }

    async fn status(&self, payment_id: &PaymentId) -> Result<PaymentStatus> {
        let mut state = self.store.lock();
        let Some(mut record) = state.payments.get(payment_id).cloned() else {
            return Ok(PaymentStatus::unknown(payment_id.clone()));
        };
        if let Some(left) = record.pending_polls {
            record.pending_polls = left.checked_sub(1).filter(|left| *left > 0);
            if record.pending_polls.is_none() {
                let scale = self
                    .capabilities
                    .currency(record.request.amount.currency())?
                    .scale;
                self.credit(&mut state, &record, scale)?;
            }
            state.payments.insert(payment_id.clone(), record.clone());
        }
        Ok(self.status_of(&record))
    }

    async fn balance(&self, account: &AccountName, currency: Currency) -> Result<Money> {
        let entry = self.capabilities.currency(currency)?;
        let state = self.store.lock();
        let atomic = state
            .balances
            .get(&(account.clone(), currency))
            .copied()
            .unwrap_or(0);
        // The issuer's negative balance is reported as zero: money is never negative.
        let atomic = u64::try_from(atomic.max(0)).unwrap_or(u64::MAX);
        Money::from_atomic(currency, atomic, entry.scale).map_err(|e| Error::storage(self.id(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SandboxConfig {
        let usd = Currency::new("USD").unwrap();
        SandboxConfig::new(
            vec![RailCurrency::with_scale(usd, 2).unwrap()],
            AccountName::new("issuer").unwrap(),
        )
    }

    fn pay(id: &str, from: &str, to: &str, amount: &str) -> PayRequest {
        PayRequest::new(
            PaymentId::new(id).unwrap(),
            AccountName::new(from).unwrap(),
            AccountName::new(to).unwrap(),
            Money::parse("USD", amount).unwrap(),
            "",
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_store_bound_is_enforced() {
        let rail = SandboxRail::new(SandboxConfig {
            payments_max: 2,
            ..config()
        })
        .unwrap();
        rail.pay(&pay("1", "issuer", "a", "1")).await.unwrap();
        rail.pay(&pay("2", "issuer", "a", "1")).await.unwrap();
        assert!(matches!(
            rail.pay(&pay("3", "issuer", "a", "1")).await,
            Err(Error::Storage { .. })
        ));
        // A retry of a recorded payment still answers.
        assert!(
            rail.pay(&pay("2", "issuer", "a", "1"))
                .await
                .unwrap()
                .is_succeeded()
        );
    }

    #[tokio::test]
    async fn fees_are_charged_to_the_payer() {
        let rail = SandboxRail::new(SandboxConfig {
            fees: FeeModel {
                fixed: Some(Money::parse("USD", "0.10").unwrap()),
                ppm: 0,
            },
            ..config()
        })
        .unwrap();
        let usd = Currency::new("USD").unwrap();
        rail.pay(&pay("fund", "issuer", "a", "1.10")).await.unwrap();
        let status = rail.pay(&pay("p", "a", "b", "1")).await.unwrap();
        assert_eq!(status.fee, Some(Money::parse("USD", "0.10").unwrap()));
        let (a, b) = (
            AccountName::new("a").unwrap(),
            AccountName::new("b").unwrap(),
        );
        assert!(rail.balance(&a, usd).await.unwrap().is_zero());
        assert_eq!(
            rail.balance(&b, usd).await.unwrap(),
            Money::parse("USD", "1").unwrap()
        );
        assert_eq!(
            rail.balance(&AccountName::new("sandbox-fees").unwrap(), usd)
                .await
                .unwrap(),
            Money::parse("USD", "0.2").unwrap()
        );
    }
}
