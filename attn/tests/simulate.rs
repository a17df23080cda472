//! `attn simulate`: a run and a sweep through the binary write their files, the same
//! seed gives the same bytes whatever `--threads`, a bad config names its key, and
//! every scenario shipped in `simulator/scenarios/` parses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use attn_simulator::{Config, Sweep};

fn attn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_attn"))
        .args(args)
        .output()
        .expect("attn runs")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "attn failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const TINY: &str = r#"
seed = 3
rounds = 3
[auction]
mechanism = "gsp"
slots = 2
[users]
count = 120
[advertisers]
count = 6
value_model = "per-conversion"
value = { dist = "uniform", low = 10, high = 30 }
strategy = "learning"
[sybil]
farms = 1
personas_per_farm = 30
attack_edges = 1
[bundlers]
count = 1
clients = 2
"#;

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn a_run_writes_rounds_summary_and_plots_identically_on_any_thread_count() {
    let temp = tempfile::tempdir().expect("temp dir");
    let config = temp.path().join("tiny.toml");
    std::fs::write(&config, TINY).expect("write config");
    let config = config.to_string_lossy().into_owned();
    let printed = ok(attn(&[
        "simulate",
        &config,
        "--out",
        &path(temp.path(), "one"),
        "--threads",
        "1",
    ]));
    assert!(printed.contains("auctions"), "{printed}");
    ok(attn(&[
        "simulate",
        "run",
        &config,
        "--out",
        &path(temp.path(), "two"),
        "--threads",
        "2",
    ]));
    for name in [
        "rounds.csv",
        "summary.json",
        "revenue.svg",
        "efficiency.svg",
        "advertisers.svg",
    ] {
        let one = std::fs::read(temp.path().join("one").join(name)).expect(name);
        let two = std::fs::read(temp.path().join("two").join(name)).expect(name);
        assert!(!one.is_empty(), "{name} is empty");
        assert_eq!(one, two, "{name} differs between 1 and 2 threads");
    }
    let rounds = std::fs::read_to_string(temp.path().join("one/rounds.csv")).expect("csv");
    assert_eq!(rounds.lines().count(), 4, "a header and three rounds");
    assert!(rounds.starts_with("round,auctions,impressions,fill_rate"));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(temp.path().join("one/summary.json")).expect("json"),
    )
    .expect("summary is JSON");
    assert_eq!(summary["auctions"], 3 * 150 * 2);
    for key in ["sybil_revenue_share", "revenue_per_auction", "efficiency"] {
        assert!(summary[key].is_number(), "{key} missing");
    }
    assert_eq!(summary["config"]["seed"], 3);
    assert_eq!(summary["config"]["auction"]["mechanism"], "gsp");
}

#[test]
fn a_sweep_writes_its_manifest_confidence_intervals_and_plots() {
    let temp = tempfile::tempdir().expect("temp dir");
    std::fs::write(temp.path().join("tiny.toml"), TINY).expect("write config");
    let sweep = temp.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        "base = \"tiny.toml\"\nseeds = [1, 2]\n[grid]\n\"advertisers.count\" = [4, 6]\n",
    )
    .expect("write sweep");
    let out = temp.path().join("out");
    ok(attn(&[
        "simulate",
        "sweep",
        &sweep.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
    ]));
    let manifest = std::fs::read_to_string(out.join("manifest.csv")).expect("manifest");
    assert_eq!(
        manifest.lines().collect::<Vec<_>>(),
        [
            "run_id,cell,seed,advertisers.count",
            "0,0,1,4",
            "1,0,2,4",
            "2,1,1,6",
            "3,1,2,6"
        ]
    );
    let table = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    let header = table.lines().next().expect("header");
    assert!(header.starts_with("cell,advertisers.count,runs,revenue_mean,revenue_ci95"));
    assert_eq!(table.lines().count(), 3);
    for run in 0..4 {
        assert!(out.join(format!("runs/{run}/summary.json")).exists());
    }
    assert!(out.join("revenue_per_auction.svg").exists());
}

#[test]
fn a_bad_config_names_the_key_and_the_allowed_values() {
    let temp = tempfile::tempdir().expect("temp dir");
    let config = temp.path().join("bad.toml");
    std::fs::write(&config, "[auction]\nmechanism = \"dutch\"\n").expect("write");
    let output = attn(&[
        "simulate",
        &config.to_string_lossy(),
        "--out",
        &path(temp.path(), "out"),
    ]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("mechanism") && error.contains("second-price") && error.contains("vcg"),
        "{error}"
    );
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../simulator/scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios") {
        let file = entry.expect("entry").path();
        let name = file.to_string_lossy().into_owned();
        if name.ends_with(".sweep.toml") {
            let sweep = Sweep::from_file(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
            sweep.runs().unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.ends_with(".toml") {
            let text = std::fs::read_to_string(&file).expect("read");
            Config::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            continue;
        }
        count += 1;
    }
    assert!(count >= 5, "{count} scenarios");
}
