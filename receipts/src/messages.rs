//! The domain types of every protocol message, and their conversions from and to the
//! generated wire types. Wire → domain is `TryFrom`, which validates every field once
//! (sizes, counts, key lengths, currency codes) and returns a typed [`Error`] naming
//! the message and field at fault; domain → wire is `From` and cannot fail.

use std::collections::HashSet;

use attn_proto::v1 as wire;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::money::{Currency, Money};
use crate::signed::{Digest32, Kind, Signed};

// ---------------------------------------------------------------------------------
// Field validation helpers: each names the message and field it checks.

fn fixed<const N: usize>(
    message: &'static str,
    field: &'static str,
    bytes: &[u8],
) -> Result<[u8; N]> {
    if bytes.is_empty() {
        return Err(Error::MissingField { message, field });
    }
    bytes.try_into().map_err(|_| Error::WrongLength {
        message,
        field,
        expected: N,
        len: bytes.len(),
    })
}

fn optional_digest(
    message: &'static str,
    field: &'static str,
    bytes: &[u8],
) -> Result<Option<Digest32>> {
    if bytes.is_empty() {
        Ok(None)
    } else {
        fixed::<32>(message, field, bytes).map(|b| Some(Digest32(b)))
    }
}

fn digest(message: &'static str, field: &'static str, bytes: &[u8]) -> Result<Digest32> {
    fixed::<32>(message, field, bytes).map(Digest32)
}

fn key(message: &'static str, field: &'static str, bytes: &[u8]) -> Result<PublicKey> {
    let array = fixed::<32>(message, field, bytes)?;
    PublicKey::from_bytes(&array).map_err(|_| Error::InvalidKey { message, field })
}

/// [`key`], unless `bytes` are those of one of the `known` (already validated) keys,
/// which is then taken as it is.
fn key_knowing(
    known: &[PublicKey],
    message: &'static str,
    field: &'static str,
    bytes: &[u8],
) -> Result<PublicKey> {
    match known.iter().find(|k| k.as_bytes() == bytes) {
        Some(known) => Ok(*known),
        None => key(message, field, bytes),
    }
}

fn text(message: &'static str, field: &'static str, value: String, max: usize) -> Result<String> {
    if value.len() > max {
        return Err(Error::TooLong {
            message,
            field,
            len: value.len(),
            max,
        });
    }
    Ok(value)
}

fn required_text(
    message: &'static str,
    field: &'static str,
    value: String,
    max: usize,
) -> Result<String> {
    if value.is_empty() {
        return Err(Error::MissingField { message, field });
    }
    text(message, field, value, max)
}

fn count(message: &'static str, field: &'static str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(Error::TooLong {
            message,
            field,
            len,
            max,
        });
    }
    Ok(())
}

fn tags(
    message: &'static str,
    field: &'static str,
    values: Vec<String>,
    max: usize,
) -> Result<Vec<String>> {
    count(message, field, values.len(), max)?;
    values
        .into_iter()
        .map(|tag| required_text(message, field, tag, TAG_MAX_BYTES))
        .collect()
}

fn money(message: &'static str, field: &'static str, value: Option<wire::Money>) -> Result<Money> {
    let value = value.ok_or(Error::MissingField { message, field })?;
    Money::try_from(value)
}

fn optional_money(value: Option<wire::Money>) -> Result<Option<Money>> {
    value.map(Money::try_from).transpose()
}

fn in_currency(
    message: &'static str,
    field: &'static str,
    value: &Money,
    currency: Currency,
) -> Result<()> {
    if value.currency() != currency {
        return Err(Error::InvalidField {
            message,
            field,
            reason: format!("currency {} differs from {}", value.currency(), currency),
        });
    }
    Ok(())
}

fn signed<T: Kind>(
    message: &'static str,
    field: &'static str,
    value: Option<wire::Signed>,
) -> Result<Signed<T>> {
    let value = value.ok_or(Error::MissingField { message, field })?;
    Signed::try_from(value)
}

impl TryFrom<wire::Money> for Money {
    type Error = Error;
    fn try_from(value: wire::Money) -> Result<Self> {
        Money::parse(&value.currency, &value.amount)
    }
}

impl From<&Money> for wire::Money {
    fn from(value: &Money) -> Self {
        wire::Money {
            currency: value.currency().to_string(),
            amount: value.amount().normalize().to_string(),
        }
    }
}

macro_rules! signed_kind {
    ($type:ty, $wire:ty, $domain:literal, $max:expr, $signer:ident) => {
        impl Kind for $type {
            const DOMAIN: &'static str = $domain;
            const NAME: &'static str = stringify!($type);
            const BODY_MAX_BYTES: usize = $max;
            type Wire = $wire;
            fn to_wire(&self) -> $wire {
                <$wire>::from(self)
            }
            fn claimed_signer(&self) -> &PublicKey {
                &self.$signer
            }
        }
    };
}

// ---------------------------------------------------------------------------------
// Identifiers.

/// A 16-byte random request id: the nonce every bid, result and impression names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RequestId(pub [u8; 16]);

impl RequestId {
    /// A fresh random id.
    pub fn random(rng: &mut impl rand_core::CryptoRngCore) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The auction mechanism a client runs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Mechanism {
    /// Each winner pays its own bid.
    FirstPrice,
    /// One slot; the winner pays the highest losing bid or the floor.
    SecondPrice,
    /// Generalised second price over ranked slots.
    Gsp,
    /// Vickrey–Clarke–Groves over ranked slots.
    Vcg,
}

impl Mechanism {
    /// Every mechanism.
    pub const ALL: [Mechanism; 4] = [Self::FirstPrice, Self::SecondPrice, Self::Gsp, Self::Vcg];

    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::FirstPrice => "first-price",
            Self::SecondPrice => "second-price",
            Self::Gsp => "gsp",
            Self::Vcg => "vcg",
        }
    }
}

