//! `ledger`: a custodial rail over an `attn-settlement` ledger (SQLite or PostgreSQL):
//! a community bank, a credit line, the exchange's own books.
//!
//! Mapping, all deterministic so a restarted rail finds everything again:
//! - each currency is a settlement ledger whose id is the first 4 bytes of
//!   `SHA-256("attn/v1/ledger-rail/ledger" || 0 || code)`;
//! - an account name is one settlement account per currency, id
//!   `SHA-256("attn/v1/ledger-rail/account" || 0 || ledger id || name)[..16]`, created
//!   on first use with "debits must not exceed credits" (it can never go negative),
//!   except the configured issuer, which may;
//! - a payment id is a transfer id, `SHA-256("attn/v1/ledger-rail/payment" || 0 ||
//!   id)[..16]`, so the ledger's own idempotency enforces "at most once", across
//!   processes and restarts.
//!
//! Only the settlement crate's public API is used.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use attn_receipts::{Currency, Digest32, Money};
use attn_settlement::{
    AccountFlags, AccountId, AccountKind, AccountOutcome, LedgerBackend, LedgerId, NewAccount,
    Rejection, Transfer, TransferId, TransferOutcome, TransferStatus,
};

use crate::error::{Error, Result};
use crate::rail::{
    AccountName, Capabilities, FeeModel, Finality, PayRequest, PaymentId, PaymentRail,
    PaymentState, PaymentStatus, RailCurrency,
};

/// The transfer code of a rail payment in the settlement ledger.
pub const RAIL_PAYMENT_CODE: u16 = 600;
/// Most account ids the rail remembers having created (beyond it, it asks the ledger
/// again, which is idempotent).
pub const CREATED_ACCOUNTS_CACHE_MAX: usize = 100_000;

const RAIL_ID: &str = "ledger";

/// How the ledger rail maps onto its ledger.
#[derive(Clone, Debug)]
pub struct LedgerRailConfig {
    /// The currencies (each becomes a settlement ledger at its scale).
    pub currencies: Vec<RailCurrency>,
    /// The one account allowed to go negative (where deposits come from).
    pub issuer: Option<AccountName>,
}

/// The custodial rail.
pub struct LedgerRail {
    backend: Arc<dyn LedgerBackend>,
    config: LedgerRailConfig,
    capabilities: Capabilities,
    created: Mutex<HashSet<AccountId>>,
}

impl std::fmt::Debug for LedgerRail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LedgerRail({})", self.backend.backend_name())
    }
}

fn ledger_error(error: attn_settlement::Error) -> Error {
    if error.is_transient() {
        Error::Unavailable {
            rail: RAIL_ID.into(),
            reason: error.to_string(),
        }
    } else {
        Error::storage(RAIL_ID, error)
    }
}

fn first_16(digest: &Digest32) -> u128 {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.0[..16]);
    // Zero is not a valid id; a digest whose first half is zero maps to one.
    u128::from_be_bytes(bytes).max(1)
}

/// The settlement ledger of a currency: 31 bits of the digest (ledger ids are at most
/// [`attn_settlement::rules::LEDGER_ID_MAX`]), never zero.
pub fn ledger_id(currency: Currency) -> LedgerId {
    let digest = Digest32::of(&[
        b"attn/v1/ledger-rail/ledger\0",
        currency.as_str().as_bytes(),
    ]);
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&digest.0[..4]);
    let id = (u32::from_be_bytes(bytes) & attn_settlement::rules::LEDGER_ID_MAX).max(1);
    debug_assert!(id <= attn_settlement::rules::LEDGER_ID_MAX);
    LedgerId(id)
}

/// The settlement account of a rail account in a currency.
pub fn account_id(currency: Currency, name: &AccountName) -> AccountId {
    AccountId(first_16(&Digest32::of(&[
        b"attn/v1/ledger-rail/account\0",
        &ledger_id(currency).0.to_be_bytes(),
        name.as_str().as_bytes(),
    ])))
}

