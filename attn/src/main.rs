//! `attn`: the command-line front of attn — the user client, the example bidder, the
//! ledger, the simulator and the demo that tours them all.
//!
//! The binary holds no logic of its own beyond argument parsing, files and output:
//! everything it does is a call into the library crates, so that what the CLI shows
//! is what an integrator gets.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// attn: a user-centred ad exchange. Your client auctions your own ad slots to
/// advertisers, signs what it shows, and gets paid; advertisers bid over gRPC.
#[derive(Parser)]
#[command(name = "attn", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, show and derive keys (wallet seeds, personas, advertiser keys).
    ///
    /// Keys are stored encrypted under a passphrase (Argon2id + XChaCha20-Poly1305),
    /// in files only their owner can read. The passphrase comes from the
    /// ATTN_PASSPHRASE environment variable or is asked for at the prompt.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Measure attn's speed; the figures go into BENCHMARKS.md.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Read the settlement ledger: balances, account history, and `check` of its
    /// invariants. --db takes sqlite://PATH or postgres://….
    #[command(subcommand)]
    Ledger(cmd::ledger::LedgerCommand),
    /// Run the market simulator: `attn simulate [run] CONFIG --out DIR` or
    /// `attn simulate sweep SWEEP.toml --out DIR` (see docs/simulator.md).
    Simulate(cmd::simulate::SimulateArgs),
    /// The tour: example bidders on loopback gRPC, a few hundred auctions for
    /// several personas, impressions paid and receipted, and a summary.
    Demo(cmd::demo::Args),
    /// Run a bidder: `attn bidder serve [--config bidder.toml] --listen ADDR`.
    #[command(subcommand)]
    Bidder(cmd::bidder::BidderCommand),
    /// The user client: `attn client auction --bidders FILE --slots N …`.
    #[command(subcommand)]
    Client(cmd::client::ClientCommand),
    /// The persona's receipts: `attn receipts list` (from $ATTN_HOME/receipts.txt).
    #[command(subcommand)]
    Receipts(cmd::receipts::ReceiptsCommand),
    /// Reputation proofs: `attn proof build --out proof.bin`,
    /// `attn proof verify proof.bin --trust seeds.toml`, `attn proof trust` (see
    /// docs/reputation.md).
    #[command(subcommand)]
    Proof(cmd::proof::ProofCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(command) => cmd::keys::run(command),
        Command::Bench(command) => cmd::bench::run(command),
        Command::Ledger(command) => cmd::ledger::run(command),
        Command::Simulate(args) => cmd::simulate::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Bidder(command) => cmd::bidder::run(command),
        Command::Client(command) => cmd::client::run(command),
        Command::Receipts(command) => cmd::receipts::run(command),
        Command::Proof(command) => cmd::proof::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