impl std::str::FromStr for Mechanism {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::InvalidField {
                message: "Mechanism",
                field: "name",
                reason: format!("{s:?} is not one of first-price, second-price, gsp, vcg"),
            })
    }
}

impl TryFrom<i32> for Mechanism {
    type Error = Error;
    fn try_from(value: i32) -> Result<Self> {
        match wire::Mechanism::try_from(value) {
            Ok(wire::Mechanism::FirstPrice) => Ok(Self::FirstPrice),
            Ok(wire::Mechanism::SecondPrice) => Ok(Self::SecondPrice),
            Ok(wire::Mechanism::Gsp) => Ok(Self::Gsp),
            Ok(wire::Mechanism::Vcg) => Ok(Self::Vcg),
            _ => Err(Error::InvalidField {
                message: "BidRequest",
                field: "mechanism",
                reason: format!("{value} is unspecified or unknown"),
            }),
        }
    }
}

impl From<Mechanism> for wire::Mechanism {
    fn from(value: Mechanism) -> Self {
        match value {
            Mechanism::FirstPrice => Self::FirstPrice,
            Mechanism::SecondPrice => Self::SecondPrice,
            Mechanism::Gsp => Self::Gsp,
            Mechanism::Vcg => Self::Vcg,
        }
    }
}

// ---------------------------------------------------------------------------------
// The request.

/// One ad slot on the user's screen.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Slot {
    /// Unique within the request.
    pub slot_id: String,
    /// Creative format accepted (`banner`, `native`…); empty means any.
    pub format: String,
    /// Width in CSS pixels, 0 = any.
    pub width: u32,
    /// Height in CSS pixels, 0 = any.
    pub height: u32,
    /// 0 is the most prominent; unique within the request.
    pub rank: u32,
    /// Attention relative to a reference slot, in parts per million; prices are per
    /// unit, so a winner is charged `price * click_weight_ppm / 1e6`.
    pub click_weight_ppm: u32,
    /// The slot's own floor per unit, if any.
    pub floor: Option<Money>,
}

impl TryFrom<wire::Slot> for Slot {
    type Error = Error;
    fn try_from(value: wire::Slot) -> Result<Self> {
        const M: &str = "Slot";
        if value.click_weight_ppm == 0 || value.click_weight_ppm > CLICK_WEIGHT_PPM_MAX {
            return Err(Error::InvalidField {
                message: M,
                field: "click_weight_ppm",
                reason: format!(
                    "{} is not in 1..={CLICK_WEIGHT_PPM_MAX}",
                    value.click_weight_ppm
                ),
            });
        }
        Ok(Self {
            slot_id: required_text(M, "slot_id", value.slot_id, ID_MAX_BYTES)?,
            format: text(M, "format", value.format, FORMAT_MAX_BYTES)?,
            width: value.width,
            height: value.height,
            rank: value.rank,
            click_weight_ppm: value.click_weight_ppm,
            floor: optional_money(value.floor)?,
        })
    }
}

impl From<&Slot> for wire::Slot {
    fn from(value: &Slot) -> Self {
        Self {
            slot_id: value.slot_id.clone(),
            format: value.format.clone(),
            width: value.width,
            height: value.height,
            rank: value.rank,
            click_weight_ppm: value.click_weight_ppm,
            floor: value.floor.as_ref().map(Into::into),
        }
    }
}

/// A request for bids, signed by the persona.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BidRequest {
    /// The nonce of this auction.
    pub request_id: RequestId,
    /// The persona selling its slots.
    pub persona: PublicKey,
    /// 1 to [`SLOTS_PER_REQUEST_MAX`] slots, unique ids and ranks.
    pub slots: Vec<Slot>,
    /// Context tags from the interface provider.
    pub context_tags: Vec<String>,
    /// The mechanism that will decide.
    pub mechanism: Mechanism,
    /// The currency of every bid.
    pub currency: Currency,
    /// The auction closes this long after the request is sent (1 to [`TMAX_MS_MAX`]).
    pub tmax_ms: u32,
    /// Hash of the persona's current reputation proof envelope.
    pub reputation_ref: Option<Digest32>,
    /// The proof itself, on first contact.
    pub reputation_proof: Option<Signed<ReputationProof>>,
    /// When the request was made, ms since the epoch.
    pub created_at_ms: u64,
    /// The global floor per unit, if any.
    pub floor: Option<Money>,
}

impl BidRequest {
    /// The slot with this id.
    pub fn slot(&self, slot_id: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.slot_id == slot_id)
    }
}

impl TryFrom<wire::BidRequest> for BidRequest {
    type Error = Error;
    fn try_from(value: wire::BidRequest) -> Result<Self> {
        const M: &str = "BidRequest";
        if value.slots.is_empty() {
            return Err(Error::MissingField {
                message: M,
                field: "slots",
            });
        }
        count(M, "slots", value.slots.len(), SLOTS_PER_REQUEST_MAX)?;
        let currency = Currency::new(&value.currency)?;
        let slots = value
            .slots
            .into_iter()
            .map(Slot::try_from)
            .collect::<Result<Vec<_>>>()?;
        let mut ids = HashSet::new();
        let mut ranks = HashSet::new();
        for slot in &slots {
            if !ids.insert(slot.slot_id.as_str()) {
                return Err(Error::InvalidField {
                    message: M,
                    field: "slots",
                    reason: format!("slot id {:?} appears twice", slot.slot_id),
                });
            }
            if !ranks.insert(slot.rank) {
                return Err(Error::InvalidField {
                    message: M,
                    field: "slots",
                    reason: format!("rank {} appears twice", slot.rank),
                });
            }
            if let Some(floor) = &slot.floor {
                in_currency(M, "slots.floor", floor, currency)?;
            }
        }
        if value.tmax_ms == 0 || value.tmax_ms > TMAX_MS_MAX {
            return Err(Error::InvalidField {
                message: M,
                field: "tmax_ms",
                reason: format!("{} is not in 1..={TMAX_MS_MAX}", value.tmax_ms),
            });
        }
        let floor = optional_money(value.floor)?;
        if let Some(floor) = &floor {
            in_currency(M, "floor", floor, currency)?;
        }
        Ok(Self {
            request_id: RequestId(fixed(M, "request_id", &value.request_id)?),
            persona: key(M, "persona", &value.persona)?,
            slots,
            context_tags: tags(M, "context_tags", value.context_tags, CONTEXT_TAGS_MAX)?,
            mechanism: Mechanism::try_from(value.mechanism)?,
            currency,
            tmax_ms: value.tmax_ms,
            reputation_ref: optional_digest(M, "reputation_ref", &value.reputation_ref)?,
            reputation_proof: value.reputation_proof.map(Signed::try_from).transpose()?,
            created_at_ms: value.created_at_ms,
            floor,
        })
    }
}

