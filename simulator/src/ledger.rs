//! The market's money, in the product's own ledger: `attn_settlement::MemoryLedger`
//! (the same rules as the SQLite and PostgreSQL backends) driven through
//! `attn_settlement::flow` (pending, then posted).
//!
//! The simulator settles each round in aggregate: one settlement per (advertiser,
//! payee) pair and round, where the payees are the honest users' pool, each Sybil
//! farm's wallet and each bundling specialist's fee account. Keeping one account per
//! user would cost ~1 KB of ledger state per user and per round and bound the market
//! size far below the 1M users the simulator targets; per-user earnings are tallied by
//! the engine instead. Each advertiser's escrow carries the flag "debits must not
//! exceed credits" and is funded once with its budget (unlimited budgets are topped up
//! with exactly the round's spend), so the ledger itself refuses any overspend.
//!
//! Invariants checked after every round, failing the run loudly: every transfer
//! recorded; per currency, debits equal credits and nothing is left pending; each
//! payee's balance equals the engine's tally; no escrow is overdrawn. After the last
//! round the ledger's full consistency check (`LedgerBackend::check`) runs too.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use attn_receipts::{Currency, Digest32};
use attn_settlement::flow::{self, AcceptedImpression, FeeRates};
use attn_settlement::rules::BATCH_MAX;
use attn_settlement::{
    AccountFlags, AccountId, AccountKind, Ledger, LedgerBackend, LedgerId, MemoryLedger,
    NewAccount, Transfer, TransferId,
};
use sha2::{Digest, Sha256};

use crate::error::Error;

const LEDGER: LedgerId = LedgerId(1);
const TREASURY: AccountId = AccountId(1);
const HONEST_POOL: AccountId = AccountId(2);
const INTERFACE_PROVIDER: AccountId = AccountId(3);
const CONTENT_SERVER: AccountId = AccountId(4);
const ADVERTISER_BASE: u128 = 1 << 32;
const FARM_BASE: u128 = 2 << 32;
const BUNDLER_BASE: u128 = 3 << 32;
/// The code of a funding transfer (treasury → escrow).
const CODE_FUNDING: u16 = 100;

/// Who receives a round's aggregate payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payee {
    /// The honest users' pool.
    Honest,
    /// A Sybil farm's wallet.
    Farm(u32),
    /// A bundling specialist's fee account.
    Bundler(u32),
}

impl Payee {
    fn account(self) -> AccountId {
        match self {
            Self::Honest => HONEST_POOL,
            Self::Farm(farm) => AccountId(FARM_BASE + u128::from(farm)),
            Self::Bundler(bundler) => AccountId(BUNDLER_BASE + u128::from(bundler)),
        }
    }
}

/// One aggregate payment of a round.
#[derive(Clone, Copy, Debug)]
pub struct Payment {
    /// The advertiser paying.
    pub advertiser: u32,
    /// Who is paid.
    pub payee: Payee,
    /// Amount, atomic units.
    pub amount_atomic: u64,
}

/// The product's in-memory ledger with the market's accounts.
pub struct MarketLedger {
    ledger: MemoryLedger,
    advertisers: u32,
    farms: u32,
    bundlers: u32,
    unlimited: Vec<bool>,
}

fn escrow(advertiser: u32) -> AccountId {
    AccountId(ADVERTISER_BASE + u128::from(advertiser))
}

/// Runs a future that never waits on I/O (the memory ledger's) to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

fn ledger_error(error: attn_settlement::Error) -> Error {
    Error::Ledger(error.to_string())
}

