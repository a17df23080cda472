//! Reputation proofs end to end: build, verify, and every way a proof can be wrong.
#![allow(missing_docs)]

use std::sync::OnceLock;

use attn_proto::Message as _;
use attn_receipts::issuance::{ReceiptDraft, issue_receipt};
use attn_receipts::limits::{
    CATEGORIES_MAX, CLOCK_SKEW_MAX_MS, ISSUERS_PER_PROOF_MAX, RECEIPTS_PER_PROOF_MAX,
    REPUTATION_WINDOW_MAX_MS,
};
use attn_receipts::reputation::{
    BRACKETS, DisclosurePolicy, Window, bracket_floor, build_proof, prove_reputation, verify_proof,
    verify_proof_for,
};
use attn_receipts::*;
use curve25519_dalek::ristretto::CompressedRistretto;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

const NOW_MS: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 24 * 60 * 60 * 1_000;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn persona() -> PersonaKey {
    PersonaKey::from_secret_bytes(&[11; 32])
}

fn other_persona() -> PersonaKey {
    PersonaKey::from_secret_bytes(&[12; 32])
}

fn issuer(i: u8) -> AdvertiserKey {
    AdvertiserKey::from_secret_bytes(&[100u8.wrapping_add(i); 32])
}

fn receipt(
    by: &AdvertiserKey,
    to: &PublicKey,
    kind: ReceiptKind,
    value_atomic: u64,
    at_ms: u64,
    categories: &[&str],
    rng: &mut StdRng,
) -> ReceiptWithOpening {
    let draft = ReceiptDraft::new(*to, kind, value_atomic, at_ms)
        .with_categories(categories.iter().copied());
    issue_receipt(by, draft, rng).expect("valid receipt")
}

/// Three issuers: 0 gives 1,000 + 500 (bracket 4), 1 gives 7 (bracket 1), 2 gives 0
/// (bracket 0).
fn wallet(rng: &mut StdRng) -> Vec<ReceiptWithOpening> {
    let me = persona().public_key();
    vec![
        receipt(
            &issuer(0),
            &me,
            ReceiptKind::Conversion,
            1_000,
            NOW_MS - 3 * DAY_MS,
            &["sports"],
            rng,
        ),
        receipt(
            &issuer(0),
            &me,
            ReceiptKind::View,
            500,
            NOW_MS - 2 * DAY_MS,
            &[],
            rng,
        ),
        receipt(
            &issuer(1),
            &me,
            ReceiptKind::Click,
            7,
            NOW_MS - DAY_MS,
            &["books"],
            rng,
        ),
        receipt(&issuer(2), &me, ReceiptKind::View, 0, NOW_MS - 10, &[], rng),
    ]
}

fn window() -> Window {
    Window::ending_at(NOW_MS, 30 * DAY_MS)
}

/// One proof built once, shared by the property tests.
fn shared_proof() -> &'static Signed<ReputationProof> {
    static PROOF: OnceLock<Signed<ReputationProof>> = OnceLock::new();
    PROOF.get_or_init(|| {
        let mut rng = rng(1);
        let wallet = wallet(&mut rng);
        build_proof(&persona(), &wallet, window(), &mut rng).expect("proof builds")
    })
}

fn encode(envelope: &Signed<ReputationProof>) -> Vec<u8> {
    envelope.to_wire().encode_to_vec()
}

/// Decodes and verifies envelope bytes as a verifier receiving them would.
fn verify_bytes(bytes: &[u8]) -> Result<reputation::ReputationView> {
    let wire = attn_proto::v1::Signed::decode(bytes).map_err(|error| Error::Decode {
        message: "Signed",
        reason: error.to_string(),
    })?;
    let envelope = Signed::<ReputationProof>::try_from(wire)?;
    verify_proof(&envelope, NOW_MS, &mut rng(2))
}

/// The proof's body, changed by `edit` and signed again by the persona: what a
/// dishonest persona could send.
fn resigned(edit: impl FnOnce(&mut ReputationProof)) -> Signed<ReputationProof> {
    let mut proof = shared_proof().open().expect("proof opens");
    edit(&mut proof);
    Signed::sign(&persona(), &proof)
}

