//! Parameter sweeps: a grid of configs × an explicit list of seeds, run in parallel.
//!
//! A sweep file is TOML:
//! ```toml
//! base = "baseline.toml"          # a config file, relative to the sweep file…
//! # [base]                        # …or an inline config table
//! seeds = [1, 2, 3, 4, 5]
//! plot = ["sybil_revenue_share"]  # metrics to plot (default: three main ones)
//! [grid]
//! "sybil.attack_edges" = [0, 1, 2, 4]
//! "trust.weighting" = ["none", "eigentrust"]
//! ```
//! Every grid key is a dotted config key; its values replace the base's. Cells are the
//! Cartesian product of the axes (axes in alphabetical order of key), each run once per
//! seed. Outputs: `manifest.csv` (run id → cell, seed, parameters), `runs/<id>/`
//! (each run's `rounds.csv` and `summary.json`), `sweep.csv` (per cell and metric, the
//! mean over seeds and the half-width of its 95% confidence interval, Student's t) and
//! one SVG per plotted metric against the first axis, one line per combination of the
//! other axes, with the confidence band shaded.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::config::Config;
use crate::error::Error;
use crate::output::{SWEEP_METRICS, Summary, run_to_dir};
use crate::plot::{Series, line_chart};

/// Most runs in one sweep (cells × seeds).
pub const RUNS_MAX: usize = 100_000;
/// Most seeds in one sweep.
pub const SEEDS_MAX: usize = 10_000;
/// Most values on one grid axis.
pub const AXIS_VALUES_MAX: usize = 1_000;

/// A parsed sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The base configuration as a TOML tree.
    pub base: toml::Value,
    /// Seeds each cell runs with.
    pub seeds: Vec<u64>,
    /// `(dotted key, values)`, in alphabetical order of key.
    pub axes: Vec<(String, Vec<toml::Value>)>,
    /// Metrics to plot.
    pub plot: Vec<String>,
}

/// One run of a sweep.
#[derive(Clone, Debug)]
pub struct Run {
    /// Run id (index in the manifest).
    pub id: usize,
    /// Cell index.
    pub cell: usize,
    /// The seed.
    pub seed: u64,
    /// The value of each axis.
    pub parameters: Vec<toml::Value>,
    /// The validated configuration.
    pub config: Config,
}

fn sweep_error(key: &str, message: impl Into<String>) -> Error {
    Error::Sweep {
        key: key.to_string(),
        message: message.into(),
    }
}

