//! What a run writes to `--out DIR`: `rounds.csv` (streamed, one row per round as it
//! finishes), `summary.json` (totals, ratios and the config echoed) and SVG plots drawn
//! from `rounds.csv` after the run (so memory never grows with the number of rounds).
//!
//! Amounts are printed in currency units with six decimals from integer atomic units,
//! ratios with six decimals: the same run gives the same bytes.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::engine::{RoundStats, Simulation};
use crate::error::Error;
use crate::plot::{Series, line_chart};

/// The columns of `rounds.csv`, in order.
pub const ROUND_COLUMNS: [&str; 20] = [
    "round",
    "auctions",
    "impressions",
    "fill_rate",
    "clicks",
    "conversions",
    "revenue",
    "honest_revenue",
    "sybil_revenue",
    "sybil_revenue_share",
    "welfare",
    "optimal_welfare",
    "efficiency",
    "advertiser_spend",
    "advertiser_surplus",
    "advertiser_roi",
    "bundler_margin",
    "budgets_exhausted",
    "signatures",
    "verifications",
];

/// Atomic units as a decimal string with six decimals (exact).
pub fn units(atomic: u64) -> String {
    format!("{}.{:06}", atomic / 1_000_000, atomic % 1_000_000)
}

fn signed_units(atomic: i128) -> String {
    let sign = if atomic < 0 { "-" } else { "" };
    let magnitude = atomic.unsigned_abs();
    format!(
        "{sign}{}.{:06}",
        magnitude / 1_000_000,
        magnitude % 1_000_000
    )
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

/// The CSV row of a round.
pub fn round_row(stats: &RoundStats) -> String {
    let surplus = stats.advertiser_surplus_atomic();
    [
        stats.round.to_string(),
        stats.auctions.to_string(),
        stats.impressions.to_string(),
        format!(
            "{:.6}",
            ratio(stats.impressions as f64, stats.slots_offered as f64)
        ),
        stats.clicks.to_string(),
        stats.conversions.to_string(),
        units(stats.revenue_atomic),
        units(stats.honest_revenue_atomic),
        units(stats.sybil_revenue_atomic),
        format!(
            "{:.6}",
            ratio(
                stats.sybil_revenue_atomic as f64,
                stats.revenue_atomic as f64
            )
        ),
        units(stats.welfare_atomic),
        units(stats.optimal_welfare_atomic),
        format!(
            "{:.6}",
            ratio(
                stats.welfare_atomic as f64,
                stats.optimal_welfare_atomic as f64
            )
        ),
        units(stats.advertiser_spend_atomic),
        signed_units(surplus),
        format!(
            "{:.6}",
            ratio(surplus as f64, stats.advertiser_spend_atomic as f64)
        ),
        units(stats.bundler_margin_atomic),
        stats.budgets_exhausted.to_string(),
        stats.signatures.to_string(),
        stats.verifications.to_string(),
    ]
    .join(",")
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Rounds run.
    pub rounds: u32,
    /// Auctions run.
    pub auctions: u64,
    /// Impressions shown.
    pub impressions: u64,
    /// Impressions / slots offered.
    pub fill_rate: f64,
    /// Clicks.
    pub clicks: u64,
    /// Conversions.
    pub conversions: u64,
    /// What personas were paid (currency units).
    pub revenue: f64,
    /// What honest users were paid.
    pub honest_revenue: f64,
    /// What Sybil personas were paid.
    pub sybil_revenue: f64,
    /// Sybil revenue / revenue.
    pub sybil_revenue_share: f64,
    /// Revenue / auctions.
    pub revenue_per_auction: f64,
    /// Advertisers' value of the impressions shown.
    pub welfare: f64,
    /// The welfare of the efficient assignment.
    pub optimal_welfare: f64,
    /// Welfare / optimal welfare.
    pub efficiency: f64,
    /// What advertisers paid (charges plus specialists' fees).
    pub advertiser_spend: f64,
    /// Welfare − advertiser spend.
    pub advertiser_surplus: f64,
    /// Advertiser surplus / advertiser spend.
    pub advertiser_roi: f64,
    /// What bundling specialists kept.
    pub bundler_margin: f64,
    /// Advertisers whose budget is spent at the end.
    pub budgets_exhausted: u32,
    /// Signatures made and verified (`crypto = "real"`).
    pub signatures: u64,
    /// Signatures verified.
    pub verifications: u64,
    /// Per farm, the sum of its keys' trust weights (0 = nobody trusts it).
    pub farm_trust: Vec<f64>,
    /// Per farm, what its personas were paid.
    pub farm_revenue: Vec<f64>,
    /// The configuration of the run.
    pub config: Config,
}

impl Summary {
    /// The summary of a finished (or partly run) simulation.
    pub fn of(simulation: &Simulation) -> Self {
        let t = simulation.totals();
        let unit = |atomic: u64| atomic as f64 / 1e6;
        let surplus = t.advertiser_surplus_atomic();
        Self {
            rounds: simulation.rounds_done(),
            auctions: t.auctions,
            impressions: t.impressions,
            fill_rate: ratio(t.impressions as f64, t.slots_offered as f64),
            clicks: t.clicks,
            conversions: t.conversions,
            revenue: unit(t.revenue_atomic),
            honest_revenue: unit(t.honest_revenue_atomic),
            sybil_revenue: unit(t.sybil_revenue_atomic),
            sybil_revenue_share: ratio(t.sybil_revenue_atomic as f64, t.revenue_atomic as f64),
            revenue_per_auction: ratio(unit(t.revenue_atomic), t.auctions as f64),
            welfare: unit(t.welfare_atomic),
            optimal_welfare: unit(t.optimal_welfare_atomic),
            efficiency: ratio(t.welfare_atomic as f64, t.optimal_welfare_atomic as f64),
            advertiser_spend: unit(t.advertiser_spend_atomic),
            advertiser_surplus: surplus as f64 / 1e6,
            advertiser_roi: ratio(surplus as f64, t.advertiser_spend_atomic as f64),
            bundler_margin: unit(t.bundler_margin_atomic),
            budgets_exhausted: t.budgets_exhausted,
            signatures: t.signatures,
            verifications: t.verifications,
            farm_trust: simulation.farm_trust(),
            farm_revenue: simulation
                .farm_revenue_atomic()
                .iter()
                .map(|a| unit(*a))
                .collect(),
            config: simulation.config().clone(),
        }
    }

    /// A named metric, for sweeps (`None` if the name is unknown).
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "revenue" => self.revenue,
            "honest_revenue" => self.honest_revenue,
            "sybil_revenue" => self.sybil_revenue,
            "sybil_revenue_share" => self.sybil_revenue_share,
            "revenue_per_auction" => self.revenue_per_auction,
            "welfare" => self.welfare,
            "efficiency" => self.efficiency,
            "fill_rate" => self.fill_rate,
            "advertiser_surplus" => self.advertiser_surplus,
            "advertiser_roi" => self.advertiser_roi,
            "bundler_margin" => self.bundler_margin,
            _ => return None,
        })
    }
}

