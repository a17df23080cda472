//! Shared helpers of the integration tests: the PostgreSQL test server, and fresh
//! schemas on it.

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

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

/// Fresh schemas on one server, each dropped by [`Schemas::drop_all`].
pub struct Schemas {
    url: String,
    created: Mutex<Vec<String>>,
}

impl Schemas {
    pub fn new(url: String) -> Self {
        Self {
            url,
            created: Mutex::new(Vec::new()),
        }
    }

    /// Creates `attn_test_<random>` and returns connection options whose
    /// `search_path` is that schema.
    pub async fn fresh(&self) -> PgConnectOptions {
        let schema = format!("attn_test_{:016x}", rand::thread_rng().next_u64());
        let mut admin = PgConnection::connect(&self.url)
            .await
            .expect("admin connection");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.expect("close admin connection");
        self.created.lock().expect("lock").push(schema.clone());
        PgConnectOptions::from_str(&self.url)
            .expect("valid URL")
            .options([("search_path", schema.as_str())])
    }

    /// Drops every schema created (its pools must be closed or dropped first).
    pub async fn drop_all(&self) {
        let mut admin = PgConnection::connect(&self.url)
            .await
            .expect("admin connection");
        let created = std::mem::take(&mut *self.created.lock().expect("lock"));
        for schema in created {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .expect("drop schema");
        }
        let _ = admin.close().await;
    }
}
