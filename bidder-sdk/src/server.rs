//! The gRPC adapter: [`serve`] binds a TCP listener and serves the `attn.v1.Bidder`
//! service for a [`Bidder`] strategy. Wire messages become domain values only through
//! the `attn-receipts` `TryFrom`s; SDK errors become gRPC status codes only here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attn_proto::v1 as wire;
use attn_proto::v1::bidder_server::BidderServer;
use attn_receipts::issuance::ReceiptDraft;
use attn_receipts::limits::{CLOCK_SKEW_MAX_MS, MESSAGE_MAX_BYTES, RAIL_NAME_MAX_BYTES};
use attn_receipts::{
    AdvertiserKey, Bid, BidRequest, BidResponse, CommitmentOpening, ConversionReceipt, Currency,
    Digest32, Impression, ImpressionAck, Money, PriceEvidence, PublicKey, ReceiptKind,
    ReceiptWithOpening, ReceiptsBatch, ReceiptsPull, RequestId, Signed,
};
use rand::RngCore as _;
use rand::rngs::OsRng;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::budget::{DailyBudget, Pacing};
use crate::error::{Error, Result};
use crate::issuance::ReceiptBook;
use crate::payer::{ChannelVoucherPayer, ImpressionPayer, Payment, PaymentOrder, RailPayer};
use crate::reputation::{ProofCache, Reputation};
use crate::strategy::{BidContext, BidDecision, Bidder};
use crate::telemetry::Telemetry;
use crate::threshold::AdvertiserSigner;
use crate::verify::{BidRecord, charge_bounds, verify_impression};

/// The gRPC metadata key under which a client sends, with an impression, the
/// protobuf encoding of the award's `PriceEvidence`. Its SHA-256 must equal the
/// impression's `evidence_hash`, which the persona signed.
pub const EVIDENCE_METADATA_KEY: &str = "attn-price-evidence-bin";
/// Most bytes of the encoded price evidence sent as metadata (64 VCG bids of about
/// 300 bytes fit twice over).
pub const EVIDENCE_METADATA_MAX_BYTES: usize = 64 * 1024;
/// The HTTP/2 header-list limit the server announces: room for the evidence
/// (base64 grows it by a third) and ordinary headers.
pub const HEADER_LIST_MAX_BYTES: u32 = 128 * 1024;
/// Default number of recent bids remembered to verify impressions against.
pub const BID_CACHE_ENTRIES_DEFAULT: u64 = 100_000;
/// Default time a bid is remembered: an impression later than this is refused.
pub const BID_TTL_DEFAULT: Duration = Duration::from_secs(600);
/// Default time kept back from `tmax` for the answer to travel to the client.
pub const MARGIN_DEFAULT: Duration = Duration::from_millis(5);
/// Default fractional digits of the atomic unit (nano-units of the currency).
pub const SCALE_DEFAULT: u32 = 9;
/// Most receipts-pull nonces remembered to refuse replays.
pub const PULL_NONCES_MAX: u64 = 1_000_000;
/// Default time receipts are kept for their persona to pull.
pub const RECEIPT_RETENTION_DEFAULT: Duration = Duration::from_secs(30 * 86_400);

const _: () = assert!((EVIDENCE_METADATA_MAX_BYTES * 4 / 3) < HEADER_LIST_MAX_BYTES as usize);

/// The options of a bidder; only the signer (a key, or a threshold group) and the
/// daily budget are required.
///
/// # Example
/// ```
/// use attn_bidder_sdk::Options;
/// use attn_receipts::{AdvertiserKey, Money};
/// let options = Options::new(AdvertiserKey::from_secret_bytes(&[1; 32]), Money::parse("USD", "25")?)
///     .listen("127.0.0.1:0".parse().expect("address"));
/// # Ok::<(), attn_receipts::Error>(())
/// ```
pub struct Options {
    signer: AdvertiserSigner,
    daily_budget: Money,
    listen: SocketAddr,
    scale: u32,
    bid_cache_entries: u64,
    bid_ttl: Duration,
    margin: Duration,
    pacing: Option<Pacing>,
    payer: Option<Arc<dyn ImpressionPayer>>,
    receipt_retention: Duration,
    metrics_listen: Option<SocketAddr>,
    #[cfg(feature = "tls")]
    tls: Option<tonic::transport::ServerTlsConfig>,
}

