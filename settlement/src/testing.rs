//! The test suite every [`LedgerBackend`] passes (feature `test-suite`). Each case
//! takes a fresh, empty backend and panics with the backend's name on failure.
//!
//! ```text
//! attn_settlement::testing::run_suite(|| async {
//!     std::sync::Arc::new(attn_settlement::MemoryLedger::new()) as _
//! }).await;
//! ```

use std::future::Future;
use std::sync::Arc;

use attn_receipts::Currency;
use attn_receipts::signed::Digest32;

use crate::backend::LedgerBackend;
use crate::error::{Error, Rejection};
use crate::flow::{self, AcceptedImpression, FeeRates};
use crate::model::{
    AccountFlags, AccountId, AccountKind, AccountOutcome, Ledger, LedgerId, NewAccount, Transfer,
    TransferFlags, TransferId, TransferOutcome, TransferStatus,
};
use crate::rules::{AMOUNT_MAX, BATCH_MAX, HISTORY_LIMIT_MAX};

/// The ledger every case uses (USD, micro-dollars).
pub const USD: LedgerId = LedgerId(840);
/// A second ledger (EUR, cents).
pub const EUR: LedgerId = LedgerId(978);
/// Writers in the concurrency case.
pub const CONCURRENT_WRITERS: usize = 32;

/// The two ledgers of the suite.
pub fn ledgers() -> [Ledger; 2] {
    let currency = |code| Currency::new(code).unwrap_or_else(|e| panic!("{code}: {e}"));
    [
        Ledger {
            id: USD,
            currency: currency("USD"),
            scale: 6,
        },
        Ledger {
            id: EUR,
            currency: currency("EUR"),
            scale: 2,
        },
    ]
}

/// A new account of the suite.
pub fn account(id: u128, ledger: LedgerId, kind: AccountKind, flags: AccountFlags) -> NewAccount {
    NewAccount {
        id: AccountId(id),
        ledger,
        kind,
        flags,
        user_data: id as u64,
    }
}

/// A single-phase transfer on [`USD`] with code 1.
pub fn single(id: u128, debit: u128, credit: u128, amount: u64) -> Transfer {
    Transfer::single(
        TransferId(id),
        AccountId(debit),
        AccountId(credit),
        amount,
        USD,
        1,
    )
}

/// A pending transfer on [`USD`].
pub fn pending(id: u128, debit: u128, credit: u128, amount: u64, timeout_ms: u64) -> Transfer {
    Transfer {
        flags: TransferFlags::PENDING,
        timeout_ms,
        ..single(id, debit, credit, amount)
    }
}

/// The clearing account (1, no flags) that funds the others.
pub const CLEARING: u128 = 1;

/// Defines the ledgers and creates the clearing account (1) and accounts `ids` on USD
/// with `flags`; funds none.
pub async fn setup(ledger: &dyn LedgerBackend, ids: &[u128], flags: AccountFlags) {
    let name = ledger.backend_name();
    ledger
        .create_ledgers(&ledgers())
        .await
        .unwrap_or_else(|e| panic!("{name}: create_ledgers: {e}"));
    let mut accounts = vec![account(
        CLEARING,
        USD,
        AccountKind::RailClearing,
        AccountFlags::NONE,
    )];
    accounts.extend(
        ids.iter()
            .map(|id| account(*id, USD, AccountKind::UserWallet, flags)),
    );
    let outcomes = ledger
        .create_accounts(&accounts, 1)
        .await
        .unwrap_or_else(|e| panic!("{name}: create_accounts: {e}"));
    assert!(
        outcomes.iter().all(|o| *o == AccountOutcome::Created),
        "{name}: {outcomes:?}"
    );
}

async fn submit(
    ledger: &dyn LedgerBackend,
    batch: &[Transfer],
    now_ms: u64,
) -> Vec<TransferOutcome> {
    let name = ledger.backend_name();
    let outcomes = ledger
        .submit(batch, now_ms)
        .await
        .unwrap_or_else(|e| panic!("{name}: submit: {e}"));
    assert_eq!(outcomes.len(), batch.len(), "{name}");
    outcomes
}

