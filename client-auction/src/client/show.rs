//! Showing the winners: sign an `Impression` per win, deliver it to the winner with
//! its price evidence, check the acknowledgement (view receipt, then payment: see
//! [`super::payment`]), keep it in the wallet. Also: pulling the receipts an
//! advertiser issued to the persona.

use std::time::Duration;

use attn_proto::v1 as wire;
use attn_receipts::{
    Impression, ImpressionAck, ReceiptKind, ReceiptWithOpening, ReceiptsBatch, ReceiptsPull, Signed,
};
use rand::RngCore;
use rand::rngs::OsRng;
use tonic::metadata::MetadataValue;

use super::auction::{AuctionOutcome, Client, Win, now_ms};
use super::error::{Error, Result};
use super::payment::Delivered;
use super::registry::RegisteredBidder;
use super::wallet::WalletEntry;

/// The gRPC metadata key the price evidence travels under with an impression (the
/// bidder SDK reads the same key; see `docs/bidder-sdk.md`).
pub const EVIDENCE_METADATA_KEY: &str = "attn-price-evidence-bin";
/// First pause between two delivery attempts; doubled after each.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(20);

/// What became of the impressions of one auction.
#[derive(Debug, Default)]
pub struct ShowReport {
    /// Impressions acknowledged and kept in the wallet, each with its payment
    /// checked (a refused voucher is reported there; the view receipt is kept).
    pub delivered: Vec<Delivered>,
    /// Impressions not acknowledged: the slot and why.
    pub failed: Vec<(String, Error)>,
}

impl Client {
    /// Signs and delivers one impression per win of `outcome` (all at once), with up
    /// to `impression_attempts` attempts each on transport failures, checks each
    /// acknowledgement's view receipt and payment, and keeps it in the wallet. A
    /// voucher the client refuses is reported in [`Delivered::payment`]; its view
    /// receipt is kept all the same.
    pub async fn show(&self, outcome: &AuctionOutcome) -> ShowReport {
        let deliveries = outcome.wins.iter().map(|win| async move {
            let result = self.deliver(outcome, win).await;
            (win.award.slot_id.clone(), result)
        });
        let mut report = ShowReport::default();
        for (slot, result) in futures_util::future::join_all(deliveries).await {
            match result {
                Ok(entry) => report.delivered.push(entry),
                Err(error) => report.failed.push((slot, error)),
            }
        }
        report
    }

    /// Signs `impression` with the persona (for callers that deliver impressions
    /// themselves; [`Client::show`] does it for every win).
    pub fn sign_impression(&self, impression: &Impression) -> Signed<Impression> {
        Signed::sign(&self.persona, impression)
    }

    async fn deliver(&self, outcome: &AuctionOutcome, win: &Win) -> Result<Delivered> {
        let impression = Impression {
            request_id: outcome.request_id(),
            persona: self.persona.public_key(),
            slot_id: win.award.slot_id.clone(),
            advertiser: win.award.advertiser,
            creative_id: win.creative.creative_id.clone(),
            charge: win.award.charge,
            shown_at_ms: now_ms(),
            evidence_hash: attn_receipts::Digest32::of(&[&win.evidence_bytes]),
            bid_hash: win.award.bid_hash,
        };
        let signed = Signed::sign(&self.persona, &impression);
        let bidder = &self.registry.bidders()[win.bidder];
        let wire_ack = self.deliver_signed(bidder, &signed, win).await?;
        let ack = self.check_ack(&bidder.name, &signed, &impression, wire_ack)?;
        let payment = self.check_payment(&bidder.name, &impression, &ack).await;
        let entry = WalletEntry {
            bidder: bidder.name.clone(),
            impression: signed,
            ack,
        };
        self.wallet.record(&entry)?;
        Ok(Delivered { entry, payment })
    }

