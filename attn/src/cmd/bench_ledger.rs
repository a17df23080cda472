//! `attn bench ledger`: transfers per second through the settlement ledger, batched
//! (1, 100, 1,000, 8,189 per batch) and with 1, 8 and 32 concurrent clients, on SQLite
//! with durable commits (WAL, synchronous=FULL) and on PostgreSQL; each figure next to
//! a bare INSERT of the same rows into a table of the same shape, in the same run.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attn_settlement::bench::{self, IdOrder, Workload};
use attn_settlement::{LedgerBackend, PostgresLedger, SqliteLedger, Transfer};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};

#[derive(clap::Args)]
pub struct Args {
    /// Batch sizes to measure with one client.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000,8189")]
    batches: Vec<usize>,
    /// Concurrent clients to measure (at --client-batch transfers per batch).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// Batch size of the concurrent-clients runs.
    #[arg(long, default_value_t = 1000)]
    client_batch: usize,
    /// Accounts the transfers move between.
    #[arg(long, default_value_t = 10_000)]
    accounts: u64,
    /// Seconds per measurement (each runs at least 3 batches per client), after a
    /// quarter of that untimed.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// PostgreSQL URL; its runs go to a fresh schema, dropped at the end. Skipped if
    /// absent.
    #[arg(long, env = "ATTN_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
    /// Skip SQLite.
    #[arg(long)]
    no_sqlite: bool,
    /// Transfer ids: increasing per client (time-based, as TigerBeetle recommends) or
    /// uniformly random (hashes, as the settlement flow's are).
    #[arg(long, value_enum, default_value_t = Ids::Sequential)]
    ids: Ids,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Ids {
    Sequential,
    Random,
}

impl Ids {
    fn order(self) -> IdOrder {
        match self {
            Ids::Sequential => IdOrder::Sequential,
            Ids::Random => IdOrder::Random,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Ids::Sequential => "fresh ids, increasing per client",
            Ids::Random => "fresh uniformly random ids",
        }
    }
}

#[derive(Clone, Copy)]
enum Target {
    Ledger,
    Bare,
}

#[derive(Clone)]
enum Store {
    Sqlite(Arc<SqliteLedger>),
    Postgres(Arc<PostgresLedger>),
}

impl Store {
    async fn run(&self, target: Target, batch: &[Transfer], now_ms: u64) -> anyhow::Result<()> {
        match (self, target) {
            (Store::Sqlite(ledger), Target::Ledger) => {
                check_all(ledger.submit(batch, now_ms).await?)
            }
            (Store::Postgres(ledger), Target::Ledger) => {
                check_all(ledger.submit(batch, now_ms).await?)
            }
            (Store::Sqlite(ledger), Target::Bare) => {
                Ok(bench::bare_insert_sqlite(ledger, &bench::rows(batch, now_ms)).await?)
            }
            (Store::Postgres(ledger), Target::Bare) => {
                Ok(bench::bare_insert_postgres(ledger, &bench::rows(batch, now_ms)).await?)
            }
        }
    }
}

fn check_all(outcomes: Vec<attn_settlement::TransferOutcome>) -> anyhow::Result<()> {
    anyhow::ensure!(
        outcomes
            .iter()
            .all(|o| matches!(o, attn_settlement::TransferOutcome::Created { .. })),
        "a benchmark transfer was not created: {:?}",
        outcomes
            .iter()
            .find(|o| !matches!(o, attn_settlement::TransferOutcome::Created { .. }))
    );
    Ok(())
}

/// Runs `clients` concurrent clients for about `seconds`; returns transfers/s.
async fn measure(
    store: &Store,
    target: Target,
    seed: u64,
    args: &Args,
    batch_len: usize,
    clients: usize,
) -> anyhow::Result<f64> {
    let (accounts, seconds, ids) = (args.accounts, args.seconds, args.ids.order());
    // A quarter of the time again, untimed first: a fresh database's first batches grow
    // its files (SQLite's WAL to its checkpoint size), which a ledger in use does not.
    let warm_up = Duration::from_secs_f64(seconds / 4.0);
    let deadline = warm_up + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let store = store.clone();
        // A distinct id space per client and measurement.
        let mut workload = Workload::new(seed * 1_000 + client as u64, accounts).with_ids(ids);
        tasks.push(tokio::spawn(async move {
            let (mut done, mut timed, mut batches) = (0u64, 0, 0);
            while timed < 3 || start.elapsed() < deadline {
                let batch = workload.batch(batch_len);
                let timing = start.elapsed() >= warm_up;
                store.run(target, &batch, batches).await?;
                if timing {
                    done += batch_len as u64;
                    timed += 1;
                }
                batches += 1;
            }
            Ok::<u64, anyhow::Error>(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / (start.elapsed() - warm_up).as_secs_f64())
}

/// Asks the kernel to write back what earlier figures left dirty, so that a figure
/// does not pay for the one before (best effort: `sync(1)`).
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

/// Where the figures are measured.
enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite (WAL, synchronous=FULL)",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A fresh, prepared store for one figure, and what to remove afterwards.
    async fn fresh(
        &self,
        accounts: u64,
        figure: u64,
    ) -> anyhow::Result<(Store, Option<tempfile::TempDir>, Option<String>)> {
        match self {
            Backend::Sqlite => {
                let directory = tempfile::tempdir()?;
                let ledger =
                    Arc::new(SqliteLedger::open_file(directory.path().join("bench.db")).await?);
                bench::prepare(&*ledger, accounts).await?;
                bench::create_bare_table_sqlite(&ledger).await?;
                Ok((Store::Sqlite(ledger), Some(directory), None))
            }
            Backend::Postgres(url) => {
                let schema = format!("attn_bench_{}_{figure}", std::process::id());
                let mut admin = PgConnection::connect(url).await?;
                sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                let options =
                    PgConnectOptions::from_str(url)?.options([("search_path", schema.as_str())]);
                let ledger = Arc::new(
                    PostgresLedger::connect_with(options, attn_settlement::RetryPolicy::default())
                        .await?,
                );
                bench::prepare(&*ledger, accounts).await?;
                bench::create_bare_table_postgres(&ledger).await?;
                Ok((Store::Postgres(ledger), None, Some(schema)))
            }
        }
    }

    async fn clean(&self, store: Store, schema: Option<String>) -> anyhow::Result<()> {
        if let (Backend::Postgres(url), Store::Postgres(ledger), Some(schema)) =
            (self, store, schema)
        {
            ledger.close().await;
            let mut admin = PgConnection::connect(url).await?;
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await?;
            admin.close().await?;
        }
        Ok(())
    }
}

async fn sweep(backend: &Backend, args: &Args, seed: &mut u64) -> anyhow::Result<()> {
    let name = backend.name();
    let mut runs: Vec<(usize, usize)> = args.batches.iter().map(|b| (*b, 1)).collect();
    runs.extend(args.clients.iter().map(|c| (args.client_batch, *c)));
    println!(
        "{name}: {:>6} {:>7}  {:>14}  {:>14}  {:>6}",
        "batch", "clients", "ledger tx/s", "bare INSERT/s", "ratio"
    );
    for (batch_len, clients) in runs {
        anyhow::ensure!(
            (1..=attn_settlement::rules::BATCH_MAX).contains(&batch_len) && clients > 0,
            "batch sizes must be in 1..=8189 and clients positive"
        );
        *seed += 1;
        // A fresh database per measurement, so the ledger and the bare INSERT start
        // from the same state.
        let mut rates = Vec::new();
        for target in [Target::Ledger, Target::Bare] {
            let (store, directory, schema) = backend.fresh(args.accounts, *seed).await?;
            settle();
            let rate = measure(&store, target, *seed, args, batch_len, clients).await;
            backend.clean(store, schema).await?;
            drop(directory);
            rates.push(rate?);
        }
        let (ledger, bare) = (rates[0], rates[1]);
        println!(
            "{name}: {batch_len:>6} {clients:>7}  {ledger:>14.0}  {bare:>14.0}  {:>6.2}",
            ledger / bare
        );
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.seconds > 0.0 && args.accounts >= 2,
        "--seconds > 0, --accounts >= 2"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        println!("machine: {}", super::bench::machine());
        println!(
            "workload: single-phase transfers between random pairs of {} accounts, {}; each \
             measurement on a fresh database, ~{} s timed after {} s untimed; ratio = ledger / \
             bare INSERT of the same rows into a table of the same shape (same keys and \
             indexes)",
            args.accounts,
            args.ids.describe(),
            args.seconds,
            args.seconds / 4.0
        );
        let mut seed = 1;
        if !args.no_sqlite {
            sweep(&Backend::Sqlite, &args, &mut seed).await?;
        }
        match &args.postgres {
            Some(url) => sweep(&Backend::Postgres(url.clone()), &args, &mut seed).await?,
            None => {
                println!("postgres: skipped (pass --postgres URL or set ATTN_BENCH_POSTGRES_URL)")
            }
        }
        Ok(())
    })
}