impl From<&BidRequest> for wire::BidRequest {
    fn from(value: &BidRequest) -> Self {
        Self {
            request_id: value.request_id.0.to_vec(),
            persona: value.persona.to_bytes().to_vec(),
            slots: value.slots.iter().map(Into::into).collect(),
            context_tags: value.context_tags.clone(),
            mechanism: wire::Mechanism::from(value.mechanism).into(),
            currency: value.currency.to_string(),
            tmax_ms: value.tmax_ms,
            reputation_ref: value
                .reputation_ref
                .map(|d| d.0.to_vec())
                .unwrap_or_default(),
            reputation_proof: value.reputation_proof.as_ref().map(Signed::to_wire),
            created_at_ms: value.created_at_ms,
            floor: value.floor.as_ref().map(Into::into),
        }
    }
}

signed_kind!(
    BidRequest,
    wire::BidRequest,
    "attn/v1/bid-request",
    BID_REQUEST_BODY_MAX_BYTES,
    persona
);

// ---------------------------------------------------------------------------------
// Bids.

/// What would be shown.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Creative {
    /// Advertiser-chosen id.
    pub creative_id: String,
    /// Category tags (users may block categories).
    pub categories: Vec<String>,
    /// SHA-256 of the content.
    pub content_hash: Digest32,
    /// Where the client fetches it, if anywhere.
    pub url: Option<String>,
}

impl TryFrom<wire::Creative> for Creative {
    type Error = Error;
    fn try_from(value: wire::Creative) -> Result<Self> {
        const M: &str = "Creative";
        let url = text(M, "url", value.url, URL_MAX_BYTES)?;
        Ok(Self {
            creative_id: required_text(M, "creative_id", value.creative_id, ID_MAX_BYTES)?,
            categories: tags(M, "categories", value.categories, CATEGORIES_MAX)?,
            content_hash: digest(M, "content_hash", &value.content_hash)?,
            url: (!url.is_empty()).then_some(url),
        })
    }
}

impl From<&Creative> for wire::Creative {
    fn from(value: &Creative) -> Self {
        Self {
            creative_id: value.creative_id.clone(),
            categories: value.categories.clone(),
            content_hash: value.content_hash.0.to_vec(),
            url: value.url.clone().unwrap_or_default(),
        }
    }
}

/// A sealed bid, signed by the advertiser.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Bid {
    /// The one request this bid answers.
    pub request_id: RequestId,
    /// The advertiser (its id is its key).
    pub advertiser: PublicKey,
    /// The most it pays per unit of attention.
    pub price: Money,
    /// The slots it bids for; empty means any.
    pub slot_ids: Vec<String>,
    /// What would be shown.
    pub creative: Creative,
    /// The rail it pays through.
    pub rail: String,
    /// When the bid was made, ms since the epoch.
    pub created_at_ms: u64,
}

impl Bid {
    /// Whether this bid is for `slot_id`.
    pub fn covers(&self, slot_id: &str) -> bool {
        self.slot_ids.is_empty() || self.slot_ids.iter().any(|s| s == slot_id)
    }
}

impl TryFrom<wire::Bid> for Bid {
    type Error = Error;
    fn try_from(value: wire::Bid) -> Result<Self> {
        const M: &str = "Bid";
        count(M, "slot_ids", value.slot_ids.len(), SLOTS_PER_REQUEST_MAX)?;
        let slot_ids = value
            .slot_ids
            .into_iter()
            .map(|s| required_text(M, "slot_ids", s, ID_MAX_BYTES))
            .collect::<Result<Vec<_>>>()?;
        let creative = value.creative.ok_or(Error::MissingField {
            message: M,
            field: "creative",
        })?;
        Ok(Self {
            request_id: RequestId(fixed(M, "request_id", &value.request_id)?),
            advertiser: key(M, "advertiser", &value.advertiser)?,
            price: money(M, "price", value.price)?,
            slot_ids,
            creative: Creative::try_from(creative)?,
            rail: required_text(M, "rail", value.rail, RAIL_NAME_MAX_BYTES)?,
            created_at_ms: value.created_at_ms,
        })
    }
}

impl From<&Bid> for wire::Bid {
    fn from(value: &Bid) -> Self {
        Self {
            request_id: value.request_id.0.to_vec(),
            advertiser: value.advertiser.to_bytes().to_vec(),
            price: Some((&value.price).into()),
            slot_ids: value.slot_ids.clone(),
            creative: Some((&value.creative).into()),
            rail: value.rail.clone(),
            created_at_ms: value.created_at_ms,
        }
    }
}

signed_kind!(
    Bid,
    wire::Bid,
    "attn/v1/bid",
    BID_BODY_MAX_BYTES,
    advertiser
);

/// An advertiser's answer to a bid request.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct BidResponse {
    /// The signed bid, or `None` for no bid.
    pub bid: Option<Signed<Bid>>,
    /// The bidder wants the full reputation proof next time.
    pub want_reputation_proof: bool,
}

