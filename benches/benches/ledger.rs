//! Settlement-ledger throughput (issue 5): transfers per batch 1, 100, 1,000 and 8,189,
//! and 1, 8 and 32 concurrent clients at 1,000 per batch, on SQLite with durable
//! commits (WAL, synchronous=FULL) and on PostgreSQL (when `ATTN_BENCH_POSTGRES_URL`
//! is set), each beside a bare INSERT of the same rows into a table of the same shape.
//! Goals on 2 cores: SQLite ≥ 100,000 transfers/s at batch 1,000; PostgreSQL ≥ 30,000/s.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attn_settlement::bench::{self, Workload};
use attn_settlement::{LedgerBackend, PostgresLedger, RetryPolicy, SqliteLedger};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sqlx::Connection;

const ACCOUNTS: u64 = 10_000;
const BATCHES: [usize; 4] = [1, 100, 1_000, 8_189];
const CLIENTS: [usize; 3] = [1, 8, 32];
const CLIENT_BATCH: usize = 1_000;

#[derive(Clone)]
enum Store {
    Sqlite(Arc<SqliteLedger>),
    Postgres(Arc<PostgresLedger>),
}

impl Store {
    async fn ledger(&self, workload: &mut Workload, len: usize) -> Duration {
        let batch = workload.batch(len);
        let start = Instant::now();
        let outcomes = match self {
            Store::Sqlite(l) => l.submit(&batch, 1).await,
            Store::Postgres(l) => l.submit(&batch, 1).await,
        }
        .expect("submit");
        let elapsed = start.elapsed();
        assert!(outcomes.iter().all(|o| o.is_recorded()));
        elapsed
    }

    async fn bare(&self, workload: &mut Workload, len: usize) -> Duration {
        let rows = bench::rows(&workload.batch(len), 1);
        let start = Instant::now();
        match self {
            Store::Sqlite(l) => bench::bare_insert_sqlite(l, &rows).await,
            Store::Postgres(l) => bench::bare_insert_postgres(l, &rows).await,
        }
        .expect("bare insert");
        start.elapsed()
    }
}

fn run(c: &mut Criterion, runtime: &tokio::runtime::Runtime, name: &str, store: &Store) {
    let mut group = c.benchmark_group(format!("ledger/{name}"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    let mut seed = 0;
    for len in BATCHES {
        group.throughput(Throughput::Elements(len as u64));
        for bare in [false, true] {
            seed += 1;
            let mut workload = Workload::new(seed, ACCOUNTS);
            let id = BenchmarkId::new(if bare { "bare-insert" } else { "transfers" }, len);
            group.bench_function(id, |b| {
                b.iter_custom(|iterations| {
                    runtime.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iterations {
                            total += if bare {
                                store.bare(&mut workload, len).await
                            } else {
                                store.ledger(&mut workload, len).await
                            };
                        }
                        total
                    })
                })
            });
        }
    }
    for clients in CLIENTS {
        group.throughput(Throughput::Elements((clients * CLIENT_BATCH) as u64));
        for bare in [false, true] {
            seed += 1;
            let round = std::cell::Cell::new(0u64);
            let id = BenchmarkId::new(
                if bare {
                    "bare-insert-clients"
                } else {
                    "transfers-clients"
                },
                clients,
            );
            group.bench_function(id, |b| {
                b.iter_custom(|iterations| {
                    round.set(round.get() + 1);
                    runtime.block_on(async {
                        let start = Instant::now();
                        let mut tasks = Vec::new();
                        for client in 0..clients {
                            let store = store.clone();
                            let mut workload = Workload::new(
                                seed * 1_000_000 + round.get() * 1_000 + client as u64,
                                ACCOUNTS,
                            );
                            tasks.push(tokio::spawn(async move {
                                for _ in 0..iterations {
                                    if bare {
                                        store.bare(&mut workload, CLIENT_BATCH).await;
                                    } else {
                                        store.ledger(&mut workload, CLIENT_BATCH).await;
                                    }
                                }
                            }));
                        }
                        for task in tasks {
                            task.await.expect("client");
                        }
                        start.elapsed()
                    })
                })
            });
        }
    }
    group.finish();
}

fn ledger(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let directory = tempfile::tempdir().expect("temporary directory");
    let sqlite = runtime.block_on(async {
        let ledger = SqliteLedger::open_file(directory.path().join("bench.db"))
            .await
            .expect("open sqlite");
        bench::prepare(&ledger, ACCOUNTS).await.expect("prepare");
        bench::create_bare_table_sqlite(&ledger)
            .await
            .expect("bare table");
        Arc::new(ledger)
    });
    run(c, &runtime, "sqlite-durable", &Store::Sqlite(sqlite));

    let Ok(url) = std::env::var("ATTN_BENCH_POSTGRES_URL") else {
        eprintln!("ledger/postgres: skipped (set ATTN_BENCH_POSTGRES_URL)");
        return;
    };
    let schema = format!("attn_criterion_{}", std::process::id());
    let postgres = runtime.block_on(async {
        let mut admin = sqlx::postgres::PgConnection::connect(&url)
            .await
            .expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create schema");
        let options = sqlx::postgres::PgConnectOptions::from_str(&url)
            .expect("URL")
            .options([("search_path", schema.as_str())]);
        let ledger = PostgresLedger::connect_with(options, RetryPolicy::default())
            .await
            .expect("open postgres");
        bench::prepare(&ledger, ACCOUNTS).await.expect("prepare");
        bench::create_bare_table_postgres(&ledger)
            .await
            .expect("bare table");
        Arc::new(ledger)
    });
    run(
        c,
        &runtime,
        "postgres",
        &Store::Postgres(Arc::clone(&postgres)),
    );
    runtime.block_on(async {
        postgres.close().await;
        let mut admin = sqlx::postgres::PgConnection::connect(&url)
            .await
            .expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut admin)
            .await
            .expect("drop schema");
    });
}

criterion_group!(benches, ledger);
criterion_main!(benches);