#[test]
fn a_proof_verifies_and_shows_brackets_counts_and_window() -> Result<()> {
    let view = verify_proof_for(shared_proof(), &persona().public_key(), NOW_MS, &mut rng(3))?;
    assert_eq!(view.persona, persona().public_key());
    assert_eq!(view.proof_hash, shared_proof().hash());
    assert_eq!(view.window, window());
    assert_eq!(view.issuers.len(), 3);
    let bracket = |i: u8| {
        view.issuer(&issuer(i).public_key())
            .map(|entry| entry.bracket)
    };
    assert_eq!(bracket(0), Some(4));
    assert_eq!(bracket(1), Some(1));
    assert_eq!(bracket(2), Some(0));
    let first = view
        .issuer(&issuer(0).public_key())
        .expect("issuer 0 is disclosed");
    assert_eq!(first.floor_atomic, 1_000);
    assert_eq!((first.counts.views, first.counts.conversions), (1, 1));
    assert_eq!(
        (
            view.counts.views,
            view.counts.clicks,
            view.counts.conversions
        ),
        (2, 1, 1)
    );
    Ok(())
}

#[test]
fn issuer_counts_that_are_not_a_power_of_two_are_padded() -> Result<()> {
    let mut rng = rng(4);
    let me = persona().public_key();
    for issuers in [1u8, 2, 5] {
        let receipts: Vec<_> = (0..issuers)
            .map(|i| {
                receipt(
                    &issuer(i),
                    &me,
                    ReceiptKind::Click,
                    10 * u64::from(i) + 1,
                    NOW_MS - 5,
                    &[],
                    &mut rng,
                )
            })
            .collect();
        let proof = build_proof(&persona(), &receipts, window(), &mut rng)?;
        let view = verify_proof(&proof, NOW_MS, &mut rng)?;
        assert_eq!(view.issuers.len(), usize::from(issuers));
    }
    Ok(())
}

#[test]
fn an_empty_proof_verifies_with_no_issuer() -> Result<()> {
    let mut rng = rng(5);
    let proof = build_proof(&persona(), &[], window(), &mut rng)?;
    let view = verify_proof(&proof, NOW_MS, &mut rng)?;
    assert!(view.issuers.is_empty());
    assert_eq!(view.counts.total(), 0);
    Ok(())
}

#[test]
fn the_default_policy_withholds_sensitive_categories_and_old_receipts() -> Result<()> {
    let mut rng = rng(6);
    let me = persona().public_key();
    let mut wallet = wallet(&mut rng);
    wallet.push(receipt(
        &issuer(3),
        &me,
        ReceiptKind::Conversion,
        90_000,
        NOW_MS - 5,
        &["Health"],
        &mut rng,
    ));
    wallet.push(receipt(
        &issuer(4),
        &me,
        ReceiptKind::Conversion,
        90_000,
        NOW_MS - 5,
        &["sports", "finance/loans"],
        &mut rng,
    ));
    wallet.push(receipt(
        &issuer(5),
        &me,
        ReceiptKind::Conversion,
        90_000,
        NOW_MS - 200 * DAY_MS,
        &[],
        &mut rng,
    ));
    // Not the persona's, and a forged opening: both dropped as invalid.
    wallet.push(receipt(
        &issuer(6),
        &other_persona().public_key(),
        ReceiptKind::View,
        1,
        NOW_MS - 5,
        &[],
        &mut rng,
    ));
    let mut forged = receipt(
        &issuer(7),
        &me,
        ReceiptKind::View,
        1,
        NOW_MS - 5,
        &[],
        &mut rng,
    );
    forged.opening.value_atomic = 1_000_000;
    wallet.push(forged);

    let policy = DisclosurePolicy::default();
    let selection = policy.select(&me, &wallet, NOW_MS)?;
    assert_eq!(selection.receipts.len(), 4);
    assert_eq!(selection.withheld, 3);
    assert_eq!(selection.invalid, 2);

    let proof = prove_reputation(&persona(), &wallet, &policy, NOW_MS, &mut rng)?;
    let view = verify_proof(&proof, NOW_MS, &mut rng)?;
    let disclosed: Vec<PublicKey> = view.issuers.iter().map(|entry| entry.issuer).collect();
    for withheld in 3..=7 {
        assert!(
            !disclosed.contains(&issuer(withheld).public_key()),
            "issuer {withheld}"
        );
    }
    assert_eq!(disclosed.len(), 3);

    // Disclosing health again brings issuer 3 in.
    let open = DisclosurePolicy::default().disclose_category("health");
    let proof = prove_reputation(&persona(), &wallet, &open, NOW_MS, &mut rng)?;
    let view = verify_proof(&proof, NOW_MS, &mut rng)?;
    assert_eq!(
        view.issuer(&issuer(3).public_key()).map(|e| e.bracket),
        Some(5)
    );
    Ok(())
}

