//! `attn demo` end to end, as a user runs it: the binary, a few auctions, settlement
//! on SQLite (the default, under `ATTN_HOME`) and on PostgreSQL (`--db`, when
//! `ATTN_TEST_POSTGRES_URL` is set; a skip with the reason otherwise, a failure under
//! `CI=true`). Each run must print the summary, reconcile every persona's rail
//! settlement with its posted earnings, and pass the ledger check, which
//! `attn ledger check` then confirms from outside. The personas' reputation proofs
//! must grow round after round, and the bidders must see them verified.

use std::process::{Command, Output};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

const ATTN: &str = env!("CARGO_BIN_EXE_attn");
/// Few auctions: the test checks the wiring, not the throughput.
const DEMO_ARGS: [&str; 7] = [
    "demo",
    "--auctions",
    "12",
    "--personas",
    "2",
    "--concurrency",
    "4",
];

fn run(args: &[&str], home: &std::path::Path) -> Output {
    Command::new(ATTN)
        .args(args)
        .env("ATTN_HOME", home)
        .output()
        .expect("run attn")
}

fn assert_settled(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "attn demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for expected in [
        "Summary",
        "auctions           12",
        "persona earnings, read from the ledger (posted, pending) and the rail (settled)",
        "every persona's rail settlement equals its posted earnings: yes",
        "ledger check         passed",
        "channels closed",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // Something was earned and settled: a persona row with a nonzero posted amount.
    let earned = stdout
        .lines()
        .skip_while(|line| !line.contains("persona earnings"))
        .skip(2)
        .take(2)
        .any(|row| !row.contains(" 0.000000000 USD      0.000000000 USD"));
    assert!(earned, "no persona earned anything:\n{stdout}");
    assert_proofs_grow(&stdout);
    stdout
}

/// One row of the proof table: round, persona, receipts in the proof, and the
/// persona's bid requests of that round on which bidders had its proof verified.
struct ProofRow {
    round: usize,
    persona: usize,
    receipts: usize,
    verified: usize,
}

/// The demo's default rounds (3) of 12 auctions for 2 personas: each persona's proof
/// never shrinks and the proofs hold more receipts after the last round than after
/// the first; from the second round on, bidders see the proofs verified (attached
/// once, then named by hash and answered from their cache). Counts, not times: a
/// loaded machine may make every bid of a round late, so a round may add nothing.
fn assert_proofs_grow(stdout: &str) {
    let rows: Vec<ProofRow> = stdout
        .lines()
        .skip_while(|line| !line.contains("reputation proofs"))
        .skip(3)
        .map_while(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let number = |at: usize| fields.get(at)?.parse::<usize>().ok();
            let of = fields.iter().rposition(|field| *field == "of")?;
            Some(ProofRow {
                round: number(0)?,
                persona: number(1)?,
                receipts: number(4)?,
                verified: number(of - 1)?,
            })
        })
        .collect();
    assert_eq!(rows.len(), 6, "3 rounds × 2 personas in:\n{stdout}");
    let total = |round: usize| -> usize {
        rows.iter()
            .filter(|r| r.round == round)
            .map(|r| r.receipts)
            .sum()
    };
    for persona in 0..2 {
        let mine: Vec<&ProofRow> = rows.iter().filter(|r| r.persona == persona).collect();
        assert_eq!(
            mine.iter().map(|r| r.round).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        for pair in mine.windows(2) {
            assert!(
                pair[1].receipts >= pair[0].receipts,
                "persona {persona}'s proof shrank:\n{stdout}"
            );
        }
        assert_eq!(mine[0].verified, 0, "no proof before the first round");
    }
    assert!(total(3) > total(1), "the proofs did not grow:\n{stdout}");
    assert!(
        rows.iter()
            .filter(|r| r.round > 1)
            .map(|r| r.verified)
            .sum::<usize>()
            > 0,
        "bidders never saw a proof verified:\n{stdout}"
    );
}

#[test]
fn demo_settles_on_sqlite_by_default_and_the_ledger_checks() {
    let home = tempfile::tempdir().expect("temporary ATTN_HOME");
    let output = run(&DEMO_ARGS, home.path());
    let stdout = assert_settled(&output);
    let database = home.path().join("demo-ledger.db");
    assert!(database.exists(), "no ledger under ATTN_HOME:\n{stdout}");
    let url = format!("sqlite://{}", database.display());
    let check = run(&["ledger", "check", "--db", &url], home.path());
    assert!(
        check.status.success(),
        "attn ledger check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // A second demo on the same ledger adds to it and still checks.
    assert_settled(&run(&DEMO_ARGS, home.path()));
}

/// The PostgreSQL URL of the tests, or `None` (with the reason printed) when the test
/// must skip. Under `CI=true` a missing or silent server is a failure, not a skip.
fn postgres_url(runtime: &tokio::runtime::Runtime) -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Ok(url) = std::env::var("ATTN_TEST_POSTGRES_URL") else {
        assert!(!ci, "CI=true but ATTN_TEST_POSTGRES_URL is not set");
        eprintln!("skipping the PostgreSQL demo: ATTN_TEST_POSTGRES_URL is not set");
        return None;
    };
    let attempt = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await
    });
    match attempt {
        Ok(Ok(connection)) => {
            let _ = runtime.block_on(connection.close());
            Some(url)
        }
        Ok(Err(error)) => {
            assert!(
                !ci,
                "CI=true but PostgreSQL at {url} does not answer: {error}"
            );
            eprintln!("skipping the PostgreSQL demo: no server answers at {url}: {error}");
            None
        }
        Err(_) => {
            assert!(!ci, "CI=true but PostgreSQL at {url} timed out");
            eprintln!("skipping the PostgreSQL demo: {url} timed out");
            None
        }
    }
}

async fn admin(url: &str, statement: String) {
    let mut connection = PgConnection::connect(url).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut connection)
        .await
        .expect("admin statement");
    connection.close().await.expect("close");
}

#[test]
fn demo_settles_on_postgres_with_db() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(url) = postgres_url(&runtime) else {
        return;
    };
    // A schema of its own, named in the URL's `options`, dropped at the end.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let schema = format!("attn_demo_test_{}_{nanos}", std::process::id());
    runtime.block_on(admin(&url, format!("CREATE SCHEMA {schema}")));
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let home = tempfile::tempdir().expect("temporary ATTN_HOME");
    let mut args = DEMO_ARGS.to_vec();
    args.extend(["--db", scoped.as_str()]);
    let output = run(&args, home.path());
    let check = run(&["ledger", "check", "--db", &scoped], home.path());
    runtime.block_on(admin(&url, format!("DROP SCHEMA {schema} CASCADE")));
    let stdout = assert_settled(&output);
    assert!(stdout.contains("postgres://"), "{stdout}");
    assert!(
        !home.path().join("demo-ledger.db").exists(),
        "--db must replace the SQLite default"
    );
    assert!(
        check.status.success(),
        "attn ledger check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
