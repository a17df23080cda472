//! FROST threshold issuers and persona custody: RFC 9591 vectors through the signing
//! path, dealer and DKG groups whose signatures open as ordinary envelopes, the
//! failures (too few shares, corrupted shares, cheaters), persona split and recovery.

mod common;

use attn_receipts::limits::{
    THRESHOLD_DKG_MESSAGE_MAX_BYTES, THRESHOLD_MESSAGE_MAX_BYTES, THRESHOLD_SHARE_MAX_BYTES,
    THRESHOLD_SHARES_MAX,
};
use attn_receipts::signed::signed_message;
use attn_receipts::threshold::{
    self, DkgBroadcast, DkgPrivateMessage, KeyShare, PersonaShare, SignatureShare,
    SigningCommitment, SigningRequest, ThresholdGroup, ThresholdParams,
};
use attn_receipts::{
    ConversionReceipt, Error, Kind, PersonaKey, Signed, TrustStatement, verify_batch,
};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::scalar::Scalar;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn params(t: u16, n: u16) -> ThresholdParams {
    ThresholdParams::new(t, n).expect("valid parameters")
}

/// An "rng" that replays fixed bytes: how the RFC's chosen randomness is fed to the
/// same code paths that draw real randomness. Test-only, never a real rng.
struct Replay {
    bytes: Vec<u8>,
    position: usize,
}

impl Replay {
    fn new(parts: &[&[u8]]) -> Self {
        Self {
            bytes: parts.concat(),
            position: 0,
        }
    }

    fn exhausted(&self) -> bool {
        self.position == self.bytes.len()
    }
}

impl RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }
    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let end = self.position + dest.len();
        assert!(end <= self.bytes.len(), "replay ran out of bytes");
        dest.copy_from_slice(&self.bytes[self.position..end]);
        self.position = end;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand::CryptoRng for Replay {}

fn unhex32(text: &str) -> [u8; 32] {
    let mut out = [0; 32];
    hex::decode_to_slice(text, &mut out).expect("hex");
    out
}

fn field<'a>(value: &'a serde_json::Value, name: &str) -> &'a str {
    value[name].as_str().expect("string field")
}

/// RFC 9591 Appendix E.1 through this crate's threshold path: the dealer's split of
/// the group secret with the RFC's polynomial gives the RFC's shares, the signers'
/// commitments from the RFC's nonce randomness are the RFC's, and so are the signature
/// shares and the aggregated signature, which ed25519-dalek verifies.
#[test]
fn rfc9591_frost_ed25519_sha512_vector() {
    let vector: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/rfc9591-frost-ed25519-sha512.json"))
            .expect("fixture is JSON");
    let secret = unhex32(field(&vector, "group_secret_key"));
    let coefficient = unhex32(
        vector["share_polynomial_coefficients"][0]
            .as_str()
            .expect("coefficient"),
    );
    // A scalar is drawn as 64 bytes reduced mod ℓ: the coefficient followed by zeros
    // reduces to itself.
    let mut dealer_rng = Replay::new(&[&coefficient, &[0; 32]]);
    let (shares, group) =
        threshold::split_secret_scalar(&secret, params(2, 3), &mut dealer_rng).expect("split");
    assert!(dealer_rng.exhausted());
    assert_eq!(
        group.group_key().to_hex(),
        field(&vector, "group_public_key")
    );
    for share in &shares {
        let expected = unhex32(field(
            &vector["participant_shares"],
            &share.participant().to_string(),
        ));
        let expected_point =
            Scalar::from_canonical_bytes(expected).expect("scalar") * ED25519_BASEPOINT_POINT;
        assert_eq!(
            share.verifying_share(),
            expected_point.compress().to_bytes(),
            "share of participant {}",
            share.participant()
        );
    }

    let message = hex::decode(field(&vector, "message")).expect("hex");
    let signers = vector["signers"].as_array().expect("signers");
    let mut round_one = Vec::new();
    for signer in signers {
        let participant = signer["identifier"].as_u64().expect("identifier") as usize;
        let share = &shares[participant - 1];
        let mut nonce_rng = Replay::new(&[
            &unhex32(field(signer, "hiding_nonce_randomness")),
            &unhex32(field(signer, "binding_nonce_randomness")),
        ]);
        let (nonces, commitment) = threshold::commit(share, &mut nonce_rng);
        assert!(nonce_rng.exhausted());
        let bytes = commitment.to_bytes();
        assert_eq!(
            hex::encode(&bytes[2..34]),
            field(signer, "hiding_nonce_commitment")
        );
        assert_eq!(
            hex::encode(&bytes[34..]),
            field(signer, "binding_nonce_commitment")
        );
        round_one.push((share, nonces, commitment, signer));
    }
    let commitments: Vec<SigningCommitment> = round_one.iter().map(|(_, _, c, _)| *c).collect();
    let request = SigningRequest::new(&group, &commitments, &message).expect("request");
    let mut signature_shares = Vec::new();
    for (share, nonces, _, signer) in round_one {
        let signature_share = threshold::sign_share(share, nonces, &request).expect("sign");
        assert_eq!(
            hex::encode(&signature_share.to_bytes()[2..]),
            field(signer, "signature_share")
        );
        signature_shares.push(signature_share);
    }
    let signature = threshold::aggregate(&group, &request, &signature_shares).expect("aggregate");
    assert_eq!(
        hex::encode(signature.to_bytes()),
        field(&vector, "signature")
    );
    group
        .group_key()
        .verifying_key()
        .verify_strict(&message, &signature)
        .expect("plain Ed25519 verification");
}