#[test]
fn a_proof_replayed_under_another_persona_fails() -> Result<()> {
    let mut rng = rng(7);
    let thief = other_persona();
    // Shown as is with another persona's bid request.
    assert!(matches!(
        verify_proof_for(shared_proof(), &thief.public_key(), NOW_MS, &mut rng),
        Err(Error::WrongPersona { .. })
    ));
    // Re-signed by the thief as its own: the receipts name their persona.
    let mut stolen = shared_proof().open()?;
    stolen.persona = thief.public_key();
    let stolen = Signed::sign(&thief, &stolen);
    assert!(matches!(
        verify_proof(&stolen, NOW_MS, &mut rng),
        Err(Error::ReceiptRejected {
            index: 0,
            fault: ReceiptFault::OtherPersona(_)
        })
    ));
    // Nor can the thief build a proof from someone else's receipts.
    assert!(matches!(
        build_proof(&thief, &wallet(&mut rng), window(), &mut rng),
        Err(Error::ReceiptRejected {
            fault: ReceiptFault::OtherPersona(_),
            ..
        })
    ));
    Ok(())
}

#[test]
fn duplicate_receipts_are_refused() {
    let duplicated = resigned(|proof| {
        let first = proof.receipts[0].clone();
        proof.receipts.push(first);
    });
    assert!(matches!(
        verify_proof(&duplicated, NOW_MS, &mut rng(8)),
        Err(Error::ReceiptRejected {
            index: 4,
            fault: ReceiptFault::Duplicate
        })
    ));
    let mut rng = rng(8);
    let mut wallet = wallet(&mut rng);
    wallet.push(wallet[1].clone());
    assert!(matches!(
        build_proof(&persona(), &wallet, window(), &mut rng),
        Err(Error::ReceiptRejected {
            index: 4,
            fault: ReceiptFault::Duplicate
        })
    ));
}

#[test]
fn receipts_outside_the_window_are_refused() {
    let narrowed = resigned(|proof| proof.window_start_ms = NOW_MS - DAY_MS);
    assert!(matches!(
        verify_proof(&narrowed, NOW_MS, &mut rng(9)),
        Err(Error::ReceiptRejected {
            index: 0,
            fault: ReceiptFault::OutsideWindow { .. }
        })
    ));
    let mut rng = rng(9);
    assert!(matches!(
        build_proof(
            &persona(),
            &wallet(&mut rng),
            Window::ending_at(NOW_MS, DAY_MS),
            &mut rng
        ),
        Err(Error::ReceiptRejected {
            index: 0,
            fault: ReceiptFault::OutsideWindow { .. }
        })
    ));
}

#[test]
fn a_window_in_the_future_is_refused() {
    let late = resigned(|proof| proof.window_end_ms = NOW_MS + CLOCK_SKEW_MAX_MS + 1);
    assert!(matches!(
        verify_proof(&late, NOW_MS, &mut rng(10)),
        Err(Error::InvalidField {
            field: "window_end_ms",
            ..
        })
    ));
}

#[test]
fn a_higher_bracket_than_the_receipts_reach_fails() {
    for bracket in [5, BRACKETS - 1] {
        let inflated = resigned(|proof| proof.brackets[0].bracket = bracket);
        assert!(matches!(
            verify_proof(&inflated, NOW_MS, &mut rng(11)),
            Err(Error::RangeProof(_))
        ));
    }
}

type Edit = fn(&mut ReputationProof);

#[test]
fn malformed_brackets_are_refused_by_issuer() {
    let cases: [(Edit, &str); 4] = [
        (
            |proof| proof.brackets[1].bracket = BRACKETS,
            "past the scale",
        ),
        (|proof| proof.brackets.swap(0, 1), "not sorted"),
        (
            |proof| {
                proof.brackets.pop();
            },
            "no bracket",
        ),
        (
            |proof| {
                proof
                    .receipts
                    .retain(|r| r.signer() != proof.brackets[1].issuer)
            },
            "no disclosed receipt",
        ),
    ];
    for (edit, what) in cases {
        let result = verify_proof(&resigned(edit), NOW_MS, &mut rng(12));
        let ok = match &result {
            Err(Error::BracketRejected { reason, .. }) => {
                reason.contains(what.split(' ').next_back().unwrap_or(what))
            }
            Err(Error::ReceiptRejected {
                fault: ReceiptFault::NoBracket,
                ..
            }) => what == "no bracket",
            _ => false,
        };
        assert!(ok, "{what}: {result:?}");
    }
    assert_eq!(bracket_floor(BRACKETS), None);
}

