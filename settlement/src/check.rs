//! `check`: proves the ledger's invariants from what is stored, with no I/O.
//!
//! 1. Per ledger, Σ`debits_posted` = Σ`credits_posted` and Σ`debits_pending` =
//!    Σ`credits_pending` over its accounts.
//! 2. Every account's four sums equal those recomputed from its transfers (see the
//!    table in [`crate::rules`]): posted from single-phase transfers and posts, pending
//!    from pending transfers still [`TransferStatus::Pending`].
//! 3. No account breaks its flags.
//! 4. Every post or void names an existing pending transfer, resolves it at most once,
//!    agrees with its status, and a post settles at most the pending amount; every
//!    resolved pending transfer has exactly one post or void (or expired).
//! 5. Every transfer's accounts exist, are on its ledger, and the ledger exists.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::model::{
    Account, AccountFlags, AccountId, Balances, Ledger, LedgerId, TransferFlags, TransferId,
    TransferRecord, TransferStatus,
};

/// The most violations a report lists (the count is exact beyond it).
pub const VIOLATIONS_LISTED_MAX: usize = 1_000;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// Σ debits ≠ Σ credits on a ledger (`phase` is "posted" or "pending").
    LedgerUnbalanced {
        /// The ledger.
        ledger: LedgerId,
        /// "posted" or "pending".
        phase: &'static str,
        /// Σ debits.
        debits: u128,
        /// Σ credits.
        credits: u128,
    },
    /// An account's stored sums differ from its transfers.
    AccountSumsMismatch {
        /// The account.
        account: AccountId,
        /// As stored.
        stored: Balances,
        /// As recomputed.
        from_transfers: Balances,
    },
    /// An account breaks one of its flags.
    FlagViolated {
        /// The account.
        account: AccountId,
        /// The flag broken.
        flag: &'static str,
    },
    /// A transfer names an account or a ledger that does not exist or does not match.
    TransferInconsistent {
        /// The transfer.
        transfer: TransferId,
        /// What is wrong.
        reason: &'static str,
    },
    /// A post or void names a transfer that does not exist or is not pending.
    ResolutionDangling {
        /// The post or void.
        transfer: TransferId,
        /// The transfer it names.
        pending_id: TransferId,
    },
    /// A pending transfer resolved by more than one post or void.
    ResolvedTwice {
        /// The pending transfer.
        pending_id: TransferId,
        /// How many posts and voids name it.
        resolutions: usize,
    },
    /// A pending transfer's status disagrees with the posts and voids naming it.
    PendingStatusMismatch {
        /// The pending transfer.
        pending_id: TransferId,
        /// Its stored status.
        status: TransferStatus,
    },
    /// A post settles more than its pending amount.
    PostExceedsPending {
        /// The post.
        transfer: TransferId,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LedgerUnbalanced {
                ledger,
                phase,
                debits,
                credits,
            } => write!(
                f,
                "ledger {ledger}: {phase} debits {debits} != {phase} credits {credits}"
            ),
            Self::AccountSumsMismatch {
                account,
                stored,
                from_transfers,
            } => write!(
                f,
                "account {account}: stored {stored:?} but its transfers sum to {from_transfers:?}"
            ),
            Self::FlagViolated { account, flag } => write!(f, "account {account} breaks {flag}"),
            Self::TransferInconsistent { transfer, reason } => {
                write!(f, "transfer {transfer}: {reason}")
            }
            Self::ResolutionDangling {
                transfer,
                pending_id,
            } => write!(
                f,
                "transfer {transfer} resolves {pending_id}, which is not a stored pending transfer"
            ),
            Self::ResolvedTwice {
                pending_id,
                resolutions,
            } => write!(
                f,
                "pending transfer {pending_id} resolved {resolutions} times"
            ),
            Self::PendingStatusMismatch { pending_id, status } => write!(
                f,
                "pending transfer {pending_id} has status {} but its resolutions disagree",
                status.name()
            ),
            Self::PostExceedsPending { transfer } => {
                write!(f, "post {transfer} settles more than its pending amount")
            }
        }
    }
}

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Ledgers examined.
    pub ledgers: usize,
    /// Accounts examined.
    pub accounts: usize,
    /// Transfers examined.
    pub transfers: usize,
    /// Violations found (the first [`VIOLATIONS_LISTED_MAX`]).
    pub violations: Vec<Violation>,
    /// The number of violations found, listed or not.
    pub violation_count: usize,
}

impl CheckReport {
    /// Whether every invariant holds.
    pub fn is_ok(&self) -> bool {
        self.violation_count == 0
    }

