//! The client side: building and signing a reputation proof.

use std::collections::{BTreeMap, HashSet};

use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRngCore;

use crate::error::{Error, ReceiptFault, Result};
use crate::keys::{PublicKey, Signer};
use crate::limits::{ISSUERS_PER_PROOF_MAX, RECEIPTS_PER_PROOF_MAX};
use crate::messages::{
    IssuerBracket, REPUTATION_PROOF_VERSION, ReceiptWithOpening, ReputationProof,
};
use crate::signed::{SignatureBatch, Signed};

use super::policy::{DisclosurePolicy, Window};
use super::scale::{bracket_floor, bracket_of};
use super::statement;

/// Per issuer: the sum of values and of blindings.
struct IssuerSum {
    value_atomic: u128,
    blinding: Scalar,
}

/// Builds and signs a reputation proof disclosing exactly `receipts` (all addressed to
/// `persona`'s key) over `window`. Each issuer gets the highest bracket its receipts'
/// values sum to; one aggregated range proof proves them all.
///
/// Use [`prove_reputation`] to let a [`DisclosurePolicy`] choose the receipts.
///
/// # Errors
/// - [`Error::TooLong`] when there are more than [`RECEIPTS_PER_PROOF_MAX`] receipts,
///   more than [`ISSUERS_PER_PROOF_MAX`] issuers, or the window is longer than
///   [`REPUTATION_WINDOW_MAX_MS`](crate::limits::REPUTATION_WINDOW_MAX_MS);
/// - [`Error::BadSignatures`] when an issuer's signature is bad;
/// - [`Error::ReceiptRejected`] when a receipt is for another persona, repeated,
///   outside the window, or its opening does not open it;
/// - [`Error::AmountOutOfRange`] when an issuer's values sum past `2^64` above its
///   bracket floor.
pub fn build_proof(
    persona: &impl Signer,
    receipts: &[ReceiptWithOpening],
    window: Window,
    rng: &mut impl CryptoRngCore,
) -> Result<Signed<ReputationProof>> {
    const M: &str = "ReputationProof";
    window.check()?;
    if receipts.len() > RECEIPTS_PER_PROOF_MAX {
        return Err(Error::TooLong {
            message: M,
            field: "receipts",
            len: receipts.len(),
            max: RECEIPTS_PER_PROOF_MAX,
        });
    }
    let persona_key = persona.public_key();
    let mut batch = SignatureBatch::with_capacity(receipts.len());
    for item in receipts {
        batch.push(&item.receipt);
    }
    batch.verify()?;
    let mut seen = HashSet::with_capacity(receipts.len());
    let mut sums: BTreeMap<PublicKey, IssuerSum> = BTreeMap::new();
    for (index, item) in receipts.iter().enumerate() {
        let receipt = item.receipt.decode_verified()?;
        let reject = |fault| Error::ReceiptRejected { index, fault };
        if receipt.persona != persona_key {
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
        if item.opening.receipt_id != receipt.receipt_id
            || !item.opening.opens(&receipt.value_commitment)
        {
            return Err(reject(ReceiptFault::OpeningMismatch));
        }
        let sum = sums.entry(receipt.issuer).or_insert(IssuerSum {
            value_atomic: 0,
            blinding: Scalar::ZERO,
        });
        sum.value_atomic += u128::from(item.opening.value_atomic);
        sum.blinding += item.opening.blinding;
    }
    if sums.len() > ISSUERS_PER_PROOF_MAX {
        return Err(Error::TooLong {
            message: M,
            field: "brackets",
            len: sums.len(),
            max: ISSUERS_PER_PROOF_MAX,
        });
    }
    let mut brackets = Vec::with_capacity(sums.len());
    let mut values = Vec::with_capacity(sums.len());
    let mut blindings = Vec::with_capacity(sums.len());
    for (issuer, sum) in &sums {
        let bracket = bracket_of(sum.value_atomic);
        let floor = bracket_floor(bracket).expect("bracket_of stays on the scale");
        let above_floor = u64::try_from(sum.value_atomic - u128::from(floor)).map_err(|_| {
            Error::AmountOutOfRange("an issuer's receipts sum past 2^64 above its bracket")
        })?;
        brackets.push(IssuerBracket {
            issuer: *issuer,
            bracket,
        });
        values.push(above_floor);
        blindings.push(sum.blinding);
    }
    let range_proof = if brackets.is_empty() {
        Vec::new()
    } else {
        let mut transcript =
            statement::transcript(&persona_key, window.start_ms, window.end_ms, &brackets);
        statement::prove(&mut transcript, &values, &blindings, rng)?.0
    };
    let proof = ReputationProof {
        version: REPUTATION_PROOF_VERSION,
        persona: persona_key,
        window_start_ms: window.start_ms,
        window_end_ms: window.end_ms,
        receipts: receipts.iter().map(|item| item.receipt.clone()).collect(),
        brackets,
        range_proof,
    };
    let signed = Signed::sign(persona, &proof);
    // Validate exactly as a verifier will (body size, counts).
    Signed::<ReputationProof>::try_from(signed.to_wire())
}

/// Chooses receipts by `policy` among the persona's `receipts` at `now_ms` and builds
/// the proof over the policy's window. Invalid receipts in the wallet are skipped.
///
/// # Example
/// ```
/// use attn_receipts::issuance::{issue_receipt, ReceiptDraft};
/// use attn_receipts::reputation::{prove_reputation, verify_proof, DisclosurePolicy};
/// use attn_receipts::{AdvertiserKey, PersonaKey, ReceiptKind};
/// let mut rng = rand::rngs::OsRng;
/// let now_ms = 1_700_000_000_000;
/// let persona = PersonaKey::from_secret_bytes(&[1; 32]);
/// let shop = AdvertiserKey::from_secret_bytes(&[2; 32]);
/// let wallet = vec![
///     issue_receipt(&shop, ReceiptDraft::new(persona.public_key(), ReceiptKind::Conversion, 4_000, now_ms - 1_000), &mut rng)?,
///     issue_receipt(&shop, ReceiptDraft::new(persona.public_key(), ReceiptKind::View, 20, now_ms - 500), &mut rng)?,
/// ];
/// let proof = prove_reputation(&persona, &wallet, &DisclosurePolicy::default(), now_ms, &mut rng)?;
/// let view = verify_proof(&proof, now_ms, &mut rng)?;
/// assert_eq!(view.issuers[0].bracket, 4); // 4,020 ≥ 10^3
/// assert_eq!(view.counts.conversions, 1);
/// # Ok::<(), attn_receipts::Error>(())
/// ```
pub fn prove_reputation(
    persona: &impl Signer,
    receipts: &[ReceiptWithOpening],
    policy: &DisclosurePolicy,
    now_ms: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<Signed<ReputationProof>> {
    let selection = policy.select(&persona.public_key(), receipts, now_ms)?;
    build_proof(persona, &selection.receipts, selection.window, rng)
}