async fn balances(ledger: &dyn LedgerBackend, id: u128) -> crate::model::Balances {
    let name = ledger.backend_name();
    let found = ledger
        .lookup_accounts(&[AccountId(id)])
        .await
        .unwrap_or_else(|e| panic!("{name}: lookup_accounts: {e}"));
    assert_eq!(found.len(), 1, "{name}: account {id}");
    found[0].balances
}

async fn assert_check(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    let report = ledger
        .check()
        .await
        .unwrap_or_else(|e| panic!("{name}: check: {e}"));
    assert!(report.is_ok(), "{name}: {report}");
}

fn rejected(outcome: &TransferOutcome) -> Option<Rejection> {
    match outcome {
        TransferOutcome::Rejected(rejection) => Some(*rejection),
        _ => None,
    }
}

/// Ledgers and accounts: idempotent creation, conflicts, unknown ledgers, lookups.
pub async fn ledgers_and_accounts(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    setup(ledger, &[2], AccountFlags::NONE).await;
    ledger
        .create_ledgers(&ledgers())
        .await
        .unwrap_or_else(|e| panic!("{name}: redefining the same ledgers: {e}"));
    let mut changed = ledgers()[0];
    changed.scale = 2;
    assert!(
        matches!(
            ledger.create_ledgers(&[changed]).await,
            Err(Error::InvalidLedger { .. })
        ),
        "{name}: a ledger redefined with another scale"
    );
    // The same bound on every backend (PostgreSQL stores ids as INTEGER).
    let mut too_high = ledgers()[0];
    too_high.id = LedgerId(crate::rules::LEDGER_ID_MAX + 1);
    assert!(
        matches!(
            ledger.create_ledgers(&[too_high]).await,
            Err(Error::InvalidLedger { .. })
        ),
        "{name}: a ledger id above LEDGER_ID_MAX"
    );
    let listed = ledger
        .ledgers()
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(listed, ledgers().to_vec(), "{name}");

    let same = account(2, USD, AccountKind::UserWallet, AccountFlags::NONE);
    let outcomes = ledger
        .create_accounts(
            &[
                same,
                NewAccount {
                    kind: AccountKind::Fees,
                    ..same
                },
                account(3, LedgerId(7), AccountKind::Fees, AccountFlags::NONE),
                account(0, USD, AccountKind::Fees, AccountFlags::NONE),
                account(4, EUR, AccountKind::Fees, AccountFlags::NONE),
                account(4, EUR, AccountKind::Fees, AccountFlags::NONE),
            ],
            2,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        outcomes,
        vec![
            AccountOutcome::AlreadyExists,
            AccountOutcome::Rejected(Rejection::AccountExistsWithDifferentFields("kind")),
            AccountOutcome::Rejected(Rejection::LedgerNotFound),
            AccountOutcome::Rejected(Rejection::IdZero),
            AccountOutcome::Created,
            AccountOutcome::AlreadyExists,
        ],
        "{name}"
    );
    let found = ledger
        .lookup_accounts(&[AccountId(4), AccountId(3), AccountId(2)])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let ids: Vec<u128> = found.iter().map(|a| a.id.0).collect();
    assert_eq!(ids, vec![2, 4], "{name}");
    assert_eq!(found[1].ledger, EUR, "{name}");
    assert_eq!(found[1].user_data, 4, "{name}");
    assert_eq!(found[0].created_at_ms, 1, "{name}");
    let all = ledger
        .accounts(None, 2)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let rest = ledger
        .accounts(Some(all[1].id), 10)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(all.len() + rest.len(), 3, "{name}");
    assert_check(ledger).await;
}