    fn push(&mut self, violation: Violation) {
        self.violation_count += 1;
        if self.violations.len() < VIOLATIONS_LISTED_MAX {
            self.violations.push(violation);
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ledgers, {} accounts, {} transfers: {}",
            self.ledgers,
            self.accounts,
            self.transfers,
            if self.is_ok() {
                "every invariant holds".to_string()
            } else {
                format!("{} violations", self.violation_count)
            }
        )?;
        for violation in &self.violations {
            writeln!(f, "  {violation}")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Sums {
    debits_pending: u128,
    debits_posted: u128,
    credits_pending: u128,
    credits_posted: u128,
}

/// Checks every invariant over the whole stored ledger.
pub fn check<'a>(
    ledgers: impl IntoIterator<Item = &'a Ledger>,
    accounts: impl IntoIterator<Item = &'a Account>,
    transfers: impl IntoIterator<Item = &'a TransferRecord>,
) -> CheckReport {
    let mut report = CheckReport::default();
    let ledgers: HashMap<LedgerId, &Ledger> = ledgers.into_iter().map(|l| (l.id, l)).collect();
    let accounts: BTreeMap<AccountId, &Account> = accounts.into_iter().map(|a| (a.id, a)).collect();
    let transfers: HashMap<TransferId, &TransferRecord> =
        transfers.into_iter().map(|t| (t.transfer.id, t)).collect();
    report.ledgers = ledgers.len();
    report.accounts = accounts.len();
    report.transfers = transfers.len();

    let mut recomputed: HashMap<AccountId, Sums> = HashMap::new();
    let mut resolutions: HashMap<TransferId, Vec<&TransferRecord>> = HashMap::new();
    let mut ids: Vec<&TransferId> = transfers.keys().collect();
    ids.sort_unstable();
    for id in ids {
        let record = transfers[id];
        let transfer = &record.transfer;
        let debit = accounts.get(&transfer.debit_account);
        let credit = accounts.get(&transfer.credit_account);
        let reason = if !ledgers.contains_key(&transfer.ledger) {
            Some("its ledger is not defined")
        } else if debit.is_none() || credit.is_none() {
            Some("an account does not exist")
        } else if debit.is_some_and(|a| a.ledger != transfer.ledger)
            || credit.is_some_and(|a| a.ledger != transfer.ledger)
        {
            Some("an account is on another ledger")
        } else {
            None
        };
        if let Some(reason) = reason {
            report.push(Violation::TransferInconsistent {
                transfer: transfer.id,
                reason,
            });
        }
        let amount = u128::from(transfer.amount);
        let flags = transfer.flags;
        if flags.resolves_pending() {
            resolutions
                .entry(transfer.pending_id)
                .or_default()
                .push(record);
        }
        let posted = flags.contains(TransferFlags::POST_PENDING) || flags == TransferFlags::NONE;
        let still_pending =
            flags.contains(TransferFlags::PENDING) && record.status == TransferStatus::Pending;
        if posted {
            recomputed
                .entry(transfer.debit_account)
                .or_default()
                .debits_posted += amount;
            recomputed
                .entry(transfer.credit_account)
                .or_default()
                .credits_posted += amount;
        } else if still_pending {
            recomputed
                .entry(transfer.debit_account)
                .or_default()
                .debits_pending += amount;
            recomputed
                .entry(transfer.credit_account)
                .or_default()
                .credits_pending += amount;
        }
        let expected_status = if flags.contains(TransferFlags::PENDING) {
            matches!(
                record.status,
                TransferStatus::Pending
                    | TransferStatus::PendingPosted
                    | TransferStatus::PendingVoided
                    | TransferStatus::PendingExpired
            )
        } else if flags.contains(TransferFlags::VOID_PENDING) {
            record.status == TransferStatus::Voided
        } else {
            record.status == TransferStatus::Posted
        };
        if !expected_status {
            report.push(Violation::TransferInconsistent {
                transfer: transfer.id,
                reason: "its status does not match its flags",
            });
        }
    }

    // Two-phase consistency.
    let mut resolved_ids: Vec<&TransferId> = resolutions.keys().collect();
    resolved_ids.sort_unstable();
    for pending_id in resolved_ids {
        let resolvers = &resolutions[pending_id];
        let Some(pending) = transfers
            .get(pending_id)
            .filter(|p| p.transfer.flags.contains(TransferFlags::PENDING))
        else {
            for resolver in resolvers {
                report.push(Violation::ResolutionDangling {
                    transfer: resolver.transfer.id,
                    pending_id: *pending_id,
                });
            }
            continue;
        };
        if resolvers.len() > 1 {
            report.push(Violation::ResolvedTwice {
                pending_id: *pending_id,
                resolutions: resolvers.len(),
            });
        }
        for resolver in resolvers {
            let post = resolver
                .transfer
                .flags
                .contains(TransferFlags::POST_PENDING);
            let agrees = if post {
                pending.status == TransferStatus::PendingPosted
            } else {
                pending.status == TransferStatus::PendingVoided
            };
            if !agrees {
                report.push(Violation::PendingStatusMismatch {
                    pending_id: *pending_id,
                    status: pending.status,
                });
            }
            if post && resolver.transfer.amount > pending.transfer.amount {
                report.push(Violation::PostExceedsPending {
                    transfer: resolver.transfer.id,
                });
            }
        }
    }
    let mut pending_ids: Vec<&TransferId> = transfers
        .iter()
        .filter(|(_, r)| {
            matches!(
                r.status,
                TransferStatus::PendingPosted | TransferStatus::PendingVoided
            )
        })
        .map(|(id, _)| id)
        .filter(|id| !resolutions.contains_key(id))
        .collect();
    pending_ids.sort_unstable();
    for pending_id in pending_ids {
        report.push(Violation::PendingStatusMismatch {
            pending_id: *pending_id,
            status: transfers[pending_id].status,
        });
    }

    // Accounts: recomputed sums, flags, per-ledger totals.
    let mut totals: BTreeMap<LedgerId, Sums> = BTreeMap::new();
    for (id, account) in &accounts {
        let b = account.balances;
        let sums = recomputed.remove(id).unwrap_or_default();
        let matches = u128::from(b.debits_pending) == sums.debits_pending
            && u128::from(b.debits_posted) == sums.debits_posted
            && u128::from(b.credits_pending) == sums.credits_pending
            && u128::from(b.credits_posted) == sums.credits_posted;
        if !matches {
            let clamp = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
            report.push(Violation::AccountSumsMismatch {
                account: *id,
                stored: b,
                from_transfers: Balances {
                    debits_pending: clamp(sums.debits_pending),
                    debits_posted: clamp(sums.debits_posted),
                    credits_pending: clamp(sums.credits_pending),
                    credits_posted: clamp(sums.credits_posted),
                },
            });
        }
        if account
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && u128::from(b.debits_pending) + u128::from(b.debits_posted)
                > u128::from(b.credits_posted)
        {
            report.push(Violation::FlagViolated {
                account: *id,
                flag: "debits_must_not_exceed_credits",
            });
        }
        if account
            .flags
            .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
            && u128::from(b.credits_pending) + u128::from(b.credits_posted)
                > u128::from(b.debits_posted)
        {
            report.push(Violation::FlagViolated {
                account: *id,
                flag: "credits_must_not_exceed_debits",
            });
        }
        let total = totals.entry(account.ledger).or_default();
        total.debits_pending += u128::from(b.debits_pending);
        total.debits_posted += u128::from(b.debits_posted);
        total.credits_pending += u128::from(b.credits_pending);
        total.credits_posted += u128::from(b.credits_posted);
    }
    for (ledger, total) in totals {
        if total.debits_posted != total.credits_posted {
            report.push(Violation::LedgerUnbalanced {
                ledger,
                phase: "posted",
                debits: total.debits_posted,
                credits: total.credits_posted,
            });
        }
        if total.debits_pending != total.credits_pending {
            report.push(Violation::LedgerUnbalanced {
                ledger,
                phase: "pending",
                debits: total.debits_pending,
                credits: total.credits_pending,
            });
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountKind, NewAccount, Transfer};
    use attn_receipts::Currency;

    fn fixture() -> (Vec<Ledger>, Vec<Account>, Vec<TransferRecord>) {
        let ledger = Ledger {
            id: LedgerId(1),
            currency: Currency::new("USD").expect("currency"),
            scale: 2,
        };
        let mut accounts: Vec<Account> = [1u128, 2]
            .into_iter()
            .map(|id| {
                Account::open(
                    NewAccount {
                        id: AccountId(id),
                        ledger: ledger.id,
                        kind: AccountKind::Fees,
                        flags: AccountFlags::NONE,
                        user_data: 0,
                    },
                    0,
                )
            })
            .collect();
        accounts[0].balances.debits_posted = 7;
        accounts[1].balances.credits_posted = 7;
        let record = TransferRecord {
            transfer: Transfer::single(TransferId(1), AccountId(1), AccountId(2), 7, ledger.id, 1),
            status: TransferStatus::Posted,
            created_at_ms: 0,
            expires_at_ms: None,
            sequence: 1,
        };
        (vec![ledger], accounts, vec![record])
    }

    #[test]
    fn a_consistent_ledger_passes() {
        let (ledgers, accounts, transfers) = fixture();
        let report = check(&ledgers, &accounts, &transfers);
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.transfers, 1);
    }

    #[test]
    fn each_kind_of_corruption_is_reported() {
        let (ledgers, mut accounts, mut transfers) = fixture();
        accounts[1].balances.credits_posted = 8;
        accounts[0].flags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
        transfers.push(TransferRecord {
            transfer: Transfer::post(TransferId(2), TransferId(1), 1),
            status: TransferStatus::Posted,
            created_at_ms: 0,
            expires_at_ms: None,
            sequence: 2,
        });
        let report = check(&ledgers, &accounts, &transfers);
        let has = |f: &dyn Fn(&Violation) -> bool| report.violations.iter().any(f);
        assert!(has(&|v| matches!(
            v,
            Violation::LedgerUnbalanced {
                phase: "posted",
                ..
            }
        )));
        assert!(has(&|v| matches!(v, Violation::AccountSumsMismatch { .. })));
        assert!(has(&|v| matches!(v, Violation::FlagViolated { .. })));
        assert!(has(&|v| matches!(v, Violation::ResolutionDangling { .. })));
        assert!(has(&|v| matches!(
            v,
            Violation::TransferInconsistent { .. }
        )));
        assert_eq!(report.violation_count, report.violations.len());
        assert!(report.to_string().contains("violations"));
    }
}