impl TryFrom<wire::BidResponse> for BidResponse {
    type Error = Error;
    fn try_from(value: wire::BidResponse) -> Result<Self> {
        Ok(Self {
            bid: value.bid.map(Signed::try_from).transpose()?,
            want_reputation_proof: value.want_reputation_proof,
        })
    }
}

impl From<&BidResponse> for wire::BidResponse {
    fn from(value: &BidResponse) -> Self {
        Self {
            bid: value.bid.as_ref().map(Signed::to_wire),
            want_reputation_proof: value.want_reputation_proof,
        }
    }
}

// ---------------------------------------------------------------------------------
// Results.

/// Why a winner pays what it pays.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PriceEvidence {
    /// The signed runner-up bid that set the price.
    RunnerUpBid(Signed<Bid>),
    /// A floor set the price; the signed request shows it.
    FloorRequest(Signed<BidRequest>),
    /// First price: the winner's own bid.
    OwnBid,
    /// VCG: the signed bids ranked below the winner.
    LowerBids(Vec<Signed<Bid>>),
}

impl TryFrom<wire::PriceEvidence> for PriceEvidence {
    type Error = Error;
    fn try_from(value: wire::PriceEvidence) -> Result<Self> {
        use wire::price_evidence::Source;
        const M: &str = "PriceEvidence";
        match value.source {
            None => Err(Error::MissingField {
                message: M,
                field: "source",
            }),
            Some(Source::RunnerUpBid(bid)) => Ok(Self::RunnerUpBid(Signed::try_from(bid)?)),
            Some(Source::FloorRequest(request)) => {
                Ok(Self::FloorRequest(Signed::try_from(request)?))
            }
            Some(Source::OwnBid(true)) => Ok(Self::OwnBid),
            Some(Source::OwnBid(false)) => Err(Error::InvalidField {
                message: M,
                field: "own_bid",
                reason: "must be true when set".into(),
            }),
            Some(Source::LowerBids(list)) => {
                count(M, "lower_bids", list.items.len(), EVIDENCE_BIDS_MAX)?;
                let bids = list
                    .items
                    .into_iter()
                    .map(Signed::try_from)
                    .collect::<Result<Vec<_>>>()?;
                Ok(Self::LowerBids(bids))
            }
        }
    }
}

impl From<&PriceEvidence> for wire::PriceEvidence {
    fn from(value: &PriceEvidence) -> Self {
        use wire::price_evidence::Source;
        let source = match value {
            PriceEvidence::RunnerUpBid(bid) => Source::RunnerUpBid(bid.to_wire()),
            PriceEvidence::FloorRequest(request) => Source::FloorRequest(request.to_wire()),
            PriceEvidence::OwnBid => Source::OwnBid(true),
            PriceEvidence::LowerBids(bids) => Source::LowerBids(wire::SignedList {
                items: bids.iter().map(Signed::to_wire).collect(),
            }),
        };
        Self {
            source: Some(source),
        }
    }
}

impl PriceEvidence {
    /// SHA-256 of the encoded evidence, as an impression names it.
    pub fn hash(&self) -> Digest32 {
        use prost::Message as _;
        Digest32::of(&[&wire::PriceEvidence::from(self).encode_to_vec()])
    }
}

/// One winner of an auction.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Award {
    /// The slot won.
    pub slot_id: String,
    /// The winner.
    pub advertiser: PublicKey,
    /// The price per unit it pays.
    pub price: Money,
    /// The amount charged for one impression: `price * click_weight_ppm / 1e6`.
    pub charge: Money,
    /// Hash of the winning bid's envelope.
    pub bid_hash: Digest32,
    /// What set the price.
    pub evidence: PriceEvidence,
}

impl TryFrom<wire::Award> for Award {
    type Error = Error;
    fn try_from(value: wire::Award) -> Result<Self> {
        const M: &str = "Award";
        let evidence = value.evidence.ok_or(Error::MissingField {
            message: M,
            field: "evidence",
        })?;
        let price = money(M, "price", value.price)?;
        let charge = money(M, "charge", value.charge)?;
        in_currency(M, "charge", &charge, price.currency())?;
        Ok(Self {
            slot_id: required_text(M, "slot_id", value.slot_id, ID_MAX_BYTES)?,
            advertiser: key(M, "advertiser", &value.advertiser)?,
            price,
            charge,
            bid_hash: digest(M, "bid_hash", &value.bid_hash)?,
            evidence: PriceEvidence::try_from(evidence)?,
        })
    }
}

impl From<&Award> for wire::Award {
    fn from(value: &Award) -> Self {
        Self {
            slot_id: value.slot_id.clone(),
            advertiser: value.advertiser.to_bytes().to_vec(),
            price: Some((&value.price).into()),
            charge: Some((&value.charge).into()),
            bid_hash: value.bid_hash.0.to_vec(),
            evidence: Some((&value.evidence).into()),
        }
    }
}

/// The outcome of an auction, signed by the persona.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuctionResult {
    /// The auction.
    pub request_id: RequestId,
    /// The persona that ran it.
    pub persona: PublicKey,
    /// At most one award per slot.
    pub awards: Vec<Award>,
    /// When it closed, ms since the epoch.
    pub closed_at_ms: u64,
}

impl TryFrom<wire::AuctionResult> for AuctionResult {
    type Error = Error;
    fn try_from(value: wire::AuctionResult) -> Result<Self> {
        const M: &str = "AuctionResult";
        count(M, "awards", value.awards.len(), SLOTS_PER_REQUEST_MAX)?;
        let awards = value
            .awards
            .into_iter()
            .map(Award::try_from)
            .collect::<Result<Vec<_>>>()?;
        let mut slots = HashSet::new();
        for award in &awards {
            if !slots.insert(award.slot_id.as_str()) {
                return Err(Error::InvalidField {
                    message: M,
                    field: "awards",
                    reason: format!("slot {:?} awarded twice", award.slot_id),
                });
            }
        }
        Ok(Self {
            request_id: RequestId(fixed(M, "request_id", &value.request_id)?),
            persona: key(M, "persona", &value.persona)?,
            awards,
            closed_at_ms: value.closed_at_ms,
        })
    }
}

