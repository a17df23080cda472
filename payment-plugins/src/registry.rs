//! Rails chosen by name: `rail = "channel:ledger"` in a config, [`open_rail`] in code,
//! so the SDK, the client and the simulator never name a concrete rail.
//!
//! Grammar ([`RailSpec`]):
//! - `sandbox`: in memory;
//! - `ledger` or `ledger:URL`: the custodial rail over a settlement ledger at `URL`
//!   (`sqlite://PATH`, `sqlite::memory:`, `postgres://…`), default
//!   [`RailOptions::ledger_url`], or [`RailOptions::ledger`] when given;
//! - `channel:BASE`: payment channels over the rail `BASE` (any spec but a channel);
//! - `external:URL`: a rail in another process serving the gRPC `PaymentRail`
//!   service at `URL` (`http://127.0.0.1:7000`).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use attn_receipts::{Currency, Money};
use attn_settlement::LedgerBackend;

use crate::channel::store::ChannelStore;
use crate::channel::{ChannelConfig, ChannelRail, Channels};
use crate::error::{Error, Result};
use crate::external::{ExternalConfig, ExternalRail};
use crate::ledger::{LedgerRail, LedgerRailConfig};
use crate::rail::{AccountName, PaymentRail, RAIL_ID_MAX_BYTES, RailCurrency};
use crate::sandbox::{SandboxConfig, SandboxRail, SandboxStore};

/// The known rails and their syntax, as listed in errors.
pub const KNOWN_RAILS: &str = "sandbox | ledger[:URL] | channel:<sandbox|ledger[:URL]|external:URL> | external:http://HOST:PORT";
/// Most bytes of a spec.
pub const SPEC_MAX_BYTES: usize = 512;

/// A parsed rail specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RailSpec {
    /// `sandbox`.
    Sandbox,
    /// `ledger` or `ledger:URL`.
    Ledger {
        /// The ledger URL, when the spec names one.
        url: Option<String>,
    },
    /// `channel:BASE`.
    Channel(Box<RailSpec>),
    /// `external:URL`.
    External {
        /// The remote rail's URL.
        url: String,
    },
}

fn bad_spec(spec: &str, reason: impl Into<String>) -> Error {
    Error::InvalidSpec {
        spec: spec.chars().take(80).collect(),
        reason: reason.into(),
        known: KNOWN_RAILS,
    }
}

impl std::str::FromStr for RailSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self> {
        if spec.len() > SPEC_MAX_BYTES {
            return Err(bad_spec(
                spec,
                format!("longer than {SPEC_MAX_BYTES} bytes"),
            ));
        }
        let (name, rest) = match spec.split_once(':') {
            Some((name, rest)) => (name, Some(rest)),
            None => (spec, None),
        };
        match (name, rest) {
            ("sandbox", None) => Ok(Self::Sandbox),
            ("ledger", None) => Ok(Self::Ledger { url: None }),
            ("ledger", Some(url)) if !url.is_empty() => Ok(Self::Ledger {
                url: Some(url.to_string()),
            }),
            ("channel", Some(base)) => match base.parse::<Self>() {
                Ok(Self::Channel(_)) => Err(bad_spec(spec, "a channel cannot run over a channel")),
                Ok(base) => Ok(Self::Channel(Box::new(base))),
                Err(Error::InvalidSpec { reason, .. }) => {
                    Err(bad_spec(spec, format!("base rail: {reason}")))
                }
                Err(other) => Err(other),
            },
            ("external", Some(url))
                if url.starts_with("http://") || url.starts_with("https://") =>
            {
                Ok(Self::External {
                    url: url.to_string(),
                })
            }
            ("external", _) => Err(bad_spec(spec, "external needs an http:// or https:// URL")),
            ("channel", None) => Err(bad_spec(
                spec,
                "channel needs a base rail, e.g. channel:ledger",
            )),
            _ => Err(bad_spec(spec, format!("no rail named {name:?}"))),
        }
    }
}

/// What the rails need besides their spec. [`RailOptions::default`] is a USD rail
/// of micro-dollars with an `issuer` account, a ledger in memory, channels in memory.
#[derive(Clone)]
pub struct RailOptions {
    /// The currencies of `sandbox` and `ledger` rails.
    pub currencies: Vec<RailCurrency>,
    /// The account allowed to go negative on `sandbox` and `ledger` (deposits come
    /// from it).
    pub issuer: AccountName,
    /// The ledger for `ledger` when the spec names no URL.
    pub ledger_url: String,
    /// An already open ledger to use instead of opening `ledger_url` (so the rail and
    /// the application share one database).
    pub ledger: Option<Arc<dyn LedgerBackend>>,
    /// The store of `sandbox`, to share it between rails (a fresh one otherwise).
    pub sandbox_store: Option<SandboxStore>,
    /// The channel log file for `channel:…` (in memory when `None`).
    pub channel_store_path: Option<PathBuf>,
    /// Whether the channel log `fsync`s each change.
    pub channel_store_durable: bool,
    /// Channel settings (voucher scale, deposits).
    pub channel: ChannelConfig,
    /// Derives the per-account payer keys of the channel rail's `PaymentRail` view.
    pub channel_seed: [u8; 32],
    /// Timeouts and retries of `external:…`.
    pub external: ExternalConfig,
}

