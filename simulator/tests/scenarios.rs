//! Every scenario shipped in `simulator/scenarios/` parses and validates: configs
//! (`*.toml`) and sweeps (`*.sweep.toml`, every run of the grid).

use std::path::PathBuf;

use attn_simulator::{Config, Sweep};

fn scenarios() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_parses() {
    let files = scenarios();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    for expected in [
        "baseline.toml",
        "sybil-without-trust.toml",
        "sybil-with-trust.toml",
        "bundlers.toml",
        "mechanisms-compared.sweep.toml",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing");
    }
    for file in files {
        let name = file.display().to_string();
        if name.ends_with(".sweep.toml") {
            let sweep = Sweep::from_file(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
            let runs = sweep.runs().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(runs.len(), sweep.cells() * sweep.seeds.len());
        } else {
            let text = std::fs::read_to_string(&file).expect("read");
            Config::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn the_sybil_scenarios_differ_only_in_the_trust_weighting() {
    let read = |name: &str| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(name);
        Config::from_toml(&std::fs::read_to_string(path).expect("read")).expect("valid")
    };
    let without = read("sybil-without-trust.toml");
    let mut with = read("sybil-with-trust.toml");
    assert_ne!(with.trust.weighting, without.trust.weighting);
    with.trust.weighting = without.trust.weighting;
    assert_eq!(with, without);
}