impl Options {
    /// A bidder signing with `key`, trading in `daily_budget`'s currency, spending at
    /// most `daily_budget` a day. Listens on `127.0.0.1:0` unless told otherwise.
    pub fn new(key: AdvertiserKey, daily_budget: Money) -> Self {
        Self::with_signer(key, daily_budget)
    }

    /// A bidder signing its bids and receipts with `signer`: a single key, or a
    /// threshold group ([`crate::ThresholdSigner`], whose signers should run the
    /// [`crate::threshold::BidsAndReceipts`] policy), whose group key is then the
    /// advertiser's id. With a group and no [`Options::payer`], impressions are paid
    /// one by one on an in-memory sandbox rail ([`RailPayer::sandbox_for`]): a group
    /// signs no channel vouchers.
    ///
    /// [`RailPayer::sandbox_for`]: crate::payer::RailPayer::sandbox_for
    pub fn with_signer(signer: impl Into<AdvertiserSigner>, daily_budget: Money) -> Self {
        Self {
            signer: signer.into(),
            daily_budget,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scale: SCALE_DEFAULT,
            bid_cache_entries: BID_CACHE_ENTRIES_DEFAULT,
            bid_ttl: BID_TTL_DEFAULT,
            margin: MARGIN_DEFAULT,
            pacing: None,
            payer: None,
            receipt_retention: RECEIPT_RETENTION_DEFAULT,
            metrics_listen: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The address to listen on (port 0 picks a free port; see [`Running::local_addr`]).
    pub fn listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// Fractional digits of the atomic unit amounts are counted in (default 9).
    pub fn scale(mut self, scale: u32) -> Self {
        self.scale = scale;
        self
    }

    /// How many recent bids to remember and for how long.
    pub fn bid_cache(mut self, entries: u64, ttl: Duration) -> Self {
        self.bid_cache_entries = entries;
        self.bid_ttl = ttl;
        self
    }

    /// Time kept back from a request's `tmax` for the answer to reach the client.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Spread the budget over the day: no bids while ahead of the even schedule.
    pub fn pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = Some(pacing);
        self
    }

    /// Pay impressions through `payer` instead of the default channel vouchers.
    pub fn payer(mut self, payer: Arc<dyn ImpressionPayer>) -> Self {
        self.payer = Some(payer);
        self
    }

    /// How long issued receipts wait for their persona to pull them.
    pub fn receipt_retention(mut self, retention: Duration) -> Self {
        self.receipt_retention = retention;
        self
    }

    /// Serve Prometheus metrics on `listen` (installs the process-wide recorder).
    pub fn metrics(mut self, listen: SocketAddr) -> Self {
        self.metrics_listen = Some(listen);
        self
    }

    /// Serve over TLS with this PEM certificate chain and private key.
    #[cfg(feature = "tls")]
    pub fn tls_pem(mut self, certificate: &[u8], private_key: &[u8]) -> Self {
        let identity = tonic::transport::Identity::from_pem(certificate, private_key);
        self.tls = Some(tonic::transport::ServerTlsConfig::new().identity(identity));
        self
    }
}

/// One remembered bid, with the slots already claimed by accepted impressions.
struct BidEntry {
    record: BidRecord,
    signed: Signed<Bid>,
    /// slot id → the impression accepted for it. At most one per slot of the
    /// request, so bounded by `limits::SLOTS_PER_REQUEST_MAX`.
    claimed: Mutex<HashMap<String, Claim>>,
}

/// The state of one claimed slot.
enum Claim {
    /// The impression with this hash is being paid for.
    InFlight(Digest32),
    /// The impression with this hash was accepted with this answer, which a retry of
    /// the same impression receives again (its first answer may have been lost).
    Done(Digest32, Box<ImpressionAck>),
}

type BidKey = (RequestId, PublicKey);

/// The state shared by the gRPC service and the [`BidderHandle`].
struct Core {
    /// Signs bids, view receipts and issued receipts: a key or a threshold group.
    signer: AdvertiserSigner,
    advertiser: PublicKey,
    currency: Currency,
    scale: u32,
    budget: DailyBudget,
    pacing: Option<Pacing>,
    margin: Duration,
    rail: String,
    bids: moka::future::Cache<BidKey, Arc<BidEntry>>,
    pull_nonces: moka::future::Cache<(PublicKey, [u8; 16]), ()>,
    book: ReceiptBook,
    payer: Arc<dyn ImpressionPayer>,
    telemetry: Telemetry,
    /// Reputation proofs verified, by hash.
    proofs: ProofCache,
}

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn fresh(created_at_ms: u64, now_ms: u64) -> Result<()> {
    if created_at_ms.abs_diff(now_ms) > CLOCK_SKEW_MAX_MS {
        return Err(Error::Stale {
            created_at_ms,
            now_ms,
        });
    }
    Ok(())
}

enum Answer {
    Bid(Box<Signed<Bid>>),
    NoBid(&'static str),
}

impl Core {
    fn new(options: Options) -> Result<Self> {
        let Options {
            signer,
            daily_budget,
            scale,
            bid_cache_entries,
            bid_ttl,
            margin,
            pacing,
            payer,
            receipt_retention,
            ..
        } = options;
        if bid_cache_entries == 0 {
            return Err(Error::Config("the bid cache needs room for one bid".into()));
        }
        let limit_atomic = daily_budget.to_atomic(scale)?;
        let advertiser = signer.public_key();
        let payer: Arc<dyn ImpressionPayer> = match (payer, &signer) {
            (Some(payer), _) => payer,
            (None, AdvertiserSigner::Key(key)) => Arc::new(ChannelVoucherPayer::new(key.clone())),
            (None, AdvertiserSigner::Threshold(_)) => Arc::new(RailPayer::sandbox_for(
                advertiser,
                daily_budget.currency(),
                scale,
            )?),
        };
        let rail = payer.rail().to_string();
        if rail.is_empty() || rail.len() > RAIL_NAME_MAX_BYTES {
            return Err(Error::Config(format!(
                "rail name must be 1 to {RAIL_NAME_MAX_BYTES} bytes"
            )));
        }
        Ok(Self {
            telemetry: Telemetry::new(&advertiser.to_hex()),
            advertiser,
            signer,
            currency: daily_budget.currency(),
            scale,
            budget: DailyBudget::new(limit_atomic),
            pacing,
            margin,
            rail,
            bids: moka::future::Cache::builder()
                .max_capacity(bid_cache_entries)
                .time_to_live(bid_ttl)
                .build(),
            pull_nonces: moka::future::Cache::builder()
                .max_capacity(PULL_NONCES_MAX)
                .time_to_live(Duration::from_millis(2 * CLOCK_SKEW_MAX_MS))
                .build(),
            book: ReceiptBook::new(receipt_retention),
            payer,
            proofs: ProofCache::default(),
        })
    }