impl From<&AuctionResult> for wire::AuctionResult {
    fn from(value: &AuctionResult) -> Self {
        Self {
            request_id: value.request_id.0.to_vec(),
            persona: value.persona.to_bytes().to_vec(),
            awards: value.awards.iter().map(Into::into).collect(),
            closed_at_ms: value.closed_at_ms,
        }
    }
}

signed_kind!(
    AuctionResult,
    wire::AuctionResult,
    "attn/v1/auction-result",
    AUCTION_RESULT_BODY_MAX_BYTES,
    persona
);

// ---------------------------------------------------------------------------------
// Impressions and payment.

/// Proof that a persona showed an ad, signed by the persona.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Impression {
    /// The auction.
    pub request_id: RequestId,
    /// The persona that showed it.
    pub persona: PublicKey,
    /// The slot it was shown in.
    pub slot_id: String,
    /// The winner.
    pub advertiser: PublicKey,
    /// The creative shown.
    pub creative_id: String,
    /// The amount charged (the award's charge).
    pub charge: Money,
    /// When it was shown, ms since the epoch.
    pub shown_at_ms: u64,
    /// Hash of the award's price evidence.
    pub evidence_hash: Digest32,
    /// Hash of the winning bid's envelope.
    pub bid_hash: Digest32,
}

impl TryFrom<wire::Impression> for Impression {
    type Error = Error;
    fn try_from(value: wire::Impression) -> Result<Self> {
        const M: &str = "Impression";
        Ok(Self {
            request_id: RequestId(fixed(M, "request_id", &value.request_id)?),
            persona: key(M, "persona", &value.persona)?,
            slot_id: required_text(M, "slot_id", value.slot_id, ID_MAX_BYTES)?,
            advertiser: key(M, "advertiser", &value.advertiser)?,
            creative_id: required_text(M, "creative_id", value.creative_id, ID_MAX_BYTES)?,
            charge: money(M, "charge", value.charge)?,
            shown_at_ms: value.shown_at_ms,
            evidence_hash: digest(M, "evidence_hash", &value.evidence_hash)?,
            bid_hash: digest(M, "bid_hash", &value.bid_hash)?,
        })
    }
}

impl From<&Impression> for wire::Impression {
    fn from(value: &Impression) -> Self {
        Self {
            request_id: value.request_id.0.to_vec(),
            persona: value.persona.to_bytes().to_vec(),
            slot_id: value.slot_id.clone(),
            advertiser: value.advertiser.to_bytes().to_vec(),
            creative_id: value.creative_id.clone(),
            charge: Some((&value.charge).into()),
            shown_at_ms: value.shown_at_ms,
            evidence_hash: value.evidence_hash.0.to_vec(),
            bid_hash: value.bid_hash.0.to_vec(),
        }
    }
}

signed_kind!(
    Impression,
    wire::Impression,
    "attn/v1/impression",
    SMALL_BODY_MAX_BYTES,
    persona
);

/// A payer-signed voucher of a unidirectional payment channel: the cumulative total.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Voucher {
    /// The channel.
    pub channel_id: Digest32,
    /// Who pays (signs).
    pub payer: PublicKey,
    /// Who is paid.
    pub payee: PublicKey,
    /// Total paid over the channel so far; never decreases.
    pub cumulative: Money,
    /// Strictly increasing.
    pub sequence: u64,
    /// When it was made, ms since the epoch.
    pub created_at_ms: u64,
}

impl TryFrom<wire::Voucher> for Voucher {
    type Error = Error;
    fn try_from(value: wire::Voucher) -> Result<Self> {
        Self::from_wire_knowing(value, &[])
    }
}

impl Voucher {
    /// The one validation of a wire voucher ([`TryFrom`] calls it with no known key).
    /// A payer or payee whose bytes equal one of the `known` (already validated) keys
    /// is taken as that key without being parsed again.
    fn from_wire_knowing(value: wire::Voucher, known: &[PublicKey]) -> Result<Self> {
        const M: &str = "Voucher";
        Ok(Self {
            channel_id: digest(M, "channel_id", &value.channel_id)?,
            payer: key_knowing(known, M, "payer", &value.payer)?,
            payee: key_knowing(known, M, "payee", &value.payee)?,
            cumulative: money(M, "cumulative", value.cumulative)?,
            sequence: value.sequence,
            created_at_ms: value.created_at_ms,
        })
    }

    /// [`Signed::open`] for a party that already holds parsed keys (the envelope's
    /// signer, a payee its own key, the channel engine the channel's): the same value
    /// or error, but a payer or payee equal to one of `known` is not decompressed and
    /// checked again (a quarter of a verification).
    pub fn open_knowing(envelope: &Signed<Self>, known: &[PublicKey]) -> Result<Self> {
        envelope.verify()?;
        envelope.decode_verified_with(|wire| Self::from_wire_knowing(wire, known))
    }
}

impl From<&Voucher> for wire::Voucher {
    fn from(value: &Voucher) -> Self {
        Self {
            channel_id: value.channel_id.0.to_vec(),
            payer: value.payer.to_bytes().to_vec(),
            payee: value.payee.to_bytes().to_vec(),
            cumulative: Some((&value.cumulative).into()),
            sequence: value.sequence,
            created_at_ms: value.created_at_ms,
        }
    }
}

signed_kind!(
    Voucher,
    wire::Voucher,
    "attn/v1/voucher",
    SMALL_BODY_MAX_BYTES,
    payer
);

