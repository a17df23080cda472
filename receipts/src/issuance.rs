//! Issuing receipts: an advertiser (any [`Signer`], a FROST group included) states
//! that a persona created value, with the value hidden in a Pedersen commitment.
//!
//! [`issue_receipt`] draws a fresh receipt id and blinding from the `rng` it is
//! handed, commits `C = v·B + r·B_blinding`, signs the receipt under
//! `attn/v1/receipt` and returns it with the opening `(v, r)`, which only the persona
//! may receive. The receipt is validated exactly as a receiver will validate it
//! (tag count and sizes) before it is returned, so an issuer never hands out a
//! receipt that proofs would reject.

use rand_core::CryptoRngCore;

use crate::error::Result;
use crate::keys::{PublicKey, Signer};
use crate::messages::{CommitmentOpening, ConversionReceipt, ReceiptKind, ReceiptWithOpening};
use crate::money::Money;
use crate::signed::{Digest32, Signed};

/// What an issuer states in a receipt, before the commitment and signature.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReceiptDraft {
    /// The persona the receipt is addressed to.
    pub persona: PublicKey,
    /// View, click or conversion.
    pub kind: ReceiptKind,
    /// The value created, in the issuer's atomic units; committed, never shown.
    pub value_atomic: u64,
    /// Category tags (at most [`CATEGORIES_MAX`](crate::limits::CATEGORIES_MAX)).
    pub categories: Vec<String>,
    /// When the event happened, ms since the epoch.
    pub issued_at_ms: u64,
    /// The value in clear, if the issuer chooses to disclose it.
    pub public_value: Option<Money>,
    /// The impression a view receipt answers.
    pub impression_hash: Option<Digest32>,
}

impl ReceiptDraft {
    /// A draft with no categories, no public value and no impression.
    pub fn new(
        persona: PublicKey,
        kind: ReceiptKind,
        value_atomic: u64,
        issued_at_ms: u64,
    ) -> Self {
        Self {
            persona,
            kind,
            value_atomic,
            categories: Vec::new(),
            issued_at_ms,
            public_value: None,
            impression_hash: None,
        }
    }

    /// The same draft with these category tags.
    pub fn with_categories<S: Into<String>>(
        mut self,
        categories: impl IntoIterator<Item = S>,
    ) -> Self {
        self.categories = categories.into_iter().map(Into::into).collect();
        self
    }
}

/// Issues a receipt: a fresh 16-byte receipt id and blinding from `rng`, the value
/// committed, the receipt signed by `issuer` (whose public key becomes the receipt's
/// issuer). Returns the signed receipt with the opening for the persona.
///
/// # Errors
/// The receipt's validation errors (e.g. [`Error::TooLong`](crate::Error::TooLong)
/// for too many or too long category tags).
///
/// # Example
/// ```
/// use attn_receipts::issuance::{issue_receipt, ReceiptDraft};
/// use attn_receipts::{AdvertiserKey, PersonaKey, ReceiptKind};
/// let issuer = AdvertiserKey::from_secret_bytes(&[1; 32]);
/// let persona = PersonaKey::from_secret_bytes(&[2; 32]).public_key();
/// let draft = ReceiptDraft::new(persona, ReceiptKind::Conversion, 2_500, 1_700_000_000_000)
///     .with_categories(["outdoor"]);
/// let issued = issue_receipt(&issuer, draft, &mut rand::rngs::OsRng)?;
/// let receipt = issued.receipt.open()?;
/// assert!(issued.opening.opens(&receipt.value_commitment));
/// assert_eq!(issued.opening.value_atomic, 2_500);
/// # Ok::<(), attn_receipts::Error>(())
/// ```
pub fn issue_receipt(
    issuer: &impl Signer,
    draft: ReceiptDraft,
    rng: &mut impl CryptoRngCore,
) -> Result<ReceiptWithOpening> {
    let mut receipt_id = [0u8; 16];
    rng.fill_bytes(&mut receipt_id);
    let opening = CommitmentOpening::random(receipt_id, draft.value_atomic, rng);
    let receipt = ConversionReceipt {
        receipt_id,
        persona: draft.persona,
        issuer: issuer.public_key(),
        kind: draft.kind,
        issued_at_ms: draft.issued_at_ms,
        categories: draft.categories,
        value_commitment: opening.commitment(),
        public_value: draft.public_value,
        impression_hash: draft.impression_hash,
    };
    let signed = Signed::sign(issuer, &receipt);
    // Validate exactly as a receiver will (tag counts and sizes, body size).
    let checked = Signed::<ConversionReceipt>::try_from(signed.to_wire())?;
    checked.decode_verified()?;
    Ok(ReceiptWithOpening {
        receipt: checked,
        opening,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::keys::{AdvertiserKey, PersonaKey};
    use crate::limits::{CATEGORIES_MAX, TAG_MAX_BYTES};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn draft() -> ReceiptDraft {
        let persona = PersonaKey::from_secret_bytes(&[2; 32]).public_key();
        ReceiptDraft::new(persona, ReceiptKind::Click, 70, 1_000)
    }

    #[test]
    fn an_issued_receipt_verifies_and_its_opening_opens_it() -> Result<()> {
        let issuer = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let issued = issue_receipt(
            &issuer,
            draft().with_categories(["a", "b"]),
            &mut StdRng::seed_from_u64(7),
        )?;
        let receipt = issued.receipt.open()?;
        assert_eq!(receipt.issuer, issuer.public_key());
        assert_eq!(receipt.kind, ReceiptKind::Click);
        assert_eq!(receipt.categories, ["a", "b"]);
        assert_eq!(receipt.receipt_id, issued.opening.receipt_id);
        assert!(issued.opening.opens(&receipt.value_commitment));
        Ok(())
    }

    #[test]
    fn two_receipts_of_the_same_value_do_not_look_alike() -> Result<()> {
        let issuer = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let mut rng = StdRng::seed_from_u64(7);
        let a = issue_receipt(&issuer, draft(), &mut rng)?.receipt.open()?;
        let b = issue_receipt(&issuer, draft(), &mut rng)?.receipt.open()?;
        assert_ne!(a.receipt_id, b.receipt_id);
        assert_ne!(a.value_commitment, b.value_commitment);
        Ok(())
    }

    #[test]
    fn too_many_or_too_long_tags_are_refused_before_signing() {
        let issuer = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let mut rng = StdRng::seed_from_u64(7);
        let many = draft().with_categories((0..=CATEGORIES_MAX).map(|i| format!("c{i}")));
        assert!(matches!(
            issue_receipt(&issuer, many, &mut rng),
            Err(Error::TooLong { field: "categories", len, max: CATEGORIES_MAX, .. }) if len == CATEGORIES_MAX + 1
        ));
        let long = draft().with_categories(["x".repeat(TAG_MAX_BYTES + 1)]);
        assert!(matches!(
            issue_receipt(&issuer, long, &mut rng),
            Err(Error::TooLong {
                field: "categories",
                ..
            })
        ));
    }
}