    async fn answer<B: Bidder>(
        &self,
        strategy: &B,
        signed: &Signed<BidRequest>,
        request: BidRequest,
        started: tokio::time::Instant,
    ) -> Result<Answer> {
        let now = now_ms();
        fresh(request.created_at_ms, now)?;
        let key = (request.request_id, request.persona);
        if let Some(entry) = self.bids.get(&key).await {
            // The same signed request again: the same bid, never a second one.
            return Ok(Answer::Bid(Box::new(entry.signed.clone())));
        }
        if request.currency != self.currency {
            return Ok(Answer::NoBid("currency"));
        }
        let remaining_atomic = self.budget.remaining_atomic(now);
        if remaining_atomic == 0 {
            return Ok(Answer::NoBid("budget"));
        }
        if let Some(pacing) = self.pacing
            && !pacing.allows(
                self.budget.limit_atomic(),
                self.budget.spent_atomic(now),
                now,
            )
        {
            return Ok(Answer::NoBid("paced"));
        }
        let tmax = Duration::from_millis(u64::from(request.tmax_ms));
        let allowed = if tmax > self.margin * 2 {
            tmax - self.margin
        } else {
            tmax / 2
        };
        let deadline = started + allowed;
        // A proof still being verified at the deadline is cached when done; this
        // request goes on without it.
        let reputation =
            match tokio::time::timeout_at(deadline, self.proofs.resolve(&request, now)).await {
                Ok(reputation) => reputation,
                Err(_) => (request.reputation_proof.as_ref().map(Signed::hash))
                    .or(request.reputation_ref)
                    .map_or(Reputation::None, Reputation::Unknown),
            };
        let context = BidContext {
            reputation,
            request,
            request_hash: signed.hash(),
            advertiser: self.advertiser,
            received_at_ms: now,
            deadline,
            budget_remaining_atomic: remaining_atomic,
            scale: self.scale,
        };
        let decision = match tokio::time::timeout_at(deadline, strategy.bid(&context)).await {
            Err(_) => return Ok(Answer::NoBid("late")),
            Ok(None) => return Ok(Answer::NoBid("declined")),
            Ok(Some(decision)) => decision,
        };
        let BidContext {
            request,
            request_hash,
            ..
        } = context;
        let Some(max_charge) = self.check_decision(&request, &decision) else {
            return Ok(Answer::NoBid("invalid-decision"));
        };
        if max_charge > remaining_atomic {
            return Ok(Answer::NoBid("budget"));
        }
        let bid = Bid {
            request_id: request.request_id,
            advertiser: self.advertiser,
            price: decision.price,
            slot_ids: decision.slot_ids,
            creative: decision.creative,
            rail: self.rail.clone(),
            created_at_ms: now_ms(),
        };
        let signed_bid = match &self.signer {
            // The single key signs in place, as fast as ever.
            AdvertiserSigner::Key(key) => Signed::sign(key, &bid),
            // A signing round, within what is left of the deadline: a round that
            // cannot finish in time means no bid, never a late one.
            AdvertiserSigner::Threshold(_) => {
                match tokio::time::timeout_at(deadline, self.signer.sign(&bid)).await {
                    Ok(Ok(signed)) => signed,
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "bid not signed");
                        return Ok(Answer::NoBid("signing"));
                    }
                    Err(_) => return Ok(Answer::NoBid("late")),
                }
            }
        };
        let entry = Arc::new(BidEntry {
            record: BidRecord {
                request,
                request_hash,
                bid,
                bid_hash: signed_bid.hash(),
            },
            signed: signed_bid,
            claimed: Mutex::new(HashMap::new()),
        });
        let entry = self.bids.entry(key).or_insert(entry).await.into_value();
        Ok(Answer::Bid(Box::new(entry.signed.clone())))
    }