/// Runs the three DKG steps between `n` parties that only exchange encoded messages.
fn run_dkg(params: ThresholdParams, rng: &mut StdRng) -> (Vec<KeyShare>, ThresholdGroup) {
    let mut states = Vec::new();
    let mut broadcasts = Vec::new();
    for participant in params.participants() {
        let (state, broadcast) = threshold::dkg_start(participant, params, rng).expect("part1");
        states.push(state);
        broadcasts.push(broadcast.to_bytes().expect("encode"));
    }
    let received: Vec<DkgBroadcast> = broadcasts
        .iter()
        .map(|bytes| DkgBroadcast::from_bytes(bytes).expect("decode"))
        .collect();
    let mut second = Vec::new();
    let mut mailboxes: Vec<Vec<DkgPrivateMessage>> = vec![Vec::new(); states.len()];
    for state in states {
        let (state, messages) = state.receive(&received).expect("part2");
        for message in messages {
            let bytes = message.to_bytes().expect("encode");
            let decoded = DkgPrivateMessage::from_bytes(&bytes).expect("decode");
            mailboxes[usize::from(decoded.to()) - 1].push(decoded);
        }
        second.push(state);
    }
    let mut shares = Vec::new();
    let mut groups = Vec::new();
    for (state, mailbox) in second.into_iter().zip(mailboxes) {
        let (share, group) = state.finish(&mailbox).expect("part3");
        shares.push(share);
        groups.push(group);
    }
    for group in &groups {
        assert_eq!(
            group.to_bytes(),
            groups[0].to_bytes(),
            "every party sees one group"
        );
    }
    (shares, groups.remove(0))
}

fn subsets(n: u16, t: u16) -> Vec<Vec<usize>> {
    (0u32..1 << n)
        .filter(|mask| mask.count_ones() == u32::from(t))
        .map(|mask| {
            (0..usize::from(n))
                .filter(|i| mask & (1 << i) != 0)
                .collect()
        })
        .collect()
}

fn receipt_from(group: &ThresholdGroup) -> ConversionReceipt {
    ConversionReceipt {
        issuer: group.group_key(),
        ..common::receipt()
    }
}

fn check_every_quorum_signs(shares: &[KeyShare], group: &ThresholdGroup, rng: &mut StdRng) {
    let params = group.params();
    let receipt = receipt_from(group);
    for quorum in subsets(params.shares(), params.threshold()) {
        let signers: Vec<&KeyShare> = quorum.iter().map(|&i| &shares[i]).collect();
        let signed =
            threshold::sign_envelope_with_shares(group, &signers, &receipt, rng).expect("sign");
        assert_eq!(signed.signer(), group.group_key());
        assert_eq!(
            signed.open().expect("opens as an ordinary envelope"),
            receipt
        );
        let signature = ed25519_dalek::Signature::from_bytes(&signed.signature_bytes());
        group
            .group_key()
            .verifying_key()
            .verify_strict(
                &signed_message(ConversionReceipt::DOMAIN, signed.body()),
                &signature,
            )
            .expect("ed25519-dalek verifies it");
    }
    // More than t signers work too.
    let everyone: Vec<&KeyShare> = shares.iter().collect();
    let signed =
        threshold::sign_envelope_with_shares(group, &everyone, &receipt, rng).expect("sign");
    signed.open().expect("opens");
}