/// The metrics sweeps aggregate, in `sweep.csv` column order.
pub const SWEEP_METRICS: [&str; 11] = [
    "revenue",
    "honest_revenue",
    "sybil_revenue",
    "sybil_revenue_share",
    "revenue_per_auction",
    "welfare",
    "efficiency",
    "fill_rate",
    "advertiser_surplus",
    "advertiser_roi",
    "bundler_margin",
];

fn create(path: &Path) -> Result<BufWriter<File>, Error> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| Error::io(path, e))
}

/// Runs `config` to the end, streaming `rounds.csv` into `out` and writing
/// `summary.json`; plots too if `plots`. Calls `on_round` after each round.
pub fn run_to_dir(
    config: Config,
    out: &Path,
    plots: bool,
    mut on_round: impl FnMut(&RoundStats),
) -> Result<Summary, Error> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut simulation = Simulation::new(config)?;
    let rounds_path = out.join("rounds.csv");
    let mut rounds = create(&rounds_path)?;
    let io = |e| Error::io(&rounds_path, e);
    writeln!(rounds, "{}", ROUND_COLUMNS.join(",")).map_err(io)?;
    while !simulation.finished() {
        let stats = simulation.step()?;
        writeln!(rounds, "{}", round_row(&stats)).map_err(io)?;
        rounds.flush().map_err(io)?;
        on_round(&stats);
    }
    drop(rounds);
    let summary = Summary::of(&simulation);
    drop(simulation);
    write_summary(&summary, &out.join("summary.json"))?;
    if plots {
        plot_rounds(&rounds_path, out)?;
    }
    Ok(summary)
}

