//! Helpers shared by the client runtime's integration tests.

#![allow(dead_code)] // each test file uses part of it

use std::net::SocketAddr;

use attn_client_auction::client::BidderEntry;
use attn_receipts::{AdvertiserKey, Currency, Slot};

/// US dollars.
pub fn usd() -> Currency {
    Currency::new("USD").expect("currency")
}

/// A banner slot at `rank` with click weight `weight` (ppm), no floor.
pub fn slot(id: &str, rank: u32, weight: u32) -> Slot {
    Slot {
        slot_id: id.into(),
        format: "banner".into(),
        width: 0,
        height: 0,
        rank,
        click_weight_ppm: weight,
        floor: None,
    }
}

/// The one slot of a single-slot page: "top", full weight.
pub fn top_slot() -> Slot {
    slot("top", 0, 1_000_000)
}

/// A registry entry for a bidder on plain `http://` at `address`.
pub fn entry(name: &str, address: SocketAddr, key: &AdvertiserKey) -> BidderEntry {
    BidderEntry {
        name: name.into(),
        endpoint: format!("http://{address}"),
        advertiser: key.public_key().to_hex(),
    }
}
