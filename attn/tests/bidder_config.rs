//! `attn keys new --kind advertiser --threshold T --shares N` and `attn bidder serve
//! --config` as an advertiser runs them: a 2-of-3 group made by a trusted dealer into
//! owner-only encrypted share files, a bidder serving as the group from two of them
//! (the client sees the group key and nothing else), a bidder whose impressions are
//! booked in a ledger whose escrow is unfunded (refused as FAILED_PRECONDITION, not
//! UNAVAILABLE), and configs that must be refused with a clear error.

mod common;

use common::{ATTN, stdout};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const PASSPHRASE: &str = "pass phrase";
/// Lines a bidder prints before its registry block ends; past it the test gives up.
const STARTUP_LINES_MAX: usize = 50;

fn attn(home: &Path, args: &[&str]) -> Output {
    common::attn_as(home, PASSPHRASE, args)
}

fn path(file: &Path) -> &str {
    file.to_str().expect("utf-8 path")
}

/// A bidder process, stopped when dropped.
struct Bidder {
    child: Child,
    registry_block: String,
    advertiser: String,
    printed: String,
}

impl Drop for Bidder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_bidder(home: &Path, config: &Path) -> Bidder {
    let mut child = Command::new(ATTN)
        .args(["bidder", "serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .env("ATTN_HOME", home)
        .env("ATTN_PASSPHRASE", PASSPHRASE)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start attn bidder serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut advertiser, mut block, mut printed) = (None, Vec::new(), Vec::new());
    for _ in 0..STARTUP_LINES_MAX {
        let line = match lines.next() {
            Some(Ok(line)) => line,
            other => {
                let _ = child.kill();
                panic!("bidder stopped before printing its registry line: {other:?}");
            }
        };
        printed.push(line.clone());
        if let Some(key) = line.strip_prefix("advertiser key: ") {
            advertiser = Some(key.trim().to_string());
        }
        if line.starts_with("[[bidder]]") || !block.is_empty() {
            block.push(line.clone());
        }
        if line.starts_with("advertiser = ") {
            break;
        }
    }
    // Keep draining stdout so the bidder never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Bidder {
        child,
        registry_block: block.join("\n"),
        advertiser: advertiser.expect("the bidder prints its key"),
        printed: printed.join("\n"),
    }
}

/// One first-price auction of one slot against `bidder` (so the winner pays its
/// bid), shown; the JSON report.
fn auction(dir: &Path, bidder: &Bidder) -> serde_json::Value {
    let bidders = dir.join("bidders.toml");
    std::fs::write(&bidders, &bidder.registry_block).expect("write registry");
    let output = Command::new(ATTN)
        .args(["client", "auction", "--bidders", path(&bidders)])
        .args([
            "--slots",
            "1",
            "--mechanism",
            "first-price",
            "--tmax",
            "2000",
            "--json",
        ])
        .output()
        .expect("run attn client auction");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "attn client auction failed\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&text).expect("JSON output")
}

fn share_files(output: &str) -> Vec<PathBuf> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .map(PathBuf::from)
        .collect()
}

/// `attn keys new --kind advertiser --threshold 2 --shares 3` into `HOME/shares`; its
/// output (the group key, then the share files, each on a line of its own).
fn deal_2_of_3(home: &Path) -> String {
    let shares_dir = home.join("shares");
    stdout(&attn(
        home,
        &[
            "keys",
            "new",
            "--kind",
            "advertiser",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out-dir",
            path(&shares_dir),
        ],
    ))
}

