//! The Prometheus endpoint: a bidder serving metrics answers `GET /metrics` with the
//! counters and the latency histogram of the requests it saw. Its own test binary:
//! the recorder is process-wide.

use std::net::SocketAddr;

use attn_bidder_sdk::{BidContext, BidDecision, Bidder, Options, serve};
use attn_proto::v1::bidder_client::BidderClient;
use attn_receipts::{
    AdvertiserKey, BidRequest, Currency, Mechanism, Money, PersonaKey, RequestId, Signed, Slot,
};
use rand::rngs::OsRng;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

struct Never;

impl Bidder for Never {
    async fn bid(&self, _context: &BidContext) -> Option<BidDecision> {
        None
    }
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

async fn scrape(address: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("read");
    body
}

#[tokio::test]
async fn requests_no_bids_and_latency_are_exported_for_prometheus() {
    let metrics = free_port();
    let key = AdvertiserKey::generate(&mut OsRng);
    let advertiser = key.public_key().to_hex();
    let running = serve(
        Never,
        Options::new(key, Money::parse("USD", "1").expect("budget")).metrics(metrics),
    )
    .await
    .expect("serves");
    let mut client = BidderClient::connect(format!("http://{}", running.local_addr()))
        .await
        .expect("connects");
    let persona = PersonaKey::generate(&mut OsRng);
    for _ in 0..3 {
        let request = BidRequest {
            request_id: RequestId::random(&mut OsRng),
            persona: persona.public_key(),
            slots: vec![Slot {
                slot_id: "top".into(),
                format: "banner".into(),
                width: 0,
                height: 0,
                rank: 0,
                click_weight_ppm: 1_000_000,
                floor: None,
            }],
            context_tags: Vec::new(),
            mechanism: Mechanism::Gsp,
            currency: Currency::new("USD").expect("usd"),
            tmax_ms: 100,
            reputation_ref: None,
            reputation_proof: None,
            created_at_ms: attn_bidder_sdk::now_ms(),
            floor: None,
        };
        let answer = client
            .bid(Signed::sign(&persona, &request).to_wire())
            .await
            .expect("answers");
        assert!(answer.into_inner().bid.is_none());
    }
    let text = scrape(metrics).await;
    let label = format!("advertiser=\"{}\"", &advertiser[..16]);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(&label))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .to_string()
    };
    assert!(line("attn_bidder_requests_total").ends_with(" 3"));
    let no_bids = line("attn_bidder_no_bids_total");
    assert!(
        no_bids.contains("reason=\"declined\"") && no_bids.ends_with(" 3"),
        "{no_bids}"
    );
    assert!(line("attn_bidder_bid_latency_seconds").contains("attn_bidder_bid_latency_seconds"));
    running.shutdown().await.expect("stops");
}