/// Exactly once: a resubmitted transfer returns its first result and changes nothing;
/// the same id with other fields is a conflict.
pub async fn idempotency(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    setup(ledger, &[2, 3], AccountFlags::NONE).await;
    let t = single(10, CLEARING, 2, 500);
    let first = submit(ledger, &[t, t], 100).await;
    assert_eq!(
        first[0],
        TransferOutcome::Created { created_at_ms: 100 },
        "{name}"
    );
    assert_eq!(
        first[1],
        TransferOutcome::AlreadyExists { created_at_ms: 100 },
        "{name}: a duplicate inside the batch"
    );
    let again = submit(ledger, &[t], 200).await;
    assert_eq!(
        again[0],
        TransferOutcome::AlreadyExists { created_at_ms: 100 },
        "{name}: a resubmission returns the first result"
    );
    assert_eq!(
        balances(ledger, 2).await.credits_posted,
        500,
        "{name}: applied once"
    );
    let conflicts = submit(
        ledger,
        &[
            Transfer { amount: 501, ..t },
            Transfer {
                credit_account: AccountId(CLEARING),
                debit_account: AccountId(2),
                ..t
            },
            Transfer { code: 2, ..t },
            Transfer {
                flags: TransferFlags::PENDING,
                ..t
            },
            // An account the first transfer never touched (PostgreSQL once took the
            // unlocked account for a concurrent write and answered Busy forever).
            Transfer {
                credit_account: AccountId(3),
                ..t
            },
        ],
        300,
    )
    .await;
    assert_eq!(
        conflicts.iter().map(rejected).collect::<Vec<_>>(),
        vec![
            Some(Rejection::ExistsWithDifferentFields("amount")),
            Some(Rejection::ExistsWithDifferentFields("debit_account")),
            Some(Rejection::ExistsWithDifferentFields("code")),
            Some(Rejection::ExistsWithDifferentFields("flags")),
            Some(Rejection::ExistsWithDifferentFields("credit_account")),
        ],
        "{name}"
    );
    assert_eq!(balances(ledger, 2).await.credits_posted, 500, "{name}");
    let stored = ledger
        .lookup_transfers(&[TransferId(10), TransferId(11)])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(stored.len(), 1, "{name}");
    assert_eq!(stored[0].transfer, t, "{name}");
    assert_eq!(stored[0].status, TransferStatus::Posted, "{name}");
    assert_check(ledger).await;
}

/// Amounts zero and over the range, wrong ledger, unknown accounts: each refused with
/// its typed rejection, nothing recorded; an oversized batch is an error.
pub async fn bad_input(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    setup(ledger, &[2], AccountFlags::NONE).await;
    let euro = account(3, EUR, AccountKind::UserWallet, AccountFlags::NONE);
    ledger
        .create_accounts(&[euro], 1)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let good = single(20, CLEARING, 2, 5);
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
                amount: u64::MAX,
                ..good
            },
            Rejection::AmountExceedsMax,
        ),
        (
            Transfer {
                ledger: EUR,
                ..good
            },
            Rejection::TransferMustHaveTheSameLedgerAsAccounts,
        ),
        (
            Transfer {
                ledger: LedgerId(5),
                ..good
            },
            Rejection::LedgerNotFound,
        ),
        (
            Transfer {
                credit_account: AccountId(3),
                ..good
            },
            Rejection::AccountsMustHaveTheSameLedger,
        ),
        (
            Transfer {
                credit_account: AccountId(99),
                ..good
            },
            Rejection::CreditAccountNotFound,
        ),
        (
            Transfer {
                debit_account: AccountId(98),
                ..good
            },
            Rejection::DebitAccountNotFound,
        ),
        (
            Transfer {
                id: TransferId(0),
                ..good
            },
            Rejection::IdZero,
        ),
        (Transfer { code: 0, ..good }, Rejection::CodeZero),
    ];
    let batch: Vec<Transfer> = cases.iter().map(|(t, _)| *t).collect();
    let outcomes = submit(ledger, &batch, 10).await;
    for ((transfer, expected), outcome) in cases.iter().zip(&outcomes) {
        assert_eq!(rejected(outcome), Some(*expected), "{name}: {transfer:?}");
    }
    assert!(
        ledger
            .lookup_transfers(&[TransferId(20)])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .is_empty(),
        "{name}: nothing recorded"
    );
    let oversized = vec![good; BATCH_MAX + 1];
    assert!(
        matches!(
            ledger.submit(&oversized, 10).await,
            Err(Error::BatchTooLarge { .. })
        ),
        "{name}"
    );
    assert!(
        matches!(
            ledger
                .history(AccountId(2), None, HISTORY_LIMIT_MAX + 1)
                .await,
            Err(Error::LimitOutOfRange { .. })
        ),
        "{name}"
    );
    assert_eq!(balances(ledger, 2).await, Default::default(), "{name}");
    assert_check(ledger).await;
}