fn failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "attn succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_2_of_3_advertiser_group_is_dealt_and_served_from_two_shares() {
    let home = tempfile::tempdir().expect("temp dir");
    let shares_dir = home.path().join("shares");
    let made = deal_2_of_3(home.path());
    let group_key = made
        .lines()
        .find_map(|line| line.strip_prefix("group key: "))
        .expect("group key printed")
        .to_string();
    assert!(
        made.contains(&format!("advertiser = \"{group_key}\"")),
        "{made}"
    );
    let files = share_files(&made);
    assert_eq!(files.len(), 3);
    for file in &files {
        assert!(file.starts_with(&shares_dir));
        let text = std::fs::read_to_string(file).expect("share file");
        let sealed = text
            .lines()
            .find_map(|line| line.strip_prefix("sealed "))
            .expect("sealed line");
        assert!(!made.contains(sealed), "a share was printed");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "share files must be owner-only");
        }
    }
    // Shares 1 and 3, named relative to the config file; test money on a sandbox.
    let name = |i: usize| files[i].file_name().expect("name").to_str().expect("utf-8");
    let config = shares_dir.join("bidder.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"group\"\nthreshold_shares = [\"{}\", \"{}\"]\nrail = \"sandbox\"\n\
             rail_issuer = \"self\"\n",
            name(0),
            name(2)
        ),
    )
    .expect("write config");
    let bidder = start_bidder(home.path(), &config);
    assert_eq!(bidder.advertiser, group_key);
    assert!(
        bidder
            .printed
            .contains("signing as a 2-of-3 group with 2 signers"),
        "{}",
        bidder.printed
    );
    let json = auction(home.path(), &bidder);
    assert_eq!(json["bidders"][0]["status"], "bid", "{json}");
    let impressions = json["impressions"].as_array().expect("impressions");
    assert_eq!(impressions.len(), 1, "{json}");
    assert_eq!(impressions[0]["acknowledged"], true, "{json}");
}

#[test]
fn an_unfunded_ledger_escrow_refuses_impressions_as_a_failed_precondition() {
    let home = tempfile::tempdir().expect("temp dir");
    let config = home.path().join("bidder.toml");
    let ledger = home.path().join("ledger.db");
    std::fs::write(
        &config,
        format!(
            "ledger = \"sqlite://{}\"\ninterface_provider_fee_ppm = 50000\n",
            path(&ledger)
        ),
    )
    .expect("write config");
    let bidder = start_bidder(home.path(), &config);
    assert!(
        bidder.printed.contains("ledger escrow: "),
        "{}",
        bidder.printed
    );
    let json = auction(home.path(), &bidder);
    assert_eq!(json["bidders"][0]["status"], "bid", "{json}");
    let impression = &json["impressions"][0];
    assert_eq!(impression["acknowledged"], false, "{json}");
    let error = impression["error"].as_str().expect("error");
    assert!(error.contains("FailedPrecondition"), "{error}");
    assert!(error.contains("insufficient-funds"), "{error}");
}

#[test]
fn bad_bidder_configs_are_refused_clearly() {
    let home = tempfile::tempdir().expect("temp dir");
    let made = deal_2_of_3(home.path());
    let files = share_files(&made);
    let serve = |body: String| {
        let config = home.path().join("bad.toml");
        std::fs::write(&config, body).expect("write config");
        failure(&attn(
            home.path(),
            &[
                "bidder",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--config",
                path(&config),
            ],
        ))
    };
    let one = format!("threshold_shares = [\"{}\"]\n", path(&files[0]));
    assert!(
        serve(one.clone()).contains("threshold is 2"),
        "too few shares"
    );
    let channel = format!(
        "threshold_shares = [\"{}\", \"{}\"]\nrail = \"channel:sandbox\"\n",
        path(&files[0]),
        path(&files[1])
    );
    assert!(serve(channel).contains("cannot sign channel vouchers"));
    let both = format!("key_file = \"x.key\"\n{one}");
    assert!(serve(both).contains("not both"));
    assert!(serve("interface_provider_fee_ppm = 10\n".into()).contains("need a `ledger`"));
    assert!(serve("rail = \"paypal\"\n".into()).contains("no rail named"));
    let wrong = attn(
        home.path(),
        &[
            "keys",
            "new",
            "--kind",
            "advertiser",
            "--threshold",
            "1",
            "--shares",
            "3",
            "--out-dir",
            path(&home.path().join("other")),
        ],
    );
    assert!(failure(&wrong).contains("invalid threshold"));
    // A share file altered in its group line is refused, naming the file.
    let text = std::fs::read_to_string(&files[1]).expect("share");
    let altered = text.replace("group ", "group 00");
    let bad = home.path().join("bad.share");
    std::fs::write(&bad, altered).expect("write");
    let error = serve(format!(
        "threshold_shares = [\"{}\", \"{}\"]\n",
        path(&files[0]),
        path(&bad)
    ));
    assert!(error.contains("bad.share"), "{error}");
}
