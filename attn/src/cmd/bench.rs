//! `attn bench`: measurements whose figures go into BENCHMARKS.md. Each prints the
//! machine it ran on and the figures, so a reader can reproduce them.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Envelope signing and (batch) verification throughput.
    Envelopes(super::bench_envelopes::Args),
    /// Settlement-ledger throughput: batched and concurrent, SQLite durable and
    /// PostgreSQL, each as a ratio to a bare INSERT of the same rows.
    Ledger(super::bench_ledger::Args),
    /// Auctions end to end over loopback gRPC: p50/p99 latency, sustained
    /// auctions/s, and the cost of a bidder that sleeps past tmax.
    E2e(super::bench_e2e::Args),
    /// Market-simulator throughput (auctions/s), scaling with users, peak memory.
    Sim(super::bench_sim::Args),
    /// Auction mechanisms on one core: second price 16 bids, GSP and VCG 1,000 bids x
    /// 5 slots, each as a ratio to a bare top-k selection.
    Auction(super::bench_auction::Args),
    /// Payment-channel vouchers issued and verified per second on one core, and the
    /// base-rail payments per 1,000,000 impressions.
    Vouchers(super::bench_vouchers::Args),
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Envelopes(args) => super::bench_envelopes::run(args),
        BenchCommand::Ledger(args) => super::bench_ledger::run(args),
        BenchCommand::E2e(args) => super::bench_e2e::run(args),
        BenchCommand::Sim(args) => super::bench_sim::run(args),
        BenchCommand::Auction(args) => super::bench_auction::run(args),
        BenchCommand::Vouchers(args) => super::bench_vouchers::run(args),
    }
}

/// One line describing the machine: CPU model and logical core count.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} logical cores")
}
