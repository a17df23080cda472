//! The verifier side: checking a reputation proof and reading its view.

use std::collections::HashSet;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;
use rand_core::CryptoRngCore;

use crate::error::{Error, ReceiptFault, Result};
use crate::keys::PublicKey;
use crate::limits::CLOCK_SKEW_MAX_MS;
use crate::messages::{ConversionReceipt, ReceiptKind, ReputationProof};
use crate::signed::{Digest32, SignatureBatch, Signed};

use super::policy::Window;
use super::scale::{BRACKETS, bracket_floor};
use super::statement;

/// Receipts counted by kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct KindCounts {
    /// View receipts.
    pub views: u32,
    /// Click receipts.
    pub clicks: u32,
    /// Conversion receipts.
    pub conversions: u32,
}

impl KindCounts {
    /// The count of `kind`.
    pub fn get(&self, kind: ReceiptKind) -> u32 {
        match kind {
            ReceiptKind::View => self.views,
            ReceiptKind::Click => self.clicks,
            ReceiptKind::Conversion => self.conversions,
        }
    }

    /// Counts one more receipt of `kind`.
    pub fn add(&mut self, kind: ReceiptKind) {
        let count = match kind {
            ReceiptKind::View => &mut self.views,
            ReceiptKind::Click => &mut self.clicks,
            ReceiptKind::Conversion => &mut self.conversions,
        };
        *count = count.saturating_add(1);
    }

    /// All receipts.
    pub fn total(&self) -> u32 {
        self.views
            .saturating_add(self.clicks)
            .saturating_add(self.conversions)
    }
}

/// What a verified proof says about one issuer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct IssuerView {
    /// The issuer (advertiser key).
    pub issuer: PublicKey,
    /// The bracket proven: the issuer's receipts sum to at least
    /// [`bracket_floor`]`(bracket)` atomic units.
    pub bracket: u32,
    /// The bracket's floor, atomic units.
    pub floor_atomic: u64,
    /// The issuer's disclosed receipts by kind.
    pub counts: KindCounts,
}

/// What a verified reputation proof says: which issuers vouched for the persona, a
/// bracket of value per issuer, how many receipts of each kind, over which window.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub struct ReputationView {
    /// The persona the proof is about.
    pub persona: PublicKey,
    /// The hash of the proof's envelope (the `reputation_ref` of bid requests).
    pub proof_hash: Digest32,
    /// The window the receipts fall in.
    pub window: Window,
    /// One entry per disclosed issuer, sorted by issuer key.
    pub issuers: Vec<IssuerView>,
    /// All disclosed receipts by kind.
    pub counts: KindCounts,
}

impl ReputationView {
    /// The entry of `issuer`, if disclosed.
    pub fn issuer(&self, issuer: &PublicKey) -> Option<&IssuerView> {
        self.issuers
            .binary_search_by(|entry| entry.issuer.cmp(issuer))
            .ok()
            .map(|at| &self.issuers[at])
    }
}

