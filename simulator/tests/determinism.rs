//! Same config and seed → byte-identical outputs, whatever the number of threads.

mod common;

use std::path::Path;

use attn_simulator::run_to_dir;

fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("out dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            (
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read(&path).expect("read"),
            )
        })
        .collect()
}

fn run_with_threads(threads: usize, dir: &Path) -> Vec<(String, Vec<u8>)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| run_to_dir(common::busy_market(), dir, true, |_| {}))
        .expect("run");
    outputs(dir)
}

#[test]
fn same_seed_same_bytes_with_one_or_two_threads() {
    let temp = tempfile::tempdir().expect("tempdir");
    let one = run_with_threads(1, &temp.path().join("one"));
    let two = run_with_threads(2, &temp.path().join("two"));
    let again = run_with_threads(2, &temp.path().join("again"));
    let names: Vec<&str> = one.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "advertisers.svg",
            "efficiency.svg",
            "revenue.svg",
            "rounds.csv",
            "summary.json"
        ]
    );
    assert_eq!(one, two, "1 thread and 2 threads differ");
    assert_eq!(two, again, "two runs differ");
    // The market did something: several personas kinds were paid.
    let summary: serde_json::Value = serde_json::from_slice(&one[4].1).expect("summary is JSON");
    assert!(summary["revenue"].as_f64().expect("revenue") > 0.0);
    assert!(summary["bundler_margin"].as_f64().expect("margin") > 0.0);
    assert_eq!(summary["config"]["seed"], 11);
    let rounds = String::from_utf8(one[3].1.clone()).expect("utf8");
    assert_eq!(rounds.lines().count(), 5);
}

#[test]
fn another_seed_gives_another_market() {
    let temp = tempfile::tempdir().expect("tempdir");
    let mut config = common::busy_market();
    run_to_dir(config.clone(), &temp.path().join("a"), false, |_| {}).expect("run");
    config.seed += 1;
    run_to_dir(config, &temp.path().join("b"), false, |_| {}).expect("run");
    let a = std::fs::read(temp.path().join("a/rounds.csv")).expect("a");
    let b = std::fs::read(temp.path().join("b/rounds.csv")).expect("b");
    assert_ne!(a, b);
}