impl MarketLedger {
    /// Opens the accounts and funds each advertiser's escrow with its budget
    /// (`None` = unlimited).
    pub fn open(budgets: &[Option<u64>], farms: u32, bundlers: u32) -> Result<Self, Error> {
        let ledger = MemoryLedger::new();
        let currency = Currency::new("USD").map_err(|e| Error::Ledger(e.to_string()))?;
        block_on(ledger.create_ledgers(&[Ledger {
            id: LEDGER,
            currency,
            scale: 6,
        }]))
        .map_err(ledger_error)?;
        let account = |id, kind, flags| NewAccount {
            id,
            ledger: LEDGER,
            kind,
            flags,
            user_data: 0,
        };
        let mut accounts = vec![
            account(TREASURY, AccountKind::RailClearing, AccountFlags::NONE),
            account(HONEST_POOL, AccountKind::UserWallet, AccountFlags::NONE),
            account(
                INTERFACE_PROVIDER,
                AccountKind::InterfaceProviderPayee,
                AccountFlags::NONE,
            ),
            account(
                CONTENT_SERVER,
                AccountKind::ContentServerPayee,
                AccountFlags::NONE,
            ),
        ];
        for a in 0..budgets.len() as u32 {
            accounts.push(account(
                escrow(a),
                AccountKind::AdvertiserEscrow,
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ));
        }
        for farm in 0..farms {
            accounts.push(account(
                Payee::Farm(farm).account(),
                AccountKind::UserWallet,
                AccountFlags::NONE,
            ));
        }
        for bundler in 0..bundlers {
            accounts.push(account(
                Payee::Bundler(bundler).account(),
                AccountKind::Fees,
                AccountFlags::NONE,
            ));
        }
        for chunk in accounts.chunks(BATCH_MAX) {
            let outcomes = block_on(ledger.create_accounts(chunk, 0)).map_err(ledger_error)?;
            if outcomes.len() != chunk.len() {
                return Err(Error::Ledger("account creation answered short".into()));
            }
        }
        let market = Self {
            ledger,
            advertisers: budgets.len() as u32,
            farms,
            bundlers,
            unlimited: budgets.iter().map(Option::is_none).collect(),
        };
        let funding: Vec<Transfer> = budgets
            .iter()
            .enumerate()
            .filter_map(|(a, budget)| {
                budget.filter(|b| *b > 0).map(|b| {
                    Transfer::single(
                        funding_id(u32::MAX, a as u32),
                        TREASURY,
                        escrow(a as u32),
                        b,
                        LEDGER,
                        CODE_FUNDING,
                    )
                })
            })
            .collect();
        market.submit(&funding, 0, 0)?;
        Ok(market)
    }

    fn submit(&self, batch: &[Transfer], now_ms: u64, round: u32) -> Result<(), Error> {
        for chunk in batch.chunks(BATCH_MAX) {
            let outcomes = self
                .ledger
                .submit_now(chunk, now_ms)
                .map_err(ledger_error)?;
            if let Some((transfer, outcome)) = chunk
                .iter()
                .zip(&outcomes)
                .find(|(_, outcome)| !outcome.is_recorded())
            {
                return Err(Error::Invariant {
                    round,
                    message: format!(
                        "the ledger refused transfer {} of {} atomic units: {outcome:?}",
                        transfer.id, transfer.amount
                    ),
                });
            }
        }
        Ok(())
    }

    /// Settles a round's payments through the product's impression flow (pending,
    /// then posted), funding unlimited advertisers with exactly what they spend.
    pub fn settle_round(&self, round: u32, payments: &[Payment]) -> Result<(), Error> {
        let now_ms = u64::from(round + 1) * 1_000;
        let mut top_ups = vec![0u64; self.advertisers as usize];
        for payment in payments {
            if self.unlimited[payment.advertiser as usize] {
                top_ups[payment.advertiser as usize] += payment.amount_atomic;
            }
        }
        let funding: Vec<Transfer> = top_ups
            .iter()
            .enumerate()
            .filter(|(_, amount)| **amount > 0)
            .map(|(a, amount)| {
                Transfer::single(
                    funding_id(round, a as u32),
                    TREASURY,
                    escrow(a as u32),
                    *amount,
                    LEDGER,
                    CODE_FUNDING,
                )
            })
            .collect();
        self.submit(&funding, now_ms, round)?;
        let impressions: Vec<AcceptedImpression> = payments
            .iter()
            .filter(|p| p.amount_atomic > 0)
            .map(|payment| AcceptedImpression {
                impression_hash: settlement_hash(round, payment),
                ledger: LEDGER,
                advertiser_escrow: escrow(payment.advertiser),
                user_wallet: payment.payee.account(),
                interface_provider: INTERFACE_PROVIDER,
                content_server: CONTENT_SERVER,
                amount_atomic: payment.amount_atomic,
                fees: FeeRates::default(),
                timeout_ms: 0,
            })
            .collect();
        let mut pending = Vec::with_capacity(impressions.len());
        let mut posts = Vec::with_capacity(impressions.len());
        for impression in &impressions {
            pending.extend(flow::pending_batch(impression).map_err(ledger_error)?);
            posts.extend(flow::resolve_batch(impression, true).map_err(ledger_error)?);
        }
        self.submit(&pending, now_ms, round)?;
        self.submit(&posts, now_ms, round)?;
        Ok(())
    }