/// Balance flags: no overdraft, pending amounts count, credits-must-not-exceed-debits.
pub async fn balance_flags(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    setup(
        ledger,
        &[2, 3],
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    )
    .await;
    let capped = account(
        4,
        USD,
        AccountKind::RailClearing,
        AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
    );
    ledger
        .create_accounts(&[capped], 1)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let outcomes = submit(
        ledger,
        &[
            single(1, CLEARING, 2, 100),
            pending(2, 2, 3, 60, 0),
            single(3, 2, 3, 41),
            single(4, 2, 3, 40),
            single(5, 3, 4, 1),
            single(6, 4, 3, 10),
            single(7, 3, 4, 10),
            single(8, 3, 4, 1),
        ],
        10,
    )
    .await;
    assert_eq!(
        outcomes.iter().map(rejected).collect::<Vec<_>>(),
        vec![
            None,
            None,
            Some(Rejection::ExceedsCredits),
            None,
            Some(Rejection::ExceedsDebits),
            None,
            None,
            Some(Rejection::ExceedsDebits),
        ],
        "{name}"
    );
    let b = balances(ledger, 2).await;
    assert_eq!(
        (b.debits_pending, b.debits_posted, b.credits_posted),
        (60, 40, 100),
        "{name}"
    );
    assert_check(ledger).await;
}

/// Two-phase transfers: post in part, void, double resolution, expiry.
pub async fn two_phase(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    setup(
        ledger,
        &[2, 3],
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    )
    .await;
    submit(ledger, &[single(1, CLEARING, 2, 1_000)], 0).await;
    let outcomes = submit(
        ledger,
        &[
            pending(10, 2, 3, 300, 0),
            pending(11, 2, 3, 200, 1_000),
            pending(12, 2, 3, 100, 500),
        ],
        100,
    )
    .await;
    assert!(
        outcomes.iter().all(TransferOutcome::is_recorded),
        "{name}: {outcomes:?}"
    );
    let b = balances(ledger, 2).await;
    assert_eq!((b.debits_pending, b.debits_posted), (600, 0), "{name}");
    // Nothing more can be reserved than what is left.
    let over = submit(ledger, &[single(13, 2, 3, 401)], 150).await;
    assert_eq!(
        rejected(&over[0]),
        Some(Rejection::ExceedsCredits),
        "{name}"
    );

    let outcomes = submit(
        ledger,
        &[
            Transfer::post(TransferId(20), TransferId(10), 250),
            Transfer::void(TransferId(21), TransferId(10)),
            Transfer::post(TransferId(22), TransferId(10), 1),
            Transfer::void(TransferId(23), TransferId(11)),
            Transfer::post(TransferId(24), TransferId(11), 1),
            Transfer::post(TransferId(25), TransferId(1), 1),
            Transfer::post(TransferId(26), TransferId(404), 1),
            Transfer::post(TransferId(27), TransferId(12), 101),
            Transfer {
                debit_account: AccountId(3),
                ..Transfer::post(TransferId(28), TransferId(12), 100)
            },
        ],
        200,
    )
    .await;
    assert_eq!(
        outcomes.iter().map(rejected).collect::<Vec<_>>(),
        vec![
            None,
            Some(Rejection::PendingTransferAlreadyPosted),
            Some(Rejection::PendingTransferAlreadyPosted),
            None,
            Some(Rejection::PendingTransferAlreadyVoided),
            Some(Rejection::PendingTransferNotPending),
            Some(Rejection::PendingTransferNotFound),
            Some(Rejection::PendingTransferHasDifferentAmount),
            Some(Rejection::PendingTransferHasDifferentDebitAccount),
        ],
        "{name}"
    );
    let b = balances(ledger, 2).await;
    assert_eq!((b.debits_pending, b.debits_posted), (100, 250), "{name}");
    let posted = ledger
        .lookup_transfers(&[TransferId(10), TransferId(20), TransferId(23)])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(posted[0].status, TransferStatus::PendingPosted, "{name}");
    assert_eq!(
        posted[1].transfer.debit_account,
        AccountId(2),
        "{name}: inherited"
    );
    assert_eq!(posted[1].transfer.amount, 250, "{name}");
    assert_eq!(posted[2].status, TransferStatus::Voided, "{name}");
    assert_eq!(posted[2].transfer.amount, 200, "{name}");
    // A post of an identical resubmission is idempotent.
    let again = submit(
        ledger,
        &[Transfer::post(TransferId(20), TransferId(10), 250)],
        250,
    )
    .await;
    assert_eq!(
        again[0],
        TransferOutcome::AlreadyExists { created_at_ms: 200 },
        "{name}"
    );

    // Transfer 12 (timeout 500 ms from 100) expires at 600.
    assert_eq!(
        ledger
            .expire_pending(599)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}")),
        0,
        "{name}"
    );
    let late = submit(
        ledger,
        &[Transfer::post(TransferId(30), TransferId(12), 100)],
        600,
    )
    .await;
    assert_eq!(
        rejected(&late[0]),
        Some(Rejection::PendingTransferExpired),
        "{name}"
    );
    assert_eq!(
        ledger
            .expire_pending(600)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}")),
        1,
        "{name}"
    );
    assert_eq!(
        ledger
            .expire_pending(10_000)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}")),
        0,
        "{name}"
    );
    let b = balances(ledger, 2).await;
    assert_eq!((b.debits_pending, b.debits_posted), (0, 250), "{name}");
    let expired = ledger
        .lookup_transfers(&[TransferId(12)])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(expired[0].status, TransferStatus::PendingExpired, "{name}");
    let void_late = submit(
        ledger,
        &[Transfer::void(TransferId(31), TransferId(12))],
        700,
    )
    .await;
    assert_eq!(
        rejected(&void_late[0]),
        Some(Rejection::PendingTransferExpired),
        "{name}"
    );
    assert_check(ledger).await;
}

