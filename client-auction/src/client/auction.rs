//! One auction: build and sign the request, fan out, close at `tmax`, check the
//! bids, run the mechanism, build the evidence, sign the result.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use attn_proto::Message as _;
use attn_proto::v1 as wire;
use attn_receipts::limits::{EVIDENCE_BIDS_MAX, TMAX_MS_MAX};
use attn_receipts::{
    AuctionResult, Award, Bid, BidRequest, BidResponse, Creative, Currency, Mechanism, Money,
    PersonaKey, PriceEvidence, PublicKey, RequestId, SignatureBatch, Signed, Slot,
};
use rand::rngs::OsRng;
use tokio::time::Instant;

use super::error::{Error, Result};
use super::registry::Registry;
use super::wallet::WalletStore;
use crate::mechanism::{self, Candidate, Evidence};
use crate::preferences::{self, Preferences};

/// Most delivery attempts of one impression.
pub const IMPRESSION_ATTEMPTS_MAX: u32 = 5;
/// Time kept back from `tmax` to close the auction: the client stops taking answers
/// this long before `tmax`, so that verifying the bids, running the mechanism and
/// signing the result end by `tmax` rather than after it (tokio's timers also fire
/// up to a millisecond late). Smaller than the bidder SDK's own margin (5 ms), so a
/// bidder built on it always answers before the client stops listening.
pub const CLOSE_MARGIN: Duration = Duration::from_millis(2);

/// How a client runs its auctions.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The currency every bid must use.
    pub currency: Currency,
    /// Fractional digits of the atomic unit (9: nano-units). Bids whose price does
    /// not fit are dropped.
    pub scale: u32,
    /// The auction closes this long after the request is sent (1 to
    /// `limits::TMAX_MS_MAX`).
    pub tmax_ms: u32,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The global floor per unit, if any.
    pub floor: Option<Money>,
    /// Context tags sent with every request.
    pub context_tags: Vec<String>,
    /// Delivery attempts per impression (1 to [`IMPRESSION_ATTEMPTS_MAX`]).
    pub impression_attempts: u32,
    /// Time allowed to each impression delivery attempt.
    pub impression_timeout: Duration,
}

impl ClientConfig {
    /// Defaults: scale 9, `tmax` 100 ms, GSP, no floor, three delivery attempts of
    /// one second each.
    pub fn new(currency: Currency) -> Self {
        Self {
            currency,
            scale: 9,
            tmax_ms: 100,
            mechanism: Mechanism::Gsp,
            floor: None,
            context_tags: Vec::new(),
            impression_attempts: 3,
            impression_timeout: Duration::from_secs(1),
        }
    }

    fn check(&self) -> Result<()> {
        if self.tmax_ms == 0 || self.tmax_ms > TMAX_MS_MAX {
            return Err(Error::Config(format!(
                "tmax {} ms is not in 1..={TMAX_MS_MAX}",
                self.tmax_ms
            )));
        }
        if self.impression_attempts == 0 || self.impression_attempts > IMPRESSION_ATTEMPTS_MAX {
            return Err(Error::Config(format!(
                "impression attempts {} is not in 1..={IMPRESSION_ATTEMPTS_MAX}",
                self.impression_attempts
            )));
        }
        if let Some(floor) = &self.floor {
            if floor.currency() != self.currency {
                return Err(Error::Config(
                    "the floor is not in the client's currency".into(),
                ));
            }
            floor.to_atomic(self.scale)?;
        }
        Ok(())
    }
}

/// Why a bidder's answer did not take part in the auction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// No answer before `tmax`.
    Late,
    /// The bidder could not be reached (connection refused, reset, DNS…).
    Unreachable,
    /// The TLS handshake with a bidder reached over TLS failed; the TLS library's
    /// reason (a certificate from an unknown CA, for another name, expired…).
    Tls(String),
    /// The bidder answered with a gRPC error status (named).
    Failed(String),
    /// The answer does not decode or validate.
    Malformed,
    /// The answer, or the bid in it, is larger than the protocol allows.
    OverLimit,
    /// The bid's signature does not verify.
    BadSignature,
    /// The bid is signed by another key than the registry's for this bidder.
    WrongAdvertiser,
    /// The bid answers another request.
    WrongRequest,
    /// The bid is not in the request's currency.
    WrongCurrency,
    /// The bid's price does not fit the client's atomic unit.
    Unrepresentable,
    /// The bid names none of the request's slots.
    NoSlot,
    /// The user's preferences refuse it (blocked advertiser or category, below the
    /// user's minimum).
    Preference(preferences::DropReason),
}

