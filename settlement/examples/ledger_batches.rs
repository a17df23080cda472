//! Submits a fixed number of batches of 1,000 transfers (the `attn bench ledger`
//! workload) to a fresh SQLite file, after 20 batches of warm-up, and prints the rate.
//! A fixed amount of work, unlike the timed benchmark: run it under
//! `valgrind --tool=callgrind` with two counts and subtract to get the instructions
//! of one batch, a figure that does not move with the machine's load.
//!
//! `cargo run --release -p attn-settlement --example ledger_batches -- ledger 30`
//! (`bare` instead of `ledger`: the bare `INSERT` of the same rows).

use std::time::Instant;

use attn_settlement::bench::{
    Workload, bare_insert_sqlite, create_bare_table_sqlite, prepare, rows,
};
use attn_settlement::{LedgerBackend, SqliteLedger, Transfer};

const ACCOUNTS: u64 = 10_000;
const BATCH: usize = 1_000;
const WARM_UP: usize = 20;

async fn submit(ledger: &SqliteLedger, bare: bool, batch: &[Transfer]) {
    if bare {
        bare_insert_sqlite(ledger, &rows(batch, 1))
            .await
            .expect("bare insert");
    } else {
        let outcomes = ledger.submit(batch, 1).await.expect("submit");
        assert!(outcomes.iter().all(|o| o.is_recorded()));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bare = match args.next().as_deref() {
        Some("ledger") => false,
        Some("bare") => true,
        _ => panic!("usage: ledger_batches ledger|bare BATCHES"),
    };
    let batches: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("usage: ledger_batches ledger|bare BATCHES");
    let directory = tempfile::tempdir().expect("temporary directory");
    let ledger = SqliteLedger::open_file(directory.path().join("ledger.db"))
        .await
        .expect("open");
    prepare(&ledger, ACCOUNTS).await.expect("prepare");
    create_bare_table_sqlite(&ledger).await.expect("bare table");
    let mut workload = Workload::new(1, ACCOUNTS);
    for _ in 0..WARM_UP {
        submit(&ledger, bare, &workload.batch(BATCH)).await;
    }
    let start = Instant::now();
    for _ in 0..batches {
        submit(&ledger, bare, &workload.batch(BATCH)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{}: {batches} batches of {BATCH}, {:.0} transfers/s",
        if bare { "bare" } else { "ledger" },
        (batches * BATCH) as f64 / seconds
    );
}