/// Linked chains: all or none; an open chain at the end is refused.
pub async fn linked_chains(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    setup(
        ledger,
        &[2, 3],
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    )
    .await;
    submit(ledger, &[single(1, CLEARING, 2, 100)], 0).await;
    let link = |t: Transfer| Transfer {
        flags: t.flags.union(TransferFlags::LINKED),
        ..t
    };
    let outcomes = submit(
        ledger,
        &[
            link(single(10, 2, 3, 50)),
            link(pending(11, 2, 3, 40, 0)),
            single(12, 2, 3, 20),
            single(13, 2, 3, 30),
            link(single(14, 2, 3, 1)),
        ],
        10,
    )
    .await;
    assert_eq!(
        outcomes.iter().map(rejected).collect::<Vec<_>>(),
        vec![
            Some(Rejection::LinkedEventFailed),
            Some(Rejection::LinkedEventFailed),
            Some(Rejection::ExceedsCredits),
            None,
            Some(Rejection::LinkedChainOpen),
        ],
        "{name}"
    );
    let b = balances(ledger, 2).await;
    assert_eq!((b.debits_pending, b.debits_posted), (0, 30), "{name}");
    let stored = ledger
        .lookup_transfers(&[
            TransferId(10),
            TransferId(11),
            TransferId(12),
            TransferId(14),
        ])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(stored.is_empty(), "{name}: {stored:?}");
    assert_check(ledger).await;
}

/// History by account with paging, in order, without other accounts' transfers.
pub async fn history_paging(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    setup(ledger, &[2, 3], AccountFlags::NONE).await;
    let batch: Vec<Transfer> = (0..25u128)
        .map(|i| {
            if i % 5 == 4 {
                single(100 + i, CLEARING, 3, 1)
            } else if i % 2 == 0 {
                single(100 + i, CLEARING, 2, 1)
            } else {
                single(100 + i, 2, CLEARING, 1)
            }
        })
        .collect();
    // Two batches, so sequences span commits.
    submit(ledger, &batch[..10], 1).await;
    submit(ledger, &batch[10..], 2).await;
    let expected: Vec<TransferId> = batch
        .iter()
        .filter(|t| t.debit_account.0 == 2 || t.credit_account.0 == 2)
        .map(|t| t.id)
        .collect();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = ledger
            .history(AccountId(2), cursor, 7)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        pages += 1;
        assert!(pages <= 10, "{name}: paging does not end");
        assert!(page.transfers.len() <= 7, "{name}");
        seen.extend(page.transfers.iter().map(|r| r.transfer.id));
        let sequences: Vec<u64> = page.transfers.iter().map(|r| r.sequence).collect();
        assert!(
            sequences.windows(2).all(|w| w[0] < w[1]),
            "{name}: {sequences:?}"
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected, "{name}");
    let empty = ledger
        .history(AccountId(77), None, 10)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        empty.transfers.is_empty() && empty.next_cursor.is_none(),
        "{name}"
    );
}

