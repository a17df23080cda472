//! `attn receipts list`: the receipts in the persona's receipts file
//! (`$ATTN_HOME/receipts.txt`, see `attn_client_auction::client::receipts_store`),
//! with the value each one commits to (known only to the persona) and whether the
//! default disclosure policy would put it in a reputation proof.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use attn_client_auction::client::ReceiptsFile;
use attn_receipts::PublicKey;
use attn_receipts::reputation::{DisclosurePolicy, Window};
use clap::Subcommand;

use super::keys::home;

/// The receipts file's name under `$ATTN_HOME`.
pub const RECEIPTS_FILE: &str = "receipts.txt";

#[derive(Subcommand)]
pub enum ReceiptsCommand {
    /// List the stored receipts: time, kind, value (from the opening), issuer,
    /// persona, categories, and whether the default policy discloses it.
    List {
        /// The receipts file [default: $ATTN_HOME/receipts.txt].
        #[arg(long)]
        file: Option<PathBuf>,
        /// Only the receipts of this persona (hex public key).
        #[arg(long)]
        persona: Option<String>,
        /// One JSON object per receipt instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: ReceiptsCommand) -> anyhow::Result<()> {
    match command {
        ReceiptsCommand::List {
            file,
            persona,
            json,
        } => list(file, persona, json),
    }
}

/// The receipts file at `file`, or the default one.
pub fn open_receipts(file: Option<PathBuf>) -> anyhow::Result<ReceiptsFile> {
    let path = file.unwrap_or_else(|| home().join(RECEIPTS_FILE));
    ReceiptsFile::open(&path).with_context(|| format!("cannot open {}", path.display()))
}

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn list(file: Option<PathBuf>, persona: Option<String>, json: bool) -> anyhow::Result<()> {
    let store = open_receipts(file)?;
    let persona = persona
        .map(|hex| PublicKey::from_hex(&hex))
        .transpose()
        .context("--persona is not a public key")?;
    let policy = DisclosurePolicy::default();
    let window = Window::ending_at(now_ms(), policy.window_ms);
    let mut shown = 0;
    if !json {
        println!(
            "{:<13}  {:<10}  {:>14}  {:<16}  {:<16}  {:<10}  categories",
            "issued_at_ms", "kind", "value_atomic", "issuer", "persona", "disclosed"
        );
    }
    for item in store.receipts()? {
        let Ok(receipt) = item.receipt.open() else {
            println!("(a receipt whose issuer signature does not verify)");
            continue;
        };
        if persona.is_some_and(|wanted| wanted != receipt.persona) {
            continue;
        }
        let disclosed = if !item.opening.opens(&receipt.value_commitment) {
            "bad-opening"
        } else if !window.contains(receipt.issued_at_ms) {
            "old"
        } else if policy.discloses(&receipt, &window) {
            "yes"
        } else {
            "withheld"
        };
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "receipt_id": hex::encode(receipt.receipt_id),
                    "issued_at_ms": receipt.issued_at_ms,
                    "kind": receipt.kind.name(),
                    "value_atomic": item.opening.value_atomic,
                    "issuer": receipt.issuer.to_hex(),
                    "persona": receipt.persona.to_hex(),
                    "categories": receipt.categories,
                    "disclosed": disclosed,
                })
            );
        } else {
            println!(
                "{:<13}  {:<10}  {:>14}  {:<16}  {:<16}  {:<10}  {}",
                receipt.issued_at_ms,
                receipt.kind.name(),
                item.opening.value_atomic,
                &receipt.issuer.to_hex()[..16],
                &receipt.persona.to_hex()[..16],
                disclosed,
                receipt.categories.join(",")
            );
        }
        shown += 1;
    }
    if !json {
        println!("{shown} receipts");
    }
    Ok(())
}
