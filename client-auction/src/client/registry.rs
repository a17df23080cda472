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
//!
//! # TLS
//! An `https://` endpoint is reached over TLS (tonic's rustls client, with ring),
//! trusting the system's root certificates. An entry may say so explicitly and name
//! its own CA and the name the bidder's certificate is for:
//!
//! ```toml
//! [[bidder]]
//! name = "acme"
//! endpoint = "https://10.0.0.7:50051"
//! advertiser = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
//! tls = true                        # implied by https://; an error with http://
//! ca_certificate = "acme-ca.pem"    # PEM; relative to the registry file's folder
//! server_name = "bidder.acme.example"
//! ```
//!
//! A `ca_certificate` replaces the system's roots for that bidder (a private CA, or
//! a self-signed certificate). A `server_name` is checked against the certificate
//! instead of the endpoint's host. The CA file is read when the registry is built, so
//! a missing or malformed one is a [`Error::Registry`] naming the bidder; a bidder
//! whose certificate does not verify is dropped from each auction as
//! [`super::DropReason::Tls`], with the TLS library's reason.

use std::path::{Path, PathBuf};
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
/// Most bytes of a registry entry's `ca_certificate` file (a PEM bundle).
pub const CA_CERTIFICATE_MAX_BYTES: u64 = 256 * 1024;
/// Most bytes of a registry entry's `server_name` (a DNS name).
pub const SERVER_NAME_MAX_BYTES: usize = 253;

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

/// How a client reaches a bidder over TLS (see the module's "TLS").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsEntry {
    /// A PEM file of the CA certificates the bidder's certificate must chain to,
    /// instead of the system's roots (at most [`CA_CERTIFICATE_MAX_BYTES`]).
    pub ca_certificate: Option<PathBuf>,
    /// The name the bidder's certificate must be valid for, when it is not the
    /// endpoint's host (at most [`SERVER_NAME_MAX_BYTES`]).
    pub server_name: Option<String>,
}

/// One `[[bidder]]` row of a registry file: the entry and its TLS settings.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    name: String,
    endpoint: String,
    advertiser: String,
    tls: Option<bool>,
    ca_certificate: Option<PathBuf>,
    server_name: Option<String>,
}

