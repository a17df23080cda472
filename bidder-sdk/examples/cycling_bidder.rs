//! A complete bidder: bids 0.003 per unit of attention on pages about cycling, 0.001
//! elsewhere, with a daily budget of 50 USD. The SDK verifies requests, signs bids,
//! verifies and pays impressions, and keeps the budget.
//!
//! `cargo run -p attn-bidder-sdk --example cycling_bidder -- 127.0.0.1:50051`

use attn_bidder_sdk::{BidContext, BidDecision, Bidder, Options, serve};
use attn_receipts::{AdvertiserKey, Creative, Digest32, Money};

struct Cycling;

impl Bidder for Cycling {
    async fn bid(&self, context: &BidContext) -> Option<BidDecision> {
        let price = if context.has_tag("topic:cycling") {
            "0.003"
        } else {
            "0.001"
        };
        Some(BidDecision {
            price: Money::parse(context.request.currency.as_str(), price).ok()?,
            slot_ids: Vec::new(), // any slot of the page
            creative: Creative {
                creative_id: "spring-sale".into(),
                categories: vec!["sports".into()],
                content_hash: Digest32::of(&[b"spring-sale banner bytes"]),
                url: Some("https://bikes.example/spring".into()),
            },
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args().nth(1).unwrap_or("127.0.0.1:50051".into());
    let key = AdvertiserKey::generate(&mut rand::rngs::OsRng);
    let options = Options::new(key.clone(), Money::parse("USD", "50")?).listen(listen.parse()?);
    let running = serve(Cycling, options).await?;
    println!(
        "[[bidder]]\nname = \"cycling\"\nendpoint = \"http://{}\"\nadvertiser = \"{}\"",
        running.local_addr(),
        key.public_key().to_hex()
    );
    tokio::signal::ctrl_c().await?;
    running.shutdown().await?;
    Ok(())
}