impl Sweep {
    /// Reads a sweep file (a relative `base` path is resolved next to it).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses a sweep; `dir` resolves a relative `base` path.
    pub fn from_toml(text: &str, dir: &Path) -> Result<Self, Error> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| Error::ConfigSyntax {
            message: e.to_string(),
        })?;
        let base = match table.remove("base") {
            Some(toml::Value::String(file)) => {
                let path = dir.join(&file);
                let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                toml::Value::Table(toml::from_str(&text).map_err(|e| Error::ConfigSyntax {
                    message: format!("{}: {e}", path.display()),
                })?)
            }
            Some(value @ toml::Value::Table(_)) => value,
            None => toml::Value::Table(toml::Table::new()),
            Some(_) => return Err(sweep_error("base", "must be a file name or a table")),
        };
        let seeds = match table.remove("seeds") {
            Some(toml::Value::Array(values)) => values
                .iter()
                .map(|v| {
                    v.as_integer()
                        .filter(|i| *i >= 0)
                        .map(|i| i as u64)
                        .ok_or_else(|| sweep_error("seeds", "must be non-negative integers"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(sweep_error(
                    "seeds",
                    "needs a list of seeds, e.g. [1, 2, 3]",
                ));
            }
        };
        if seeds.is_empty() || seeds.len() > SEEDS_MAX {
            return Err(sweep_error("seeds", format!("needs 1..={SEEDS_MAX} seeds")));
        }
        let plot = match table.remove("plot") {
            Some(toml::Value::Array(values)) => values
                .iter()
                .map(|v| {
                    v.as_str()
                        .filter(|name| SWEEP_METRICS.contains(name))
                        .map(str::to_string)
                        .ok_or_else(|| {
                            sweep_error(
                                "plot",
                                format!("allowed metrics: {}", SWEEP_METRICS.join(", ")),
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![
                "revenue_per_auction".into(),
                "efficiency".into(),
                "sybil_revenue_share".into(),
            ],
            Some(_) => return Err(sweep_error("plot", "must be a list of metric names")),
        };
        let axes = match table.remove("grid") {
            Some(toml::Value::Table(grid)) => grid
                .into_iter()
                .map(|(key, values)| match values {
                    toml::Value::Array(values)
                        if !values.is_empty() && values.len() <= AXIS_VALUES_MAX =>
                    {
                        Ok((key, values))
                    }
                    _ => Err(sweep_error(
                        &format!("grid.{key}"),
                        format!("needs a list of 1..={AXIS_VALUES_MAX} values"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
            Some(_) => return Err(sweep_error("grid", "must be a table of key = [values]")),
        };
        if let Some(key) = table.keys().next() {
            return Err(sweep_error(
                key,
                "unknown sweep key; allowed: base, seeds, plot, grid",
            ));
        }
        let sweep = Self {
            base,
            seeds,
            axes,
            plot,
        };
        let runs = sweep.cells() * sweep.seeds.len();
        if runs > RUNS_MAX {
            return Err(sweep_error(
                "grid",
                format!("{runs} runs exceed the limit of {RUNS_MAX}"),
            ));
        }
        Ok(sweep)
    }

    /// Number of cells.
    pub fn cells(&self) -> usize {
        self.axes.iter().map(|(_, v)| v.len()).product()
    }

    /// Every run, validated (a bad grid value is an error naming its key).
    pub fn runs(&self) -> Result<Vec<Run>, Error> {
        let mut runs = Vec::with_capacity(self.cells() * self.seeds.len());
        for cell in 0..self.cells() {
            let parameters = self.parameters(cell);
            for seed in &self.seeds {
                let mut tree = self.base.clone();
                for ((key, _), value) in self.axes.iter().zip(&parameters) {
                    set_dotted(&mut tree, key, value.clone())
                        .map_err(|message| sweep_error(&format!("grid.{key}"), message))?;
                }
                set_dotted(&mut tree, "seed", toml::Value::Integer(*seed as i64))
                    .map_err(|message| sweep_error("seeds", message))?;
                let config = Config::from_value(tree)
                    .map_err(|e| sweep_error(&format!("cell {cell}"), e.to_string()))?;
                runs.push(Run {
                    id: runs.len(),
                    cell,
                    seed: *seed,
                    parameters: parameters.clone(),
                    config,
                });
            }
        }
        Ok(runs)
    }

    fn parameters(&self, cell: usize) -> Vec<toml::Value> {
        let mut rest = cell;
        let mut out = vec![toml::Value::Boolean(false); self.axes.len()];
        for (index, (_, values)) in self.axes.iter().enumerate().rev() {
            out[index] = values[rest % values.len()].clone();
            rest /= values.len();
        }
        out
    }
}

fn set_dotted(tree: &mut toml::Value, key: &str, value: toml::Value) -> Result<(), String> {
    let mut node = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        let table = node
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` is not a table"))?;
        node = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    node.as_table_mut()
        .ok_or_else(|| format!("`{key}` does not name a config key"))?
        .insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

fn display(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The two-sided 95% Student t quantile for `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => 0.0,
        1..=30 => TABLE[df - 1],
        _ => 1.96,
    }
}

/// Mean and half-width of the 95% confidence interval of the mean.
pub fn mean_ci(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t95(n - 1) * (variance / n as f64).sqrt())
}

/// Runs a sweep into `out`, calling `on_run_done` after each run (from any thread).
pub fn run_sweep(
    sweep: &Sweep,
    out: &Path,
    on_run_done: impl Fn(&Run) + Sync,
) -> Result<Vec<Summary>, Error> {
    let runs = sweep.runs()?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let keys: Vec<&str> = sweep.axes.iter().map(|(k, _)| k.as_str()).collect();
    let manifest_path = out.join("manifest.csv");
    let mut manifest = String::from("run_id,cell,seed");
    for key in &keys {
        manifest.push(',');
        manifest.push_str(key);
    }
    manifest.push('\n');
    for run in &runs {
        manifest.push_str(&format!("{},{},{}", run.id, run.cell, run.seed));
        for value in &run.parameters {
            manifest.push(',');
            manifest.push_str(&display(value));
        }
        manifest.push('\n');
    }
    std::fs::write(&manifest_path, manifest).map_err(|e| Error::io(&manifest_path, e))?;
    let summaries = runs
        .par_iter()
        .map(|run| {
            let dir = out.join("runs").join(run.id.to_string());
            let summary = run_to_dir(run.config.clone(), &dir, false, |_| {})?;
            on_run_done(run);
            Ok(summary)
        })
        .collect::<Result<Vec<Summary>, Error>>()?;

    // sweep.csv: per cell, mean and CI of each metric over seeds.
    let cells = sweep.cells();
    let mut per_cell: Vec<Vec<&Summary>> = vec![Vec::new(); cells];
    for (run, summary) in runs.iter().zip(&summaries) {
        per_cell[run.cell].push(summary);
    }
    let mut table = String::from("cell");
    for key in &keys {
        table.push(',');
        table.push_str(key);
    }
    table.push_str(",runs");
    for metric in SWEEP_METRICS {
        table.push_str(&format!(",{metric}_mean,{metric}_ci95"));
    }
    table.push('\n');
    let mut stats: Vec<Vec<(f64, f64)>> = Vec::with_capacity(cells);
    for (cell, summaries) in per_cell.iter().enumerate() {
        table.push_str(&cell.to_string());
        for value in sweep.parameters(cell) {
            table.push(',');
            table.push_str(&display(&value));
        }
        table.push_str(&format!(",{}", summaries.len()));
        let mut row = Vec::new();
        for metric in SWEEP_METRICS {
            let values: Vec<f64> = summaries
                .iter()
                .map(|s| s.metric(metric).unwrap_or(0.0))
                .collect();
            let (mean, ci) = mean_ci(&values);
            table.push_str(&format!(",{mean:.6},{ci:.6}"));
            row.push((mean, ci));
        }
        table.push('\n');
        stats.push(row);
    }
    let sweep_path = out.join("sweep.csv");
    let mut file = std::fs::File::create(&sweep_path).map_err(|e| Error::io(&sweep_path, e))?;
    file.write_all(table.as_bytes())
        .map_err(|e| Error::io(&sweep_path, e))?;
    plot_sweep(sweep, &stats, out)?;
    Ok(summaries)
}

fn plot_sweep(sweep: &Sweep, stats: &[Vec<(f64, f64)>], out: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    let (x_key, x_values) = match sweep.axes.first() {
        Some((key, values)) => (key.clone(), values.clone()),
        None => ("cell".to_string(), vec![toml::Value::Integer(0)]),
    };
    let numeric = x_values
        .iter()
        .all(|v| v.as_integer().is_some() || v.as_float().is_some());
    let x_of = |index: usize| -> f64 {
        let value = &x_values[index];
        if numeric {
            value
                .as_float()
                .or_else(|| value.as_integer().map(|i| i as f64))
                .unwrap_or(index as f64)
        } else {
            index as f64
        }
    };
    let x_label = if numeric {
        x_key.clone()
    } else {
        format!(
            "{x_key} ({})",
            x_values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{i} = {}", display(v)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let per_line = sweep.cells() / x_values.len().max(1);
    for metric in &sweep.plot {
        let Some(m) = SWEEP_METRICS.iter().position(|name| name == metric) else {
            continue;
        };
        let mut series = Vec::new();
        for line in 0..per_line {
            let cells: Vec<usize> = (0..x_values.len()).map(|x| x * per_line + line).collect();
            let name = if sweep.axes.len() > 1 {
                sweep
                    .axes
                    .iter()
                    .skip(1)
                    .zip(sweep.parameters(cells[0]).iter().skip(1))
                    .map(|((key, _), value)| format!("{key} = {}", display(value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                metric.clone()
            };
            series.push(Series {
                name,
                points: cells
                    .iter()
                    .enumerate()
                    .map(|(x, cell)| (x_of(x), stats[*cell][m].0))
                    .collect(),
                band: Some(
                    cells
                        .iter()
                        .map(|cell| {
                            let (mean, ci) = stats[*cell][m];
                            (mean - ci, mean + ci)
                        })
                        .collect(),
                ),
            });
        }
        let path = out.join(format!("{metric}.svg"));
        line_chart(
            &path,
            &format!("{metric} (mean, 95% CI over {} seeds)", sweep.seeds.len()),
            &x_label,
            metric,
            &series,
        )?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_expand_in_order_and_bad_keys_are_named() {
        let sweep = Sweep::from_toml(
            "seeds = [1, 2]\n[base]\nrounds = 1\n[base.users]\ncount = 5\n[grid]\n\"sybil.attack_edges\" = [0, 1, 2]\n\"auction.mechanism\" = [\"first-price\", \"vcg\"]\n",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(sweep.cells(), 6);
        let runs = sweep.runs().unwrap();
        assert_eq!(runs.len(), 12);
        assert_eq!(runs[0].config.auction.mechanism.name(), "first-price");
        assert_eq!(runs[3].seed, 2);
        assert_eq!(runs[3].config.sybil.attack_edges, 1);
        let bad = Sweep::from_toml(
            "seeds = [1]\n[grid]\n\"auction.mechanism\" = [\"dutch\"]\n",
            Path::new("."),
        )
        .unwrap()
        .runs()
        .unwrap_err()
        .to_string();
        assert!(
            bad.contains("mechanism") && bad.contains("second-price"),
            "{bad}"
        );
        assert!(Sweep::from_toml("[grid]\nx = [1]", Path::new(".")).is_err());
        assert!(Sweep::from_toml("seeds = [1]\nbogus = 1", Path::new(".")).is_err());
    }

    #[test]
    fn confidence_intervals_use_student_t() {
        let (mean, ci) = mean_ci(&[1.0, 2.0, 3.0]);
        assert!((mean - 2.0).abs() < 1e-12);
        assert!((ci - 4.303 * (1.0f64 / 3.0).sqrt()).abs() < 1e-9);
        assert_eq!(mean_ci(&[5.0]), (5.0, 0.0));
    }
}