impl DropReason {
    /// A short name for summaries.
    pub fn name(&self) -> String {
        match self {
            Self::Late => "late".into(),
            Self::Unreachable => "unreachable".into(),
            Self::Tls(reason) => format!("tls ({reason})"),
            Self::Failed(code) => format!("failed ({code})"),
            Self::Malformed => "malformed".into(),
            Self::OverLimit => "over-limit".into(),
            Self::BadSignature => "bad-signature".into(),
            Self::WrongAdvertiser => "wrong-advertiser".into(),
            Self::WrongRequest => "wrong-request".into(),
            Self::WrongCurrency => "wrong-currency".into(),
            Self::Unrepresentable => "unrepresentable-price".into(),
            Self::NoSlot => "no-slot".into(),
            Self::Preference(why) => why.name().into(),
        }
    }
}

/// What became of one bidder in one auction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BidderStatus {
    /// It bid; `won` names the slot it won, if any.
    Bid {
        /// Price per unit.
        price: Money,
        /// The slot won.
        won: Option<String>,
    },
    /// It answered "no bid".
    NoBid,
    /// Its answer was dropped.
    Dropped(DropReason),
}

/// One bidder's part in an auction.
#[derive(Clone, Debug)]
pub struct BidderDiagnostic {
    /// The registry name.
    pub name: String,
    /// The registry key.
    pub advertiser: PublicKey,
    /// What became of it.
    pub status: BidderStatus,
    /// How long its answer took (up to `tmax`).
    pub latency: Duration,
}

/// One slot won.
#[derive(Clone, Debug)]
pub struct Win {
    /// The award, as signed in the result.
    pub award: Award,
    /// Index of the winner in the registry.
    pub bidder: usize,
    /// The winner's registry name.
    pub bidder_name: String,
    /// The creative to show.
    pub creative: Creative,
    /// The winning signed bid.
    pub bid: Signed<Bid>,
    /// The protobuf encoding of the award's evidence (sent with the impression).
    pub evidence_bytes: Vec<u8>,
}

/// The outcome of one auction.
#[derive(Clone, Debug)]
pub struct AuctionOutcome {
    /// The signed request.
    pub request: Signed<BidRequest>,
    /// The request, decoded.
    pub request_body: BidRequest,
    /// The signed result.
    pub result: Signed<AuctionResult>,
    /// The slots won, in position order.
    pub wins: Vec<Win>,
    /// One entry per registry bidder, in registry order.
    pub diagnostics: Vec<BidderDiagnostic>,
    /// From sending the request to signing the result.
    pub elapsed: Duration,
}

impl AuctionOutcome {
    /// The auction's request id.
    pub fn request_id(&self) -> RequestId {
        self.request_body.request_id
    }

    /// How many answers were dropped, by reason.
    pub fn drops(&self) -> BTreeMap<String, usize> {
        let mut drops = BTreeMap::new();
        for diagnostic in &self.diagnostics {
            if let BidderStatus::Dropped(reason) = &diagnostic.status {
                *drops.entry(reason.name()).or_insert(0) += 1;
            }
        }
        drops
    }

    /// How many valid bids took part.
    pub fn bids(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| matches!(d.status, BidderStatus::Bid { .. }))
            .count()
    }
}

/// A user's client for one persona.
pub struct Client {
    pub(super) persona: PersonaKey,
    pub(super) registry: Arc<Registry>,
    pub(super) preferences: Preferences,
    pub(super) config: ClientConfig,
    pub(super) wallet: Arc<dyn WalletStore>,
    pub(super) reputation: super::reputation::SharedReputation,
    /// The payee side of the payment-channel engine, when vouchers are verified
    /// against their channels ([`Client::with_channels`]).
    pub(super) channels: Option<Arc<attn_payment_plugins::channel::Channels>>,
}

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A bid that passed the shape checks, waiting for the batch signature check.
struct Pending {
    bidder: usize,
    signed: Signed<Bid>,
}