/// Verifies a reputation proof at `now_ms` and returns its view. `rng` draws the
/// range proof's batching challenge (any cryptographic rng; it does not change the
/// result).
///
/// In order: the persona's signature and the body's bounds; the window (at most
/// [`REPUTATION_WINDOW_MAX_MS`](crate::limits::REPUTATION_WINDOW_MAX_MS) long, not
/// ending past `now_ms` + [`CLOCK_SKEW_MAX_MS`]); every issuer's signature in one
/// batch; each receipt addressed to the persona, unique, in the window, with a
/// bracket; the brackets sorted by issuer, each on the scale and with receipts; then,
/// per issuer, `Σ C − floor·B`, and the aggregated range proof over them.
///
/// # Errors
/// [`Error::BadSignature`] / [`Error::BadSignatures`], [`Error::ReceiptRejected`],
/// [`Error::BracketRejected`], [`Error::RangeProof`], and the bounds errors of the
/// body ([`Error::TooLong`], [`Error::InvalidField`]).
pub fn verify_proof(
    envelope: &Signed<ReputationProof>,
    now_ms: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<ReputationView> {
    let proof = envelope.open()?;
    verify_opened(envelope.hash(), &proof, now_ms, rng)
}

/// [`verify_proof`] for a proof that must be `persona`'s (the persona of the bid
/// request that carries it): a proof of another persona is refused with
/// [`Error::WrongPersona`] before any costly check.
pub fn verify_proof_for(
    envelope: &Signed<ReputationProof>,
    persona: &PublicKey,
    now_ms: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<ReputationView> {
    if envelope.signer() != *persona {
        return Err(Error::WrongPersona {
            expected: persona.to_hex(),
            found: envelope.signer().to_hex(),
        });
    }
    verify_proof(envelope, now_ms, rng)
}

fn verify_opened(
    proof_hash: Digest32,
    proof: &ReputationProof,
    now_ms: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<ReputationView> {
    let window = Window {
        start_ms: proof.window_start_ms,
        end_ms: proof.window_end_ms,
    };
    window.check()?;
    if window.end_ms > now_ms.saturating_add(CLOCK_SKEW_MAX_MS) {
        return Err(Error::InvalidField {
            message: "ReputationProof",
            field: "window_end_ms",
            reason: format!("{} is in the future (now {now_ms})", window.end_ms),
        });
    }
    // Brackets: strictly increasing issuers (so each appears once), on the scale.
    let mut floors = Vec::with_capacity(proof.brackets.len());
    for (at, bracket) in proof.brackets.iter().enumerate() {
        let reject = |reason| Error::BracketRejected {
            issuer: bracket.issuer.to_hex(),
            reason,
        };
        if at > 0 && proof.brackets[at - 1].issuer >= bracket.issuer {
            return Err(reject("brackets are not sorted by issuer, or repeat one"));
        }
        if bracket.bracket >= BRACKETS {
            return Err(reject("bracket is past the scale"));
        }
        floors.push(statement::floor_point(bracket.bracket).expect("bracket is on the scale"));
    }

    let mut batch = SignatureBatch::with_capacity(proof.receipts.len());
    for receipt in &proof.receipts {
        batch.push(receipt);
    }
    batch.verify()?;

    let mut issuers: Vec<IssuerView> = proof
        .brackets
        .iter()
        .map(|bracket| IssuerView {
            issuer: bracket.issuer,
            bracket: bracket.bracket,
            floor_atomic: bracket_floor(bracket.bracket).expect("bracket is on the scale"),
            counts: KindCounts::default(),
        })
        .collect();
    let mut sums = vec![RistrettoPoint::identity(); proof.brackets.len()];
    let mut counts = KindCounts::default();
    let mut seen = HashSet::with_capacity(proof.receipts.len());
    for (index, envelope) in proof.receipts.iter().enumerate() {
        let (receipt, point) = ConversionReceipt::decode_in_proof(envelope, &proof.persona)?;
        let reject = |fault| Error::ReceiptRejected { index, fault };
        if receipt.persona != proof.persona {
            return Err(reject(ReceiptFault::OtherPersona(receipt.persona.to_hex())));
        }
        if !seen.insert((receipt.issuer, receipt.receipt_id)) {
            return Err(reject(ReceiptFault::Duplicate));
        }
        if !window.contains(receipt.issued_at_ms) {
            return Err(reject(ReceiptFault::OutsideWindow {
                issued_at_ms: receipt.issued_at_ms,
                window_start_ms: window.start_ms,
                window_end_ms: window.end_ms,
            }));
        }
        let at = proof
            .brackets
            .binary_search_by(|bracket| bracket.issuer.cmp(&receipt.issuer))
            .map_err(|_| reject(ReceiptFault::NoBracket))?;
        sums[at] += point;
        issuers[at].counts.add(receipt.kind);
        counts.add(receipt.kind);
    }
    if let Some(empty) = issuers.iter().find(|entry| entry.counts.total() == 0) {
        return Err(Error::BracketRejected {
            issuer: empty.issuer.to_hex(),
            reason: "no disclosed receipt of this issuer",
        });
    }
    if proof.brackets.is_empty() {
        if !proof.range_proof.is_empty() {
            return Err(Error::RangeProof(
                "a range proof is given for no issuer".into(),
            ));
        }
    } else {
        let commitments = statement::statement_commitments(&sums, &floors);
        let mut transcript = statement::transcript(
            &proof.persona,
            window.start_ms,
            window.end_ms,
            &proof.brackets,
        );
        statement::verify(&mut transcript, &proof.range_proof, &commitments, rng)?;
    }
    Ok(ReputationView {
        persona: proof.persona,
        proof_hash,
        window,
        issuers,
        counts,
    })
}
