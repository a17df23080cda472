//! `attn receipts list`, `attn proof build`, `attn proof verify --trust` and
//! `attn proof trust`, end to end on the binary: a persona's receipts from a trusted
//! shop, a self-dealing key and a health advertiser; the proof withholds the health
//! receipt; the trust file decides what each issuer is worth; a tampered proof file
//! is refused.

mod common;

use common::stdout;
use std::path::Path;
use std::process::Output;

use attn_client_auction::client::ReceiptsFile;
use attn_receipts::issuance::{ReceiptDraft, issue_receipt};
use attn_receipts::keystore;
use attn_receipts::{AdvertiserKey, PublicKey, ReceiptKind};
use rand::rngs::OsRng;

const PASSPHRASE: &str = "proof test";

fn attn(home: &Path, args: &[&str]) -> Output {
    common::attn_as(home, PASSPHRASE, args)
}

fn key_after(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        .trim()
        .to_string()
}

/// A new advertiser key file, and the key itself (read back as a bidder would).
fn advertiser(home: &Path, name: &str) -> AdvertiserKey {
    let path = home.join(name);
    let path_text = path.to_str().expect("utf-8 path");
    stdout(&attn(
        home,
        &["keys", "new", "--kind", "advertiser", "--out", path_text],
    ));
    let bytes = std::fs::read(&path).expect("key file");
    let (_, secret) = keystore::open(&bytes, PASSPHRASE.as_bytes()).expect("opens");
    AdvertiserKey::from_secret_bytes(&secret)
}

fn verify_json(home: &Path, proof: &str, trust: &Path) -> serde_json::Value {
    let text = stdout(&attn(
        home,
        &[
            "proof",
            "verify",
            proof,
            "--trust",
            trust.to_str().expect("utf-8"),
            "--json",
        ],
    ));
    serde_json::from_str(&text).expect("json")
}

fn weight_of(view: &serde_json::Value, issuer: &PublicKey) -> f64 {
    view["issuers"]
        .as_array()
        .expect("issuers")
        .iter()
        .find(|entry| entry["issuer"] == issuer.to_hex())
        .and_then(|entry| entry["weight"].as_f64())
        .expect("issuer disclosed with a weight")
}

#[test]
fn receipts_become_a_proof_that_a_verifier_weighs_by_its_trust() {
    let home = tempfile::tempdir().expect("temp dir");
    let home = home.path();
    let created = stdout(&attn(home, &["keys", "new"]));
    let persona = PublicKey::from_hex(&key_after(&created, "persona 0:")).expect("persona");
    let shop = advertiser(home, "shop.key");
    let sybil = advertiser(home, "sybil.key");
    let clinic = advertiser(home, "clinic.key");

    // What the client pulled: receipts with their openings.
    let now_ms = attn_bidder_sdk::now_ms();
    let issue = |by: &AdvertiserKey, kind, value_atomic, categories: &[&str]| {
        let draft = ReceiptDraft::new(persona, kind, value_atomic, now_ms - 60_000)
            .with_categories(categories.iter().copied());
        issue_receipt(by, draft, &mut OsRng).expect("receipt")
    };
    let receipts = vec![
        issue(&shop, ReceiptKind::View, 40, &["sports"]),
        issue(&shop, ReceiptKind::Conversion, 2_000, &["sports"]),
        issue(&sybil, ReceiptKind::Conversion, 9_000_000, &[]),
        issue(&clinic, ReceiptKind::Conversion, 500, &["health"]),
    ];
    let store = ReceiptsFile::open(&home.join("receipts.txt")).expect("store");
    assert_eq!(store.add(&receipts).expect("stored"), 4);

    let listed = stdout(&attn(home, &["receipts", "list"]));
    assert!(listed.contains("4 receipts"), "{listed}");
    assert!(listed.contains("withheld"), "{listed}");
    assert!(listed.contains("2000"), "{listed}");

    let proof = home.join("proof.bin");
    let proof_text = proof.to_str().expect("utf-8");
    let built = stdout(&attn(home, &["proof", "build", "--out", proof_text]));
    assert!(built.contains("3 disclosed, 1 withheld"), "{built}");
    assert!(built.contains("issuers: 2"), "{built}");
    // Written once; not overwritten without --force.
    assert!(
        !attn(home, &["proof", "build", "--out", proof_text])
            .status
            .success()
    );

    // A verifier that trusts only the shop.
    let trust = home.join("seeds.toml");
    std::fs::write(&trust, format!("seeds = [\"{}\"]\n", shop.public_key())).expect("trust");
    let view = verify_json(home, proof_text, &trust);
    assert_eq!(view["persona"], persona.to_hex());
    assert_eq!(view["issuers"].as_array().map(Vec::len), Some(2));
    assert_eq!(view["counts"]["conversions"], 2);
    assert_eq!(weight_of(&view, &shop.public_key()), 1.0);
    assert_eq!(weight_of(&view, &sybil.public_key()), 0.0);
    // 2,040 reaches 10^3: bracket 4, the whole score; the self-dealer adds nothing.
    assert_eq!(view["score"].as_f64(), Some(4.0));
    let clinic_hex = clinic.public_key().to_hex();
    assert!(
        !view.to_string().contains(&clinic_hex),
        "health is withheld"
    );

    // The shop vouches for the other key: now it weighs something.
    let statement = stdout(&attn(
        home,
        &[
            "proof",
            "trust",
            "--key",
            home.join("shop.key").to_str().expect("utf-8"),
            "--trustee",
            &sybil.public_key().to_hex(),
        ],
    ));
    std::fs::write(
        &trust,
        format!(
            "seeds = [\"{}\"]\nstatements = [\"{}\"]\n",
            shop.public_key(),
            statement.trim()
        ),
    )
    .expect("trust");
    let view = verify_json(home, proof_text, &trust);
    assert!(weight_of(&view, &sybil.public_key()) > 0.0);
    assert!(view["score"].as_f64().expect("score") > 4.0);

    // The text view names every issuer and the score.
    let text = stdout(&attn(
        home,
        &[
            "proof",
            "verify",
            proof_text,
            "--trust",
            trust.to_str().expect("utf-8"),
        ],
    ));
    assert!(text.contains(&shop.public_key().to_hex()), "{text}");
    assert!(text.contains("score:"), "{text}");

    // Any changed byte and the proof is refused.
    let mut bytes = std::fs::read(&proof).expect("proof");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered = home.join("tampered.bin");
    std::fs::write(&tampered, &bytes).expect("write");
    let refused = attn(
        home,
        &["proof", "verify", tampered.to_str().expect("utf-8")],
    );
    assert!(!refused.status.success());

    // A proof shown as another persona's is refused.
    let refused = attn(
        home,
        &[
            "proof",
            "verify",
            proof_text,
            "--persona",
            &shop.public_key().to_hex(),
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not"));
}