/// Writes `summary.json`.
pub fn write_summary(summary: &Summary, path: &Path) -> Result<(), Error> {
    let mut file = create(path)?;
    let text = serde_json::to_string_pretty(summary)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.flush())
        .map_err(|e| Error::io(path, e))
}

/// Reads columns of `rounds.csv` back as numbers.
pub fn read_columns(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut lines = BufReader::new(file).lines();
    let header = lines
        .next()
        .transpose()
        .map_err(|e| Error::io(path, e))?
        .unwrap_or_default();
    let columns: Vec<&str> = header.split(',').collect();
    let indices: Vec<usize> = names
        .iter()
        .map(|name| {
            columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| Error::io(path, std::io::Error::other(format!("no column {name}"))))
        })
        .collect::<Result<_, _>>()?;
    let mut out = vec![Vec::new(); names.len()];
    for line in lines {
        let line = line.map_err(|e| Error::io(path, e))?;
        let fields: Vec<&str> = line.split(',').collect();
        for (series, index) in out.iter_mut().zip(&indices) {
            series.push(
                fields
                    .get(*index)
                    .and_then(|f| f.parse().ok())
                    .unwrap_or(0.0),
            );
        }
    }
    Ok(out)
}

/// Draws `revenue.svg`, `efficiency.svg` and `advertisers.svg` from `rounds.csv`.
pub fn plot_rounds(rounds_csv: &Path, out: &Path) -> Result<Vec<PathBuf>, Error> {
    let columns = read_columns(
        rounds_csv,
        &[
            "round",
            "revenue",
            "honest_revenue",
            "sybil_revenue",
            "efficiency",
            "fill_rate",
            "advertiser_surplus",
            "bundler_margin",
            "sybil_revenue_share",
        ],
    )?;
    let x = &columns[0];
    let series = |name: &str, values: &Vec<f64>| Series {
        name: name.to_string(),
        points: x.iter().copied().zip(values.iter().copied()).collect(),
        band: None,
    };
    let mut written = Vec::new();
    let path = out.join("revenue.svg");
    line_chart(
        &path,
        "Revenue per round",
        "round",
        "currency units",
        &[
            series("revenue", &columns[1]),
            series("honest users", &columns[2]),
            series("Sybil personas", &columns[3]),
        ],
    )?;
    written.push(path);
    let path = out.join("efficiency.svg");
    line_chart(
        &path,
        "Efficiency, fill rate and Sybil share per round",
        "round",
        "ratio",
        &[
            series("efficiency", &columns[4]),
            series("fill rate", &columns[5]),
            series("Sybil revenue share", &columns[8]),
        ],
    )?;
    written.push(path);
    let path = out.join("advertisers.svg");
    line_chart(
        &path,
        "Advertiser surplus and specialists' margin per round",
        "round",
        "currency units",
        &[
            series("advertiser surplus", &columns[6]),
            series("bundler margin", &columns[7]),
        ],
    )?;
    written.push(path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_exact() {
        assert_eq!(units(0), "0.000000");
        assert_eq!(units(1_234_567), "1.234567");
        assert_eq!(signed_units(-5), "-0.000005");
    }
}