#[test]
fn a_range_proof_is_not_accepted_for_no_issuer_nor_when_cut() {
    let stray = resigned(|proof| {
        proof.receipts.clear();
        proof.brackets.clear();
    });
    assert!(matches!(
        verify_proof(&stray, NOW_MS, &mut rng(13)),
        Err(Error::RangeProof(_))
    ));
    let cut = resigned(|proof| {
        proof.range_proof.truncate(proof.range_proof.len() - 32);
    });
    assert!(matches!(
        verify_proof(&cut, NOW_MS, &mut rng(13)),
        Err(Error::RangeProof(_))
    ));
}

// ---------------------------------------------------------------------------------
// Limits, each exceeded.

#[test]
fn more_receipts_than_a_proof_holds_are_refused() -> Result<()> {
    let mut rng = rng(14);
    let me = persona().public_key();
    let by = issuer(0);
    let receipts: Vec<_> = (0..=RECEIPTS_PER_PROOF_MAX)
        .map(|_| receipt(&by, &me, ReceiptKind::View, 1, NOW_MS - 5, &[], &mut rng))
        .collect();
    assert!(matches!(
        build_proof(&persona(), &receipts, window(), &mut rng),
        Err(Error::TooLong { field: "receipts", len, max: RECEIPTS_PER_PROOF_MAX, .. }) if len == RECEIPTS_PER_PROOF_MAX + 1
    ));
    // The policy keeps the most recent that fit.
    let selection = DisclosurePolicy::default().select(&me, &receipts, NOW_MS)?;
    assert_eq!(selection.receipts.len(), RECEIPTS_PER_PROOF_MAX);
    assert_eq!(selection.withheld, 1);
    // A verifier refuses such a body before any signature check.
    let mut proof = shared_proof().open()?;
    proof.receipts = receipts.iter().map(|item| item.receipt.clone()).collect();
    let body = Signed::sign(&persona(), &proof);
    assert!(matches!(
        Signed::<ReputationProof>::try_from(body.to_wire()).and_then(|signed| signed.open()),
        Err(Error::TooLong {
            field: "receipts",
            max: RECEIPTS_PER_PROOF_MAX,
            ..
        })
    ));
    Ok(())
}

#[test]
fn issuers_up_to_the_power_of_two_bound_fit_and_one_more_is_refused() -> Result<()> {
    const _: () = assert!(ISSUERS_PER_PROOF_MAX.is_power_of_two());
    let mut rng = rng(15);
    let me = persona().public_key();
    let receipts: Vec<_> = (0..=ISSUERS_PER_PROOF_MAX)
        .map(|i| {
            let by = AdvertiserKey::from_secret_bytes(&[u8::try_from(i).expect("small") + 1; 32]);
            receipt(&by, &me, ReceiptKind::Click, 3, NOW_MS - 5, &[], &mut rng)
        })
        .collect();
    assert!(matches!(
        build_proof(&persona(), &receipts, window(), &mut rng),
        Err(Error::TooLong { field: "brackets", len, max: ISSUERS_PER_PROOF_MAX, .. }) if len == ISSUERS_PER_PROOF_MAX + 1
    ));
    let at_bound = build_proof(
        &persona(),
        &receipts[..ISSUERS_PER_PROOF_MAX],
        window(),
        &mut rng,
    )?;
    let view = verify_proof(&at_bound, NOW_MS, &mut rng)?;
    assert_eq!(view.issuers.len(), ISSUERS_PER_PROOF_MAX);
    // The policy keeps the issuers worth the most.
    let selection = DisclosurePolicy::default().select(&me, &receipts, NOW_MS)?;
    assert_eq!(selection.receipts.len(), ISSUERS_PER_PROOF_MAX);
    // A verifier refuses a body with one bracket too many.
    let mut proof = at_bound.open()?;
    let extra = receipts[ISSUERS_PER_PROOF_MAX].receipt.open()?.issuer;
    proof.brackets.push(IssuerBracket {
        issuer: extra,
        bracket: 0,
    });
    assert!(matches!(
        Signed::sign(&persona(), &proof).open(),
        Err(Error::TooLong {
            field: "brackets",
            max: ISSUERS_PER_PROOF_MAX,
            ..
        })
    ));
    Ok(())
}