/// The advertiser's answer to an impression: payment and a signed view receipt.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ImpressionAck {
    /// Hash of the impression envelope acknowledged.
    pub impression_hash: Digest32,
    /// The rail that paid.
    pub rail: String,
    /// A channel voucher, when the rail is a channel.
    pub voucher: Option<Signed<Voucher>>,
    /// The payment id, on other rails.
    pub payment_id: Option<String>,
    /// The signed view receipt.
    pub view_receipt: Signed<ConversionReceipt>,
}

impl TryFrom<wire::ImpressionAck> for ImpressionAck {
    type Error = Error;
    fn try_from(value: wire::ImpressionAck) -> Result<Self> {
        const M: &str = "ImpressionAck";
        let payment_id = text(M, "payment_id", value.payment_id, PAYMENT_ID_MAX_BYTES)?;
        Ok(Self {
            impression_hash: digest(M, "impression_hash", &value.impression_hash)?,
            rail: required_text(M, "rail", value.rail, RAIL_NAME_MAX_BYTES)?,
            voucher: value.voucher.map(Signed::try_from).transpose()?,
            payment_id: (!payment_id.is_empty()).then_some(payment_id),
            view_receipt: signed(M, "view_receipt", value.view_receipt)?,
        })
    }
}

impl From<&ImpressionAck> for wire::ImpressionAck {
    fn from(value: &ImpressionAck) -> Self {
        Self {
            impression_hash: value.impression_hash.0.to_vec(),
            rail: value.rail.clone(),
            voucher: value.voucher.as_ref().map(Signed::to_wire),
            payment_id: value.payment_id.clone().unwrap_or_default(),
            view_receipt: Some(value.view_receipt.to_wire()),
        }
    }
}

// ---------------------------------------------------------------------------------
// Receipts and reputation.

/// What a receipt records.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ReceiptKind {
    /// The ad was seen.
    View,
    /// The ad was clicked.
    Click,
    /// The user bought or signed up.
    Conversion,
}

impl ReceiptKind {
    /// Every kind.
    pub const ALL: [ReceiptKind; 3] = [Self::View, Self::Click, Self::Conversion];

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Click => "click",
            Self::Conversion => "conversion",
        }
    }
}

impl TryFrom<i32> for ReceiptKind {
    type Error = Error;
    fn try_from(value: i32) -> Result<Self> {
        match wire::ReceiptKind::try_from(value) {
            Ok(wire::ReceiptKind::View) => Ok(Self::View),
            Ok(wire::ReceiptKind::Click) => Ok(Self::Click),
            Ok(wire::ReceiptKind::Conversion) => Ok(Self::Conversion),
            _ => Err(Error::InvalidField {
                message: "ConversionReceipt",
                field: "kind",
                reason: format!("{value} is unspecified or unknown"),
            }),
        }
    }
}

impl From<ReceiptKind> for wire::ReceiptKind {
    fn from(value: ReceiptKind) -> Self {
        match value {
            ReceiptKind::View => Self::View,
            ReceiptKind::Click => Self::Click,
            ReceiptKind::Conversion => Self::Conversion,
        }
    }
}

/// A Pedersen commitment, checked to be a valid compressed Ristretto point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Commitment(pub CompressedRistretto);

impl Commitment {
    /// Validates 32 bytes as a compressed Ristretto point.
    pub fn from_bytes(message: &'static str, field: &'static str, bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with_point(message, field, bytes).map(|(commitment, _)| commitment)
    }

    /// Validates 32 bytes as a compressed Ristretto point, and returns the point too
    /// (decompressing costs about as much as a scalar multiplication's tenth: callers
    /// that add commitments keep it).
    pub fn from_bytes_with_point(
        message: &'static str,
        field: &'static str,
        bytes: &[u8],
    ) -> Result<(Self, RistrettoPoint)> {
        let array = fixed::<32>(message, field, bytes)?;
        let compressed = CompressedRistretto(array);
        let point = compressed.decompress().ok_or_else(|| Error::InvalidField {
            message,
            field,
            reason: "not a valid Ristretto point".into(),
        })?;
        Ok((Self(compressed), point))
    }
}

/// An issuer's signed statement that a persona created value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConversionReceipt {
    /// Unique per issuer.
    pub receipt_id: [u8; 16],
    /// The persona it is addressed to.
    pub persona: PublicKey,
    /// The issuing advertiser (possibly a FROST group key).
    pub issuer: PublicKey,
    /// View, click or conversion.
    pub kind: ReceiptKind,
    /// When the event happened, ms since the epoch.
    pub issued_at_ms: u64,
    /// Category tags.
    pub categories: Vec<String>,
    /// Pedersen commitment to the value in atomic units.
    pub value_commitment: Commitment,
    /// The value in clear, if disclosed.
    pub public_value: Option<Money>,
    /// The impression this answers, for a view receipt.
    pub impression_hash: Option<Digest32>,
}

impl TryFrom<wire::ConversionReceipt> for ConversionReceipt {
    type Error = Error;
    fn try_from(value: wire::ConversionReceipt) -> Result<Self> {
        Self::from_wire_knowing(value, &[]).map(|(receipt, _)| receipt)
    }
}

impl ConversionReceipt {
    /// The one validation of a wire receipt ([`TryFrom`] calls it with no known key).
    /// A persona or issuer whose bytes equal one of the `known` (already validated)
    /// keys is taken as that key without being parsed again. Returns the commitment's
    /// point with the receipt.
    fn from_wire_knowing(
        value: wire::ConversionReceipt,
        known: &[PublicKey],
    ) -> Result<(Self, RistrettoPoint)> {
        const M: &str = "ConversionReceipt";
        let key_knowing = |field, bytes: &[u8]| key_knowing(known, M, field, bytes);
        let (value_commitment, point) =
            Commitment::from_bytes_with_point(M, "value_commitment", &value.value_commitment)?;
        let receipt = Self {
            receipt_id: fixed(M, "receipt_id", &value.receipt_id)?,
            persona: key_knowing("persona", &value.persona)?,
            issuer: key_knowing("issuer", &value.issuer)?,
            kind: ReceiptKind::try_from(value.kind)?,
            issued_at_ms: value.issued_at_ms,
            categories: tags(M, "categories", value.categories, CATEGORIES_MAX)?,
            value_commitment,
            public_value: optional_money(value.public_value)?,
            impression_hash: optional_digest(M, "impression_hash", &value.impression_hash)?,
        };
        Ok((receipt, point))
    }