    /// The largest charge the decision can lead to, or `None` if the decision is not
    /// a valid bid for the request.
    fn check_decision(&self, request: &BidRequest, decision: &BidDecision) -> Option<u64> {
        if decision.price.currency() != request.currency || decision.price.is_zero() {
            return None;
        }
        let price = decision.price.to_atomic(self.scale).ok()?;
        let mut weight_max = 0;
        for slot in &request.slots {
            if decision.slot_ids.is_empty() || decision.slot_ids.contains(&slot.slot_id) {
                weight_max = weight_max.max(slot.click_weight_ppm);
            }
        }
        let known = decision
            .slot_ids
            .iter()
            .all(|id| request.slot(id).is_some());
        if weight_max == 0 || !known {
            return None;
        }
        Some(charge_bounds(price, weight_max).1)
    }

    async fn impression(
        &self,
        signed: Signed<Impression>,
        evidence_bytes: &[u8],
    ) -> Result<ImpressionAck> {
        let impression = signed.open()?;
        let now = now_ms();
        if impression.shown_at_ms > now + CLOCK_SKEW_MAX_MS {
            return Err(Error::Stale {
                created_at_ms: impression.shown_at_ms,
                now_ms: now,
            });
        }
        if impression.advertiser != self.advertiser {
            return Err(Error::ImpressionMismatch {
                field: "advertiser",
                reason: "names another advertiser".into(),
            });
        }
        if Digest32::of(&[evidence_bytes]) != impression.evidence_hash {
            return Err(Error::BadEvidence(
                "the evidence sent is not the evidence the persona signed".into(),
            ));
        }
        let evidence = {
            use attn_proto::Message as _;
            let wire = wire::PriceEvidence::decode(evidence_bytes).map_err(|error| {
                attn_receipts::Error::Decode {
                    message: "PriceEvidence",
                    reason: error.to_string(),
                }
            })?;
            PriceEvidence::try_from(wire)?
        };
        let entry = self
            .bids
            .get(&(impression.request_id, impression.persona))
            .await
            .ok_or(Error::UnknownBid {
                request_id: impression.request_id,
            })?;
        let charge_atomic = verify_impression(
            &entry.record,
            &self.advertiser,
            &impression,
            &evidence,
            self.scale,
        )?;
        let impression_hash = signed.hash();
        {
            // The impression hash covers the slot id, so one impression claims one
            // slot. Delivering the same impression again is refused, pays nothing
            // twice, and carries the first answer (which a client that retried after a
            // lost answer needs). Another impression for a claimed slot is a replay.
            let mut claimed = entry.claimed.lock().unwrap_or_else(PoisonError::into_inner);
            match claimed.get(&impression.slot_id) {
                None => {
                    claimed.insert(impression.slot_id.clone(), Claim::InFlight(impression_hash));
                }
                Some(Claim::Done(hash, ack)) if *hash == impression_hash => {
                    return Err(Error::AlreadyAccepted(ack.clone()));
                }
                Some(Claim::InFlight(hash)) if *hash == impression_hash => {
                    return Err(Error::InProgress);
                }
                Some(_) => {
                    return Err(Error::Replay {
                        what: "(request, slot)",
                    });
                }
            }
        }
        let release = |entry: &BidEntry| {
            entry
                .claimed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&impression.slot_id);
        };
        // The view receipt is signed before anything is paid: a signing failure (a
        // threshold group short of signers) then refuses the impression, retryable,
        // with nothing paid and nothing claimed.
        let issued_at_ms = now_ms();
        let view_receipt = match self
            .sign_receipt(ReceiptDraft {
                persona: impression.persona,
                kind: ReceiptKind::View,
                value_atomic: charge_atomic,
                categories: entry.record.bid.creative.categories.clone(),
                issued_at_ms,
                public_value: None,
                impression_hash: Some(impression_hash),
            })
            .await
        {
            Ok(issued) => issued,
            Err(error) => {
                release(&entry);
                return Err(error);
            }
        };
        let payment = if charge_atomic == 0 {
            // A slot sold at a zero reserve with no runner-up: shown for free. There
            // is nothing to pay (rails refuse zero amounts), only a view to receipt.
            Payment {
                rail: self.rail.clone(),
                voucher: None,
                payment_id: None,
            }
        } else {
            let Some(reservation) = self.budget.reserve(charge_atomic, now) else {
                release(&entry);
                return Err(Error::BudgetExhausted {
                    needed_atomic: charge_atomic,
                    remaining_atomic: self.budget.remaining_atomic(now),
                });
            };
            let order = PaymentOrder {
                impression_hash,
                advertiser: self.advertiser,
                persona: impression.persona,
                charge: impression.charge,
                charge_atomic,
                scale: self.scale,
                now_ms: now,
            };
            match self.payer.pay(&order).await {
                Ok(payment) => {
                    reservation.commit();
                    payment
                }
                Err(error) => {
                    drop(reservation);
                    release(&entry);
                    return Err(error);
                }
            }
        };
        let signed_receipt = view_receipt.receipt.clone();
        self.book
            .keep(impression.persona, issued_at_ms, view_receipt)
            .await;
        self.telemetry.win(self.currency.as_str(), charge_atomic);
        let ack = ImpressionAck {
            impression_hash,
            rail: payment.rail,
            voucher: payment.voucher,
            payment_id: payment.payment_id,
            view_receipt: signed_receipt,
        };
        entry
            .claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                impression.slot_id.clone(),
                Claim::Done(impression_hash, Box::new(ack.clone())),
            );
        Ok(ack)
    }

    /// Commits to the draft's value with a fresh blinding, signs the receipt with
    /// the advertiser's signer and validates it exactly as a receiver will (tag
    /// counts and sizes).
    async fn sign_receipt(&self, draft: ReceiptDraft) -> Result<ReceiptWithOpening> {
        let mut receipt_id = [0u8; 16];
        OsRng.fill_bytes(&mut receipt_id);
        let opening = CommitmentOpening::random(receipt_id, draft.value_atomic, &mut OsRng);
        let receipt = ConversionReceipt {
            receipt_id,
            persona: draft.persona,
            issuer: self.advertiser,
            kind: draft.kind,
            issued_at_ms: draft.issued_at_ms,
            categories: draft.categories,
            value_commitment: opening.commitment(),
            public_value: draft.public_value,
            impression_hash: draft.impression_hash,
        };
        let signed = match &self.signer {
            AdvertiserSigner::Key(key) => Signed::sign(key, &receipt),
            AdvertiserSigner::Threshold(_) => self.signer.sign(&receipt).await?,
        };
        let checked = Signed::<ConversionReceipt>::try_from(signed.to_wire())?;
        checked.decode_verified()?;
        Ok(ReceiptWithOpening {
            receipt: checked,
            opening,
        })
    }

    /// Signs a receipt and keeps it, with its opening, for its persona to pull.
    async fn issue(&self, draft: ReceiptDraft) -> Result<Signed<ConversionReceipt>> {
        let persona = draft.persona;
        let issued_at_ms = draft.issued_at_ms;
        let issued = self.sign_receipt(draft).await?;
        let signed = issued.receipt.clone();
        self.book.keep(persona, issued_at_ms, issued).await;
        Ok(signed)
    }

    async fn pull(&self, signed: Signed<ReceiptsPull>) -> Result<ReceiptsBatch> {
        let pull = signed.open()?;
        fresh(pull.created_at_ms, now_ms())?;
        let fresh_nonce = self
            .pull_nonces
            .entry((pull.persona, pull.nonce))
            .or_insert(())
            .await
            .is_fresh();
        if !fresh_nonce {
            return Err(Error::Replay {
                what: "receipts pull",
            });
        }
        Ok(ReceiptsBatch {
            receipts: self.book.since(&pull.persona, pull.since_ms).await,
        })
    }
}