impl Client {
    /// A client for `persona` asking the bidders of `registry`, applying
    /// `preferences`, keeping acks in `wallet`.
    pub fn new(
        persona: PersonaKey,
        registry: Arc<Registry>,
        preferences: Preferences,
        config: ClientConfig,
        wallet: Arc<dyn WalletStore>,
    ) -> Result<Self> {
        config.check()?;
        preferences.validate()?;
        if let Some(minimum) = &preferences.min_price_per_slot {
            if minimum.currency() != config.currency {
                return Err(Error::Config(
                    "the minimum price is not in the client's currency".into(),
                ));
            }
            minimum.to_atomic(config.scale)?;
        }
        Ok(Self {
            persona,
            registry,
            preferences,
            config,
            wallet,
            reputation: Default::default(),
            channels: None,
        })
    }

    /// The persona's public key.
    pub fn persona(&self) -> PublicKey {
        self.persona.public_key()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The wallet store.
    pub fn wallet(&self) -> &Arc<dyn WalletStore> {
        &self.wallet
    }

    fn build_request(
        &self,
        slots: &[Slot],
        context_tags: Vec<String>,
    ) -> Result<Signed<BidRequest>> {
        let (reputation_ref, reputation_proof) = self.reputation_for_request();
        let request = BidRequest {
            request_id: RequestId::random(&mut OsRng),
            persona: self.persona.public_key(),
            slots: slots.to_vec(),
            context_tags,
            mechanism: self.config.mechanism,
            currency: self.config.currency,
            tmax_ms: self.config.tmax_ms,
            reputation_ref,
            reputation_proof,
            created_at_ms: now_ms(),
            floor: self.effective_floor()?,
        };
        // The client validates its own request exactly as a bidder will.
        BidRequest::try_from(wire::BidRequest::from(&request))?;
        for slot in &request.slots {
            if let Some(floor) = &slot.floor {
                floor.to_atomic(self.config.scale)?;
            }
        }
        Ok(Signed::sign(&self.persona, &request))
    }

    /// The global floor of the request: the configured floor raised to the user's
    /// minimum price, so that the signed request shows every reserve the mechanism
    /// applies (a winner priced by a reserve checks it against the signed floor).
    fn effective_floor(&self) -> Result<Option<Money>> {
        let minimum = self.preferences.min_price_per_slot;
        Ok(match (self.config.floor, minimum) {
            (None, None) => None,
            (Some(floor), None) => Some(floor),
            (None, Some(minimum)) => Some(minimum),
            (Some(floor), Some(minimum)) => Some(if minimum > floor { minimum } else { floor }),
        })
    }

    /// Runs one auction for `slots`: never fails because of a bidder (late, down,
    /// misbehaving bidders are dropped and reported in the diagnostics); fails only
    /// when the slots or the configuration are invalid.
    pub async fn run_auction(&self, slots: &[Slot]) -> Result<AuctionOutcome> {
        self.run_auction_with_tags(slots, self.config.context_tags.clone())
            .await
    }

    /// [`Client::run_auction`] with the context tags of this page instead of the
    /// configured ones (at most `limits::CONTEXT_TAGS_MAX`).
    pub async fn run_auction_with_tags(
        &self,
        slots: &[Slot],
        context_tags: Vec<String>,
    ) -> Result<AuctionOutcome> {
        let started = Instant::now();
        let signed_request = self.build_request(slots, context_tags)?;
        let request = signed_request.decode_verified()?;
        let tmax = Duration::from_millis(u64::from(request.tmax_ms));
        let open_for = if tmax > CLOSE_MARGIN * 2 {
            tmax - CLOSE_MARGIN
        } else {
            tmax / 2
        };
        let deadline = started + open_for;
        let wire_request = signed_request.to_wire();
        let calls = self.registry.bidders().iter().map(|bidder| {
            let mut client = bidder.client.clone();
            let mut call = tonic::Request::new(wire_request.clone());
            call.set_timeout(tmax);
            async move {
                let answer = tokio::time::timeout_at(deadline, client.bid(call)).await;
                if let Ok(Ok(response)) = &answer {
                    self.noted(response.get_ref().want_reputation_proof);
                }
                (answer, started.elapsed())
            }
        });
        let answers = futures_util::future::join_all(calls).await;

        let mut diagnostics: Vec<BidderDiagnostic> = Vec::with_capacity(answers.len());
        let mut pending: Vec<Pending> = Vec::new();
        for (index, (answer, latency)) in answers.into_iter().enumerate() {
            let bidder = &self.registry.bidders()[index];
            let status = match answer {
                Err(_) => BidderStatus::Dropped(DropReason::Late),
                Ok(Err(status)) => BidderStatus::Dropped(
                    tls_failure(bidder.tls, &status).unwrap_or_else(|| drop_for_status(&status)),
                ),
                Ok(Ok(response)) => match BidResponse::try_from(response.into_inner()) {
                    Err(error) => BidderStatus::Dropped(drop_for_error(&error)),
                    Ok(BidResponse { bid: None, .. }) => BidderStatus::NoBid,
                    Ok(BidResponse {
                        bid: Some(signed), ..
                    }) => {
                        if signed.signer() == bidder.advertiser {
                            pending.push(Pending {
                                bidder: index,
                                signed,
                            });
                            BidderStatus::NoBid // replaced below
                        } else {
                            BidderStatus::Dropped(DropReason::WrongAdvertiser)
                        }
                    }
                },
            };
            diagnostics.push(BidderDiagnostic {
                name: bidder.name.clone(),
                advertiser: bidder.advertiser,
                status,
                latency,
            });
        }

        // One batch verification for every bid; the bad ones are named.
        let mut batch = SignatureBatch::with_capacity(pending.len());
        for bid in &pending {
            batch.push(&bid.signed);
        }
        let bad: Vec<usize> = match batch.verify() {
            Ok(()) => Vec::new(),
            Err(attn_receipts::Error::BadSignatures { indices, .. }) => indices,
            Err(_) => (0..pending.len()).collect(),
        };

        let mut bids: Vec<(usize, Signed<Bid>, Bid)> = Vec::with_capacity(pending.len());
        let mut candidates: Vec<Candidate> = Vec::with_capacity(pending.len());
        for (position, Pending { bidder, signed }) in pending.into_iter().enumerate() {
            let verdict = if bad.contains(&position) {
                Err(DropReason::BadSignature)
            } else {
                self.admit(&signed, &request)
            };
            match verdict {
                Err(reason) => diagnostics[bidder].status = BidderStatus::Dropped(reason),
                Ok((bid, candidate)) => {
                    diagnostics[bidder].status = BidderStatus::Bid {
                        price: bid.price,
                        won: None,
                    };
                    candidates.push(candidate);
                    bids.push((bidder, signed, bid));
                }
            }
        }

        let slot_specs = mechanism::slot_specs(&request, None, self.config.scale)?;
        let outcome = mechanism::run(
            request.mechanism,
            &slot_specs,
            &candidates,
            &self.preferences.rules(),
        );
        let mut wins = Vec::with_capacity(outcome.awards.len());
        for award in outcome.awards {
            let (bidder, signed_bid, bid) = &bids[award.candidate];
            let slot = &request.slots[award.slot];
            let evidence = match &award.evidence {
                Evidence::OwnBid => PriceEvidence::OwnBid,
                Evidence::NextBid { candidate } => {
                    PriceEvidence::RunnerUpBid(bids[*candidate].1.clone())
                }
                Evidence::Reserve { .. } => PriceEvidence::FloorRequest(signed_request.clone()),
                Evidence::Externality { lower } => PriceEvidence::LowerBids(
                    lower
                        .iter()
                        .take(EVIDENCE_BIDS_MAX)
                        .map(|&c| bids[c].1.clone())
                        .collect(),
                ),
            };
            let evidence_bytes = wire::PriceEvidence::from(&evidence).encode_to_vec();
            let domain_award = Award {
                slot_id: slot.slot_id.clone(),
                advertiser: bid.advertiser,
                price: Money::from_atomic(request.currency, award.price_atomic, self.config.scale)?,
                charge: Money::from_atomic(
                    request.currency,
                    award.charge_atomic,
                    self.config.scale,
                )?,
                bid_hash: signed_bid.hash(),
                evidence,
            };
            if let BidderStatus::Bid { won, .. } = &mut diagnostics[*bidder].status {
                *won = Some(slot.slot_id.clone());
            }
            wins.push(Win {
                award: domain_award,
                bidder: *bidder,
                bidder_name: self.registry.bidders()[*bidder].name.clone(),
                creative: bid.creative.clone(),
                bid: signed_bid.clone(),
                evidence_bytes,
            });
        }
        let result = AuctionResult {
            request_id: request.request_id,
            persona: request.persona,
            awards: wins.iter().map(|w| w.award.clone()).collect(),
            closed_at_ms: now_ms(),
        };
        let result = Signed::sign(&self.persona, &result);
        Ok(AuctionOutcome {
            request: signed_request,
            request_body: request,
            result,
            wins,
            diagnostics,
            elapsed: started.elapsed(),
        })
    }

    /// Checks a bid whose signature verified; returns it with its mechanism
    /// candidate, or why it is dropped.
    fn admit(
        &self,
        signed: &Signed<Bid>,
        request: &BidRequest,
    ) -> Result<(Bid, Candidate), DropReason> {
        let bid = signed
            .decode_verified()
            .map_err(|error| drop_for_error(&error))?;
        if bid.request_id != request.request_id {
            return Err(DropReason::WrongRequest);
        }
        if bid.price.currency() != request.currency {
            return Err(DropReason::WrongCurrency);
        }
        self.preferences
            .check(&bid)
            .map_err(DropReason::Preference)?;
        let candidate =
            Candidate::from_bid(&bid, request, self.config.scale).map_err(|error| match error {
                attn_receipts::Error::CurrencyMismatch { .. } => DropReason::WrongCurrency,
                attn_receipts::Error::PrecisionLoss { .. } => DropReason::Unrepresentable,
                _ => DropReason::OverLimit,
            })?;
        if candidate.eligible == 0 {
            return Err(DropReason::NoSlot);
        }
        Ok((bid, candidate))
    }
}

fn drop_for_status(status: &tonic::Status) -> DropReason {
    use tonic::Code;
    match status.code() {
        Code::DeadlineExceeded | Code::Cancelled => DropReason::Late,
        Code::Unavailable => DropReason::Unreachable,
        Code::Unknown if is_transport(status) => DropReason::Unreachable,
        Code::OutOfRange | Code::ResourceExhausted => DropReason::OverLimit,
        Code::Internal if status.message().contains("decode") => DropReason::Malformed,
        code => DropReason::Failed(format!("{code:?}")),
    }
}

/// The TLS library's reason when `status` is a failed TLS handshake with a bidder
/// reached over TLS: tokio-rustls reports every TLS error as an I/O error of kind
/// `InvalidData` wrapping the rustls error.
fn tls_failure(tls: bool, status: &tonic::Status) -> Option<DropReason> {
    if !tls {
        return None;
    }
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::InvalidData
        {
            let reason = io
                .get_ref()
                .map_or_else(|| io.to_string(), |inner| inner.to_string());
            return Some(DropReason::Tls(reason));
        }
        source = error.source();
    }
    None
}

fn is_transport(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some()
}

fn drop_for_error(error: &attn_receipts::Error) -> DropReason {
    match error {
        attn_receipts::Error::TooLong { .. } => DropReason::OverLimit,
        attn_receipts::Error::SignerMismatch { .. } => DropReason::WrongAdvertiser,
        attn_receipts::Error::BadSignature { .. } | attn_receipts::Error::BadSignatures { .. } => {
            DropReason::BadSignature
        }
        _ => DropReason::Malformed,
    }
}