    /// Decodes a receipt envelope whose signature was already checked (e.g. in a
    /// batch), as [`Signed::decode_verified`] does, for a reputation proof of
    /// `persona`: the persona's and the signer's keys are not parsed again, and the
    /// commitment's point is returned with the receipt.
    pub(crate) fn decode_in_proof(
        envelope: &Signed<Self>,
        persona: &PublicKey,
    ) -> Result<(Self, RistrettoPoint)> {
        use prost::Message as _;
        let wire =
            wire::ConversionReceipt::decode(envelope.body()).map_err(|error| Error::Decode {
                message: "ConversionReceipt",
                reason: error.to_string(),
            })?;
        let (receipt, point) = Self::from_wire_knowing(wire, &[*persona, envelope.signer()])?;
        if receipt.issuer != envelope.signer() {
            return Err(Error::SignerMismatch {
                message: "ConversionReceipt",
                signer: envelope.signer().to_hex(),
                claimed: receipt.issuer.to_hex(),
            });
        }
        Ok((receipt, point))
    }
}

impl From<&ConversionReceipt> for wire::ConversionReceipt {
    fn from(value: &ConversionReceipt) -> Self {
        Self {
            receipt_id: value.receipt_id.to_vec(),
            persona: value.persona.to_bytes().to_vec(),
            issuer: value.issuer.to_bytes().to_vec(),
            kind: wire::ReceiptKind::from(value.kind).into(),
            issued_at_ms: value.issued_at_ms,
            categories: value.categories.clone(),
            value_commitment: value.value_commitment.0.to_bytes().to_vec(),
            public_value: value.public_value.as_ref().map(Into::into),
            impression_hash: value
                .impression_hash
                .map(|d| d.0.to_vec())
                .unwrap_or_default(),
        }
    }
}

signed_kind!(
    ConversionReceipt,
    wire::ConversionReceipt,
    "attn/v1/receipt",
    RECEIPT_BODY_MAX_BYTES,
    issuer
);

/// The opening `(v, r)` of a receipt's commitment, held only by the persona.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommitmentOpening {
    /// The receipt it opens.
    pub receipt_id: [u8; 16],
    /// The value in atomic units.
    pub value_atomic: u64,
    /// The blinding scalar.
    pub blinding: Scalar,
}

impl TryFrom<wire::CommitmentOpening> for CommitmentOpening {
    type Error = Error;
    fn try_from(value: wire::CommitmentOpening) -> Result<Self> {
        const M: &str = "CommitmentOpening";
        let bytes = fixed::<32>(M, "blinding", &value.blinding)?;
        let blinding = Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes)).ok_or(
            Error::InvalidField {
                message: M,
                field: "blinding",
                reason: "not a canonical scalar".into(),
            },
        )?;
        Ok(Self {
            receipt_id: fixed(M, "receipt_id", &value.receipt_id)?,
            value_atomic: value.value_atomic,
            blinding,
        })
    }
}

impl From<&CommitmentOpening> for wire::CommitmentOpening {
    fn from(value: &CommitmentOpening) -> Self {
        Self {
            receipt_id: value.receipt_id.to_vec(),
            value_atomic: value.value_atomic,
            blinding: value.blinding.to_bytes().to_vec(),
        }
    }
}

/// A disclosed issuer's bracket in a reputation proof.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IssuerBracket {
    /// The issuer.
    pub issuer: PublicKey,
    /// Index into the fixed log scale of brackets.
    pub bracket: u32,
}

/// The current reputation proof format.
pub const REPUTATION_PROOF_VERSION: u32 = 1;

/// A persona's reputation proof, signed by the persona.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReputationProof {
    /// Format version ([`REPUTATION_PROOF_VERSION`]).
    pub version: u32,
    /// The persona.
    pub persona: PublicKey,
    /// Start of the window the receipts fall in, ms since the epoch.
    pub window_start_ms: u64,
    /// End of the window.
    pub window_end_ms: u64,
    /// The disclosed receipts.
    pub receipts: Vec<Signed<ConversionReceipt>>,
    /// One bracket per disclosed issuer.
    pub brackets: Vec<IssuerBracket>,
    /// The aggregated range proof.
    pub range_proof: Vec<u8>,
}

