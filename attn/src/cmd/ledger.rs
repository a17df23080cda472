//! `attn ledger`: read the settlement ledger — balances, an account's history with
//! paging, and `check`, which proves the invariants (exit status 1 if any is broken).

use std::io::Write;

use clap::Subcommand;

use attn_settlement::{AccountId, Ledger, LedgerBackend, LedgerId, TransferRecord};

/// The most accounts `balances` reads per query.
const BALANCES_PAGE: u32 = 1_000;

#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Every account's posted and pending balance, with its four sums.
    Balances {
        /// The ledger database: sqlite://PATH, sqlite::memory: or postgres://…
        #[arg(long, env = "ATTN_LEDGER_DB")]
        db: String,
    },
    /// The transfers of one account, oldest first, a page at a time.
    History {
        /// The account id (hex, up to 32 digits).
        account: String,
        /// The ledger database: sqlite://PATH, sqlite::memory: or postgres://…
        #[arg(long, env = "ATTN_LEDGER_DB")]
        db: String,
        /// Transfers per page (1..=10000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Start after this cursor (printed at the end of the previous page).
        #[arg(long)]
        after: Option<u64>,
    },
    /// Prove the invariants: per-ledger debits = credits (posted and pending), each
    /// account equal to the sum of its transfers, no flag broken, every post and void
    /// resolving exactly one existing pending transfer. Exits 1 if anything is wrong.
    Check {
        /// The ledger database: sqlite://PATH, sqlite::memory: or postgres://…
        #[arg(long, env = "ATTN_LEDGER_DB")]
        db: String,
    },
}

pub fn run(command: LedgerCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            LedgerCommand::Balances { db } => balances(&*attn_settlement::open(&db).await?).await,
            LedgerCommand::History {
                account,
                db,
                limit,
                after,
            } => {
                let account = AccountId::from_hex(&account)?;
                history(&*attn_settlement::open(&db).await?, account, limit, after).await
            }
            LedgerCommand::Check { db } => check(&*attn_settlement::open(&db).await?).await,
        }
    })
}

fn amount(ledgers: &[Ledger], ledger: LedgerId, atomic: i128) -> String {
    let sign = if atomic < 0 { "-" } else { "" };
    let magnitude = u64::try_from(atomic.unsigned_abs()).ok();
    match (ledgers.iter().find(|l| l.id == ledger), magnitude) {
        (Some(l), Some(m)) => match l.to_money(m) {
            Ok(money) => format!("{sign}{money}"),
            Err(_) => format!("{atomic} atomic"),
        },
        _ => format!("{atomic} atomic"),
    }
}

async fn balances(ledger: &dyn LedgerBackend) -> anyhow::Result<()> {
    // Written through a handle, so a closed pipe (`| head`) is an error, not a panic.
    let mut out = std::io::stdout().lock();
    let ledgers = ledger.ledgers().await?;
    writeln!(
        out,
        "{:<32}  {:<24}  {:>6}  {:>20}  {:>20}  {:>12} {:>12} {:>12} {:>12}",
        "account",
        "kind",
        "ledger",
        "posted",
        "pending",
        "debits_pnd",
        "debits_pst",
        "credits_pnd",
        "credits_pst"
    )?;
    let mut after = None;
    let mut count = 0usize;
    loop {
        let page = ledger.accounts(after, BALANCES_PAGE).await?;
        for account in &page {
            let b = account.balances;
            let pending = i128::from(b.credits_pending) - i128::from(b.debits_pending);
            writeln!(
                out,
                "{:<32}  {:<24}  {:>6}  {:>20}  {:>20}  {:>12} {:>12} {:>12} {:>12}",
                account.id.to_hex(),
                account.kind.name(),
                account.ledger.0,
                amount(&ledgers, account.ledger, b.credit_balance_posted()),
                amount(&ledgers, account.ledger, pending),
                b.debits_pending,
                b.debits_posted,
                b.credits_pending,
                b.credits_posted,
            )?;
        }
        count += page.len();
        match page.last() {
            Some(last) if page.len() == BALANCES_PAGE as usize => after = Some(last.id),
            _ => break,
        }
    }
    writeln!(
        out,
        "{count} accounts (posted and pending are credits minus debits)"
    )?;
    Ok(())
}

fn describe(record: &TransferRecord) -> String {
    let t = &record.transfer;
    let pending = if t.pending_id.0 == 0 {
        String::new()
    } else {
        format!(" resolves {}", t.pending_id.to_hex())
    };
    format!(
        "{:>8}  {}  {} -> {}  {:>14}  code {:<3} {:<15}{}",
        record.sequence,
        t.id.to_hex(),
        t.debit_account.to_hex(),
        t.credit_account.to_hex(),
        t.amount,
        t.code,
        record.status.name(),
        pending
    )
}

async fn history(
    ledger: &dyn LedgerBackend,
    account: AccountId,
    limit: u32,
    after: Option<u64>,
) -> anyhow::Result<()> {
    // Written through a handle, so a closed pipe (`| head`) is an error, not a panic.
    let mut out = std::io::stdout().lock();
    let page = ledger.history(account, after, limit).await?;
    writeln!(
        out,
        "history of {} ({} transfers)",
        account.to_hex(),
        page.transfers.len()
    )?;
    writeln!(
        out,
        "sequence  transfer / debit -> credit / amount (atomic units) / code / status"
    )?;
    for record in &page.transfers {
        writeln!(out, "{}", describe(record))?;
    }
    match page.next_cursor {
        Some(cursor) => writeln!(out, "more: --after {cursor}")?,
        None => writeln!(out, "end of history")?,
    }
    Ok(())
}

async fn check(ledger: &dyn LedgerBackend) -> anyhow::Result<()> {
    let report = ledger.check().await?;
    print!("{report}");
    anyhow::ensure!(
        report.is_ok(),
        "the ledger breaks {} invariant(s)",
        report.violation_count
    );
    Ok(())
}
