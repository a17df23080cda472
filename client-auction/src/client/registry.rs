//! The bidder registry: who the client asks for bids, where, and with which key
//! their bids must be signed. Read from TOML:
//!
//! ```toml
//! [[bidder]]
//! name = "acme"
//! endpoint = "http://127.0.0.1:50051"
//! advertiser = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
//! ```
//!
//! Connections are made lazily, on the first call, and kept: every auction reuses
//! one HTTP/2 connection per bidder.

use std::path::Path;
use std::time::Duration;

use attn_proto::v1::bidder_client::BidderClient;
use attn_receipts::PublicKey;
use attn_receipts::limits::{BIDS_PER_AUCTION_MAX, MESSAGE_MAX_BYTES};
use tonic::transport::{Channel, Endpoint};

use super::error::{Error, Result};

/// Most bidders in one registry: each can send one bid, and an auction considers at
/// most `limits::BIDS_PER_AUCTION_MAX` bids.
pub const REGISTRY_BIDDERS_MAX: usize = BIDS_PER_AUCTION_MAX;
/// Most bytes of a registry file.
pub const REGISTRY_FILE_MAX_BYTES: u64 = 1024 * 1024;
/// Most bytes of a bidder's name.
pub const BIDDER_NAME_MAX_BYTES: usize = 64;
/// How long to wait for a TCP (and TLS) connection to a bidder.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// One registry entry as written in the file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BidderEntry {
    /// A name for diagnostics.
    pub name: String,
    /// The gRPC endpoint, `http://host:port`.
    pub endpoint: String,
    /// The advertiser's public key, hex: bids must be signed by it.
    pub advertiser: String,
}

impl BidderEntry {
    /// The registry line a client needs to reach a bidder.
    pub fn to_toml(&self) -> String {
        format!(
            "[[bidder]]\nname = {:?}\nendpoint = {:?}\nadvertiser = {:?}\n",
            self.name, self.endpoint, self.advertiser
        )
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    bidder: Vec<BidderEntry>,
}

/// A bidder the client can reach.
#[derive(Clone, Debug)]
pub struct RegisteredBidder {
    /// The name from the registry.
    pub name: String,
    /// The endpoint.
    pub endpoint: String,
    /// The key its bids must be signed by.
    pub advertiser: PublicKey,
    pub(crate) client: BidderClient<Channel>,
}

/// The bidders a client asks. Cheap to share (`Arc<Registry>`) among the clients of
/// several personas: they then share the connections too.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    bidders: Vec<RegisteredBidder>,
}

impl Registry {
    /// A registry of `entries`. Must be called inside a Tokio runtime (connections
    /// are lazy, but their background tasks need one).
    pub fn new(entries: Vec<BidderEntry>) -> Result<Self> {
        if entries.len() > REGISTRY_BIDDERS_MAX {
            return Err(Error::Registry(format!(
                "{} bidders, at most {REGISTRY_BIDDERS_MAX}",
                entries.len()
            )));
        }
        let mut bidders: Vec<RegisteredBidder> = Vec::with_capacity(entries.len());
        for entry in entries {
            if entry.name.is_empty() || entry.name.len() > BIDDER_NAME_MAX_BYTES {
                return Err(Error::Registry(format!(
                    "bidder name {:?} must be 1 to {BIDDER_NAME_MAX_BYTES} bytes",
                    entry.name
                )));
            }
            if bidders.iter().any(|b| b.name == entry.name) {
                return Err(Error::Registry(format!(
                    "bidder {:?} appears twice",
                    entry.name
                )));
            }
            let advertiser = PublicKey::from_hex(&entry.advertiser).map_err(|error| {
                Error::Registry(format!("bidder {:?}: advertiser key: {error}", entry.name))
            })?;
            let channel = Endpoint::from_shared(entry.endpoint.clone())
                .map_err(|error| {
                    Error::Registry(format!("bidder {:?}: endpoint: {error}", entry.name))
                })?
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true)
                .connect_lazy();
            let client = BidderClient::new(channel)
                .max_decoding_message_size(MESSAGE_MAX_BYTES)
                .max_encoding_message_size(MESSAGE_MAX_BYTES);
            bidders.push(RegisteredBidder {
                name: entry.name,
                endpoint: entry.endpoint,
                advertiser,
                client,
            });
        }
        Ok(Self { bidders })
    }

    /// Parses a registry from TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        let file: RegistryFile =
            toml::from_str(text).map_err(|error| Error::Registry(error.to_string()))?;
        Self::new(file.bidder)
    }

    /// Reads a registry file (at most [`REGISTRY_FILE_MAX_BYTES`]).
    pub fn load(path: &Path) -> Result<Self> {
        let size = std::fs::metadata(path)
            .map_err(|error| Error::Registry(format!("{}: {error}", path.display())))?
            .len();
        if size > REGISTRY_FILE_MAX_BYTES {
            return Err(Error::Registry(format!(
                "{}: {size} bytes, at most {REGISTRY_FILE_MAX_BYTES}",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|error| Error::Registry(format!("{}: {error}", path.display())))?;
        Self::from_toml(&text)
    }

    /// The bidders, in registry order.
    pub fn bidders(&self) -> &[RegisteredBidder] {
        &self.bidders
    }

    /// Number of bidders.
    pub fn len(&self) -> usize {
        self.bidders.len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.bidders.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";

    #[tokio::test]
    async fn a_registry_reads_its_toml_and_refuses_bad_entries() {
        let text = format!(
            "[[bidder]]\nname = \"a\"\nendpoint = \"http://127.0.0.1:1\"\nadvertiser = \"{KEY}\"\n"
        );
        let registry = Registry::from_toml(&text).expect("valid");
        assert_eq!(registry.len(), 1);
        assert_eq!(registry.bidders()[0].name, "a");
        let twice = format!("{text}{text}");
        assert!(matches!(
            Registry::from_toml(&twice),
            Err(Error::Registry(_))
        ));
        let bad_key = text.replace(KEY, "00");
        assert!(matches!(
            Registry::from_toml(&bad_key),
            Err(Error::Registry(_))
        ));
        let unknown_field = format!("{text}color = \"red\"\n");
        assert!(Registry::from_toml(&unknown_field).is_err());
    }

    #[tokio::test]
    async fn a_registry_over_its_bound_is_refused() {
        let entries = (0..=REGISTRY_BIDDERS_MAX)
            .map(|i| BidderEntry {
                name: format!("b{i}"),
                endpoint: "http://127.0.0.1:1".into(),
                advertiser: KEY.into(),
            })
            .collect();
        assert!(matches!(Registry::new(entries), Err(Error::Registry(_))));
    }

    #[test]
    fn an_entry_prints_as_a_registry_line_that_parses_back() {
        let entry = BidderEntry {
            name: "acme".into(),
            endpoint: "http://127.0.0.1:5".into(),
            advertiser: KEY.into(),
        };
        let file: RegistryFile = toml::from_str(&entry.to_toml()).expect("parses");
        assert_eq!(file.bidder, vec![entry]);
    }
}