/// Many concurrent writers spending from one account with a balance flag never
/// overdraw it; exactly the funded number of spends succeed.
pub async fn concurrent_writers_never_overdraw(ledger: Arc<dyn LedgerBackend>) {
    let name = ledger.backend_name();
    let spenders: Vec<u128> = (0..CONCURRENT_WRITERS as u128).map(|i| 1_000 + i).collect();
    setup(&*ledger, &[2], AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS).await;
    ledger
        .create_accounts(
            &spenders
                .iter()
                .map(|id| account(*id, USD, AccountKind::UserWallet, AccountFlags::NONE))
                .collect::<Vec<_>>(),
            1,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    // 50 units for 32 writers × 4 attempts × 1 unit: only 50 can succeed.
    const FUNDS: u64 = 50;
    const ATTEMPTS_PER_WRITER: u128 = 4;
    submit(&*ledger, &[single(1, CLEARING, 2, FUNDS)], 0).await;
    let mut tasks = Vec::new();
    for (writer, spender) in spenders.iter().enumerate() {
        let ledger = Arc::clone(&ledger);
        let spender = *spender;
        tasks.push(tokio::spawn(async move {
            let mut created = 0u64;
            for attempt in 0..ATTEMPTS_PER_WRITER {
                let id = 10_000 + writer as u128 * 100 + attempt;
                // Each batch also touches the writer's own account and a shared one.
                let batch = [
                    single(id, 2, spender, 1),
                    single(id + 50, CLEARING, spender, 1),
                ];
                let outcomes = ledger.submit(&batch, 10).await?;
                if outcomes[0].is_recorded() {
                    created += 1;
                }
            }
            Ok::<u64, Error>(created)
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += task
            .await
            .unwrap_or_else(|e| panic!("{name}: writer panicked: {e}"))
            .unwrap_or_else(|e| panic!("{name}: writer failed: {e}"));
    }
    assert_eq!(created, FUNDS, "{name}: exactly the funded spends succeed");
    let b = balances(&*ledger, 2).await;
    assert_eq!(
        (b.debits_posted, b.credits_posted),
        (FUNDS, FUNDS),
        "{name}"
    );
    assert_check(&*ledger).await;
}

/// The settlement flow: accept (pending, fees linked), post, void, earnings, replay.
pub async fn settlement_flow(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    setup(ledger, &[], AccountFlags::NONE).await;
    let escrow = account(
        2,
        USD,
        AccountKind::AdvertiserEscrow,
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    );
    let others = [
        account(3, USD, AccountKind::UserWallet, AccountFlags::NONE),
        account(
            4,
            USD,
            AccountKind::InterfaceProviderPayee,
            AccountFlags::NONE,
        ),
        account(5, USD, AccountKind::ContentServerPayee, AccountFlags::NONE),
    ];
    let mut all = vec![escrow];
    all.extend(others);
    ledger
        .create_accounts(&all, 1)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    submit(ledger, &[single(1, CLEARING, 2, 10_000)], 0).await;
    let impression = |n: u8| AcceptedImpression {
        impression_hash: Digest32::of(&[b"impression", &[n]]),
        ledger: USD,
        advertiser_escrow: AccountId(2),
        user_wallet: AccountId(3),
        interface_provider: AccountId(4),
        content_server: AccountId(5),
        amount_atomic: 4_000,
        fees: FeeRates {
            interface_provider_ppm: 100_000,
            content_server_ppm: 50_000,
        },
        timeout_ms: 60_000,
    };
    let earned = |a| async move {
        flow::earnings(ledger, AccountId(a))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    flow::accept(ledger, &impression(1), 10)
        .await
        .unwrap_or_else(|e| panic!("{name}: accept: {e}"));
    let replay = flow::accept(ledger, &impression(1), 11)
        .await
        .unwrap_or_else(|e| panic!("{name}: replay: {e}"));
    assert!(
        replay
            .iter()
            .all(|o| matches!(o, TransferOutcome::AlreadyExists { .. })),
        "{name}: a replayed impression is not paid twice"
    );
    let user = earned(3).await;
    assert_eq!(
        (user.posted_atomic, user.pending_atomic),
        (0, 4_000),
        "{name}"
    );
    flow::post(ledger, &impression(1), 20)
        .await
        .unwrap_or_else(|e| panic!("{name}: post: {e}"));
    let user = earned(3).await;
    assert_eq!(
        (user.posted_atomic, user.pending_atomic),
        (4_000, 0),
        "{name}"
    );
    assert_eq!(earned(4).await.posted_atomic, 400, "{name}");
    assert_eq!(earned(5).await.posted_atomic, 200, "{name}");

    flow::accept(ledger, &impression(2), 30)
        .await
        .unwrap_or_else(|e| panic!("{name}: accept: {e}"));
    flow::void(ledger, &impression(2), 40)
        .await
        .unwrap_or_else(|e| panic!("{name}: void: {e}"));
    let user = earned(3).await;
    assert_eq!(
        (user.posted_atomic, user.pending_atomic),
        (4_000, 0),
        "{name}"
    );
    // Posting a voided impression is refused, with the reason.
    assert!(
        matches!(
            flow::post(ledger, &impression(2), 50).await,
            Err(Error::Rejected {
                reason: Rejection::PendingTransferAlreadyVoided,
                ..
            })
        ),
        "{name}"
    );
    // The escrow paid 4,000 + 400 + 200 and holds 5,400: a second impression (4,600
    // with its fees) fits, a third does not, and then none of its legs is recorded.
    assert_eq!(earned(2).await.posted_atomic, 10_000 - 4_600, "{name}");
    flow::accept(ledger, &impression(3), 60)
        .await
        .unwrap_or_else(|e| panic!("{name}: accept: {e}"));
    let refused = flow::accept(ledger, &impression(4), 70).await;
    assert!(
        matches!(
            refused,
            Err(Error::Rejected {
                reason: Rejection::ExceedsCredits,
                ..
            })
        ),
        "{name}: {refused:?}"
    );
    let legs = flow::pending_batch(&impression(4)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let ids: Vec<TransferId> = legs.iter().map(|t| t.id).collect();
    assert!(
        ledger
            .lookup_transfers(&ids)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .is_empty(),
        "{name}: a refused impression leaves no leg"
    );
    assert!(
        matches!(
            flow::earnings(ledger, AccountId(404)).await,
            Err(Error::AccountNotFound(_))
        ),
        "{name}"
    );
    assert_check(ledger).await;
}

/// The largest batch is accepted whole.
pub async fn largest_batch(ledger: &dyn LedgerBackend) {
    let name = ledger.backend_name();
    let accounts: Vec<u128> = (2..66).collect();
    setup(ledger, &accounts, AccountFlags::NONE).await;
    let batch: Vec<Transfer> = (0..BATCH_MAX as u128)
        .map(|i| single(1_000_000 + i, CLEARING, 2 + i % 64, 1 + (i % 7) as u64))
        .collect();
    let outcomes = submit(ledger, &batch, 5).await;
    assert!(outcomes.iter().all(TransferOutcome::is_recorded), "{name}");
    let total: u64 = batch.iter().map(|t| t.amount).sum();
    assert_eq!(
        balances(ledger, CLEARING).await.debits_posted,
        total,
        "{name}"
    );
    assert_check(ledger).await;
}

/// Runs every case, each on a fresh backend from `fresh`.
pub async fn run_suite<F, Fut>(mut fresh: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn LedgerBackend>>,
{
    ledgers_and_accounts(&*fresh().await).await;
    idempotency(&*fresh().await).await;
    bad_input(&*fresh().await).await;
    balance_flags(&*fresh().await).await;
    two_phase(&*fresh().await).await;
    linked_chains(&*fresh().await).await;
    history_paging(&*fresh().await).await;
    settlement_flow(&*fresh().await).await;
    largest_batch(&*fresh().await).await;
    concurrent_writers_never_overdraw(fresh().await).await;
}