impl FileEntry {
    /// The entry and its TLS settings; relative CA paths are taken from `folder`.
    fn split(self, folder: Option<&Path>) -> Result<(BidderEntry, Option<TlsEntry>)> {
        let named = self.ca_certificate.is_some() || self.server_name.is_some();
        let tls = match self.tls {
            Some(false) if named => {
                return Err(Error::Registry(format!(
                    "bidder {:?}: ca_certificate and server_name need tls = true",
                    self.name
                )));
            }
            Some(false) if is_https(&self.endpoint) => {
                return Err(Error::Registry(format!(
                    "bidder {:?}: tls = false with an https:// endpoint",
                    self.name
                )));
            }
            Some(false) => None,
            None if !named => None,
            Some(true) | None => Some(TlsEntry {
                ca_certificate: self.ca_certificate.map(|path| match folder {
                    Some(folder) if path.is_relative() => folder.join(path),
                    _ => path,
                }),
                server_name: self.server_name,
            }),
        };
        let entry = BidderEntry {
            name: self.name,
            endpoint: self.endpoint,
            advertiser: self.advertiser,
        };
        Ok((entry, tls))
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    bidder: Vec<FileEntry>,
}

fn is_https(endpoint: &str) -> bool {
    endpoint
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The endpoint of `entry`, over TLS when its scheme is `https://` or `tls` is
/// given (then it must be).
fn endpoint_of(entry: &BidderEntry, tls: Option<&TlsEntry>) -> Result<Endpoint> {
    let bad = |what: String| Error::Registry(format!("bidder {:?}: {what}", entry.name));
    let endpoint = Endpoint::from_shared(entry.endpoint.clone())
        .map_err(|error| bad(format!("endpoint: {error}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    if !is_https(&entry.endpoint) {
        return match tls {
            None => Ok(endpoint),
            Some(_) => Err(bad(format!(
                "TLS needs an https:// endpoint, not {:?}",
                entry.endpoint
            ))),
        };
    }
    tls_endpoint(endpoint, tls.cloned().unwrap_or_default()).map_err(bad)
}

#[cfg(feature = "tls")]
fn tls_endpoint(endpoint: Endpoint, tls: TlsEntry) -> std::result::Result<Endpoint, String> {
    use tonic::transport::{Certificate, ClientTlsConfig};
    let mut config = ClientTlsConfig::new();
    config = match &tls.ca_certificate {
        Some(path) => {
            let shown = path.display();
            let size = std::fs::metadata(path)
                .map_err(|error| format!("ca_certificate {shown}: {error}"))?
                .len();
            if size > CA_CERTIFICATE_MAX_BYTES {
                return Err(format!(
                    "ca_certificate {shown}: {size} bytes, at most {CA_CERTIFICATE_MAX_BYTES}"
                ));
            }
            let pem =
                std::fs::read(path).map_err(|error| format!("ca_certificate {shown}: {error}"))?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(format!(
                    "ca_certificate {shown}: no PEM certificate (-----BEGIN CERTIFICATE-----)"
                ));
            }
            config.ca_certificate(Certificate::from_pem(pem))
        }
        None => config.with_native_roots(),
    };
    if let Some(name) = &tls.server_name {
        if name.is_empty() || name.len() > SERVER_NAME_MAX_BYTES {
            return Err(format!(
                "server_name must be 1 to {SERVER_NAME_MAX_BYTES} bytes"
            ));
        }
        config = config.domain_name(name.clone());
    }
    endpoint
        .tls_config(config)
        .map_err(|error| format!("TLS: {}", error_chain(&error)))
}

#[cfg(not(feature = "tls"))]
fn tls_endpoint(_: Endpoint, _: TlsEntry) -> std::result::Result<Endpoint, String> {
    Err("an https:// endpoint, and this client was built without the `tls` feature".into())
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
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
    /// Whether it is reached over TLS.
    pub tls: bool,
    pub(crate) client: BidderClient<Channel>,
}

/// The bidders a client asks. Cheap to share (`Arc<Registry>`) among the clients of
/// several personas: they then share the connections too.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    bidders: Vec<RegisteredBidder>,
}

impl Registry {
    /// A registry of `entries` (`https://` endpoints over TLS with the system's
    /// roots). Must be called inside a Tokio runtime (connections are lazy, but their
    /// background tasks need one).
    pub fn new(entries: Vec<BidderEntry>) -> Result<Self> {
        Self::with_tls(entries.into_iter().map(|entry| (entry, None)).collect())
    }

    /// A registry of `entries`, each with its TLS settings (`None`: plain for
    /// `http://`, the system's roots for `https://`). Must be called inside a Tokio
    /// runtime.
    pub fn with_tls(entries: Vec<(BidderEntry, Option<TlsEntry>)>) -> Result<Self> {
        if entries.len() > REGISTRY_BIDDERS_MAX {
            return Err(Error::Registry(format!(
                "{} bidders, at most {REGISTRY_BIDDERS_MAX}",
                entries.len()
            )));
        }
        let mut bidders: Vec<RegisteredBidder> = Vec::with_capacity(entries.len());
        for (entry, tls) in entries {
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
            let channel = endpoint_of(&entry, tls.as_ref())?.connect_lazy();
            let tls = is_https(&entry.endpoint);
            let client = BidderClient::new(channel)
                .max_decoding_message_size(MESSAGE_MAX_BYTES)
                .max_encoding_message_size(MESSAGE_MAX_BYTES);
            bidders.push(RegisteredBidder {
                name: entry.name,
                endpoint: entry.endpoint,
                advertiser,
                tls,
                client,
            });
        }
        Ok(Self { bidders })
    }

    /// Parses a registry from TOML text (relative `ca_certificate` paths are taken
    /// from the current directory).
    pub fn from_toml(text: &str) -> Result<Self> {
        Self::parse(text, None)
    }

    fn parse(text: &str, folder: Option<&Path>) -> Result<Self> {
        let file: RegistryFile =
            toml::from_str(text).map_err(|error| Error::Registry(error.to_string()))?;
        if file.bidder.len() > REGISTRY_BIDDERS_MAX {
            return Err(Error::Registry(format!(
                "{} bidders, at most {REGISTRY_BIDDERS_MAX}",
                file.bidder.len()
            )));
        }
        let entries = file
            .bidder
            .into_iter()
            .map(|entry| entry.split(folder))
            .collect::<Result<Vec<_>>>()?;
        Self::with_tls(entries)
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
        Self::parse(&text, path.parent())
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

    fn registry_error(text: &str) -> String {
        match Registry::from_toml(text) {
            Err(Error::Registry(why)) => why,
            other => panic!("expected a registry error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn tls_settings_are_checked_when_the_registry_is_built() {
        let folder = tempfile::tempdir().expect("folder");
        let row = |endpoint: &str, extra: &str| {
            format!(
                "[[bidder]]\nname = \"a\"\nendpoint = \"{endpoint}\"\nadvertiser = \"{KEY}\"\n{extra}"
            )
        };
        assert!(registry_error(&row("http://127.0.0.1:1", "tls = true\n")).contains("https://"));
        assert!(
            registry_error(&row("https://127.0.0.1:1", "tls = false\n")).contains("tls = false")
        );
        assert!(
            registry_error(&row(
                "https://127.0.0.1:1",
                "tls = false\nserver_name = \"x\"\n"
            ))
            .contains("need tls = true")
        );
        let missing = folder.path().join("missing.pem");
        let why = registry_error(&row(
            "https://127.0.0.1:1",
            &format!("ca_certificate = {:?}\n", missing.display().to_string()),
        ));
        assert!(why.contains("missing.pem"), "{why}");

        let not_pem = folder.path().join("not.pem");
        std::fs::write(&not_pem, "hello").expect("write");
        let why = registry_error(&row(
            "https://127.0.0.1:1",
            &format!("ca_certificate = {:?}\n", not_pem.display().to_string()),
        ));
        assert!(why.contains("no PEM certificate"), "{why}");

        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let huge = folder.path().join("huge.pem");
        let mut text = certified.cert.pem();
        while (text.len() as u64) <= CA_CERTIFICATE_MAX_BYTES {
            text.push_str(&certified.cert.pem());
        }
        std::fs::write(&huge, text).expect("write");
        let why = registry_error(&row(
            "https://127.0.0.1:1",
            &format!("ca_certificate = {:?}\n", huge.display().to_string()),
        ));
        assert!(why.contains("at most"), "{why}");

        let ca = folder.path().join("ca.pem");
        std::fs::write(&ca, certified.cert.pem()).expect("write");
        let with_ca = format!("ca_certificate = {:?}\n", ca.display().to_string());
        let too_long = "a".repeat(SERVER_NAME_MAX_BYTES + 1);
        let why = registry_error(&row(
            "https://127.0.0.1:1",
            &format!("{with_ca}server_name = \"{too_long}\"\n"),
        ));
        assert!(why.contains("server_name"), "{why}");

        let registry =
            Registry::from_toml(&row("https://127.0.0.1:1", &with_ca)).expect("valid TLS entry");
        assert!(registry.bidders()[0].tls);
        let plain = Registry::from_toml(&row("http://127.0.0.1:1", "")).expect("plain entry");
        assert!(!plain.bidders()[0].tls);
    }

    #[test]
    fn an_entry_prints_as_a_registry_line_that_parses_back() {
        let entry = BidderEntry {
            name: "acme".into(),
            endpoint: "http://127.0.0.1:5".into(),
            advertiser: KEY.into(),
        };
        let file: RegistryFile = toml::from_str(&entry.to_toml()).expect("parses");
        let parsed: Vec<_> = file
            .bidder
            .into_iter()
            .map(|row| row.split(None).expect("valid"))
            .collect();
        assert_eq!(parsed, vec![(entry, None)]);
    }
}