#[test]
fn dealer_groups_2_of_3_and_3_of_5_sign_ordinary_envelopes() {
    let mut rng = rng(1);
    for (t, n) in [(2, 3), (3, 5)] {
        let (shares, group) = threshold::deal(params(t, n), &mut rng).expect("deal");
        check_every_quorum_signs(&shares, &group, &mut rng);
    }
}

#[test]
fn dkg_groups_2_of_3_and_3_of_5_sign_ordinary_envelopes() {
    let mut rng = rng(2);
    for (t, n) in [(2, 3), (3, 5)] {
        let (shares, group) = run_dkg(params(t, n), &mut rng);
        for share in &shares {
            group.check_share(share).expect("share of the group");
            let decoded = KeyShare::from_bytes(&share.to_bytes()).expect("round trip");
            group
                .check_share(&decoded)
                .expect("decoded share of the group");
        }
        check_every_quorum_signs(&shares, &group, &mut rng);
    }
}

#[test]
fn threshold_signed_receipt_verifies_in_a_batch_with_others() {
    let mut rng = rng(3);
    let (shares, group) = threshold::deal(params(3, 5), &mut rng).expect("deal");
    let single = common::advertiser();
    let mut batch = vec![Signed::sign(&single, &common::receipt())];
    let receipt = receipt_from(&group);
    batch.push(
        threshold::sign_envelope_with_shares(
            &group,
            &[&shares[0], &shares[2], &shares[4]],
            &receipt,
            &mut rng,
        )
        .expect("sign"),
    );
    for i in 0..6u8 {
        let key = attn_receipts::AdvertiserKey::from_secret_bytes(&[40 + i; 32]);
        let receipt = ConversionReceipt {
            issuer: key.public_key(),
            receipt_id: [i; 16],
            ..common::receipt()
        };
        batch.push(Signed::sign(&key, &receipt));
    }
    verify_batch(&batch).expect("the batch verifies");

    // The threshold envelope with a tampered body is named by the batch.
    let tampered = &batch[1];
    let mut body = tampered.body().to_vec();
    body[3] ^= 1;
    batch[1] =
        Signed::from_parts(body, tampered.signer(), tampered.signature_bytes()).expect("parts");
    assert_eq!(
        verify_batch(&batch).unwrap_err(),
        Error::BadSignatures {
            indices: vec![1],
            len: 8
        }
    );
}

#[test]
fn fewer_than_t_shares_fail_with_a_clear_error() {
    let mut rng = rng(4);
    let (shares, group) = threshold::deal(params(3, 5), &mut rng).expect("deal");
    let too_few = Error::ThresholdTooFewShares { have: 2, need: 3 };
    assert_eq!(
        threshold::sign_with_shares(&group, &[&shares[0], &shares[1]], b"m", &mut rng).unwrap_err(),
        too_few
    );

    // A full round, but the coordinator aggregates only two of the three shares.
    let rounds: Vec<_> = shares[..3]
        .iter()
        .map(|s| threshold::commit(s, &mut rng))
        .collect();
    let commitments: Vec<_> = rounds.iter().map(|(_, c)| *c).collect();
    assert_eq!(
        SigningRequest::new(&group, &commitments[..2], b"m").unwrap_err(),
        too_few
    );
    let request = SigningRequest::new(&group, &commitments, b"m").expect("request");
    let signature_shares: Vec<SignatureShare> = rounds
        .into_iter()
        .zip(&shares)
        .map(|((nonces, _), share)| threshold::sign_share(share, nonces, &request).expect("sign"))
        .collect();
    assert_eq!(
        threshold::aggregate(&group, &request, &signature_shares[..2]).unwrap_err(),
        too_few
    );
    threshold::aggregate(&group, &request, &signature_shares).expect("all three aggregate");

    // Persona recovery.
    let persona = common::persona();
    let persona_shares = threshold::split_persona(&persona, params(3, 5), &mut rng).expect("split");
    assert_eq!(
        threshold::recover_persona(&persona_shares[1..3]).unwrap_err(),
        too_few
    );
    assert!(matches!(
        threshold::recover_persona(&[]),
        Err(Error::ThresholdTooFewShares { have: 0, .. })
    ));
}