/// The settlement transfer of a payment id.
pub fn transfer_id(payment_id: &PaymentId) -> TransferId {
    TransferId(first_16(&Digest32::of(&[
        b"attn/v1/ledger-rail/payment\0",
        payment_id.as_str().as_bytes(),
    ])))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl LedgerRail {
    /// The rail over `backend` (opened with `attn_settlement::open(url)`); defines the
    /// currencies' ledgers (idempotently).
    pub async fn open(backend: Arc<dyn LedgerBackend>, config: LedgerRailConfig) -> Result<Self> {
        let capabilities = Capabilities {
            rail_id: RAIL_ID.into(),
            currencies: config.currencies.clone(),
            finality: Finality::Final,
            fees: FeeModel::FREE,
        };
        capabilities.validate()?;
        let ledgers: Vec<attn_settlement::Ledger> = config
            .currencies
            .iter()
            .map(|entry| attn_settlement::Ledger {
                id: ledger_id(entry.currency),
                currency: entry.currency,
                scale: entry.scale,
            })
            .collect();
        backend
            .create_ledgers(&ledgers)
            .await
            .map_err(ledger_error)?;
        Ok(Self {
            backend,
            config,
            capabilities,
            created: Mutex::new(HashSet::new()),
        })
    }

    /// The ledger underneath.
    pub fn backend(&self) -> &Arc<dyn LedgerBackend> {
        &self.backend
    }

    async fn ensure_accounts(&self, currency: Currency, names: &[&AccountName]) -> Result<()> {
        let wanted: Vec<NewAccount> = names
            .iter()
            .map(|name| {
                let is_issuer = self.config.issuer.as_ref() == Some(*name);
                NewAccount {
                    id: account_id(currency, name),
                    ledger: ledger_id(currency),
                    kind: if is_issuer {
                        AccountKind::RailClearing
                    } else {
                        AccountKind::UserWallet
                    },
                    flags: if is_issuer {
                        AccountFlags::NONE
                    } else {
                        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
                    },
                    user_data: 0,
                }
            })
            .filter(|account| !self.cache().contains(&account.id))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let outcomes = self
            .backend
            .create_accounts(&wanted, now_ms())
            .await
            .map_err(ledger_error)?;
        for (account, outcome) in wanted.iter().zip(outcomes) {
            match outcome {
                AccountOutcome::Created | AccountOutcome::AlreadyExists => {
                    let mut cache = self.cache();
                    if cache.len() >= CREATED_ACCOUNTS_CACHE_MAX {
                        cache.clear();
                    }
                    cache.insert(account.id);
                }
                AccountOutcome::Rejected(rejection) => {
                    return Err(Error::storage(
                        RAIL_ID,
                        format!("account {}: {rejection}", account.id),
                    ));
                }
            }
        }
        Ok(())
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashSet<AccountId>> {
        self.created
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn status_of(&self, payment_id: &PaymentId) -> Result<PaymentStatus> {
        let id = transfer_id(payment_id);
        let records = self
            .backend
            .lookup_transfers(&[id])
            .await
            .map_err(ledger_error)?;
        let Some(record) = records.into_iter().find(|r| r.transfer.id == id) else {
            return Ok(PaymentStatus::unknown(payment_id.clone()));
        };
        let entry = self
            .config
            .currencies
            .iter()
            .find(|e| ledger_id(e.currency) == record.transfer.ledger)
            .ok_or_else(|| Error::storage(RAIL_ID, "a transfer on an unknown ledger"))?;
        let amount = Money::from_atomic(entry.currency, record.transfer.amount, entry.scale)
            .map_err(|e| Error::storage(RAIL_ID, e))?;
        let state = match record.status {
            TransferStatus::Posted | TransferStatus::PendingPosted => PaymentState::Succeeded,
            TransferStatus::Pending => PaymentState::Pending,
            TransferStatus::Voided
            | TransferStatus::PendingVoided
            | TransferStatus::PendingExpired => PaymentState::Failed {
                reason: format!("transfer {}", record.status.name()),
                retryable: false,
            },
        };
        Ok(PaymentStatus {
            payment_id: payment_id.clone(),
            state,
            amount: Some(amount),
            fee: Some(Money::zero(entry.currency)),
        })
    }
}

#[async_trait]
impl PaymentRail for LedgerRail {
    fn id(&self) -> &str {
        RAIL_ID
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn pay(&self, request: &PayRequest) -> Result<PaymentStatus> {
        request.validate()?;
        let entry = *self.capabilities.currency(request.amount.currency())?;
        let atomic = entry.check(RAIL_ID, &request.amount)?;
        let currency = entry.currency;
        self.ensure_accounts(currency, &[&request.from, &request.to])
            .await?;
        let transfer = Transfer::single(
            transfer_id(&request.payment_id),
            account_id(currency, &request.from),
            account_id(currency, &request.to),
            atomic,
            ledger_id(currency),
            RAIL_PAYMENT_CODE,
        );
        let outcomes = self
            .backend
            .submit(&[transfer], now_ms())
            .await
            .map_err(ledger_error)?;
        match outcomes.first() {
            Some(TransferOutcome::Created { .. } | TransferOutcome::AlreadyExists { .. }) => {
                self.status_of(&request.payment_id).await
            }
            Some(TransferOutcome::Rejected(Rejection::ExceedsCredits)) => {
                Err(Error::InsufficientFunds {
                    rail: RAIL_ID.into(),
                    account: request.from.to_string(),
                    amount: request.amount.to_string(),
                })
            }
            Some(TransferOutcome::Rejected(Rejection::ExistsWithDifferentFields(_))) => {
                Err(Error::PaymentIdConflict {
                    payment_id: request.payment_id.to_string(),
                })
            }
            Some(TransferOutcome::Rejected(rejection)) => Err(Error::storage(
                RAIL_ID,
                format!("transfer rejected: {rejection}"),
            )),
            None => Err(Error::storage(RAIL_ID, "the ledger answered no outcome")),
        }
    }

    async fn status(&self, payment_id: &PaymentId) -> Result<PaymentStatus> {
        self.status_of(payment_id).await
    }

    async fn balance(&self, account: &AccountName, currency: Currency) -> Result<Money> {
        let entry = self.capabilities.currency(currency)?;
        let id = account_id(currency, account);
        let accounts = self
            .backend
            .lookup_accounts(&[id])
            .await
            .map_err(ledger_error)?;
        let atomic = accounts
            .iter()
            .find(|a| a.id == id)
            .map_or(0, |a| a.balances.credit_balance_posted());
        // The issuer's debit balance is reported as zero: money is never negative.
        let atomic = u64::try_from(atomic.max(0)).unwrap_or(u64::MAX);
        Money::from_atomic(currency, atomic, entry.scale).map_err(|e| Error::storage(RAIL_ID, e))
    }
}
