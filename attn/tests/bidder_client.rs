//! `attn bidder serve` and `attn client auction` as an advertiser and a user run them:
//! two bidder processes in the background (one with no config: a fresh key and
//! defaults; one from a bidder.toml), their printed registry lines pasted into a
//! bidders file, then a client auction against them over real gRPC, in text and in
//! JSON, with the impressions shown and acknowledged.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

const ATTN: &str = env!("CARGO_BIN_EXE_attn");
/// Lines a bidder prints before its registry block ends; past it the test gives up.
const STARTUP_LINES_MAX: usize = 50;

/// A bidder process, stopped when dropped.
struct Bidder {
    child: Child,
    /// The `[[bidder]]` block it printed.
    registry_block: String,
    advertiser: String,
}

impl Drop for Bidder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_bidder(extra: &[&str]) -> Bidder {
    let mut child = Command::new(ATTN)
        .args(["bidder", "serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start attn bidder serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut advertiser = None;
    let mut block = Vec::new();
    for _ in 0..STARTUP_LINES_MAX {
        let line = match lines.next() {
            Some(Ok(line)) => line,
            other => {
                let _ = child.kill();
                panic!("bidder stopped before printing its registry line: {other:?}");
            }
        };
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
    let advertiser = advertiser.expect("the bidder prints its public key");
    let registry_block = block.join("\n");
    assert!(
        registry_block.contains(&advertiser),
        "the registry line names the printed key:\n{registry_block}"
    );
    Bidder {
        child,
        registry_block,
        advertiser,
    }
}

#[test]
fn a_client_auction_against_served_bidders_clears_and_shows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fresh = start_bidder(&[]);
    let config = dir.path().join("bidder.toml");
    std::fs::write(
        &config,
        "name = \"second\"\nbase_price = \"0.004\"\ncreative_id = \"second-ad\"\ncategories = [\"sports\"]\n",
    )
    .expect("write config");
    let configured = start_bidder(&["--config", config.to_str().expect("utf-8 path")]);
    assert_ne!(fresh.advertiser, configured.advertiser);
    assert!(fresh.registry_block.contains("name = \"example\""));
    assert!(configured.registry_block.contains("name = \"second\""));

    let bidders = dir.path().join("bidders.toml");
    std::fs::write(
        &bidders,
        format!(
            "{}\n\n{}\n",
            fresh.registry_block, configured.registry_block
        ),
    )
    .expect("write registry");
    let bidders = bidders.to_str().expect("utf-8 path");

    let output = Command::new(ATTN)
        .args([
            "client",
            "auction",
            "--bidders",
            bidders,
            "--slots",
            "2",
            "--mechanism",
            "gsp",
            "--tmax",
            "2000",
            "--json",
        ])
        .output()
        .expect("run attn client auction");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "attn client auction failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    assert_eq!(json["mechanism"], "gsp");
    let statuses: Vec<&str> = json["bidders"]
        .as_array()
        .expect("bidders")
        .iter()
        .map(|b| b["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["bid", "bid"], "{json}");
    // Example prices vary by ±20% around 0.002 and 0.004: the configured bidder wins
    // the top slot, the other the second, one slot per advertiser.
    let wins = json["wins"].as_array().expect("wins");
    assert_eq!(wins.len(), 2, "{json}");
    assert_eq!(wins[0]["bidder"], "second");
    assert_eq!(wins[0]["creative"], "second-ad");
    assert_eq!(wins[1]["bidder"], "example");
    let impressions = json["impressions"].as_array().expect("impressions");
    assert_eq!(impressions.len(), 2);
    assert!(
        impressions.iter().all(|i| i["acknowledged"] == true),
        "{json}"
    );

    // The same auction in text, VCG, one slot.
    let output = Command::new(ATTN)
        .args([
            "client",
            "auction",
            "--bidders",
            bidders,
            "--slots",
            "1",
            "--mechanism",
            "vcg",
            "--tmax",
            "2000",
        ])
        .output()
        .expect("run attn client auction");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("(vcg, tmax 2000 ms)"), "{stdout}");
    assert!(
        stdout.contains("slot-0") && stdout.contains("second"),
        "{stdout}"
    );
    assert!(stdout.contains("impressions: 1 acknowledged"), "{stdout}");

    // An unreadable bidders file is an error, not a hang.
    let output = Command::new(ATTN)
        .args([
            "client",
            "auction",
            "--bidders",
            "/nonexistent/bidders.toml",
        ])
        .output()
        .expect("run attn client auction");
    assert!(!output.status.success());
}