#[test]
fn corrupted_shares_are_refused_and_cheaters_named() {
    let mut rng = rng(5);
    let (shares, group) = threshold::deal(params(2, 3), &mut rng).expect("deal");

    // A flipped byte anywhere in an encoded key share fails its checksum (or magic).
    let bytes = shares[1].to_bytes();
    for position in 0..bytes.len() {
        let mut corrupted = bytes.to_vec();
        corrupted[position] ^= 0x40;
        assert!(
            matches!(
                KeyShare::from_bytes(&corrupted),
                Err(Error::ThresholdCorrupted(_))
            ),
            "byte {position}"
        );
    }
    assert!(matches!(
        KeyShare::from_bytes(&bytes[..bytes.len() - 1]),
        Err(Error::ThresholdCorrupted(_))
    ));

    // A well-formed share of another group is refused by this group.
    let (other_shares, _) = threshold::deal(params(2, 3), &mut rng).expect("deal");
    assert!(matches!(
        group.check_share(&other_shares[1]),
        Err(Error::ThresholdMismatch(_))
    ));
    assert!(
        threshold::sign_with_shares(&group, &[&shares[0], &other_shares[1]], b"m", &mut rng)
            .is_err()
    );

    // A corrupted signature share is caught at aggregation, naming its signer.
    let (nonces_1, commitment_1) = threshold::commit(&shares[0], &mut rng);
    let (nonces_3, commitment_3) = threshold::commit(&shares[2], &mut rng);
    let request =
        SigningRequest::new(&group, &[commitment_1, commitment_3], b"receipt").expect("request");
    let good = threshold::sign_share(&shares[0], nonces_1, &request).expect("sign");
    let mut bad = threshold::sign_share(&shares[2], nonces_3, &request)
        .expect("sign")
        .to_bytes();
    bad[5] ^= 1;
    let bad = SignatureShare::from_bytes(&bad).expect("still a scalar");
    assert_eq!(
        threshold::aggregate(&group, &request, &[good, bad]).unwrap_err(),
        Error::ThresholdInvalidShare {
            participant: 3,
            reason: "signature share does not verify"
        }
    );
}

#[test]
fn nonces_answer_only_their_own_commitment() {
    let mut rng = rng(6);
    let (shares, group) = threshold::deal(params(2, 3), &mut rng).expect("deal");
    let (nonces_1, _) = threshold::commit(&shares[0], &mut rng);
    let (_, fresh_1) = threshold::commit(&shares[0], &mut rng);
    let (_, commitment_2) = threshold::commit(&shares[1], &mut rng);
    let request = SigningRequest::new(&group, &[fresh_1, commitment_2], b"m").expect("request");
    assert!(matches!(
        threshold::sign_share(&shares[0], nonces_1, &request),
        Err(Error::ThresholdMismatch(_))
    ));
    let (nonces_3, _) = threshold::commit(&shares[2], &mut rng);
    assert!(matches!(
        threshold::sign_share(&shares[2], nonces_3, &request),
        Err(Error::ThresholdMismatch(_))
    ));
    assert!(matches!(
        SigningRequest::new(&group, &[commitment_2, commitment_2], b"m"),
        Err(Error::ThresholdMismatch(_))
    ));
}