impl std::fmt::Debug for RailOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RailOptions")
            .field("currencies", &self.currencies)
            .field("issuer", &self.issuer)
            .field("ledger_url", &self.ledger_url)
            .field("channel_store_path", &self.channel_store_path)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Default for RailOptions {
    fn default() -> Self {
        let usd = Currency::new("USD").unwrap_or_else(|_| unreachable!("USD is a valid code"));
        let currency =
            RailCurrency::with_scale(usd, 6).unwrap_or_else(|_| unreachable!("scale 6 is valid"));
        let deposit = Money::parse("USD", "1").unwrap_or_else(|_| unreachable!("1 is valid"));
        Self {
            currencies: vec![currency],
            issuer: AccountName::new("issuer").unwrap_or_else(|_| unreachable!("a valid name")),
            ledger_url: "sqlite::memory:".into(),
            ledger: None,
            sandbox_store: None,
            channel_store_path: None,
            channel_store_durable: true,
            channel: ChannelConfig {
                deposits: vec![deposit],
                ..ChannelConfig::default()
            },
            channel_seed: [0; 32],
            external: ExternalConfig::default(),
        }
    }
}

type Opening<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

fn open_spec<'a>(
    spec: &'a RailSpec,
    options: &'a RailOptions,
) -> Opening<'a, Arc<dyn PaymentRail>> {
    Box::pin(async move {
        let rail: Arc<dyn PaymentRail> = match spec {
            RailSpec::Sandbox => {
                let config = SandboxConfig::new(options.currencies.clone(), options.issuer.clone());
                let store = options.sandbox_store.clone().unwrap_or_default();
                Arc::new(SandboxRail::open(config, store)?)
            }
            RailSpec::Ledger { url } => {
                let backend = match (&options.ledger, url) {
                    (Some(backend), None) => Arc::clone(backend),
                    (_, url) => {
                        let url = url.as_deref().unwrap_or(&options.ledger_url);
                        attn_settlement::open(url)
                            .await
                            .map_err(|e| Error::Unavailable {
                                rail: "ledger".into(),
                                reason: e.to_string(),
                            })?
                    }
                };
                let config = LedgerRailConfig {
                    currencies: options.currencies.clone(),
                    issuer: Some(options.issuer.clone()),
                };
                Arc::new(LedgerRail::open(backend, config).await?)
            }
            RailSpec::Channel(_) => {
                let channels = open_channels_spec(spec, options).await?;
                Arc::new(ChannelRail::new(channels, options.channel_seed)?)
            }
            RailSpec::External { url } => {
                Arc::new(ExternalRail::connect(url, options.external).await?)
            }
        };
        debug_assert!(rail.id().len() <= RAIL_ID_MAX_BYTES);
        Ok(rail)
    })
}

async fn open_channels_spec(spec: &RailSpec, options: &RailOptions) -> Result<Arc<Channels>> {
    let RailSpec::Channel(base) = spec else {
        return Err(bad_spec(&format!("{spec:?}"), "not a channel spec"));
    };
    let base = open_spec(base, options).await?;
    let store = match &options.channel_store_path {
        Some(path) => ChannelStore::open_file(path, options.channel_store_durable)?,
        None => ChannelStore::memory(),
    };
    Ok(Arc::new(Channels::new(
        base,
        store,
        options.channel.clone(),
    )?))
}

/// Opens the rail `spec` names. A bad spec is an [`Error::InvalidSpec`] listing the
/// known rails.
///
/// # Example
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use attn_payment_plugins::{open_rail, RailOptions};
/// let rail = open_rail("channel:sandbox", &RailOptions::default()).await?;
/// assert_eq!(rail.id(), "channel:sandbox");
/// let error = open_rail("paypal", &RailOptions::default()).await.unwrap_err();
/// assert!(error.to_string().contains("sandbox | ledger"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn open_rail(spec: &str, options: &RailOptions) -> Result<Arc<dyn PaymentRail>> {
    let parsed: RailSpec = spec.parse()?;
    open_spec(&parsed, options).await
}

/// Opens the channel engine of a `channel:BASE` spec, for the payer and payee APIs
/// ([`crate::channel::ChannelPayer`], [`Channels::accept`], [`Channels::close_all`]).
pub async fn open_channels(spec: &str, options: &RailOptions) -> Result<Arc<Channels>> {
    let parsed: RailSpec = spec.parse()?;
    if !matches!(parsed, RailSpec::Channel(_)) {
        return Err(bad_spec(spec, "vouchers need a channel:BASE rail"));
    }
    open_channels_spec(&parsed, options).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_list_the_known_rails() {
        assert_eq!("sandbox".parse::<RailSpec>().unwrap(), RailSpec::Sandbox);
        assert_eq!(
            "channel:ledger:sqlite::memory:"
                .parse::<RailSpec>()
                .unwrap(),
            RailSpec::Channel(Box::new(RailSpec::Ledger {
                url: Some("sqlite::memory:".into())
            }))
        );
        assert_eq!(
            "external:http://127.0.0.1:7000"
                .parse::<RailSpec>()
                .unwrap(),
            RailSpec::External {
                url: "http://127.0.0.1:7000".into()
            }
        );
        for bad in [
            "",
            "paypal",
            "channel",
            "channel:",
            "channel:channel:sandbox",
            "external:ftp://x",
            "sandbox:extra",
            "ledger:",
        ] {
            let error = bad.parse::<RailSpec>().unwrap_err();
            assert!(matches!(error, Error::InvalidSpec { .. }), "{bad}");
            assert!(error.to_string().contains(KNOWN_RAILS), "{error}");
        }
        let long = format!("external:http://{}", "x".repeat(SPEC_MAX_BYTES));
        assert!(long.parse::<RailSpec>().is_err());
    }

    #[tokio::test]
    async fn rails_open_by_name() {
        let options = RailOptions::default();
        for (spec, id) in [
            ("sandbox", "sandbox"),
            ("ledger", "ledger"),
            ("channel:sandbox", "channel:sandbox"),
            ("channel:ledger", "channel:ledger"),
        ] {
            assert_eq!(open_rail(spec, &options).await.unwrap().id(), id);
        }
        assert!(open_channels("sandbox", &options).await.is_err());
    }
}