    /// Checks conservation and the payees' balances against the engine's tallies
    /// (cumulative, atomic units): honest pool, each farm, each bundler, and each
    /// advertiser's spend.
    pub fn check_round(
        &self,
        round: u32,
        honest_atomic: u64,
        farms_atomic: &[u64],
        bundlers_atomic: &[u64],
        spent_atomic: &[u64],
    ) -> Result<(), Error> {
        let mut ids = vec![TREASURY, HONEST_POOL, INTERFACE_PROVIDER, CONTENT_SERVER];
        ids.extend((0..self.advertisers).map(escrow));
        ids.extend((0..self.farms).map(|f| Payee::Farm(f).account()));
        ids.extend((0..self.bundlers).map(|b| Payee::Bundler(b).account()));
        let mut accounts = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_MAX) {
            accounts.extend(block_on(self.ledger.lookup_accounts(chunk)).map_err(ledger_error)?);
        }
        let broken = |message: String| Error::Invariant { round, message };
        if accounts.len() != ids.len() {
            return Err(broken("an account of the market is missing".into()));
        }
        let (mut debits, mut credits) = (0u128, 0u128);
        for account in &accounts {
            let b = account.balances;
            if b.debits_pending != 0 || b.credits_pending != 0 {
                return Err(broken(format!(
                    "account {} has pending amounts",
                    account.id
                )));
            }
            debits += u128::from(b.debits_posted);
            credits += u128::from(b.credits_posted);
            if account
                .flags
                .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
                && b.debits_posted > b.credits_posted
            {
                return Err(broken(format!("escrow {} is overdrawn", account.id)));
            }
        }
        if debits != credits {
            return Err(broken(format!(
                "money not conserved: debits {debits} != credits {credits}"
            )));
        }
        let credit = |index: usize| accounts[index].balances.credits_posted;
        if credit(1) != honest_atomic {
            return Err(broken(format!(
                "honest pool holds {} but users earned {honest_atomic}",
                credit(1)
            )));
        }
        let advertisers = self.advertisers as usize;
        for (a, spent) in spent_atomic.iter().enumerate() {
            let paid = accounts[4 + a].balances.debits_posted;
            if paid != *spent {
                return Err(broken(format!(
                    "advertiser {a} paid {paid} in the ledger but spent {spent}"
                )));
            }
        }
        for (f, earned) in farms_atomic.iter().enumerate() {
            if credit(4 + advertisers + f) != *earned {
                return Err(broken(format!("farm {f} balance differs from its tally")));
            }
        }
        let farms = self.farms as usize;
        for (b, earned) in bundlers_atomic.iter().enumerate() {
            if credit(4 + advertisers + farms + b) != *earned {
                return Err(broken(format!(
                    "bundler {b} balance differs from its tally"
                )));
            }
        }
        Ok(())
    }

    /// The ledger's own full consistency check (every stored transfer against every
    /// account's sums).
    pub fn full_check(&self, round: u32) -> Result<usize, Error> {
        let report = block_on(self.ledger.check()).map_err(ledger_error)?;
        if !report.is_ok() {
            return Err(Error::Invariant {
                round,
                message: format!("ledger check failed: {report}"),
            });
        }
        Ok(report.transfers)
    }
}

fn funding_id(round: u32, advertiser: u32) -> TransferId {
    TransferId((9u128 << 120) | (u128::from(round) << 32) | (u128::from(advertiser) + 1))
}

fn settlement_hash(round: u32, payment: &Payment) -> Digest32 {
    let (kind, index) = match payment.payee {
        Payee::Honest => (0u8, 0u32),
        Payee::Farm(f) => (1, f),
        Payee::Bundler(b) => (2, b),
    };
    let digest = Sha256::new()
        .chain_update(b"attn/sim/v1/settlement\0")
        .chain_update(round.to_le_bytes())
        .chain_update(payment.advertiser.to_le_bytes())
        .chain_update([kind])
        .chain_update(index.to_le_bytes())
        .finalize();
    Digest32(digest.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_and_balances() {
        let ledger = MarketLedger::open(&[Some(1_000), None], 1, 1).unwrap();
        let payments = [
            Payment {
                advertiser: 0,
                payee: Payee::Honest,
                amount_atomic: 600,
            },
            Payment {
                advertiser: 1,
                payee: Payee::Farm(0),
                amount_atomic: 5_000,
            },
            Payment {
                advertiser: 1,
                payee: Payee::Bundler(0),
                amount_atomic: 7,
            },
        ];
        ledger.settle_round(0, &payments).unwrap();
        ledger
            .check_round(0, 600, &[5_000], &[7], &[600, 5_007])
            .unwrap();
        assert!(
            ledger
                .check_round(0, 601, &[5_000], &[7], &[600, 5_007])
                .is_err()
        );
        assert!(ledger.full_check(0).unwrap() > 0);
    }

    #[test]
    fn an_overspend_is_refused_loudly() {
        let ledger = MarketLedger::open(&[Some(100)], 0, 0).unwrap();
        let error = ledger
            .settle_round(
                3,
                &[Payment {
                    advertiser: 0,
                    payee: Payee::Honest,
                    amount_atomic: 101,
                }],
            )
            .unwrap_err();
        assert!(
            matches!(error, Error::Invariant { round: 3, .. }),
            "{error}"
        );
    }
}
