//! `attn-ledger-crash-writer`: a test helper for the crash test
//! (`settlement/tests/crash.rs`). It opens a ledger (a SQLite file by path, or any
//! ledger URL: `sqlite://PATH`, `postgres://…`), creates its accounts
//! (idempotently), then submits batches of transfers with ids derived from the batch
//! number, and prints `acked BATCH created=N existing=M` on stdout after each commit.
//! The test SIGKILLs it mid-stream, reopens the file, and checks that every
//! acknowledged batch is there, once.
//!
//! Usage: `attn-ledger-crash-writer PATH|URL BATCHES`

use std::io::Write;
use std::process::ExitCode;

use attn_receipts::Currency;
use attn_settlement::{
    AccountFlags, AccountId, AccountKind, Ledger, LedgerBackend, LedgerId, NewAccount,
    SqliteLedger, Transfer, TransferId, TransferOutcome,
};

/// Transfers per batch.
const BATCH_LEN: u64 = 100;
/// Accounts the transfers move between (account 1 funds them).
const ACCOUNTS: u128 = 16;

/// The transfers of batch `n`: deterministic, so a restarted writer resubmits the
/// very same ones.
fn batch(n: u64) -> Vec<Transfer> {
    (0..BATCH_LEN)
        .map(|i| {
            let sequence = u128::from(n * BATCH_LEN + i);
            Transfer::single(
                TransferId(1 + sequence),
                AccountId(1),
                AccountId(2 + sequence % ACCOUNTS),
                1 + (sequence % 13) as u64,
                LedgerId(1),
                1,
            )
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().collect();
    let (Some(path), Some(batches)) = (
        arguments.get(1),
        arguments.get(2).and_then(|b| b.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: attn-ledger-crash-writer PATH|URL BATCHES");
        return ExitCode::FAILURE;
    };
    match run(path, batches).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(path: &str, batches: u64) -> Result<(), Box<dyn std::error::Error>> {
    let ledger: std::sync::Arc<dyn LedgerBackend> = if path.contains("://") {
        attn_settlement::open(path).await?
    } else {
        std::sync::Arc::new(SqliteLedger::open_file(path).await?)
    };
    let usd = Ledger {
        id: LedgerId(1),
        currency: Currency::new("USD")?,
        scale: 2,
    };
    ledger.create_ledgers(&[usd]).await?;
    let accounts: Vec<NewAccount> = (1..=ACCOUNTS + 1)
        .map(|id| NewAccount {
            id: AccountId(id),
            ledger: usd.id,
            kind: AccountKind::UserWallet,
            flags: AccountFlags::NONE,
            user_data: 0,
        })
        .collect();
    ledger.create_accounts(&accounts, 0).await?;
    let mut stdout = std::io::stdout().lock();
    for n in 0..batches {
        let outcomes = ledger.submit(&batch(n), n).await?;
        let created = outcomes
            .iter()
            .filter(|o| matches!(o, TransferOutcome::Created { .. }))
            .count();
        let existing = outcomes
            .iter()
            .filter(|o| matches!(o, TransferOutcome::AlreadyExists { .. }))
            .count();
        writeln!(stdout, "acked {n} created={created} existing={existing}")?;
        stdout.flush()?;
    }
    Ok(())
}