/// The tonic service over a strategy.
struct Service<B> {
    core: Arc<Core>,
    strategy: Arc<B>,
}

fn reason(error: &Error) -> &'static str {
    match error {
        Error::Invalid(_) => "invalid",
        Error::Stale { .. } => "stale",
        Error::UnknownBid { .. } => "unknown-bid",
        Error::ImpressionMismatch { .. } => "mismatch",
        Error::BadEvidence(_) => "bad-evidence",
        Error::Replay { .. } | Error::AlreadyAccepted(_) => "replay",
        Error::InProgress => "in-progress",
        Error::BudgetExhausted { .. } => "budget",
        Error::Payment(_) => "payment",
        Error::PaymentRefused { .. } => "payment-refused",
        Error::Config(_) | Error::Transport(_) => "internal",
        Error::ThresholdSigning(_) => "threshold",
    }
}

impl<B> Service<B> {
    fn refuse(&self, rpc: &'static str, error: Error) -> Status {
        let why = reason(&error);
        self.core.telemetry.refused(rpc, why);
        tracing::debug!(rpc, reason = why, %error, "refused");
        error.to_status()
    }
}

#[tonic::async_trait]
impl<B: Bidder> wire::bidder_server::Bidder for Service<B> {
    async fn bid(
        &self,
        request: Request<wire::Signed>,
    ) -> Result<Response<wire::BidResponse>, Status> {
        let started = tokio::time::Instant::now();
        let span = tracing::info_span!("bid", request_id = tracing::field::Empty);
        async {
            let signed = Signed::<BidRequest>::try_from(request.into_inner())
                .map_err(|error| self.refuse("bid", error.into()))?;
            let bid_request = signed
                .open()
                .map_err(|error| self.refuse("bid", error.into()))?;
            tracing::Span::current().record("request_id", bid_request.request_id.to_hex());
            self.core.telemetry.request();
            let want_proof = self.core.proofs.wants_proof(&bid_request);
            let answer = self
                .core
                .answer(self.strategy.as_ref(), &signed, bid_request, started)
                .await
                .map_err(|error| self.refuse("bid", error))?;
            let response = match answer {
                Answer::Bid(bid) => {
                    self.core.telemetry.bid(started.elapsed());
                    BidResponse {
                        bid: Some(*bid),
                        want_reputation_proof: want_proof,
                    }
                }
                Answer::NoBid(why) => {
                    tracing::debug!(reason = why, "no bid");
                    self.core.telemetry.no_bid(why, started.elapsed());
                    BidResponse {
                        bid: None,
                        want_reputation_proof: want_proof,
                    }
                }
            };
            Ok(Response::new(wire::BidResponse::from(&response)))
        }
        .instrument(span)
        .await
    }

