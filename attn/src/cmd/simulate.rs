//! `attn simulate`: run the market simulator on a TOML config, or a sweep of configs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use attn_simulator::{Config, Sweep, output::units, run_sweep, run_to_dir};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// `attn simulate [run] CONFIG --out DIR` or `attn simulate sweep SWEEP --out DIR`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimulateArgs {
    #[command(subcommand)]
    command: Option<SimulateCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum SimulateCommand {
    /// Run one config: rounds.csv, summary.json and SVG plots in --out.
    Run(RunArgs),
    /// Run a grid of configs × seeds in parallel: manifest.csv, sweep.csv (mean and
    /// 95% CI per cell), runs/<id>/ and plots in --out.
    Sweep(SweepArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The TOML config (see docs/simulator.md).
    #[arg(required = true)]
    config: Option<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Override the config's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Skip the SVG plots.
    #[arg(long)]
    no_plots: bool,
}

#[derive(Args)]
struct SweepArgs {
    /// The sweep file (base config, seeds, grid).
    sweep: PathBuf,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
}

fn pool(threads: Option<usize>) -> anyhow::Result<rayon::ThreadPool> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = threads {
        anyhow::ensure!(threads > 0, "--threads must be positive");
        builder = builder.num_threads(threads);
    }
    builder.build().context("cannot start the worker threads")
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    match args.command {
        Some(SimulateCommand::Run(run)) => run_one(run),
        Some(SimulateCommand::Sweep(sweep)) => run_many(sweep),
        None => run_one(args.run),
    }
}

fn run_one(args: RunArgs) -> anyhow::Result<()> {
    let (Some(path), Some(out)) = (args.config, args.out) else {
        anyhow::bail!("usage: attn simulate [run] CONFIG --out DIR");
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut config = Config::from_toml(&text).with_context(|| format!("in {}", path.display()))?;
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    let rounds = config.rounds;
    let pool = pool(args.threads)?;
    let bar = ProgressBar::new(u64::from(rounds));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rounds {elapsed} {msg}")
            .context("progress template")?,
    );
    let start = Instant::now();
    let summary = pool.install(|| {
        run_to_dir(config, &out, !args.no_plots, |stats| {
            bar.set_message(format!("revenue {}", units(stats.revenue_atomic)));
            bar.inc(1);
        })
    })?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{} rounds, {} auctions in {seconds:.2} s ({:.0} auctions/s)",
        summary.rounds,
        summary.auctions,
        summary.auctions as f64 / seconds.max(1e-9)
    );
    println!(
        "revenue {:.6}  per auction {:.6}  efficiency {:.4}  fill {:.4}  Sybil share {:.4}  advertiser ROI {:.4}  bundler margin {:.6}",
        summary.revenue,
        summary.revenue_per_auction,
        summary.efficiency,
        summary.fill_rate,
        summary.sybil_revenue_share,
        summary.advertiser_roi,
        summary.bundler_margin
    );
    println!("wrote {}/{{rounds.csv,summary.json,*.svg}}", out.display());
    Ok(())
}

fn run_many(args: SweepArgs) -> anyhow::Result<()> {
    let sweep =
        Sweep::from_file(&args.sweep).with_context(|| format!("in {}", args.sweep.display()))?;
    let runs = sweep.cells() * sweep.seeds.len();
    let pool = pool(args.threads)?;
    let bar = ProgressBar::new(runs as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs {elapsed} eta {eta}")
            .context("progress template")?,
    );
    let start = Instant::now();
    pool.install(|| run_sweep(&sweep, &args.out, |_| bar.inc(1)))?;
    bar.finish_and_clear();
    println!(
        "{} cells × {} seeds = {runs} runs in {:.2} s",
        sweep.cells(),
        sweep.seeds.len(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "wrote {}/{{manifest.csv,sweep.csv,*.svg,runs/}}",
        args.out.display()
    );
    Ok(())
}