impl TryFrom<wire::ReputationProof> for ReputationProof {
    type Error = Error;
    fn try_from(value: wire::ReputationProof) -> Result<Self> {
        const M: &str = "ReputationProof";
        if value.version != REPUTATION_PROOF_VERSION {
            return Err(Error::InvalidField {
                message: M,
                field: "version",
                reason: format!("version {} is not supported", value.version),
            });
        }
        if value.window_start_ms > value.window_end_ms {
            return Err(Error::InvalidField {
                message: M,
                field: "window_end_ms",
                reason: "window ends before it starts".into(),
            });
        }
        count(M, "receipts", value.receipts.len(), RECEIPTS_PER_PROOF_MAX)?;
        count(M, "brackets", value.brackets.len(), ISSUERS_PER_PROOF_MAX)?;
        count(
            M,
            "range_proof",
            value.range_proof.len(),
            RANGE_PROOF_MAX_BYTES,
        )?;
        let brackets = value
            .brackets
            .into_iter()
            .map(|b| {
                Ok(IssuerBracket {
                    issuer: key("IssuerBracket", "issuer", &b.issuer)?,
                    bracket: b.bracket,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            version: value.version,
            persona: key(M, "persona", &value.persona)?,
            window_start_ms: value.window_start_ms,
            window_end_ms: value.window_end_ms,
            receipts: value
                .receipts
                .into_iter()
                .map(Signed::try_from)
                .collect::<Result<Vec<_>>>()?,
            brackets,
            range_proof: value.range_proof,
        })
    }
}

impl From<&ReputationProof> for wire::ReputationProof {
    fn from(value: &ReputationProof) -> Self {
        Self {
            version: value.version,
            persona: value.persona.to_bytes().to_vec(),
            window_start_ms: value.window_start_ms,
            window_end_ms: value.window_end_ms,
            receipts: value.receipts.iter().map(Signed::to_wire).collect(),
            brackets: value
                .brackets
                .iter()
                .map(|b| wire::IssuerBracket {
                    issuer: b.issuer.to_bytes().to_vec(),
                    bracket: b.bracket,
                })
                .collect(),
            range_proof: value.range_proof.clone(),
        }
    }
}

signed_kind!(
    ReputationProof,
    wire::ReputationProof,
    "attn/v1/reputation",
    REPUTATION_BODY_MAX_BYTES,
    persona
);

/// One advertiser's signed statement of trust in another.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrustStatement {
    /// Who trusts (signs).
    pub truster: PublicKey,
    /// Who is trusted.
    pub trustee: PublicKey,
    /// 0 (revoked) to 1,000,000.
    pub weight_ppm: u32,
    /// When it was issued, ms since the epoch.
    pub issued_at_ms: u64,
}

impl TryFrom<wire::TrustStatement> for TrustStatement {
    type Error = Error;
    fn try_from(value: wire::TrustStatement) -> Result<Self> {
        const M: &str = "TrustStatement";
        if value.weight_ppm > TRUST_WEIGHT_PPM_MAX {
            return Err(Error::InvalidField {
                message: M,
                field: "weight_ppm",
                reason: format!("{} is above {TRUST_WEIGHT_PPM_MAX}", value.weight_ppm),
            });
        }
        Ok(Self {
            truster: key(M, "truster", &value.truster)?,
            trustee: key(M, "trustee", &value.trustee)?,
            weight_ppm: value.weight_ppm,
            issued_at_ms: value.issued_at_ms,
        })
    }
}

impl From<&TrustStatement> for wire::TrustStatement {
    fn from(value: &TrustStatement) -> Self {
        Self {
            truster: value.truster.to_bytes().to_vec(),
            trustee: value.trustee.to_bytes().to_vec(),
            weight_ppm: value.weight_ppm,
            issued_at_ms: value.issued_at_ms,
        }
    }
}

signed_kind!(
    TrustStatement,
    wire::TrustStatement,
    "attn/v1/trust",
    SMALL_BODY_MAX_BYTES,
    truster
);

/// A persona's signed request for its receipts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReceiptsPull {
    /// The persona.
    pub persona: PublicKey,
    /// Only receipts issued at or after this time.
    pub since_ms: u64,
    /// When the pull was made; a stale pull is refused.
    pub created_at_ms: u64,
    /// A fresh nonce.
    pub nonce: [u8; 16],
}

impl TryFrom<wire::ReceiptsPull> for ReceiptsPull {
    type Error = Error;
    fn try_from(value: wire::ReceiptsPull) -> Result<Self> {
        const M: &str = "ReceiptsPull";
        Ok(Self {
            persona: key(M, "persona", &value.persona)?,
            since_ms: value.since_ms,
            created_at_ms: value.created_at_ms,
            nonce: fixed(M, "nonce", &value.nonce)?,
        })
    }
}

impl From<&ReceiptsPull> for wire::ReceiptsPull {
    fn from(value: &ReceiptsPull) -> Self {
        Self {
            persona: value.persona.to_bytes().to_vec(),
            since_ms: value.since_ms,
            created_at_ms: value.created_at_ms,
            nonce: value.nonce.to_vec(),
        }
    }
}

signed_kind!(
    ReceiptsPull,
    wire::ReceiptsPull,
    "attn/v1/receipts-pull",
    SMALL_BODY_MAX_BYTES,
    persona
);

/// A receipt with the opening of its commitment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReceiptWithOpening {
    /// The signed receipt.
    pub receipt: Signed<ConversionReceipt>,
    /// Its opening.
    pub opening: CommitmentOpening,
}

/// A batch of receipts pulled by a persona.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ReceiptsBatch {
    /// At most [`RECEIPTS_PER_BATCH_MAX`].
    pub receipts: Vec<ReceiptWithOpening>,
}

impl TryFrom<wire::ReceiptsBatch> for ReceiptsBatch {
    type Error = Error;
    fn try_from(value: wire::ReceiptsBatch) -> Result<Self> {
        const M: &str = "ReceiptsBatch";
        count(M, "receipts", value.receipts.len(), RECEIPTS_PER_BATCH_MAX)?;
        let receipts = value
            .receipts
            .into_iter()
            .map(|item| {
                let opening = item.opening.ok_or(Error::MissingField {
                    message: "ReceiptWithOpening",
                    field: "opening",
                })?;
                Ok(ReceiptWithOpening {
                    receipt: signed("ReceiptWithOpening", "receipt", item.receipt)?,
                    opening: CommitmentOpening::try_from(opening)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { receipts })
    }
}

impl From<&ReceiptsBatch> for wire::ReceiptsBatch {
    fn from(value: &ReceiptsBatch) -> Self {
        Self {
            receipts: value
                .receipts
                .iter()
                .map(|item| wire::ReceiptWithOpening {
                    receipt: Some(item.receipt.to_wire()),
                    opening: Some((&item.opening).into()),
                })
                .collect(),
        }
    }
}