#[test]
fn dkg_refuses_missing_forged_and_misaddressed_messages() {
    let mut rng = rng(7);
    let p = params(2, 3);
    let started: Vec<_> = p
        .participants()
        .map(|i| threshold::dkg_start(i, p, &mut rng).expect("part1"))
        .collect();
    let broadcasts: Vec<DkgBroadcast> = started.iter().map(|(_, b)| b.clone()).collect();
    let mut states: Vec<_> = started.into_iter().map(|(s, _)| Some(s)).collect();

    // Participant 1 hears only from participant 2.
    let (state_1, _) = threshold::dkg_start(1, p, &mut rng).expect("part1");
    assert_eq!(
        state_1.receive(&broadcasts[1..2]).unwrap_err(),
        Error::ThresholdTooFewShares { have: 2, need: 3 }
    );

    // Participant 3 replays participant 2's broadcast as its own: the proof of
    // knowledge is bound to its sender, so participant 1 names participant 3.
    let forged_bytes = {
        let mut bytes = broadcasts[1].to_bytes().expect("encode");
        bytes[8..10].copy_from_slice(&3u16.to_le_bytes());
        bytes
    };
    let forged = DkgBroadcast::from_bytes(&forged_bytes).expect("decodes");
    let state_1 = states[0].take().expect("state");
    assert_eq!(
        state_1
            .receive(&[broadcasts[1].clone(), forged])
            .unwrap_err(),
        Error::ThresholdInvalidShare {
            participant: 3,
            reason: "bad proof of knowledge"
        }
    );

    // A private message delivered to the wrong participant is refused.
    let state_2 = states[1].take().expect("state");
    let (state_2, messages_2) = state_2.receive(&broadcasts).expect("part2");
    let state_3 = states[2].take().expect("state");
    let (_, messages_3) = state_3.receive(&broadcasts).expect("part2");
    let to_1 = messages_3
        .iter()
        .find(|m| m.to() == 1)
        .expect("message")
        .clone();
    assert!(messages_2.iter().all(|m| m.from() == 2));
    assert!(matches!(
        state_2.finish(&[to_1]),
        Err(Error::ThresholdMismatch(_))
    ));

    // Oversized and foreign bytes.
    assert!(matches!(
        DkgBroadcast::from_bytes(&vec![0; THRESHOLD_DKG_MESSAGE_MAX_BYTES + 1]),
        Err(Error::TooLong {
            max: THRESHOLD_DKG_MESSAGE_MAX_BYTES,
            ..
        })
    ));
    assert!(matches!(
        DkgPrivateMessage::from_bytes(b"ATTNDKB1\x01\x00\x02\x00"),
        Err(Error::ThresholdCorrupted(_))
    ));
}

#[test]
fn limits_are_enforced() {
    assert!(matches!(
        ThresholdParams::new(2, THRESHOLD_SHARES_MAX + 1),
        Err(Error::ThresholdParameters { .. })
    ));
    assert!(matches!(
        ThresholdParams::new(1, 3),
        Err(Error::ThresholdParameters { .. })
    ));
    let mut rng = rng(8);
    let (shares, group) = threshold::deal(params(2, 2), &mut rng).expect("deal");
    let commitments: Vec<_> = shares
        .iter()
        .map(|s| threshold::commit(s, &mut rng).1)
        .collect();
    let long = vec![0u8; THRESHOLD_MESSAGE_MAX_BYTES + 1];
    assert!(matches!(
        SigningRequest::new(&group, &commitments, &long),
        Err(Error::TooLong {
            max: THRESHOLD_MESSAGE_MAX_BYTES,
            ..
        })
    ));
    let body = vec![0u8; TrustStatement::BODY_MAX_BYTES + 1];
    assert!(matches!(
        SigningRequest::for_envelope::<TrustStatement>(&group, &commitments, &body),
        Err(Error::TooLong { .. })
    ));
    let oversized = vec![0u8; THRESHOLD_SHARE_MAX_BYTES + 1];
    for result in [
        KeyShare::from_bytes(&oversized).map(drop),
        ThresholdGroup::from_bytes(&oversized).map(drop),
        PersonaShare::from_bytes(&oversized).map(drop),
    ] {
        assert!(matches!(
            result,
            Err(Error::TooLong {
                max: THRESHOLD_SHARE_MAX_BYTES,
                ..
            })
        ));
    }
    assert!(matches!(
        PersonaShare::from_hex(&"0".repeat(4 * THRESHOLD_SHARE_MAX_BYTES + 2)),
        Err(Error::TooLong { .. })
    ));
}

