//! Running the `attn` binary from the integration tests.

#![allow(dead_code)] // each test file uses part of it

use std::path::Path;
use std::process::{Command, Output};

/// The binary under test.
pub const ATTN: &str = env!("CARGO_BIN_EXE_attn");

/// Runs `attn ARGS` with `ATTN_HOME=home` and `ATTN_PASSPHRASE=passphrase`.
pub fn attn_as(home: &Path, passphrase: &str, args: &[&str]) -> Output {
    Command::new(ATTN)
        .args(args)
        .env("ATTN_HOME", home)
        .env("ATTN_PASSPHRASE", passphrase)
        .output()
        .expect("attn runs")
}

/// The standard output of a run that must have succeeded (else its stderr, failing).
pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "attn failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
