//! Random batches (single-phase, pending, posts and voids of earlier transfers, linked
//! chains, bad amounts, resubmissions of earlier transfers as they were or changed)
//! keep every invariant, and the SQLite backend answers exactly
//! what the in-memory one does.

use std::sync::Arc;

use attn_settlement::testing::{self, USD};
use attn_settlement::{
    AccountFlags, AccountId, LedgerBackend, MemoryLedger, SqliteLedger, Transfer, TransferFlags,
    TransferId,
};
use proptest::prelude::*;

const ACCOUNTS: u128 = 6;

#[derive(Clone, Debug)]
enum Event {
    Single {
        debit: u128,
        credit: u128,
        amount: u64,
    },
    Pending {
        debit: u128,
        credit: u128,
        amount: u64,
        timeout_ms: u64,
    },
    Post {
        target: usize,
        amount: u64,
    },
    Void {
        target: usize,
    },
    /// An earlier transfer of the run again, as it was or with another amount.
    Resubmit {
        target: usize,
        same: bool,
    },
}

fn event() -> impl Strategy<Value = (Event, bool)> {
    let account = 1..=ACCOUNTS + 1;
    let amount = prop_oneof![8 => 1u64..200, 1 => Just(0u64), 1 => Just(u64::MAX)];
    let kind = prop_oneof![
        (account.clone(), account.clone(), amount.clone()).prop_map(|(debit, credit, amount)| {
            Event::Single {
                debit,
                credit,
                amount,
            }
        }),
        (
            account.clone(),
            account,
            amount.clone(),
            prop_oneof![Just(0u64), 1u64..50]
        )
            .prop_map(|(debit, credit, amount, timeout_ms)| Event::Pending {
                debit,
                credit,
                amount,
                timeout_ms
            }),
        (any::<prop::sample::Index>(), amount).prop_map(|(i, amount)| Event::Post {
            target: i.index(1 << 16),
            amount
        }),
        any::<prop::sample::Index>().prop_map(|i| Event::Void {
            target: i.index(1 << 16)
        }),
        (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(i, same)| Event::Resubmit {
            target: i.index(1 << 16),
            same
        }),
    ];
    (kind, prop::bool::weighted(0.2))
}

/// Turns events into transfers with fresh ids; posts and voids name an earlier id
/// (which may not be pending: that is a rejection to exercise too); a resubmission
/// repeats an earlier transfer, id included.
fn transfers(batches: &[Vec<(Event, bool)>]) -> Vec<Vec<Transfer>> {
    let mut next_id = 1u128;
    let mut issued: Vec<TransferId> = Vec::new();
    let mut sent: Vec<Transfer> = Vec::new();
    let mut out = Vec::new();
    for batch in batches {
        let mut transfers = Vec::new();
        for (event, linked) in batch {
            let id = TransferId(1_000 + next_id);
            next_id += 1;
            let mut transfer = match event {
                Event::Single {
                    debit,
                    credit,
                    amount,
                } => testing::single(id.0, *debit, *credit, *amount),
                Event::Pending {
                    debit,
                    credit,
                    amount,
                    timeout_ms,
                } => testing::pending(id.0, *debit, *credit, *amount, *timeout_ms),
                Event::Post { target, amount } if !issued.is_empty() => {
                    Transfer::post(id, issued[target % issued.len()], *amount)
                }
                Event::Void { target } if !issued.is_empty() => {
                    Transfer::void(id, issued[target % issued.len()])
                }
                Event::Resubmit { target, same } if !sent.is_empty() => {
                    let mut again = sent[target % sent.len()];
                    if !same {
                        again.amount = again.amount.wrapping_add(1);
                    }
                    again
                }
                _ => testing::single(id.0, 1, 2, 1),
            };
            if *linked {
                transfer.flags = transfer.flags.union(TransferFlags::LINKED);
            }
            issued.push(id);
            sent.push(transfer);
            transfers.push(transfer);
        }
        out.push(transfers);
    }
    out
}

async fn prepare(ledger: &dyn LedgerBackend) {
    let ids: Vec<u128> = (2..=ACCOUNTS + 1).collect();
    testing::setup(ledger, &ids, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS).await;
    let funding: Vec<Transfer> = ids
        .iter()
        .map(|id| testing::single(*id, testing::CLEARING, *id, 500))
        .collect();
    let outcomes = ledger.submit(&funding, 0).await.expect("fund");
    assert!(outcomes.iter().all(|o| o.is_recorded()));
}

async fn replay(ledgers: &[Arc<dyn LedgerBackend>], batches: &[Vec<Transfer>]) {
    for ledger in ledgers {
        prepare(&**ledger).await;
    }
    for (round, batch) in batches.iter().enumerate() {
        let now_ms = 10 * round as u64 + 10;
        let mut answers = Vec::new();
        for ledger in ledgers {
            answers.push(ledger.submit(batch, now_ms).await.expect("submit"));
            if round % 3 == 2 {
                ledger.expire_pending(now_ms).await.expect("expire");
            }
            let report = ledger.check().await.expect("check");
            assert!(
                report.is_ok(),
                "{} after round {round}: {report}",
                ledger.backend_name()
            );
        }
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "backends disagree: {answers:?}"
        );
    }
    let mut views = Vec::new();
    for ledger in ledgers {
        let ids: Vec<AccountId> = (1..=ACCOUNTS + 1).map(AccountId).collect();
        views.push(ledger.lookup_accounts(&ids).await.expect("lookup"));
        // Posted sums are per-ledger balanced, which `check` proved; USD is the only one.
        assert!(
            views
                .last()
                .is_some_and(|v| v.iter().all(|a| a.ledger == USD))
        );
    }
    let balances: Vec<Vec<_>> = views
        .iter()
        .map(|v| v.iter().map(|a| a.balances).collect())
        .collect();
    assert!(
        balances.windows(2).all(|w| w[0] == w[1]),
        "balances disagree"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn memory_ledger_keeps_every_invariant(
        batches in prop::collection::vec(prop::collection::vec(event(), 1..12), 1..10)
    ) {
        let ledgers: Vec<Arc<dyn LedgerBackend>> = vec![Arc::new(MemoryLedger::new())];
        runtime().block_on(replay(&ledgers, &transfers(&batches)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn sqlite_memory_ledger_matches_the_memory_ledger(
        batches in prop::collection::vec(prop::collection::vec(event(), 1..12), 1..8)
    ) {
        runtime().block_on(async {
            let ledgers: Vec<Arc<dyn LedgerBackend>> = vec![
                Arc::new(MemoryLedger::new()),
                Arc::new(SqliteLedger::open_memory().await.expect("open")),
            ];
            replay(&ledgers, &transfers(&batches)).await;
        });
    }
}