#[test]
fn corrupted_or_mixed_persona_shares_are_refused() {
    let mut rng = rng(9);
    let persona = common::persona();
    let shares = threshold::split_persona(&persona, params(2, 3), &mut rng).expect("split");
    let bytes = shares[0].to_bytes();
    for position in (0..bytes.len()).step_by(7) {
        let mut corrupted = bytes.to_vec();
        corrupted[position] ^= 0x01;
        assert!(
            matches!(
                PersonaShare::from_bytes(&corrupted),
                Err(Error::ThresholdCorrupted(_))
            ),
            "byte {position}"
        );
    }
    assert!(matches!(
        PersonaShare::from_hex("not hex"),
        Err(Error::ThresholdCorrupted(_))
    ));

    // A tampered signing share with a recomputed checksum: caught by the commitment.
    let mut tampered = bytes.to_vec();
    tampered[8 + 6 + 32] ^= 0x01;
    let content_len = tampered.len() - 8;
    let check = {
        use sha2::Digest;
        sha2::Sha256::digest(&tampered[..content_len])
    };
    tampered[content_len..].copy_from_slice(&check[..8]);
    assert_eq!(
        PersonaShare::from_bytes(&tampered).unwrap_err(),
        Error::ThresholdInvalidShare {
            participant: 1,
            reason: "share does not match its commitment"
        }
    );

    // Shares of two different splits, or of two personas, never mix.
    let again = threshold::split_persona(&persona, params(2, 3), &mut rng).expect("split");
    assert!(matches!(
        threshold::recover_persona(&[shares[0].clone(), again[1].clone()]),
        Err(Error::ThresholdMismatch(_))
    ));
    let other = threshold::split_persona(
        &PersonaKey::from_secret_bytes(&[12; 32]),
        params(2, 3),
        &mut rng,
    )
    .expect("split");
    assert!(matches!(
        threshold::recover_persona(&[shares[0].clone(), other[1].clone()]),
        Err(Error::ThresholdMismatch(_))
    ));
    assert!(matches!(
        threshold::recover_persona(&[shares[0].clone(), shares[0].clone()]),
        Err(Error::ThresholdMismatch(_))
    ));
}

#[test]
fn persona_shareholders_can_sign_as_the_persona_without_recovering_it() {
    let mut rng = rng(10);
    let persona = common::persona();
    let shares = threshold::split_persona(&persona, params(2, 3), &mut rng).expect("split");
    let group = shares[0].group().expect("group");
    assert_eq!(group.group_key(), persona.public_key());
    let key_shares: Vec<KeyShare> = shares
        .iter()
        .map(|s| s.key_share().expect("key share"))
        .collect();
    let pull = common::receipts_pull();
    let signed = threshold::sign_envelope_with_shares(
        &group,
        &[&key_shares[2], &key_shares[0]],
        &pull,
        &mut rng,
    )
    .expect("sign");
    assert_eq!(signed.open().expect("opens"), pull);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Any t or more of n shares, in any order, through hex and back, recover the exact
    /// persona key, which signs envelopes that open under the persona's public key.
    #[test]
    fn persona_split_and_recover_round_trip(
        n in 2u16..=6,
        t_offset in 0u16..5,
        seed in any::<[u8; 32]>(),
        rng_seed in any::<u64>(),
        extra in 0usize..3,
    ) {
        let t = 2 + t_offset % (n - 1);
        let mut rng = rng(rng_seed);
        let persona = PersonaKey::from_secret_bytes(&seed);
        let shares = threshold::split_persona(&persona, params(t, n), &mut rng).expect("split");
        prop_assert_eq!(shares.len(), usize::from(n));
        let mut chosen: Vec<PersonaShare> = shares
            .iter()
            .map(|share| PersonaShare::from_hex(&share.to_hex()).expect("round trip"))
            .collect();
        chosen.shuffle(&mut rng);
        chosen.truncate((usize::from(t) + extra).min(usize::from(n)));
        let recovered = threshold::recover_persona(&chosen).expect("recover");
        prop_assert_eq!(*recovered.secret_bytes(), seed);
        prop_assert_eq!(recovered.public_key(), persona.public_key());
        let pull = attn_receipts::ReceiptsPull {
            persona: persona.public_key(),
            ..common::receipts_pull()
        };
        prop_assert_eq!(Signed::sign(&recovered, &pull).open().expect("opens"), pull);
        let too_few = threshold::recover_persona(&chosen[..usize::from(t) - 1]);
        prop_assert!(
            matches!(too_few, Err(Error::ThresholdTooFewShares { .. })),
            "too few shares accepted"
        );
    }
}
