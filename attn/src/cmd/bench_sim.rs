//! `attn bench sim`: simulator throughput (auctions per second), how it scales with
//! the number of users, and peak memory (VmHWM).

use std::time::Instant;

use attn_simulator::config::{CryptoMode, ValueModel};
use attn_simulator::{Config, Simulation};

#[derive(clap::Args)]
pub struct Args {
    /// Users in the headline run.
    #[arg(long, default_value_t = 100_000)]
    users: u64,
    /// Rounds.
    #[arg(long, default_value_t = 10)]
    rounds: u32,
    /// Opportunities per user and round.
    #[arg(long, default_value_t = 2)]
    opportunities: u32,
    /// Advertisers.
    #[arg(long, default_value_t = 50)]
    advertisers: u32,
    /// Also run 10k, 100k and 1M users (ascending, so VmHWM is each size's peak).
    #[arg(long)]
    scaling: bool,
    /// Also measure `crypto = "real"` on this many users (0 = skip).
    #[arg(long, default_value_t = 0)]
    real_crypto_users: u64,
}

fn config(args: &Args, users: u64, crypto: CryptoMode) -> Config {
    let mut config = Config {
        seed: 1,
        rounds: args.rounds,
        crypto,
        ..Config::default()
    };
    config.users.count = users;
    config.users.opportunities_per_round = args.opportunities;
    config.advertisers.count = args.advertisers;
    config.advertisers.value_model = ValueModel::PerConversion;
    config.advertisers.value = attn_simulator::config::Distribution::Uniform {
        low: 50.0,
        high: 150.0,
    };
    config
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn measure(config: Config) -> anyhow::Result<(f64, f64, u64)> {
    let start = Instant::now();
    let mut simulation = Simulation::new(config)?;
    let setup = start.elapsed().as_secs_f64();
    while !simulation.finished() {
        simulation.step()?;
    }
    let total = start.elapsed().as_secs_f64();
    Ok((setup, total, simulation.totals().auctions))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    println!("machine: {}", super::bench::machine());
    println!(
        "simulator: {} rounds × {} opportunities, {} advertisers, second-price, per-conversion values, eigentrust weighting",
        args.rounds, args.opportunities, args.advertisers
    );
    let mut sizes = vec![args.users];
    if args.scaling {
        sizes = vec![10_000, 100_000, 1_000_000];
    }
    let mut baseline: Option<(u64, f64)> = None;
    for users in sizes {
        let (setup, total, auctions) = measure(config(&args, users, CryptoMode::Modelled))?;
        let rate = auctions as f64 / total;
        let relative = baseline.map_or(String::new(), |(u, t)| {
            format!(
                "  time ×{:.2} for users ×{:.0}",
                total / t,
                users as f64 / u as f64
            )
        });
        baseline.get_or_insert((users, total));
        println!(
            "modelled crypto: {users:>9} users  {auctions:>10} auctions  {total:>7.2} s (setup {setup:.2} s)  {rate:>10.0} auctions/s  peak RSS {:.0} MiB{relative}",
            peak_rss_mib()
        );
    }
    if args.real_crypto_users > 0 {
        let (_, total, auctions) =
            measure(config(&args, args.real_crypto_users, CryptoMode::Real))?;
        println!(
            "real crypto:     {:>9} users  {auctions:>10} auctions  {total:>7.2} s  {:>10.0} auctions/s",
            args.real_crypto_users,
            auctions as f64 / total
        );
    }
    Ok(())
}