    async fn impression(
        &self,
        request: Request<wire::Signed>,
    ) -> Result<Response<wire::ImpressionAck>, Status> {
        let span = tracing::info_span!("impression");
        async {
            let evidence = match request.metadata().get_bin(EVIDENCE_METADATA_KEY) {
                None => {
                    return Err(self.refuse(
                        "impression",
                        Error::BadEvidence(format!("no {EVIDENCE_METADATA_KEY} metadata")),
                    ));
                }
                Some(value) => value.to_bytes().map_err(|_| {
                    self.refuse(
                        "impression",
                        Error::BadEvidence("evidence metadata is not base64".into()),
                    )
                })?,
            };
            if evidence.len() > EVIDENCE_METADATA_MAX_BYTES {
                return Err(self.refuse(
                    "impression",
                    attn_receipts::Error::TooLong {
                        message: "Impression",
                        field: EVIDENCE_METADATA_KEY,
                        len: evidence.len(),
                        max: EVIDENCE_METADATA_MAX_BYTES,
                    }
                    .into(),
                ));
            }
            let signed = Signed::<Impression>::try_from(request.into_inner())
                .map_err(|error| self.refuse("impression", error.into()))?;
            // Accepting an impression pays for it: that must run to its end even if
            // the client gives up on this call (its deadline, a dropped connection),
            // or a payment would be left half done. It runs as its own task; a retry
            // of the same impression then receives its answer.
            let core = Arc::clone(&self.core);
            let accepted = tokio::spawn(
                async move { core.impression(signed, &evidence).await }
                    .instrument(tracing::Span::current()),
            )
            .await
            .unwrap_or_else(|error| Err(Error::Transport(format!("impression task: {error}"))));
            let ack = accepted.map_err(|error| self.refuse("impression", error))?;
            Ok(Response::new(wire::ImpressionAck::from(&ack)))
        }
        .instrument(span)
        .await
    }

