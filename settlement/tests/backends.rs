//! Every backend passes the one suite (`attn_settlement::testing`), plus the faults
//! that are specific to a store: a locked SQLite file, an unreachable server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use attn_settlement::testing::{self, CLEARING, single};
use attn_settlement::{
    AccountFlags, Error, LedgerBackend, MemoryLedger, PostgresLedger, RetryPolicy, SqliteLedger,
    TransferId,
};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_passes_the_suite() {
    testing::run_suite(|| async { Arc::new(MemoryLedger::new()) as Arc<dyn LedgerBackend> }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_backend_passes_the_suite() {
    testing::run_suite(|| async {
        Arc::new(
            SqliteLedger::open_memory()
                .await
                .expect("open sqlite memory"),
        ) as Arc<dyn LedgerBackend>
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_backend_passes_the_suite() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let mut count = 0;
    testing::run_suite(|| {
        count += 1;
        let path = directory.path().join(format!("ledger-{count}.db"));
        async move {
            let url = format!("sqlite://{}", path.display());
            attn_settlement::open(&url).await.expect("open sqlite file")
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backend_passes_the_suite() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let mut schemas = common::TestSchemas::new(url);
    let mut fresh = Vec::new();
    for _ in 0..10 {
        fresh.push(common::dynamic(schemas.fresh().await));
    }
    testing::run_suite(|| {
        let ledger = fresh.pop().expect("one schema per case");
        async move { ledger }
    })
    .await;
    schemas.drop_all().await;
}

#[tokio::test]
async fn sqlite_file_locked_by_another_writer_is_busy_and_writes_nothing() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("locked.db");
    let ledger = SqliteLedger::open_file(&path).await.expect("open");
    testing::setup(&ledger, &[2], AccountFlags::NONE).await;
    // Another process (here: another connection) holds the write lock.
    let mut other = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("take the write lock");
    let quick = SqliteLedger::open_file(&path)
        .await
        .expect("open again")
        .with_retry_policy(RetryPolicy {
            attempts_max: 2,
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(1),
        });
    sqlx::query("PRAGMA busy_timeout = 50")
        .execute(quick.pool())
        .await
        .expect("short busy timeout");
    let batch = [single(1, CLEARING, 2, 5), single(2, CLEARING, 2, 6)];
    let result = quick.submit(&batch, 1).await;
    assert!(matches!(result, Err(Error::Busy(_))), "{result:?}");
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("release");
    let stored = ledger
        .lookup_transfers(&[TransferId(1), TransferId(2)])
        .await
        .expect("lookup");
    assert!(stored.is_empty(), "never a partial batch: {stored:?}");
    // Once the lock is released, the same batch goes through.
    let outcomes = quick.submit(&batch, 2).await.expect("submit after release");
    assert!(outcomes.iter().all(|o| o.is_recorded()));
    assert!(ledger.check().await.expect("check").is_ok());
}

#[tokio::test]
async fn sqlite_file_in_a_missing_directory_is_unavailable() {
    let result = SqliteLedger::open_file("/nonexistent-attn-directory/ledger.db").await;
    assert!(
        matches!(result, Err(Error::Unavailable(_))),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    use std::str::FromStr;
    // Port 1 on the loopback: nothing listens, the connection is refused at once.
    let options =
        sqlx::postgres::PgConnectOptions::from_str("postgres://postgres@127.0.0.1:1/test")
            .expect("valid URL");
    let retry = RetryPolicy {
        attempts_max: 3,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(2),
    };
    let result = PostgresLedger::connect_with(options, retry).await;
    assert!(
        matches!(result, Err(Error::Unavailable(_))),
        "{:?}",
        result.err()
    );
}

/// Two ledgers on one file (as two processes would be) write to the same accounts in
/// turn: each sees the other's commits (its account cache is invalidated by
/// `PRAGMA data_version`), so the balance flag still holds.
#[tokio::test]
async fn two_writers_on_one_sqlite_file_see_each_other() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("shared.db");
    let first = SqliteLedger::open_file(&path).await.expect("open first");
    testing::setup(
        &first,
        &[2, 3],
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    )
    .await;
    let second = SqliteLedger::open_file(&path).await.expect("open second");
    first
        .submit(&[single(1, CLEARING, 2, 10)], 1)
        .await
        .expect("fund");
    let mut created = 0;
    for round in 0..30u128 {
        let writer: &SqliteLedger = if round % 2 == 0 { &first } else { &second };
        let outcomes = writer
            .submit(&[single(100 + round, 2, 3, 1)], 2)
            .await
            .expect("spend");
        if outcomes[0].is_recorded() {
            created += 1;
        }
    }
    assert_eq!(
        created, 10,
        "exactly the funded spends, across both writers"
    );
    for ledger in [&first, &second] {
        let report = ledger.check().await.expect("check");
        assert!(report.is_ok(), "{report}");
        let accounts = ledger
            .lookup_accounts(&[attn_settlement::AccountId(2)])
            .await
            .expect("lookup");
        assert_eq!(accounts[0].balances.debits_posted, 10);
    }
}

/// A row locked by another transaction (another process holding the accounts): the
/// batch waits at most the lock timeout, is retried under the policy, then fails with
/// `Busy`, and writes nothing; once the lock is released the same batch goes through.
#[tokio::test]
async fn postgres_rows_locked_by_another_transaction_are_busy_and_write_nothing() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let mut schemas = common::TestSchemas::new(url);
    let (ledger, options) = schemas.fresh_with_options().await;
    testing::setup(&*ledger, &[2], AccountFlags::NONE).await;
    // Other tests migrate their schemas meanwhile (one advisory lock per database):
    // enough attempts to open, few enough to give up on a held row lock quickly.
    let quick = PostgresLedger::connect_with(
        options.clone().options([("lock_timeout", "50ms")]),
        RetryPolicy {
            attempts_max: 8,
            backoff_initial: Duration::from_millis(5),
            backoff_max: Duration::from_millis(100),
        },
    )
    .await
    .expect("connect");
    let mut other = sqlx::postgres::PgConnection::connect_with(&options)
        .await
        .expect("another connection");
    sqlx::query("BEGIN")
        .execute(&mut other)
        .await
        .expect("begin");
    sqlx::query("SELECT id FROM accounts FOR UPDATE")
        .fetch_all(&mut other)
        .await
        .expect("lock every account");
    let batch = [single(1, CLEARING, 2, 5), single(2, CLEARING, 2, 6)];
    let result = quick.submit(&batch, 1).await;
    assert!(matches!(result, Err(Error::Busy(_))), "{result:?}");
    assert!(result.is_err_and(|e| e.is_transient()));
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("release");
    let stored = ledger
        .lookup_transfers(&[TransferId(1), TransferId(2)])
        .await
        .expect("lookup");
    assert!(stored.is_empty(), "never a partial batch: {stored:?}");
    let outcomes = quick.submit(&batch, 2).await.expect("submit after release");
    assert!(outcomes.iter().all(|o| o.is_recorded()));
    assert!(ledger.check().await.expect("check").is_ok());
    quick.close().await;
    let _ = other.close().await;
    schemas.drop_all().await;
}

/// The server kills every connection of the ledger (a restart, a failover): the next
/// batches are retried on new connections, each applied once.
#[tokio::test]
async fn postgres_connections_killed_between_batches_are_retried() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let mut schemas = common::TestSchemas::new(url.clone());
    let (ledger, options) = schemas.fresh_with_options().await;
    testing::setup(&*ledger, &[2], AccountFlags::NONE).await;
    ledger
        .submit(&[single(1, CLEARING, 2, 5)], 1)
        .await
        .expect("first batch");
    let name = options
        .get_application_name()
        .expect("named connections")
        .to_string();
    let mut admin = sqlx::postgres::PgConnection::connect(&url)
        .await
        .expect("admin");
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .expect("terminate the ledger's connections");
    assert!(!killed.is_empty(), "the ledger had connections to kill");
    for round in 2..6u128 {
        let outcomes = ledger
            .submit(&[single(round, CLEARING, 2, 5)], 2)
            .await
            .expect("retried on a new connection");
        assert!(matches!(
            outcomes[0],
            attn_settlement::TransferOutcome::Created { .. }
        ));
    }
    let report = ledger.check().await.expect("check");
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.transfers, 5, "each applied once: {report}");
    let _ = admin.close().await;
    schemas.drop_all().await;
}

/// History is indexed by epoch on SQLite (`HISTORY_EPOCH_SHIFT`): an account's pages
/// across several epochs, one of them without the account, from the start and from a
/// cursor in the middle, are exactly the in-memory reference's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_history_across_epochs_is_the_reference_history() {
    use attn_settlement::rules::BATCH_MAX;
    use attn_settlement::sqlite::HISTORY_EPOCH_SHIFT;
    let sqlite = SqliteLedger::open_memory()
        .await
        .expect("open sqlite memory");
    let memory = MemoryLedger::new();
    let ledgers: [&dyn LedgerBackend; 2] = [&sqlite, &memory];
    for ledger in ledgers {
        testing::setup(ledger, &[2, 3, 4], AccountFlags::NONE).await;
    }
    // Five full batches: sequences 1..=40,945, epochs 0, 1 and 2. Account 2 appears in
    // the first and the last batch only (epochs 0 and 2), account 4 in every batch.
    let batches = 5u128;
    let mut next_id = 1_000u128;
    for round in 0..batches {
        let batch: Vec<_> = (0..BATCH_MAX as u128)
            .map(|i| {
                next_id += 1;
                let to = if (round == 0 || round == batches - 1) && i % 3_000 == 7 {
                    2
                } else if i % 1_000 == 11 {
                    4
                } else {
                    3
                };
                single(next_id, CLEARING, to, 1)
            })
            .collect();
        for ledger in ledgers {
            let outcomes = ledger.submit(&batch, 1).await.expect("submit");
            assert!(outcomes.iter().all(|o| o.is_recorded()));
        }
    }
    let total = batches * BATCH_MAX as u128;
    assert!(
        total >> HISTORY_EPOCH_SHIFT >= 2,
        "the batches span three epochs"
    );
    for (account, limit, start) in [
        (2, 2, None),
        (4, 3, None),
        (4, 7, Some(20_000)),
        (3, 5_000, None),
    ] {
        let (mut cursors, mut pages) = ([start; 2], [Vec::new(), Vec::new()]);
        for (index, ledger) in ledgers.iter().enumerate() {
            loop {
                let page = ledger
                    .history(attn_settlement::AccountId(account), cursors[index], limit)
                    .await
                    .expect("history");
                pages[index].push(page.clone());
                match page.next_cursor {
                    Some(next) => cursors[index] = Some(next),
                    None => break,
                }
            }
        }
        assert_eq!(pages[0], pages[1], "account {account}, limit {limit}");
        let seen: usize = pages[0].iter().map(|p| p.transfers.len()).sum();
        assert!(seen > 0, "account {account} has history");
    }
    assert!(sqlite.check().await.expect("check").is_ok());
}

/// A SQLite file written under the previous schema (transfers that stored both
/// account ids, before 20261207000001_transfer_numbers.sql) opens, is migrated, and
/// reads back the same transfers, history and sums; its open pending transfer still
/// expires.
#[tokio::test]
async fn sqlite_file_of_the_previous_schema_is_migrated_and_reads_the_same() {
    use attn_settlement::{AccountId, AccountKind, TransferStatus};
    use sqlx::migrate::Migrator;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

    let directory = tempfile::tempdir().expect("temporary directory");
    let previous = directory.path().join("previous-migrations");
    std::fs::create_dir(&previous).expect("migrations directory");
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    for name in [
        "20261125000001_ledger.sql",
        "20261126000001_history_epochs.sql",
    ] {
        std::fs::copy(all.join(name), previous.join(name)).expect("copy migration");
    }
    let path = directory.path().join("previous.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.expect("open");
    Migrator::new(previous.as_path())
        .await
        .expect("previous migrations")
        .run(&pool)
        .await
        .expect("run previous migrations");
    let id = |n: u8| {
        let mut bytes = [0u8; 16];
        bytes[15] = n;
        bytes.to_vec()
    };
    sqlx::query("INSERT INTO ledgers (id, currency, scale) VALUES (840, 'USD', 6)")
        .execute(&pool)
        .await
        .expect("ledger");
    // Account 2 (number 1) paid 5 to account 3 (number 2), which holds a pending
    // transfer of 2 back to account 2 that expires at 1,000 ms.
    for (number, account, sums) in [(1, 2, [0, 5, 2, 0]), (2, 3, [2, 0, 0, 5])] {
        sqlx::query(
            "INSERT INTO accounts (number, id, ledger, kind, flags, user_data, \
             debits_pending, debits_posted, credits_pending, credits_posted, created_at_ms) \
             VALUES (?, ?, 840, ?, 0, 0, ?, ?, ?, ?, 1)",
        )
        .bind(number)
        .bind(id(account))
        .bind(i64::from(AccountKind::UserWallet.code()))
        .bind(sums[0])
        .bind(sums[1])
        .bind(sums[2])
        .bind(sums[3])
        .execute(&pool)
        .await
        .expect("account");
    }
    for (sequence, transfer, debit, credit, amount, flags, timeout, expires, status) in [
        (1, 10, (2, 1), (3, 2), 5, 0, 0, None, TransferStatus::Posted),
        (
            2,
            11,
            (3, 2),
            (2, 1),
            2,
            2,
            1,
            Some(1_000),
            TransferStatus::Pending,
        ),
    ] {
        sqlx::query(
            "INSERT INTO transfers (sequence, id, debit_account, credit_account, amount, \
             ledger, code, user_data, flags, pending_id, timeout_ms, expires_at_ms, status, \
             created_at_ms, debit_number, credit_number) \
             VALUES (?, ?, ?, ?, ?, 840, 1, 0, ?, NULL, ?, ?, ?, 1, ?, ?)",
        )
        .bind(sequence)
        .bind(id(transfer))
        .bind(id(debit.0))
        .bind(id(credit.0))
        .bind(amount)
        .bind(flags)
        .bind(timeout)
        .bind(expires)
        .bind(i64::from(status.code()))
        .bind(debit.1)
        .bind(credit.1)
        .execute(&pool)
        .await
        .expect("transfer");
    }
    sqlx::query("INSERT INTO transfer_epochs (epoch) VALUES (0)")
        .execute(&pool)
        .await
        .expect("epoch");
    pool.close().await;

    let ledger = SqliteLedger::open_file(&path)
        .await
        .expect("open and migrate");
    let report = ledger.check().await.expect("check");
    assert!(report.is_ok(), "{report}");
    let transfers = ledger
        .lookup_transfers(&[TransferId(10), TransferId(11)])
        .await
        .expect("lookup");
    assert_eq!(transfers.len(), 2);
    assert_eq!(
        (
            transfers[0].transfer.debit_account,
            transfers[0].transfer.credit_account,
            transfers[0].transfer.amount,
            transfers[0].sequence,
        ),
        (AccountId(2), AccountId(3), 5, 1)
    );
    assert_eq!(
        (
            transfers[1].transfer.debit_account,
            transfers[1].transfer.credit_account,
            transfers[1].status,
        ),
        (AccountId(3), AccountId(2), TransferStatus::Pending)
    );
    let history = ledger
        .history(AccountId(2), None, 10)
        .await
        .expect("history");
    assert_eq!(history.transfers, transfers);
    assert_eq!(ledger.expire_pending(2_000).await.expect("expire"), 1);
    let accounts = ledger
        .lookup_accounts(&[AccountId(2), AccountId(3)])
        .await
        .expect("accounts");
    assert_eq!(accounts[0].balances.credits_pending, 0);
    assert_eq!(accounts[1].balances.debits_pending, 0);
    // New transfers continue the sequence, between the migrated accounts.
    let outcomes = ledger
        .submit(&[single(12, 3, 2, 1)], 3_000)
        .await
        .expect("submit");
    assert!(outcomes[0].is_recorded());
    let after = ledger
        .history(AccountId(3), Some(2), 10)
        .await
        .expect("history after");
    assert_eq!(after.transfers.len(), 1);
    assert_eq!(after.transfers[0].sequence, 3);
    let report = ledger.check().await.expect("check after");
    assert!(report.is_ok(), "{report}");
}

/// SQLite writes a batch as if its ids were fresh, and plans it again with its own
/// ids read when one is stored. A batch of 1,000 that resubmits stored transfers at
/// positions 900 (same fields) and 950 (another amount), past its first statements
/// (whose rows are written, then deleted), gets the memory ledger's outcomes, sums
/// and history, and the sequences stay contiguous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batch_resubmitting_stored_ids_late_is_the_reference() {
    use attn_settlement::{Rejection, TransferOutcome};
    let sqlite = SqliteLedger::open_memory()
        .await
        .expect("open sqlite memory");
    let memory = MemoryLedger::new();
    let ledgers: [&dyn LedgerBackend; 2] = [&sqlite, &memory];
    let first = [single(1, CLEARING, 2, 5), single(2, CLEARING, 3, 7)];
    let mut batch: Vec<_> = (0..1_000u128)
        .map(|i| single(100 + i, CLEARING, 2 + i % 2, 1))
        .collect();
    batch[900] = first[0];
    batch[950] = single(2, CLEARING, 3, 8);
    let mut outcomes = Vec::new();
    for ledger in ledgers {
        testing::setup(ledger, &[2, 3], AccountFlags::NONE).await;
        ledger.submit(&first, 1).await.expect("first batch");
        outcomes.push(ledger.submit(&batch, 2).await.expect("second batch"));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert!(matches!(
        outcomes[0][900],
        TransferOutcome::AlreadyExists { created_at_ms: 1 }
    ));
    assert!(matches!(
        outcomes[0][950],
        TransferOutcome::Rejected(Rejection::ExistsWithDifferentFields("amount"))
    ));
    assert_eq!(
        outcomes[0]
            .iter()
            .filter(|o| matches!(o, TransferOutcome::Created { .. }))
            .count(),
        998
    );
    let ids = [attn_settlement::AccountId(2), attn_settlement::AccountId(3)];
    assert_eq!(
        sqlite.lookup_accounts(&ids).await.expect("sqlite sums"),
        memory.lookup_accounts(&ids).await.expect("memory sums")
    );
    for account in ids {
        let pages = [
            sqlite.history(account, None, 2_000).await.expect("history"),
            memory.history(account, None, 2_000).await.expect("history"),
        ];
        assert_eq!(pages[0], pages[1]);
    }
    let last = sqlite
        .history(attn_settlement::AccountId(3), None, 2_000)
        .await
        .expect("history")
        .transfers
        .last()
        .map(|r| r.sequence);
    assert_eq!(last, Some(1_000), "2 + 998 rows, no gap");
    assert!(sqlite.check().await.expect("check").is_ok());
}
