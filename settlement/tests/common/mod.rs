//! Shared helpers of the integration tests: PostgreSQL test schemas.

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use attn_settlement::{LedgerBackend, PostgresLedger, RetryPolicy};
use rand::RngCore;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// The PostgreSQL URL of the tests, or `None` (with the reason printed) when the tests
/// must skip. Under `CI=true` a missing or silent server is a failure, not a skip.
pub async fn postgres_url() -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Ok(url) = std::env::var("ATTN_TEST_POSTGRES_URL") else {
        assert!(!ci, "CI=true but ATTN_TEST_POSTGRES_URL is not set");
        eprintln!("skipping PostgreSQL test: ATTN_TEST_POSTGRES_URL is not set");
        return None;
    };
    let attempt = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await;
    match attempt {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Some(url)
        }
        Ok(Err(error)) => {
            assert!(
                !ci,
                "CI=true but PostgreSQL at {url} does not answer: {error}"
            );
            eprintln!("skipping PostgreSQL test: no server answers at {url}: {error}");
            None
        }
        Err(_) => {
            assert!(!ci, "CI=true but PostgreSQL at {url} timed out");
            eprintln!("skipping PostgreSQL test: {url} timed out");
            None
        }
    }
}

/// A fresh schema per ledger, dropped by [`TestSchemas::drop_all`], or when the value
/// is dropped without it (a failing test unwinding), so no `attn_test_*` schema
/// outlives its test.
pub struct TestSchemas {
    url: String,
    created: Vec<(String, Arc<PostgresLedger>)>,
}

impl TestSchemas {
    pub fn new(url: String) -> Self {
        Self {
            url,
            created: Vec::new(),
        }
    }

    /// A ledger in a new schema `attn_test_<random>` (its `search_path`).
    pub async fn fresh(&mut self) -> Arc<PostgresLedger> {
        self.fresh_with_options().await.0
    }

    /// A ledger in a new schema, and the options that reach that schema (to open
    /// other connections to it). Its connections are named after the schema
    /// (`application_name`), so a test can find and kill exactly them.
    pub async fn fresh_with_options(&mut self) -> (Arc<PostgresLedger>, PgConnectOptions) {
        let schema = format!("attn_test_{:016x}", rand::thread_rng().next_u64());
        let mut admin = PgConnection::connect(&self.url)
            .await
            .expect("admin connection");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.expect("close admin connection");
        let options = PgConnectOptions::from_str(&self.url)
            .expect("valid URL")
            .application_name(&schema)
            .options([("search_path", schema.as_str())]);
        let ledger = Arc::new(
            PostgresLedger::connect_with(options.clone(), RetryPolicy::default())
                .await
                .expect("connect to the test schema"),
        );
        self.created.push((schema, Arc::clone(&ledger)));
        (ledger, options)
    }

    /// Closes every ledger and drops every schema.
    pub async fn drop_all(mut self) {
        let created = std::mem::take(&mut self.created);
        let mut admin = PgConnection::connect(&self.url)
            .await
            .expect("admin connection");
        for (schema, ledger) in created {
            ledger.close().await;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .expect("drop schema");
        }
        let _ = admin.close().await;
    }
}

impl Drop for TestSchemas {
    fn drop(&mut self) {
        let created = std::mem::take(&mut self.created);
        if created.is_empty() {
            return;
        }
        // Not dropped by `drop_all`: the test is unwinding. Drop the schemas from a
        // runtime of their own (this may run inside the test's runtime, which cannot
        // be blocked on), without closing the ledgers' pools (they belong to that
        // runtime), waiting at most a few seconds for a lock a dead transaction may
        // still hold, and ignoring failures: the test has already failed.
        let url = self.url.clone();
        let schemas: Vec<String> = created.into_iter().map(|(schema, _)| schema).collect();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(mut admin) = PgConnection::connect(&url).await else {
                    return;
                };
                let _ = sqlx::query("SET lock_timeout = '5s'")
                    .execute(&mut admin)
                    .await;
                for schema in schemas {
                    let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                }
                let _ = admin.close().await;
            });
        });
        let _ = cleanup.join();
    }
}

/// Upcasts.
pub fn dynamic(ledger: Arc<PostgresLedger>) -> Arc<dyn LedgerBackend> {
    ledger
}