#[test]
fn a_receipt_with_too_many_tags_is_refused_in_a_proof() -> Result<()> {
    let by = issuer(0);
    let opened = shared_proof().open()?;
    let mut receipt = opened.receipts[0].open()?;
    receipt.categories = (0..=CATEGORIES_MAX).map(|i| format!("tag{i}")).collect();
    // An issuer that skips validation signs it anyway.
    let bad = Signed::<ConversionReceipt>::sign(&by, &receipt);
    let proof = resigned(|proof| proof.receipts[0] = bad);
    assert!(matches!(
        verify_proof(&proof, NOW_MS, &mut rng(16)),
        Err(Error::TooLong {
            message: "ConversionReceipt",
            field: "categories",
            max: CATEGORIES_MAX,
            ..
        })
    ));
    Ok(())
}

#[test]
fn a_window_longer_than_the_limit_is_refused() {
    let long = Window::ending_at(NOW_MS, REPUTATION_WINDOW_MAX_MS + 1);
    let mut rng = rng(17);
    assert!(matches!(
        build_proof(&persona(), &[], long, &mut rng),
        Err(Error::TooLong {
            field: "window_ms",
            ..
        })
    ));
    let policy = DisclosurePolicy {
        window_ms: REPUTATION_WINDOW_MAX_MS + 1,
        ..DisclosurePolicy::default()
    };
    assert!(matches!(
        policy.select(&persona().public_key(), &[], NOW_MS),
        Err(Error::TooLong {
            field: "window_ms",
            ..
        })
    ));
    let widened = resigned(|proof| proof.window_start_ms = NOW_MS - REPUTATION_WINDOW_MAX_MS - 1);
    assert!(matches!(
        verify_proof(&widened, NOW_MS, &mut rng),
        Err(Error::TooLong {
            field: "window_ms",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------
// Tampering with any single byte.

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any byte of the proof as sent: the envelope, the persona's signature, any
    /// receipt, any commitment, the brackets, the range proof.
    #[test]
    fn tampering_any_byte_of_a_proof_fails(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut bytes = encode(shared_proof());
        let at = at.index(bytes.len());
        bytes[at] ^= flip;
        prop_assert!(verify_bytes(&bytes).is_err(), "byte {} ^ {:#04x} still verifies", at, flip);
    }

    /// Any byte of a receipt, with the proof signed again by the persona: the
    /// issuer's signature no longer holds.
    #[test]
    fn tampering_any_byte_of_a_receipt_fails(
        which in 0usize..4,
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let proof = resigned(|proof| {
            let receipt = &proof.receipts[which];
            let mut bytes = receipt.to_wire().encode_to_vec();
            let at = at.index(bytes.len());
            bytes[at] ^= flip;
            if let Ok(tampered) = attn_proto::v1::Signed::decode(bytes.as_slice())
                .map_err(|_| ())
                .and_then(|wire| Signed::<ConversionReceipt>::try_from(wire).map_err(|_| ()))
            {
                proof.receipts[which] = tampered;
            } else {
                // Not even an envelope any more: nothing a verifier would accept.
                proof.receipts.clear();
            }
        });
        prop_assert!(verify_proof(&proof, NOW_MS, &mut rng(18)).is_err());
    }

    /// Any byte of a commitment, even with the receipt signed again by its issuer and
    /// the proof by the persona: the range proof no longer holds.
    #[test]
    fn tampering_any_byte_of_a_commitment_fails(
        which in 0usize..4,
        at in 0usize..32,
        flip in 1u8..=255,
    ) {
        let proof = resigned(|proof| {
            let envelope = &proof.receipts[which];
            let mut receipt = envelope.open().expect("receipt opens");
            let mut bytes = receipt.value_commitment.0.to_bytes();
            bytes[at] ^= flip;
            if CompressedRistretto(bytes).decompress().is_some() {
                receipt.value_commitment = attn_receipts::Commitment(CompressedRistretto(bytes));
                let by = (0..3).map(issuer).find(|key| key.public_key() == receipt.issuer)
                    .expect("a test issuer");
                proof.receipts[which] = Signed::sign(&by, &receipt);
            } else {
                proof.receipts.clear();
            }
        });
        let result = verify_proof(&proof, NOW_MS, &mut rng(19));
        prop_assert!(result.is_err());
    }

    /// Any byte of the range proof, signed again by the persona.
    #[test]
    fn tampering_any_byte_of_the_range_proof_fails(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let proof = resigned(|proof| {
            let at = at.index(proof.range_proof.len());
            proof.range_proof[at] ^= flip;
        });
        prop_assert!(matches!(verify_proof(&proof, NOW_MS, &mut rng(20)), Err(Error::RangeProof(_))));
    }
}