    async fn pull_receipts(
        &self,
        request: Request<wire::Signed>,
    ) -> Result<Response<wire::ReceiptsBatch>, Status> {
        let span = tracing::info_span!("pull_receipts");
        async {
            let signed = Signed::<ReceiptsPull>::try_from(request.into_inner())
                .map_err(|error| self.refuse("pull_receipts", error.into()))?;
            let batch = self
                .core
                .pull(signed)
                .await
                .map_err(|error| self.refuse("pull_receipts", error))?;
            Ok(Response::new(wire::ReceiptsBatch::from(&batch)))
        }
        .instrument(span)
        .await
    }
}

/// A handle on a running bidder: its key, its spend, and the receipts API.
#[derive(Clone)]
pub struct BidderHandle {
    core: Arc<Core>,
}

impl BidderHandle {
    /// The advertiser key bids are signed with.
    pub fn advertiser(&self) -> PublicKey {
        self.core.advertiser
    }

    /// The currency this bidder trades in.
    pub fn currency(&self) -> Currency {
        self.core.currency
    }

    /// Fractional digits of the atomic unit.
    pub fn scale(&self) -> u32 {
        self.core.scale
    }

    /// What was spent today, in atomic units.
    pub fn spent_atomic(&self) -> u64 {
        self.core.budget.spent_atomic(now_ms())
    }

    /// What is left of today's budget, in atomic units.
    pub fn remaining_atomic(&self) -> u64 {
        self.core.budget.remaining_atomic(now_ms())
    }

