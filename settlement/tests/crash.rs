//! A writer process killed with SIGKILL in the middle of a stream of batches: after
//! reopening, `check` passes, every acknowledged transfer is present, and a restarted
//! writer finds every acknowledged batch already there (none applied twice). On a
//! SQLite file and on PostgreSQL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use attn_settlement::TransferId;
use sqlx::Connection;

mod common;

const WRITER: &str = env!("CARGO_BIN_EXE_attn-ledger-crash-writer");
/// Acknowledged batches to wait for before the kill.
const ACKS_BEFORE_KILL: u64 = 15;
/// Batches the writer would submit if never killed (far more than it gets to).
const BATCHES: u64 = 1_000_000;
const BATCH_LEN: u128 = 100;
/// The longest pause between the last ack read and the kill.
const KILL_PAUSE_US_MAX: u64 = 5_000;

fn parse_ack(line: &str) -> Option<(u64, usize, usize)> {
    let mut words = line.split_whitespace();
    if words.next()? != "acked" {
        return None;
    }
    let batch = words.next()?.parse().ok()?;
    let created = words.next()?.strip_prefix("created=")?.parse().ok()?;
    let existing = words.next()?.strip_prefix("existing=")?.parse().ok()?;
    Some((batch, created, existing))
}

/// Runs the writer on `target` (a path or a URL), kills it after some acks, and
/// checks what the ledger at `url` holds, before and after a restarted writer.
async fn crash_and_recover(target: &str, url: &str) {
    let mut child = Command::new(WRITER)
        .args([target, &BATCHES.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the writer");
    let stdout = child.stdout.take().expect("writer stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read an ack");
        let (batch, created, existing) = parse_ack(&line).expect("well-formed ack");
        assert_eq!((created, existing), (100, 0), "first run: {line}");
        acked.push(batch);
        if acked.len() as u64 == ACKS_BEFORE_KILL {
            // `Child::kill` sends SIGKILL on Unix: no destructor, no flush, no rollback.
            // A random pause first, so the kill lands anywhere in the next batches:
            // before, inside or after a transaction's commit (printed to replay).
            let pause_us = rand::random::<u64>() % KILL_PAUSE_US_MAX;
            eprintln!("killing the writer {pause_us} µs after ack {batch}");
            std::thread::sleep(std::time::Duration::from_micros(pause_us));
            child.kill().expect("SIGKILL the writer");
            break;
        }
    }
    let status = child.wait().expect("reap the writer");
    assert!(!status.success(), "the writer was killed, not finished");
    let last_acked = *acked.last().expect("some acks");

    let ledger = attn_settlement::open(url).await.expect("reopen");
    let report = ledger.check().await.expect("check");
    assert!(report.is_ok(), "{report}");
    for batch in &acked {
        let ids: Vec<TransferId> = (0..BATCH_LEN)
            .map(|i| TransferId(1 + u128::from(*batch) * BATCH_LEN + i))
            .collect();
        let stored = ledger.lookup_transfers(&ids).await.expect("lookup");
        assert_eq!(stored.len(), ids.len(), "batch {batch} was acknowledged");
    }
    // Batches are all or nothing: the stored transfers are a whole number of batches
    // (the acknowledged ones, and maybe a few committed before their ack was read).
    assert_eq!(report.transfers as u128 % BATCH_LEN, 0, "{report}");
    let committed = (report.transfers as u128 / BATCH_LEN) as u64;
    assert!(
        committed > last_acked,
        "{committed} batches stored, {last_acked} acked"
    );
    let rerun_batches = committed + 3;
    drop(ledger);

    // Restart: the writer resubmits from the start; every batch committed before the
    // kill, acknowledged or not, is found already there (created=0): none applied
    // twice.
    let rerun = Command::new(WRITER)
        .args([target, &rerun_batches.to_string()])
        .output()
        .expect("run the writer again");
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    for line in String::from_utf8_lossy(&rerun.stdout).lines() {
        let (batch, created, existing) = parse_ack(line).expect("well-formed ack");
        if batch < committed {
            assert_eq!(
                (created, existing),
                (0, 100),
                "batch {batch} applied twice: {line}"
            );
        }
    }
    let ledger = attn_settlement::open(url).await.expect("reopen");
    let report = ledger.check().await.expect("check");
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        report.transfers as u128,
        u128::from(rerun_batches) * BATCH_LEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_acknowledged_transfer_and_applies_none_twice() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("crash.db");
    let path_text = path.to_str().expect("UTF-8 path").to_string();
    crash_and_recover(&path_text, &format!("sqlite://{path_text}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_on_postgres_loses_nothing_acknowledged() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    // A schema of its own, named in the URL (the writer is another process).
    let schema = format!("attn_crash_{}", std::process::id());
    let mut admin = sqlx::postgres::PgConnection::connect(&url)
        .await
        .expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    crash_and_recover(&scoped, &scoped).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .expect("drop schema");
    let _ = admin.close().await;
}
