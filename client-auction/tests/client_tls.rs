//! The client reaches a bidder over TLS: an SDK bidder serving gRPC over rustls with
//! a self-signed certificate (rcgen), a registry file that says `tls = true` and names
//! the certificate as its CA (relative to the file) and the name it is for. An
//! auction, an impression and a receipts pull succeed; a registry trusting another
//! CA, or expecting another name, gets the bidder dropped with the TLS reason.

mod common;

use common::top_slot as slot;
use std::path::Path;
use std::sync::Arc;

use attn_bidder_sdk::{BidContext, BidDecision, Options, Running, serve};
use attn_client_auction::client::{
    BidderStatus, Client, ClientConfig, DropReason, MemoryWallet, Registry,
};
use attn_client_auction::preferences::Preferences;
use attn_receipts::{AdvertiserKey, Creative, Currency, Digest32, Mechanism, Money, PersonaKey};
use rand::rngs::OsRng;

struct FixedPrice;

impl attn_bidder_sdk::Bidder for FixedPrice {
    async fn bid(&self, context: &BidContext) -> Option<BidDecision> {
        Some(BidDecision {
            price: Money::from_atomic(context.request.currency, 5_000_000, context.scale).ok()?,
            slot_ids: vec![],
            creative: Creative {
                creative_id: "tls-ad".into(),
                categories: vec!["sports".into()],
                content_hash: Digest32::of(&[b"tls-ad"]),
                url: None,
            },
        })
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("certificate");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

async fn tls_bidder(certificate: &str, key: &str) -> (Running, AdvertiserKey) {
    let advertiser = AdvertiserKey::generate(&mut OsRng);
    let options = Options::new(
        advertiser.clone(),
        Money::parse("USD", "100").expect("budget"),
    )
    .tls_pem(certificate.as_bytes(), key.as_bytes());
    (
        serve(FixedPrice, options).await.expect("serves"),
        advertiser,
    )
}

/// Writes `ca.pem` and `registry.toml` (naming it relatively) into `folder`.
fn registry_file(
    folder: &Path,
    running: &Running,
    advertiser: &AdvertiserKey,
    ca_pem: &str,
    server_name: &str,
) -> Registry {
    std::fs::write(folder.join("ca.pem"), ca_pem).expect("ca");
    let text = format!(
        "[[bidder]]\nname = \"secure\"\nendpoint = \"https://127.0.0.1:{}\"\nadvertiser = \"{}\"\n\
         tls = true\nca_certificate = \"ca.pem\"\nserver_name = \"{server_name}\"\n",
        running.local_addr().port(),
        advertiser.public_key().to_hex()
    );
    let path = folder.join("registry.toml");
    std::fs::write(&path, text).expect("registry");
    Registry::load(&path).expect("registry loads")
}

fn client(registry: Registry) -> Client {
    let mut config = ClientConfig::new(Currency::new("USD").expect("currency"));
    config.tmax_ms = 1_500;
    config.mechanism = Mechanism::FirstPrice;
    Client::new(
        PersonaKey::generate(&mut OsRng),
        Arc::new(registry),
        Preferences::default(),
        config,
        Arc::new(MemoryWallet::new()),
    )
    .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auction_over_tls_with_the_bidders_ca_succeeds() {
    let (certificate, key) = self_signed();
    let (running, advertiser) = tls_bidder(&certificate, &key).await;
    let folder = tempfile::tempdir().expect("folder");
    let registry = registry_file(
        folder.path(),
        &running,
        &advertiser,
        &certificate,
        "localhost",
    );
    assert!(registry.bidders()[0].tls);
    let client = client(registry);

    let outcome = client.run_auction(&[slot()]).await.expect("auction");
    assert!(
        matches!(
            &outcome.diagnostics[0].status,
            BidderStatus::Bid { won: Some(_), .. }
        ),
        "{:?}",
        outcome.diagnostics
    );
    let report = client.show(&outcome).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.delivered.len(), 1);
    let receipts = client.pull_receipts(0, 0).await.expect("pull over TLS");
    assert_eq!(receipts.len(), 1, "the view receipt of the impression");
    running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_ca_or_another_name_drops_the_bidder_with_the_tls_reason() {
    let (certificate, key) = self_signed();
    let (running, advertiser) = tls_bidder(&certificate, &key).await;
    let (stranger, _) = self_signed();
    for (ca, name, expected) in [
        (&stranger, "localhost", "certificate"),
        (&certificate, "bidder.example", "certificate"),
    ] {
        let folder = tempfile::tempdir().expect("folder");
        let client = client(registry_file(
            folder.path(),
            &running,
            &advertiser,
            ca,
            name,
        ));
        let outcome = client.run_auction(&[slot()]).await.expect("auction");
        assert!(outcome.wins.is_empty());
        match &outcome.diagnostics[0].status {
            BidderStatus::Dropped(DropReason::Tls(reason)) => {
                assert!(reason.contains(expected), "{reason}");
                let name = DropReason::Tls(reason.clone()).name();
                assert!(name.starts_with("tls ("), "{name}");
            }
            other => panic!("expected a TLS drop for CA/name {name}, got {other:?}"),
        }
        let pulled = client.pull_receipts(0, 0).await;
        assert!(pulled.is_err(), "a pull must fail too");
    }
    running.shutdown().await.expect("shutdown");
}
