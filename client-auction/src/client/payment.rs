//! The payment an impression's acknowledgement carries, checked by the persona.
//!
//! A winner pays with what its rail gives: on a payment channel (`channel:…`, the
//! default), a payer-signed voucher carrying the channel's *cumulative* amount. The
//! client first checks the voucher is the winner's, to this persona, in the auction's
//! currency and covering the charge; then, when it has a payee engine
//! ([`Client::with_channels`]), hands it to `attn_payment_plugins::channel::Channels::
//! receive`, which verifies the payer's signature, that the channel exists on the
//! base rail with a deposit in escrow, that the sequence and the cumulative amount
//! rise above the latest kept, and that the deposit covers it; and keeps it as the
//! channel's latest voucher, in the engine's store (a crash-safe file under
//! `$ATTN_HOME` for the `attn` CLI). The latest voucher of each channel is what the
//! persona is paid with when the channel closes ([`Client::latest_vouchers`]).
//!
//! A voucher refused changes nothing in the engine and never costs the impression
//! its view receipt: the acknowledgement is kept in the wallet all the same, and the
//! refusal is reported beside it ([`Delivered::payment`]).

use std::sync::Arc;

use attn_payment_plugins::channel::Channels;
use attn_receipts::{Digest32, Impression, ImpressionAck, Money, Signed, Voucher};

use super::auction::Client;
use super::error::Error;
use super::wallet::WalletEntry;

/// One impression acknowledged: what the wallet keeps, and what the client made of
/// the payment.
#[derive(Debug)]
pub struct Delivered {
    /// The signed impression and the winner's acknowledgement (view receipt and
    /// payment), as kept in the wallet.
    pub entry: WalletEntry,
    /// The payment, checked.
    pub payment: PaymentCheck,
}

/// What the client made of the payment in an acknowledgement.
#[derive(Debug)]
#[non_exhaustive]
pub enum PaymentCheck {
    /// The payee engine verified the voucher and kept it as its channel's latest.
    VoucherKept {
        /// The channel.
        channel: Digest32,
        /// The channel's cumulative amount the voucher carries.
        cumulative: Money,
    },
    /// The voucher was refused ([`Error::BadAnswer`] when it is not the winner's
    /// voucher to this persona covering the charge, [`Error::VoucherRefused`] when
    /// the payee engine refused it). Nothing was kept in the engine; the view receipt
    /// was kept in the wallet.
    VoucherRefused(Error),
    /// A voucher checked for its signature, parties, currency and amount only: the
    /// client has no payee engine ([`Client::with_channels`]) to check it against its
    /// channel.
    VoucherUnverified {
        /// The channel.
        channel: Digest32,
        /// The cumulative amount it claims.
        cumulative: Money,
    },
    /// Paid by one payment on a rail, named by its id (checked by the rail's own
    /// means, not here).
    RailPayment(String),
    /// Nothing was due: the impression was sold at a zero price.
    NothingDue,
    /// A charge was due and the acknowledgement carries neither a voucher nor a
    /// payment id.
    Missing,
}

impl PaymentCheck {
    /// A short name for summaries: `kept`, `refused`, `unverified`, `rail`, `free`,
    /// `missing`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::VoucherKept { .. } => "kept",
            Self::VoucherRefused(_) => "refused",
            Self::VoucherUnverified { .. } => "unverified",
            Self::RailPayment(_) => "rail",
            Self::NothingDue => "free",
            Self::Missing => "missing",
        }
    }
}

impl Client {
    /// Verifies every voucher this client receives with `channels`, the payee side
    /// of the payment-channel engine over the base rail its bidders pay through, and
    /// keeps the latest voucher of each channel in the engine's store. Several
    /// clients (personas) may share one engine.
    pub fn with_channels(mut self, channels: Arc<Channels>) -> Self {
        self.channels = Some(channels);
        self
    }

    /// The payee engine, if any.
    pub fn channels(&self) -> Option<&Arc<Channels>> {
        self.channels.as_ref()
    }

    /// The latest voucher kept of each channel paying this persona, from the payee
    /// engine's store (empty without an engine): what the persona is paid with when
    /// the channels close.
    pub fn latest_vouchers(&self) -> Vec<Signed<Voucher>> {
        let Some(channels) = &self.channels else {
            return Vec::new();
        };
        let persona = self.persona();
        channels.store().read(|state| {
            state
                .channels
                .values()
                .filter(|channel| channel.payee == persona)
                .filter_map(|channel| channel.latest.clone())
                .collect()
        })
    }

    /// Checks the payment of `ack`, an acknowledgement of `impression` by the bidder
    /// named `bidder`, and keeps a valid voucher in the payee engine.
    pub(super) async fn check_payment(
        &self,
        bidder: &str,
        impression: &Impression,
        ack: &ImpressionAck,
    ) -> PaymentCheck {
        let Some(signed) = &ack.voucher else {
            return match &ack.payment_id {
                Some(id) => PaymentCheck::RailPayment(id.clone()),
                None if impression.charge.is_zero() => PaymentCheck::NothingDue,
                None => PaymentCheck::Missing,
            };
        };
        let refused = |reason: String| {
            PaymentCheck::VoucherRefused(Error::BadAnswer {
                bidder: bidder.to_string(),
                what: "voucher",
                reason,
            })
        };
        let voucher = match signed.open() {
            Ok(voucher) => voucher,
            Err(error) => return refused(error.to_string()),
        };
        if voucher.payer != impression.advertiser {
            return refused(format!(
                "paid by {}, not by the winner {}",
                voucher.payer, impression.advertiser
            ));
        }
        if voucher.payee != impression.persona {
            return refused(format!("pays {}, not this persona", voucher.payee));
        }
        if voucher.cumulative.currency() != impression.charge.currency() {
            return refused(format!(
                "in {}, the charge is in {}",
                voucher.cumulative.currency(),
                impression.charge.currency()
            ));
        }
        if voucher.cumulative < impression.charge {
            return refused(format!(
                "a cumulative {} below the charge {}",
                voucher.cumulative, impression.charge
            ));
        }
        let Some(channels) = &self.channels else {
            return PaymentCheck::VoucherUnverified {
                channel: voucher.channel_id,
                cumulative: voucher.cumulative,
            };
        };
        match channels.receive(&impression.persona, signed).await {
            Ok(cumulative) => PaymentCheck::VoucherKept {
                channel: voucher.channel_id,
                cumulative,
            },
            Err(source) => PaymentCheck::VoucherRefused(Error::VoucherRefused {
                bidder: bidder.to_string(),
                source,
            }),
        }
    }
}