    /// Issues a signed receipt to `persona` (e.g. a click or a conversion) whose
    /// commitment hides `value`; the persona pulls it with its opening over
    /// `PullReceipts`. With `disclose`, the value is also given in clear.
    pub async fn issue_receipt(
        &self,
        persona: PublicKey,
        kind: ReceiptKind,
        value: &Money,
        categories: Vec<String>,
        disclose: bool,
    ) -> Result<Signed<ConversionReceipt>> {
        if value.currency() != self.core.currency {
            return Err(Error::Config(format!(
                "receipt value in {} but the bidder trades in {}",
                value.currency(),
                self.core.currency
            )));
        }
        let value_atomic = value.to_atomic(self.core.scale)?;
        self.core
            .issue(ReceiptDraft {
                persona,
                kind,
                value_atomic,
                categories,
                issued_at_ms: now_ms(),
                public_value: disclose.then_some(*value),
                impression_hash: None,
            })
            .await
    }
}

/// A bidder being served. Dropping it leaves the server running; call
/// [`Running::shutdown`] to stop it.
pub struct Running {
    handle: BidderHandle,
    local_addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::result::Result<(), tonic::transport::Error>>,
}

impl Running {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The handle on the bidder's state.
    pub fn handle(&self) -> &BidderHandle {
        &self.handle
    }

    /// Stops accepting calls, lets calls in flight finish, and waits.
    pub async fn shutdown(self) -> Result<()> {
        let Self { shutdown, task, .. } = self;
        let _ = shutdown.send(());
        Self::join(task).await
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> Result<()> {
        Self::join(self.task).await
    }

    async fn join(
        task: JoinHandle<std::result::Result<(), tonic::transport::Error>>,
    ) -> Result<()> {
        match task.await {
            Ok(result) => result.map_err(|error| Error::Transport(error.to_string())),
            Err(error) => Err(Error::Transport(error.to_string())),
        }
    }
}

/// Serves `strategy` over gRPC with `options`: binds the listener, starts the server
/// on the current Tokio runtime, and returns at once.
///
/// # Example
/// ```no_run
/// use attn_bidder_sdk::{serve, BidContext, BidDecision, Bidder, Options};
/// use attn_receipts::{AdvertiserKey, Money};
/// struct Silent;
/// impl Bidder for Silent {
///     async fn bid(&self, _context: &BidContext) -> Option<BidDecision> { None }
/// }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let key = AdvertiserKey::generate(&mut rand::rngs::OsRng);
/// let running = serve(Silent, Options::new(key, Money::parse("USD", "10")?)).await?;
/// println!("listening on {}", running.local_addr());
/// running.wait().await?;
/// # Ok(()) }
/// ```
pub async fn serve<B: Bidder>(strategy: B, options: Options) -> Result<Running> {
    let listen = options.listen;
    let metrics_listen = options.metrics_listen;
    #[cfg(feature = "tls")]
    let tls = options.tls.clone();
    let core = Arc::new(Core::new(options)?);
    #[cfg(feature = "prometheus")]
    if let Some(address) = metrics_listen {
        crate::telemetry::install_prometheus(address)?;
    }
    #[cfg(not(feature = "prometheus"))]
    if metrics_listen.is_some() {
        return Err(Error::Config(
            "metrics endpoint asked for, but the `prometheus` feature is off".into(),
        ));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| Error::Transport(format!("bind {listen}: {error}")))?;
    let local_addr = listener
        .local_addr()
        .map_err(|error| Error::Transport(error.to_string()))?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let service = BidderServer::new(Service {
        core: Arc::clone(&core),
        strategy: Arc::new(strategy),
    })
    .max_decoding_message_size(MESSAGE_MAX_BYTES)
    .max_encoding_message_size(MESSAGE_MAX_BYTES);
    #[allow(unused_mut)]
    let mut builder =
        tonic::transport::Server::builder().http2_max_header_list_size(HEADER_LIST_MAX_BYTES);
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .map_err(|error| Error::Config(format!("TLS: {error}")))?;
    }
    let (shutdown, signal) = oneshot::channel::<()>();
    let router = builder.add_service(service);
    let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
        let _ = signal.await;
    }));
    tracing::info!(%local_addr, advertiser = %core.advertiser, "bidder serving");
    Ok(Running {
        handle: BidderHandle { core },
        local_addr,
        shutdown,
        task,
    })
}
