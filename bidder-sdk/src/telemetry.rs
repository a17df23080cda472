//! Metrics through the `metrics` facade, and the optional Prometheus endpoint.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `attn_bidder_requests_total` | counter | `advertiser` |
//! | `attn_bidder_bids_total` | counter | `advertiser` |
//! | `attn_bidder_no_bids_total` | counter | `advertiser`, `reason` |
//! | `attn_bidder_wins_total` | counter | `advertiser` (impressions accepted and paid) |
//! | `attn_bidder_spend_atomic_total` | counter | `advertiser`, `currency` |
//! | `attn_bidder_refused_total` | counter | `advertiser`, `rpc`, `reason` |
//! | `attn_bidder_bid_latency_seconds` | histogram | `advertiser` |

use std::time::Duration;

/// Labels every metric of one bidder carries.
#[derive(Clone)]
pub(crate) struct Telemetry {
    advertiser: String,
}

impl Telemetry {
    pub(crate) fn new(advertiser_hex: &str) -> Self {
        Self {
            advertiser: advertiser_hex.chars().take(16).collect(),
        }
    }

    pub(crate) fn request(&self) {
        metrics::counter!("attn_bidder_requests_total", "advertiser" => self.advertiser.clone())
            .increment(1);
    }

    pub(crate) fn bid(&self, latency: Duration) {
        metrics::counter!("attn_bidder_bids_total", "advertiser" => self.advertiser.clone())
            .increment(1);
        metrics::histogram!("attn_bidder_bid_latency_seconds", "advertiser" => self.advertiser.clone())
            .record(latency.as_secs_f64());
    }

    pub(crate) fn no_bid(&self, reason: &'static str, latency: Duration) {
        metrics::counter!("attn_bidder_no_bids_total", "advertiser" => self.advertiser.clone(), "reason" => reason)
            .increment(1);
        metrics::histogram!("attn_bidder_bid_latency_seconds", "advertiser" => self.advertiser.clone())
            .record(latency.as_secs_f64());
    }

    pub(crate) fn win(&self, currency: &str, charge_atomic: u64) {
        metrics::counter!("attn_bidder_wins_total", "advertiser" => self.advertiser.clone())
            .increment(1);
        metrics::counter!("attn_bidder_spend_atomic_total", "advertiser" => self.advertiser.clone(), "currency" => currency.to_string())
            .increment(charge_atomic);
    }

    pub(crate) fn refused(&self, rpc: &'static str, reason: &'static str) {
        metrics::counter!("attn_bidder_refused_total", "advertiser" => self.advertiser.clone(), "rpc" => rpc, "reason" => reason)
            .increment(1);
    }
}

/// Installs the process-wide Prometheus recorder and serves `GET /metrics` on
/// `listen`. Call it once per process (it fails if a recorder is installed already);
/// it must run inside a Tokio runtime.
#[cfg(feature = "prometheus")]
pub fn install_prometheus(listen: std::net::SocketAddr) -> crate::Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(listen)
        .install()
        .map_err(|error| crate::Error::Transport(format!("metrics endpoint: {error}")))
}