    /// Delivers `signed` to `bidder` with up to `impression_attempts` attempts and
    /// returns its acknowledgement, unchecked.
    async fn deliver_signed(
        &self,
        bidder: &RegisteredBidder,
        signed: &Signed<Impression>,
        win: &Win,
    ) -> Result<wire::ImpressionAck> {
        let failure = |message: String| Error::Bidder {
            bidder: bidder.name.clone(),
            message,
        };
        let mut backoff = RETRY_BACKOFF;
        let mut last = String::new();
        for attempt in 0..self.config.impression_attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            let mut call = tonic::Request::new(signed.to_wire());
            call.set_timeout(self.config.impression_timeout);
            call.metadata_mut().insert_bin(
                EVIDENCE_METADATA_KEY,
                MetadataValue::from_bytes(&win.evidence_bytes),
            );
            let mut client = bidder.client.clone();
            let status =
                match tokio::time::timeout(self.config.impression_timeout, client.impression(call))
                    .await
                {
                    Ok(Ok(response)) => return Ok(response.into_inner()),
                    Ok(Err(status)) => status,
                    Err(_) => {
                        last = "timed out".into();
                        continue;
                    }
                };
            if retryable(&status) {
                last = status.to_string();
            } else if attempt > 0 && status.code() == tonic::Code::AlreadyExists {
                // Accepted on an earlier attempt whose answer was lost: the refusal of
                // the replay carries the first answer in its details.
                use attn_proto::Message as _;
                let details = status.details();
                return (!details.is_empty())
                    .then(|| wire::ImpressionAck::decode(details).ok())
                    .flatten()
                    .ok_or_else(|| {
                        failure(format!(
                            "accepted on an earlier attempt whose answer was lost: {}",
                            status.message()
                        ))
                    });
            } else {
                return Err(failure(format!(
                    "refused: {:?}: {}",
                    status.code(),
                    status.message()
                )));
            }
        }
        Err(failure(format!(
            "no answer after {} attempts: {last}",
            self.config.impression_attempts
        )))
    }

    /// Checks the acknowledgement and its view receipt (the payment is checked
    /// apart, by [`Client::check_payment`], so that a bad one costs no receipt).
    fn check_ack(
        &self,
        bidder: &str,
        signed: &Signed<Impression>,
        impression: &Impression,
        wire_ack: wire::ImpressionAck,
    ) -> Result<ImpressionAck> {
        let bad = |what: &'static str, reason: String| Error::BadAnswer {
            bidder: bidder.to_string(),
            what,
            reason,
        };
        let ack = ImpressionAck::try_from(wire_ack).map_err(|e| bad("ack", e.to_string()))?;
        if ack.impression_hash != signed.hash() {
            return Err(bad("ack", "acknowledges another impression".into()));
        }
        let receipt = ack
            .view_receipt
            .open()
            .map_err(|e| bad("view receipt", e.to_string()))?;
        if receipt.issuer != impression.advertiser
            || receipt.persona != impression.persona
            || receipt.kind != ReceiptKind::View
            || receipt.impression_hash != Some(ack.impression_hash)
        {
            return Err(bad(
                "view receipt",
                "not a view receipt of this impression by the winner".into(),
            ));
        }
        Ok(ack)
    }

    /// Pulls the receipts bidder `bidder` (registry index) issued to this persona
    /// since `since_ms`, checked: each is signed by the bidder's registry key, names
    /// this persona, and comes with the opening of its commitment.
    pub async fn pull_receipts(
        &self,
        bidder: usize,
        since_ms: u64,
    ) -> Result<Vec<ReceiptWithOpening>> {
        let entry = self
            .registry
            .bidders()
            .get(bidder)
            .ok_or_else(|| Error::Config(format!("no bidder {bidder} in the registry")))?;
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let pull = ReceiptsPull {
            persona: self.persona.public_key(),
            since_ms,
            created_at_ms: now_ms(),
            nonce,
        };
        let mut call = tonic::Request::new(Signed::sign(&self.persona, &pull).to_wire());
        call.set_timeout(self.config.impression_timeout);
        let mut client = entry.client.clone();
        let batch = client
            .pull_receipts(call)
            .await
            .map_err(|status| Error::Bidder {
                bidder: entry.name.clone(),
                message: format!("{:?}: {}", status.code(), status.message()),
            })?
            .into_inner();
        let bad = |reason: String| Error::BadAnswer {
            bidder: entry.name.clone(),
            what: "receipt",
            reason,
        };
        let batch = ReceiptsBatch::try_from(batch).map_err(|e| bad(e.to_string()))?;
        for item in &batch.receipts {
            let receipt = item.receipt.open().map_err(|e| bad(e.to_string()))?;
            if receipt.issuer != entry.advertiser || receipt.persona != pull.persona {
                return Err(bad("issued by another key or to another persona".into()));
            }
            if item.opening.receipt_id != receipt.receipt_id
                || !item.opening.opens(&receipt.value_commitment)
            {
                return Err(bad("the opening does not open the commitment".into()));
            }
        }
        Ok(batch.receipts)
    }
}

/// Whether a delivery that failed this way may be tried again. `Cancelled` is what a
/// tonic server answers when the call's `grpc-timeout` expires (the impression may
/// still be accepted after it; a retry then receives that answer).
fn retryable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Unknown
    )
}
