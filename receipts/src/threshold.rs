//! Threshold keys: FROST (RFC 9591, ciphersuite `FROST(Ed25519, SHA-512)`, through
//! `frost-ed25519`) for advertisers' receipt keys, and t-of-n custody of persona keys.
//!
//! A FROST group key is an ordinary Ed25519 public key. Any `t` of its `n` share
//! holders together produce an ordinary RFC 8032 signature under it (RFC 9591 §6.5:
//! the ciphersuite's challenge is `SHA-512(R || A || message)`, exactly Ed25519's), so
//! a [`Signed`] envelope minted by a group opens with the usual [`Signed::open`] and
//! joins the usual batch verification: verifiers never learn that a group signed.
//! One stolen signing server (fewer than `t` shares) cannot mint receipts.
//!
//! Everything here is pure: no I/O, no clock, no thread, randomness handed in. The
//! parties of a protocol exchange the explicit message types below; how they travel
//! (tokio channels in the bidder SDK, gRPC, paper) is the caller's business.
//!
//! # Layout
//! - [`ThresholdParams`]: `t` of `n`, checked against the limits.
//! - Key generation by a trusted dealer: [`deal`] (a fresh key),
//!   [`split_advertiser_key`] (an existing key keeps its id), [`split_secret_scalar`].
//! - Distributed key generation (RFC 9591 Appendix C's dealer replaced by Pedersen's
//!   DKG with proofs of knowledge, as `frost-core` implements it), in three steps:
//!   [`dkg_start`] → broadcast [`DkgBroadcast`] → [`DkgRound1::receive`] → send each
//!   [`DkgPrivateMessage`] to its addressee, confidentially → [`DkgRound2::finish`].
//! - The result: each holder's [`KeyShare`] (secret) and the [`ThresholdGroup`]
//!   (public: the group key and every holder's verifying share).
//! - Signing (RFC 9591 §5): [`commit`] (round one, each signer) → the coordinator's
//!   [`SigningRequest`] → [`sign_share`] (round two, each signer) → [`aggregate`] or
//!   [`aggregate_envelope`] (coordinator). [`sign_with_shares`] and
//!   [`sign_envelope_with_shares`] run all of it in one place.
//! - Persona custody: [`split_persona`] gives each device or friend a
//!   [`PersonaShare`]; [`recover_persona`] rebuilds the exact [`PersonaKey`] from any
//!   `t` of them.
//!
//! # Persona custody and Ed25519's key expansion
//! An Ed25519 secret key is a 32-byte seed; signing uses its expansion
//! `SHA-512(seed) = scalar_bytes || nonce_prefix`, with the clamped `scalar_bytes`
//! reduced mod ℓ as the signing scalar `s` (public key `A = s·B`). FROST shares a
//! *scalar*, and a seed cannot be rebuilt from `s`. So [`split_persona`] shares `s`
//! itself with `frost-ed25519`'s `keys::split` (each share is a genuine FROST key share
//! of the persona: `t` holders may even sign as the persona without rebuilding it,
//! see [`PersonaShare::key_share`]), and every share carries the same *sealed seed*
//! `seed ⊕ SHA-512("attn/v1/persona-custody" || 0x00 || A || s)[..32]`. Recovery
//! interpolates `s` (`keys::reconstruct`), checks `s·B = A`, unseals the seed and checks
//! that it expands to the same `s` and `A`: the recovered key is the original key,
//! byte for byte, and signs exactly as it did. Fewer than `t` shares reveal nothing of
//! `s`, and without `s` the sealed seed is a one-time pad under a random-oracle key.
//!
//! # Encodings
//! Shares and groups have fixed little-endian layouts that end in a checksum (the
//! first 8 bytes of SHA-256 of everything before), so a mistyped or truncated share is
//! told apart from a share of another group:
//! ```text
//! key share:     "ATTNKSH1" | t u16 | n u16 | id u16 | group key 32 | signing share 32 | check 8
//! group:         "ATTNGRP1" | t u16 | n u16 | group key 32 | n × verifying share 32 | check 8
//! persona share: "ATTNPSH1" | t u16 | n u16 | id u16 | persona key 32 | signing share 32
//!                | t × coefficient commitment 32 | sealed seed 32 | check 8
//! commitment:    id u16 | hiding nonce commitment 32 | binding nonce commitment 32
//! signature share: id u16 | share 32
//! ```
//! DKG messages carry `frost-core`'s own serialization behind a magic and the ids.
//!
//! # Example
//! ```
//! use attn_receipts::threshold::{self, ThresholdParams};
//! use attn_receipts::{Signed, TrustStatement, AdvertiserKey};
//! let mut rng = rand::rngs::OsRng;
//! let (shares, group) = threshold::deal(ThresholdParams::new(2, 3)?, &mut rng)?;
//! let statement = TrustStatement {
//!     truster: group.group_key(),
//!     trustee: AdvertiserKey::from_secret_bytes(&[2; 32]).public_key(),
//!     weight_ppm: 500_000,
//!     issued_at_ms: 1,
//! };
//! // Any two of the three holders sign; the envelope opens like any other.
//! let signed = threshold::sign_envelope_with_shares(&group, &[&shares[0], &shares[2]], &statement, &mut rng)?;
//! assert_eq!(signed.open()?, statement);
//! # Ok::<(), attn_receipts::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use frost_ed25519 as frost;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{AdvertiserKey, PersonaKey, PublicKey};
use crate::limits::{
    THRESHOLD_DKG_MESSAGE_MAX_BYTES, THRESHOLD_MESSAGE_MAX_BYTES, THRESHOLD_SHARE_MAX_BYTES,
    THRESHOLD_SHARES_MAX, THRESHOLD_SIGNERS_MIN,
};
use crate::signed::{Kind, Signed, signed_message};

const KEY_SHARE_MAGIC: &[u8; 8] = b"ATTNKSH1";
const GROUP_MAGIC: &[u8; 8] = b"ATTNGRP1";
const PERSONA_SHARE_MAGIC: &[u8; 8] = b"ATTNPSH1";
const DKG_BROADCAST_MAGIC: &[u8; 8] = b"ATTNDKB1";
const DKG_PRIVATE_MAGIC: &[u8; 8] = b"ATTNDKP1";
const CHECK_LEN: usize = 8;
const KEY_SHARE_LEN: usize = 8 + 6 + 32 + 32 + CHECK_LEN;
/// The label of the key that seals a persona's seed inside its shares.
const PERSONA_CUSTODY_LABEL: &[u8] = b"attn/v1/persona-custody";
/// Bytes of an encoded [`SigningCommitment`].
pub const SIGNING_COMMITMENT_LEN: usize = 2 + 32 + 32;
/// Bytes of an encoded [`SignatureShare`].
pub const SIGNATURE_SHARE_LEN: usize = 2 + 32;

const fn group_len(shares: usize) -> usize {
    8 + 4 + 32 + 32 * shares + CHECK_LEN
}

const fn persona_share_len(threshold: usize) -> usize {
    8 + 6 + 32 + 32 + 32 * threshold + 32 + CHECK_LEN
}

const _: () = assert!(group_len(THRESHOLD_SHARES_MAX as usize) <= THRESHOLD_SHARE_MAX_BYTES);
const _: () =
    assert!(persona_share_len(THRESHOLD_SHARES_MAX as usize) <= THRESHOLD_SHARE_MAX_BYTES);
const _: () = assert!(KEY_SHARE_LEN <= THRESHOLD_SHARE_MAX_BYTES);

/// How many shares a key has (`n`) and how many must cooperate (`t`), with
/// `THRESHOLD_SIGNERS_MIN ≤ t ≤ n ≤ THRESHOLD_SHARES_MAX`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ThresholdParams {
    threshold: u16,
    shares: u16,
}

impl ThresholdParams {
    /// `threshold` of `shares`, checked against
    /// [`THRESHOLD_SIGNERS_MIN`] and [`THRESHOLD_SHARES_MAX`].
    pub fn new(threshold: u16, shares: u16) -> Result<Self> {
        let reason = if threshold < THRESHOLD_SIGNERS_MIN {
            Some("the threshold must be at least 2")
        } else if shares > THRESHOLD_SHARES_MAX {
            Some("too many shares (THRESHOLD_SHARES_MAX)")
        } else if threshold > shares {
            Some("the threshold exceeds the number of shares")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::ThresholdParameters {
                threshold,
                shares,
                reason,
            }),
            None => Ok(Self { threshold, shares }),
        }
    }

    /// How many share holders must cooperate (`t`).
    pub fn threshold(&self) -> u16 {
        self.threshold
    }

    /// How many shares exist (`n`).
    pub fn shares(&self) -> u16 {
        self.shares
    }

    /// The participants' identifiers, `1..=n`.
    pub fn participants(&self) -> impl Iterator<Item = u16> + use<> {
        1..=self.shares
    }

    fn check_participant(&self, participant: u16) -> Result<()> {
        if participant == 0 || participant > self.shares {
            return Err(Error::ThresholdMismatch("participant outside 1..=n"));
        }
        Ok(())
    }

    fn read(bytes: &[u8]) -> Result<Self> {
        let threshold = u16::from_le_bytes([bytes[0], bytes[1]]);
        let shares = u16::from_le_bytes([bytes[2], bytes[3]]);
        Self::new(threshold, shares)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.threshold.to_le_bytes());
        out.extend_from_slice(&self.shares.to_le_bytes());
    }
}

fn identifier(participant: u16) -> frost::Identifier {
    frost::Identifier::try_from(participant).expect("participants are numbered from 1")
}

fn protocol(step: &'static str) -> impl Fn(frost::Error) -> Error {
    move |error| Error::ThresholdProtocol {
        step,
        reason: error.to_string(),
    }
}

fn checksum(bytes: &[u8]) -> [u8; CHECK_LEN] {
    let digest = Sha256::digest(bytes);
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&digest[..CHECK_LEN]);
    check
}

/// Checks the magic, the length bounds and the trailing checksum; returns the bytes
/// between the magic and the checksum.
fn unwrap_checked<'a>(bytes: &'a [u8], magic: &[u8; 8], what: &'static str) -> Result<&'a [u8]> {
    if bytes.len() > THRESHOLD_SHARE_MAX_BYTES {
        return Err(Error::TooLong {
            message: what,
            field: "bytes",
            len: bytes.len(),
            max: THRESHOLD_SHARE_MAX_BYTES,
        });
    }
    if bytes.len() < magic.len() + CHECK_LEN || &bytes[..magic.len()] != magic {
        return Err(Error::ThresholdCorrupted("not an attn share of this kind"));
    }
    let (content, check) = bytes.split_at(bytes.len() - CHECK_LEN);
    if checksum(content) != check {
        return Err(Error::ThresholdCorrupted("checksum mismatch"));
    }
    Ok(&content[magic.len()..])
}

fn seal_checked(mut content: Vec<u8>) -> Vec<u8> {
    let check = checksum(&content);
    content.extend_from_slice(&check);
    content
}

fn public_key_of(key: &frost::VerifyingKey) -> Result<PublicKey> {
    let bytes: [u8; 32] = key
        .serialize()
        .map_err(protocol("serialize group key"))?
        .try_into()
        .map_err(|_| Error::ThresholdCorrupted("group key is not 32 bytes"))?;
    PublicKey::from_bytes(&bytes)
}

fn frost_key_of(key: &PublicKey) -> Result<frost::VerifyingKey> {
    frost::VerifyingKey::deserialize(key.as_bytes()).map_err(protocol("read group key"))
}

fn array32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("callers slice 32 bytes")
}

fn point(bytes: &[u8]) -> Result<EdwardsPoint> {
    CompressedEdwardsY(array32(bytes))
        .decompress()
        .filter(|point| !point.is_identity())
        .ok_or(Error::ThresholdCorrupted("not a curve point"))
}

/// The Lagrange coefficient of `i` among `points`, evaluated at `x`.
fn lagrange(points: &[u16], i: u16, x: u16) -> Scalar {
    let mut numerator = Scalar::ONE;
    let mut denominator = Scalar::ONE;
    for &m in points.iter().filter(|&&m| m != i) {
        numerator *= Scalar::from(u64::from(x)) - Scalar::from(u64::from(m));
        denominator *= Scalar::from(u64::from(i)) - Scalar::from(u64::from(m));
    }
    numerator * denominator.invert()
}

// ---------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------

/// One holder's long-lived share of a group key: secret, never printed, zeroized when
/// dropped. Made by [`deal`] or [`DkgRound2::finish`]; moved with
/// [`KeyShare::to_bytes`] over a confidential channel only.
#[derive(Clone)]
pub struct KeyShare {
    participant: u16,
    params: ThresholdParams,
    group_key: PublicKey,
    package: frost::keys::KeyPackage,
}

impl KeyShare {
    fn from_package(
        participant: u16,
        params: ThresholdParams,
        package: frost::keys::KeyPackage,
    ) -> Result<Self> {
        if *package.min_signers() != params.threshold {
            return Err(Error::ThresholdMismatch(
                "share threshold differs from the group",
            ));
        }
        let group_key = public_key_of(package.verifying_key())?;
        Ok(Self {
            participant,
            params,
            group_key,
            package,
        })
    }

    /// This holder's identifier, 1 to `n`.
    pub fn participant(&self) -> u16 {
        self.participant
    }

    /// The group's `t` and `n`.
    pub fn params(&self) -> ThresholdParams {
        self.params
    }

    /// The group key signatures verify under.
    pub fn group_key(&self) -> PublicKey {
        self.group_key
    }

    /// This holder's public verifying share (its signing share times the base point),
    /// as the [`ThresholdGroup`] lists it.
    pub fn verifying_share(&self) -> [u8; 32] {
        let bytes = self
            .package
            .verifying_share()
            .serialize()
            .expect("a verifying share of a nonzero share is not the identity");
        array32(&bytes)
    }

    /// The encoding (see the module docs). Secret: zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(KEY_SHARE_LEN));
        out.extend_from_slice(KEY_SHARE_MAGIC);
        self.params.write(&mut out);
        out.extend_from_slice(&self.participant.to_le_bytes());
        out.extend_from_slice(self.group_key.as_bytes());
        out.extend_from_slice(&self.package.signing_share().serialize());
        let check = checksum(&out);
        out.extend_from_slice(&check);
        out
    }

    /// Decodes and checks a key share: checksum, parameters, and that the group key is
    /// a valid key. (Whether the share belongs to a group is checked against that
    /// group's verifying share by [`ThresholdGroup::check_share`].)
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let content = unwrap_checked(bytes, KEY_SHARE_MAGIC, "KeyShare")?;
        if content.len() != KEY_SHARE_LEN - 8 - CHECK_LEN {
            return Err(Error::ThresholdCorrupted("key share has the wrong length"));
        }
        let params = ThresholdParams::read(&content[..4])?;
        let participant = u16::from_le_bytes([content[4], content[5]]);
        params.check_participant(participant)?;
        let group_key = PublicKey::try_from(&content[6..38])?;
        let signing_share = frost::keys::SigningShare::deserialize(&content[38..70])
            .map_err(|_| Error::ThresholdCorrupted("signing share is not a scalar"))?;
        let verifying_share = frost::keys::VerifyingShare::from(signing_share);
        let package = frost::keys::KeyPackage::new(
            identifier(participant),
            signing_share,
            verifying_share,
            frost_key_of(&group_key)?,
            params.threshold,
        );
        Self::from_package(participant, params, package)
    }
}

impl fmt::Debug for KeyShare {
    /// Prints the holder and the group, never the secret share.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyShare({} of {}-of-{} group {:?})",
            self.participant, self.params.threshold, self.params.shares, self.group_key
        )
    }
}

/// The public side of a threshold key: the group key and each holder's verifying
/// share. The coordinator of a signing round needs it to check signature shares and
/// name a cheater.
#[derive(Clone, PartialEq, Eq)]
pub struct ThresholdGroup {
    params: ThresholdParams,
    group_key: PublicKey,
    package: frost::keys::PublicKeyPackage,
}

impl ThresholdGroup {
    fn from_package(
        params: ThresholdParams,
        package: frost::keys::PublicKeyPackage,
    ) -> Result<Self> {
        if package.verifying_shares().len() != usize::from(params.shares) {
            return Err(Error::ThresholdMismatch(
                "group has the wrong number of holders",
            ));
        }
        if package.min_signers() != Some(params.threshold) {
            return Err(Error::ThresholdMismatch("group threshold differs"));
        }
        for participant in params.participants() {
            if !package
                .verifying_shares()
                .contains_key(&identifier(participant))
            {
                return Err(Error::ThresholdMismatch(
                    "group holders are not numbered 1..=n",
                ));
            }
        }
        let group_key = public_key_of(package.verifying_key())?;
        Ok(Self {
            params,
            group_key,
            package,
        })
    }

    /// The group key: the advertiser's id, or the persona, that signatures verify under.
    pub fn group_key(&self) -> PublicKey {
        self.group_key
    }

    /// The group's `t` and `n`.
    pub fn params(&self) -> ThresholdParams {
        self.params
    }

    /// The verifying share of `participant`.
    pub fn verifying_share(&self, participant: u16) -> Result<[u8; 32]> {
        self.params.check_participant(participant)?;
        let share = self
            .package
            .verifying_shares()
            .get(&identifier(participant))
            .ok_or(Error::ThresholdMismatch("unknown participant"))?;
        let bytes = share
            .serialize()
            .map_err(protocol("serialize verifying share"))?;
        Ok(array32(&bytes))
    }

    /// Checks that `share` is a share of this group: same key and parameters, and its
    /// verifying share is the one the group lists for its holder.
    pub fn check_share(&self, share: &KeyShare) -> Result<()> {
        if share.group_key != self.group_key || share.params != self.params {
            return Err(Error::ThresholdMismatch("share of another group"));
        }
        if self.verifying_share(share.participant)? != share.verifying_share() {
            return Err(Error::ThresholdInvalidShare {
                participant: share.participant,
                reason: "signing share does not match the group's verifying share",
            });
        }
        Ok(())
    }

    /// The encoding (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(group_len(usize::from(self.params.shares)));
        out.extend_from_slice(GROUP_MAGIC);
        self.params.write(&mut out);
        out.extend_from_slice(self.group_key.as_bytes());
        for participant in self.params.participants() {
            let share = self
                .verifying_share(participant)
                .expect("a group lists every holder");
            out.extend_from_slice(&share);
        }
        seal_checked(out)
    }

    /// Decodes and checks a group: checksum, parameters, valid points, and that every
    /// verifying share lies on one polynomial of degree `t − 1` whose value at zero is
    /// the group key (so any `t` holders really can sign for it).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let content = unwrap_checked(bytes, GROUP_MAGIC, "ThresholdGroup")?;
        if content.len() < 4 {
            return Err(Error::ThresholdCorrupted("group is truncated"));
        }
        let params = ThresholdParams::read(&content[..4])?;
        if content.len() != group_len(usize::from(params.shares)) - 8 - CHECK_LEN {
            return Err(Error::ThresholdCorrupted("group has the wrong length"));
        }
        let group_key = PublicKey::try_from(&content[4..36])?;
        let shares: Vec<EdwardsPoint> = content[36..]
            .chunks_exact(32)
            .map(point)
            .collect::<Result<_>>()?;
        let base: Vec<u16> = (1..=params.threshold).collect();
        let at = |x: u16| -> EdwardsPoint {
            base.iter()
                .map(|&i| lagrange(&base, i, x) * shares[usize::from(i - 1)])
                .sum()
        };
        if at(0).compress().as_bytes() != group_key.as_bytes() {
            return Err(Error::ThresholdMismatch(
                "verifying shares do not interpolate to the group key",
            ));
        }
        for participant in params.threshold + 1..=params.shares {
            if at(participant) != shares[usize::from(participant - 1)] {
                return Err(Error::ThresholdInvalidShare {
                    participant,
                    reason: "verifying share is off the group's polynomial",
                });
            }
        }
        let verifying_shares = params
            .participants()
            .zip(content[36..].chunks_exact(32))
            .map(|(participant, bytes)| {
                frost::keys::VerifyingShare::deserialize(bytes)
                    .map(|share| (identifier(participant), share))
                    .map_err(|_| Error::ThresholdCorrupted("verifying share is not a point"))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        let package = frost::keys::PublicKeyPackage::new(
            verifying_shares,
            frost_key_of(&group_key)?,
            Some(params.threshold),
        );
        Self::from_package(params, package)
    }
}

impl fmt::Debug for ThresholdGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ThresholdGroup({}-of-{} {:?})",
            self.params.threshold, self.params.shares, self.group_key
        )
    }
}

fn dealt(
    params: ThresholdParams,
    secret_shares: BTreeMap<frost::Identifier, frost::keys::SecretShare>,
    public: frost::keys::PublicKeyPackage,
) -> Result<(Vec<KeyShare>, ThresholdGroup)> {
    let group = ThresholdGroup::from_package(params, public)?;
    let mut shares = Vec::with_capacity(usize::from(params.shares));
    for participant in params.participants() {
        let secret = secret_shares
            .get(&identifier(participant))
            .cloned()
            .ok_or(Error::ThresholdMismatch("dealer skipped a participant"))?;
        // What every receiver of a dealt share must do: check it against the
        // dealer's commitment (RFC 9591 Appendix C.2, vss_verify).
        let package = frost::keys::KeyPackage::try_from(secret).map_err(|_| {
            Error::ThresholdInvalidShare {
                participant,
                reason: "dealt share does not match the dealer's commitment",
            }
        })?;
        let share = KeyShare::from_package(participant, params, package)?;
        group.check_share(&share)?;
        shares.push(share);
    }
    Ok((shares, group))
}

/// A fresh group key split `t`-of-`n` by a trusted dealer (RFC 9591 Appendix C):
/// the dealer sees the whole key once, then forgets it. Returns the shares, holder 1
/// first, and the group. Prefer the DKG ([`dkg_start`]) when no single machine
/// should ever hold the key.
pub fn deal(
    params: ThresholdParams,
    rng: &mut impl CryptoRngCore,
) -> Result<(Vec<KeyShare>, ThresholdGroup)> {
    let (secret_shares, public) = frost::keys::generate_with_dealer(
        params.shares,
        params.threshold,
        frost::keys::IdentifierList::Default,
        &mut *rng,
    )
    .map_err(protocol("trusted dealer"))?;
    dealt(params, secret_shares, public)
}

/// Splits an existing advertiser key: the group key is the advertiser's public key, so
/// its id, and every receipt it already issued, stay valid. The signing scalar of the
/// key's RFC 8032 expansion is what is shared; destroy the key afterwards.
pub fn split_advertiser_key(
    key: &AdvertiserKey,
    params: ThresholdParams,
    rng: &mut impl CryptoRngCore,
) -> Result<(Vec<KeyShare>, ThresholdGroup)> {
    let scalar = expanded_scalar(&key.secret_bytes());
    split_secret_scalar(&scalar, params, rng)
}

/// Splits a secret scalar (32 bytes, little-endian, canonical, nonzero) `t`-of-`n`
/// with a random polynomial (`frost-ed25519`'s `keys::split`).
pub fn split_secret_scalar(
    scalar: &[u8; 32],
    params: ThresholdParams,
    rng: &mut impl CryptoRngCore,
) -> Result<(Vec<KeyShare>, ThresholdGroup)> {
    let key = frost::SigningKey::deserialize(scalar)
        .map_err(|_| Error::ThresholdCorrupted("secret is not a canonical nonzero scalar"))?;
    let (secret_shares, public) = frost::keys::split(
        &key,
        params.shares,
        params.threshold,
        frost::keys::IdentifierList::Default,
        &mut *rng,
    )
    .map_err(protocol("split"))?;
    dealt(params, secret_shares, public)
}

/// The signing scalar of an RFC 8032 seed (clamped, reduced), as ed25519-dalek
/// expands it.
fn expanded_scalar(seed: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    Zeroizing::new(key.to_scalar().to_bytes())
}

// ---------------------------------------------------------------------------------
// Distributed key generation
// ---------------------------------------------------------------------------------

/// A participant's state after the first DKG step: keep it, send the
/// [`DkgBroadcast`] to every other participant.
pub struct DkgRound1 {
    participant: u16,
    params: ThresholdParams,
    secret: frost::keys::dkg::round1::SecretPackage,
}

/// A participant's state after the second DKG step.
pub struct DkgRound2 {
    participant: u16,
    params: ThresholdParams,
    secret: frost::keys::dkg::round2::SecretPackage,
    broadcasts: BTreeMap<frost::Identifier, frost::keys::dkg::round1::Package>,
}

impl fmt::Debug for DkgRound1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DkgRound1(participant {})", self.participant)
    }
}

impl fmt::Debug for DkgRound2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DkgRound2(participant {})", self.participant)
    }
}

/// The first-step message of a DKG participant: its commitment to a random polynomial
/// and a proof of knowledge of its constant term. Sent to every other participant
/// (everyone must see the same one: use a broadcast channel, or compare hashes).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DkgBroadcast {
    from: u16,
    package: frost::keys::dkg::round1::Package,
}

/// A second-step message: the sender's polynomial evaluated at the addressee's
/// identifier. Secret: it must travel confidentially and authenticated, to `to` only.
#[derive(Clone, PartialEq, Eq)]
pub struct DkgPrivateMessage {
    from: u16,
    to: u16,
    package: frost::keys::dkg::round2::Package,
}

impl fmt::Debug for DkgPrivateMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DkgPrivateMessage({} → {})", self.from, self.to)
    }
}

fn check_dkg_len(bytes: &[u8], what: &'static str, header: usize) -> Result<()> {
    if bytes.len() > THRESHOLD_DKG_MESSAGE_MAX_BYTES {
        return Err(Error::TooLong {
            message: what,
            field: "bytes",
            len: bytes.len(),
            max: THRESHOLD_DKG_MESSAGE_MAX_BYTES,
        });
    }
    if bytes.len() < header {
        return Err(Error::ThresholdCorrupted("DKG message is truncated"));
    }
    Ok(())
}

impl DkgBroadcast {
    /// The sender.
    pub fn from(&self) -> u16 {
        self.from
    }

    /// `"ATTNDKB1" | from u16 | frost-core's encoding of the round-1 package`.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = DKG_BROADCAST_MAGIC.to_vec();
        out.extend_from_slice(&self.from.to_le_bytes());
        out.extend(
            self.package
                .serialize()
                .map_err(protocol("encode DKG broadcast"))?,
        );
        Ok(out)
    }

    /// Decodes a broadcast, bounded by [`THRESHOLD_DKG_MESSAGE_MAX_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_dkg_len(bytes, "DkgBroadcast", 10)?;
        if &bytes[..8] != DKG_BROADCAST_MAGIC {
            return Err(Error::ThresholdCorrupted("not a DKG broadcast"));
        }
        let from = u16::from_le_bytes([bytes[8], bytes[9]]);
        let package = frost::keys::dkg::round1::Package::deserialize(&bytes[10..])
            .map_err(|_| Error::ThresholdCorrupted("DKG broadcast does not decode"))?;
        Ok(Self { from, package })
    }
}

impl DkgPrivateMessage {
    /// The sender.
    pub fn from(&self) -> u16 {
        self.from
    }

    /// The addressee.
    pub fn to(&self) -> u16 {
        self.to
    }

    /// `"ATTNDKP1" | from u16 | to u16 | frost-core's encoding`. Secret: zeroized when
    /// dropped.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(DKG_PRIVATE_MAGIC.to_vec());
        out.extend_from_slice(&self.from.to_le_bytes());
        out.extend_from_slice(&self.to.to_le_bytes());
        let package = Zeroizing::new(
            self.package
                .serialize()
                .map_err(protocol("encode DKG private message"))?,
        );
        out.extend_from_slice(&package);
        Ok(out)
    }

    /// Decodes a private message, bounded by [`THRESHOLD_DKG_MESSAGE_MAX_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_dkg_len(bytes, "DkgPrivateMessage", 12)?;
        if &bytes[..8] != DKG_PRIVATE_MAGIC {
            return Err(Error::ThresholdCorrupted("not a DKG private message"));
        }
        let from = u16::from_le_bytes([bytes[8], bytes[9]]);
        let to = u16::from_le_bytes([bytes[10], bytes[11]]);
        let package = frost::keys::dkg::round2::Package::deserialize(&bytes[12..])
            .map_err(|_| Error::ThresholdCorrupted("DKG private message does not decode"))?;
        Ok(Self { from, to, package })
    }
}

/// DKG step one for `participant` (1 to `n`): draws a random polynomial of degree
/// `t − 1`. Returns the state to keep and the message to broadcast.
pub fn dkg_start(
    participant: u16,
    params: ThresholdParams,
    rng: &mut impl CryptoRngCore,
) -> Result<(DkgRound1, DkgBroadcast)> {
    params.check_participant(participant)?;
    let (secret, package) = frost::keys::dkg::part1(
        identifier(participant),
        params.shares,
        params.threshold,
        &mut *rng,
    )
    .map_err(protocol("dkg part1"))?;
    Ok((
        DkgRound1 {
            participant,
            params,
            secret,
        },
        DkgBroadcast {
            from: participant,
            package,
        },
    ))
}

impl DkgRound1 {
    /// This participant.
    pub fn participant(&self) -> u16 {
        self.participant
    }

    /// DKG step two: takes every other participant's broadcast (this participant's
    /// own, if present, is skipped), checks each proof of knowledge, and returns the
    /// state to keep and one private message for each other participant.
    pub fn receive(
        self,
        broadcasts: &[DkgBroadcast],
    ) -> Result<(DkgRound2, Vec<DkgPrivateMessage>)> {
        let mut received = BTreeMap::new();
        for broadcast in broadcasts.iter().filter(|b| b.from != self.participant) {
            self.params.check_participant(broadcast.from)?;
            let degree = broadcast
                .package
                .commitment()
                .serialize()
                .map_err(protocol("dkg part2"))?
                .len();
            if degree != usize::from(self.params.threshold) {
                return Err(Error::ThresholdInvalidShare {
                    participant: broadcast.from,
                    reason: "DKG commitment has the wrong degree",
                });
            }
            if received
                .insert(identifier(broadcast.from), broadcast.package.clone())
                .is_some()
            {
                return Err(Error::ThresholdMismatch(
                    "two DKG broadcasts from one participant",
                ));
            }
        }
        if received.len() != usize::from(self.params.shares) - 1 {
            return Err(Error::ThresholdTooFewShares {
                have: received.len() + 1,
                need: usize::from(self.params.shares),
            });
        }
        let (secret, packages) = frost::keys::dkg::part2(self.secret.clone(), &received)
            .map_err(|error| dkg_error(error, "dkg part2", &self.params))?;
        let mut messages = Vec::with_capacity(packages.len());
        for to in self
            .params
            .participants()
            .filter(|&p| p != self.participant)
        {
            let package =
                packages
                    .get(&identifier(to))
                    .cloned()
                    .ok_or(Error::ThresholdMismatch(
                        "DKG produced no message for a participant",
                    ))?;
            messages.push(DkgPrivateMessage {
                from: self.participant,
                to,
                package,
            });
        }
        Ok((
            DkgRound2 {
                participant: self.participant,
                params: self.params,
                secret,
                broadcasts: received,
            },
            messages,
        ))
    }
}

/// Maps a frost error, naming the culprit by its `u16` identifier when frost names one.
fn dkg_error(error: frost::Error, step: &'static str, params: &ThresholdParams) -> Error {
    let culprit = match &error {
        frost::Error::InvalidProofOfKnowledge { culprit } => {
            Some((*culprit, "bad proof of knowledge"))
        }
        frost::Error::InvalidSecretShare { culprit } => {
            culprit.map(|c| (c, "DKG share does not match its commitment"))
        }
        _ => None,
    };
    if let Some((culprit, reason)) = culprit
        && let Some(participant) = params.participants().find(|&p| identifier(p) == culprit)
    {
        return Error::ThresholdInvalidShare {
            participant,
            reason,
        };
    }
    protocol(step)(error)
}

impl DkgRound2 {
    /// This participant.
    pub fn participant(&self) -> u16 {
        self.participant
    }

    /// DKG step three: takes the private messages addressed to this participant (one
    /// from each other participant), checks each against its sender's commitment, and
    /// returns this participant's key share and the group. Every participant ends
    /// with the same group (compare [`ThresholdGroup::to_bytes`] before use).
    pub fn finish(self, messages: &[DkgPrivateMessage]) -> Result<(KeyShare, ThresholdGroup)> {
        let mut received = BTreeMap::new();
        for message in messages {
            if message.to != self.participant {
                return Err(Error::ThresholdMismatch(
                    "DKG message addressed to another participant",
                ));
            }
            self.params.check_participant(message.from)?;
            if message.from == self.participant {
                return Err(Error::ThresholdMismatch("DKG message from oneself"));
            }
            if received
                .insert(identifier(message.from), message.package.clone())
                .is_some()
            {
                return Err(Error::ThresholdMismatch(
                    "two DKG messages from one participant",
                ));
            }
        }
        if received.len() != usize::from(self.params.shares) - 1 {
            return Err(Error::ThresholdTooFewShares {
                have: received.len() + 1,
                need: usize::from(self.params.shares),
            });
        }
        let (package, public) = frost::keys::dkg::part3(&self.secret, &self.broadcasts, &received)
            .map_err(|error| dkg_error(error, "dkg part3", &self.params))?;
        let group = ThresholdGroup::from_package(self.params, public)?;
        let share = KeyShare::from_package(self.participant, self.params, package)?;
        group.check_share(&share)?;
        Ok((share, group))
    }
}

// ---------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------

/// A signer's secret nonces for one signing round. Used once: [`sign_share`] consumes
/// them, so they can never sign two messages (which would reveal the share).
pub struct SigningNonces {
    participant: u16,
    nonces: frost::round1::SigningNonces,
}

impl fmt::Debug for SigningNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningNonces(participant {}, <secret>)",
            self.participant
        )
    }
}

/// A signer's round-one message: commitments to its two nonces (RFC 9591 §5.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SigningCommitment {
    participant: u16,
    commitments: frost::round1::SigningCommitments,
}

impl SigningCommitment {
    /// The signer.
    pub fn participant(&self) -> u16 {
        self.participant
    }

    /// `id u16 | hiding 32 | binding 32`.
    pub fn to_bytes(&self) -> [u8; SIGNING_COMMITMENT_LEN] {
        let mut out = [0u8; SIGNING_COMMITMENT_LEN];
        out[..2].copy_from_slice(&self.participant.to_le_bytes());
        let hiding = self
            .commitments
            .hiding()
            .serialize()
            .expect("nonce commitments are not the identity");
        let binding = self
            .commitments
            .binding()
            .serialize()
            .expect("nonce commitments are not the identity");
        out[2..34].copy_from_slice(&hiding);
        out[34..].copy_from_slice(&binding);
        out
    }

    /// Decodes a commitment; both points must be valid and not the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != SIGNING_COMMITMENT_LEN {
            return Err(Error::WrongLength {
                message: "SigningCommitment",
                field: "bytes",
                expected: SIGNING_COMMITMENT_LEN,
                len: bytes.len(),
            });
        }
        let participant = u16::from_le_bytes([bytes[0], bytes[1]]);
        if participant == 0 {
            return Err(Error::ThresholdCorrupted("participant 0 does not exist"));
        }
        let read = |bytes: &[u8]| {
            frost::round1::NonceCommitment::deserialize(bytes)
                .map_err(|_| Error::ThresholdCorrupted("nonce commitment is not a point"))
        };
        Ok(Self {
            participant,
            commitments: frost::round1::SigningCommitments::new(
                read(&bytes[2..34])?,
                read(&bytes[34..])?,
            ),
        })
    }
}

/// Round one for one signer: fresh nonces (hedged with the share, RFC 9591 §4.1) and
/// their commitment, sent to the coordinator.
pub fn commit(
    share: &KeyShare,
    rng: &mut impl CryptoRngCore,
) -> (SigningNonces, SigningCommitment) {
    let (nonces, commitments) = frost::round1::commit(share.package.signing_share(), &mut *rng);
    (
        SigningNonces {
            participant: share.participant,
            nonces,
        },
        SigningCommitment {
            participant: share.participant,
            commitments,
        },
    )
}

/// What the coordinator sends every chosen signer in round two: the message and the
/// commitments of the signers (at least `t`, each holder at most once).
#[derive(Clone)]
pub struct SigningRequest {
    package: frost::SigningPackage,
    participants: Vec<u16>,
    domain: Option<&'static str>,
}

impl fmt::Debug for SigningRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningRequest({:?}, {} bytes, signers {:?})",
            self.domain,
            self.package.message().len(),
            self.participants
        )
    }
}

impl SigningRequest {
    /// A request to sign `message` with the signers whose `commitments` are given.
    pub fn new(
        group: &ThresholdGroup,
        commitments: &[SigningCommitment],
        message: &[u8],
    ) -> Result<Self> {
        if message.len() > THRESHOLD_MESSAGE_MAX_BYTES {
            return Err(Error::TooLong {
                message: "SigningRequest",
                field: "message",
                len: message.len(),
                max: THRESHOLD_MESSAGE_MAX_BYTES,
            });
        }
        let params = group.params;
        if commitments.len() < usize::from(params.threshold) {
            return Err(Error::ThresholdTooFewShares {
                have: commitments.len(),
                need: usize::from(params.threshold),
            });
        }
        let mut by_signer = BTreeMap::new();
        for commitment in commitments {
            params.check_participant(commitment.participant)?;
            if by_signer
                .insert(identifier(commitment.participant), commitment.commitments)
                .is_some()
            {
                return Err(Error::ThresholdMismatch("two commitments from one signer"));
            }
        }
        let mut participants: Vec<u16> = commitments.iter().map(|c| c.participant).collect();
        participants.sort_unstable();
        Ok(Self {
            package: frost::SigningPackage::new(by_signer, message),
            participants,
            domain: None,
        })
    }

    /// A request to sign an envelope of kind `T` over `body`: the message is
    /// `T::DOMAIN || 0x00 || body`, as [`Signed`] verifies it.
    pub fn for_envelope<T: Kind>(
        group: &ThresholdGroup,
        commitments: &[SigningCommitment],
        body: &[u8],
    ) -> Result<Self> {
        if body.len() > T::BODY_MAX_BYTES {
            return Err(Error::TooLong {
                message: T::NAME,
                field: "body",
                len: body.len(),
                max: T::BODY_MAX_BYTES,
            });
        }
        let mut request = Self::new(group, commitments, &signed_message(T::DOMAIN, body))?;
        request.domain = Some(T::DOMAIN);
        Ok(request)
    }

    /// The bytes being signed.
    pub fn message(&self) -> &[u8] {
        self.package.message()
    }

    /// The signers of this round, ascending.
    pub fn participants(&self) -> &[u16] {
        &self.participants
    }
}

/// A signer's round-two message (RFC 9591 §5.2).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignatureShare {
    participant: u16,
    share: frost::round2::SignatureShare,
}

impl fmt::Debug for SignatureShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureShare(participant {})", self.participant)
    }
}

impl SignatureShare {
    /// The signer.
    pub fn participant(&self) -> u16 {
        self.participant
    }

    /// `id u16 | share 32`.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_SHARE_LEN] {
        let mut out = [0u8; SIGNATURE_SHARE_LEN];
        out[..2].copy_from_slice(&self.participant.to_le_bytes());
        out[2..].copy_from_slice(&self.share.serialize());
        out
    }

    /// Decodes a signature share (a canonical scalar).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != SIGNATURE_SHARE_LEN {
            return Err(Error::WrongLength {
                message: "SignatureShare",
                field: "bytes",
                expected: SIGNATURE_SHARE_LEN,
                len: bytes.len(),
            });
        }
        let participant = u16::from_le_bytes([bytes[0], bytes[1]]);
        if participant == 0 {
            return Err(Error::ThresholdCorrupted("participant 0 does not exist"));
        }
        let share = frost::round2::SignatureShare::deserialize(&bytes[2..])
            .map_err(|_| Error::ThresholdCorrupted("signature share is not a scalar"))?;
        Ok(Self { participant, share })
    }
}

/// Round two for one signer: its share of the signature over the request's message.
/// Consumes the nonces of its round-one commitment; refuses a request that does not
/// carry that commitment.
pub fn sign_share(
    share: &KeyShare,
    nonces: SigningNonces,
    request: &SigningRequest,
) -> Result<SignatureShare> {
    if nonces.participant != share.participant {
        return Err(Error::ThresholdMismatch("nonces of another signer"));
    }
    if request
        .participants
        .binary_search(&share.participant)
        .is_err()
    {
        return Err(Error::ThresholdMismatch(
            "signer is not part of this request",
        ));
    }
    let signature_share = frost::round2::sign(&request.package, &nonces.nonces, &share.package)
        .map_err(|error| match error {
            frost::Error::IncorrectCommitment => {
                Error::ThresholdMismatch("the request carries another commitment for this signer")
            }
            frost::Error::IncorrectNumberOfCommitments => Error::ThresholdTooFewShares {
                have: request.participants.len(),
                need: usize::from(share.params.threshold),
            },
            other => protocol("round2 sign")(other),
        })?;
    Ok(SignatureShare {
        participant: share.participant,
        share: signature_share,
    })
}

/// The coordinator's last step: checks every signature share (naming a cheater) and
/// combines them into a plain Ed25519 signature under the group key, checked with
/// strict RFC 8032 verification before it is returned.
pub fn aggregate(
    group: &ThresholdGroup,
    request: &SigningRequest,
    shares: &[SignatureShare],
) -> Result<ed25519_dalek::Signature> {
    let need = usize::from(group.params.threshold);
    let mut by_signer = BTreeMap::new();
    for share in shares {
        if request
            .participants
            .binary_search(&share.participant)
            .is_err()
        {
            return Err(Error::ThresholdMismatch(
                "signature share from a signer outside the request",
            ));
        }
        if by_signer
            .insert(identifier(share.participant), share.share)
            .is_some()
        {
            return Err(Error::ThresholdMismatch(
                "two signature shares from one signer",
            ));
        }
    }
    if by_signer.len() < need {
        return Err(Error::ThresholdTooFewShares {
            have: by_signer.len(),
            need,
        });
    }
    if by_signer.len() != request.participants.len() {
        return Err(Error::ThresholdTooFewShares {
            have: by_signer.len(),
            need: request.participants.len(),
        });
    }
    let signature = frost::aggregate(&request.package, &by_signer, &group.package).map_err(
        |error| match error {
            frost::Error::InvalidSignatureShare { culprits } => {
                let participant = culprits
                    .first()
                    .and_then(|culprit| {
                        request
                            .participants
                            .iter()
                            .copied()
                            .find(|&p| identifier(p) == *culprit)
                    })
                    .unwrap_or_default();
                Error::ThresholdInvalidShare {
                    participant,
                    reason: "signature share does not verify",
                }
            }
            other => protocol("aggregate")(other),
        },
    )?;
    let bytes: [u8; 64] = signature
        .serialize()
        .map_err(protocol("serialize signature"))?
        .try_into()
        .map_err(|_| Error::ThresholdCorrupted("signature is not 64 bytes"))?;
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    group
        .group_key
        .verifying_key()
        .verify_strict(request.message(), &signature)
        .map_err(|_| Error::BadSignature {
            domain: request.domain.unwrap_or("threshold"),
            signer: group.group_key.to_hex(),
        })?;
    Ok(signature)
}

/// [`aggregate`] for a request made by [`SigningRequest::for_envelope`]: returns the
/// envelope, signed by the group key, that [`Signed::open`] accepts.
pub fn aggregate_envelope<T: Kind>(
    group: &ThresholdGroup,
    request: &SigningRequest,
    shares: &[SignatureShare],
) -> Result<Signed<T>> {
    if request.domain != Some(T::DOMAIN) {
        return Err(Error::ThresholdMismatch(
            "request is not for this kind of envelope",
        ));
    }
    let signature = aggregate(group, request, shares)?;
    let body = request.message()[T::DOMAIN.len() + 1..].to_vec();
    Signed::from_parts(body, group.group_key, signature.to_bytes())
}

fn run_round(
    group: &ThresholdGroup,
    shares: &[&KeyShare],
    rng: &mut impl CryptoRngCore,
    request: impl FnOnce(&[SigningCommitment]) -> Result<SigningRequest>,
) -> Result<(SigningRequest, Vec<SignatureShare>)> {
    for share in shares {
        group.check_share(share)?;
    }
    let (nonces, commitments): (Vec<_>, Vec<_>) =
        shares.iter().map(|share| commit(share, rng)).unzip();
    let request = request(&commitments)?;
    let signature_shares = shares
        .iter()
        .zip(nonces)
        .map(|(share, nonces)| sign_share(share, nonces, &request))
        .collect::<Result<Vec<_>>>()?;
    Ok((request, signature_shares))
}

/// All three signing steps in one place, for holders that meet (tests, benches, a
/// persona's devices on one table): `shares` (at least `t`) sign `message`.
pub fn sign_with_shares(
    group: &ThresholdGroup,
    shares: &[&KeyShare],
    message: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<ed25519_dalek::Signature> {
    let (request, signature_shares) = run_round(group, shares, rng, |commitments| {
        SigningRequest::new(group, commitments, message)
    })?;
    aggregate(group, &request, &signature_shares)
}

/// The body of an envelope of `value`: its protobuf encoding, exactly as
/// [`Signed::sign`] makes it. A coordinator encodes once, then builds its
/// [`SigningRequest::for_envelope`] over these bytes.
pub fn envelope_body<T: Kind>(value: &T) -> Vec<u8> {
    use prost::Message as _;
    value.to_wire().encode_to_vec()
}

/// [`sign_with_shares`] for an envelope: encodes `value` and signs it under `T`'s
/// domain with the group key.
pub fn sign_envelope_with_shares<T: Kind>(
    group: &ThresholdGroup,
    shares: &[&KeyShare],
    value: &T,
    rng: &mut impl CryptoRngCore,
) -> Result<Signed<T>> {
    let body = envelope_body(value);
    let (request, signature_shares) = run_round(group, shares, rng, |commitments| {
        SigningRequest::for_envelope::<T>(group, commitments, &body)
    })?;
    aggregate_envelope(group, &request, &signature_shares)
}

// ---------------------------------------------------------------------------------
// Persona custody
// ---------------------------------------------------------------------------------

/// One holder's share of a persona key, for recovery (see the module docs). Secret:
/// never printed, zeroized when dropped. Self-checking: [`PersonaShare::from_bytes`]
/// refuses a share whose checksum fails or whose signing share does not match the
/// commitment it carries.
#[derive(Clone)]
pub struct PersonaShare {
    params: ThresholdParams,
    participant: u16,
    persona: PublicKey,
    secret: frost::keys::SecretShare,
    sealed_seed: [u8; 32],
}

impl fmt::Debug for PersonaShare {
    /// Prints the holder and the persona, never the secret share.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PersonaShare({} of {}-of-{} for {:?})",
            self.participant, self.params.threshold, self.params.shares, self.persona
        )
    }
}

fn custody_pad(persona: &PublicKey, scalar: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let digest: Zeroizing<[u8; 64]> = Zeroizing::new(
        Sha512::new()
            .chain_update(PERSONA_CUSTODY_LABEL)
            .chain_update([0])
            .chain_update(persona.as_bytes())
            .chain_update(scalar)
            .finalize()
            .into(),
    );
    let mut pad = Zeroizing::new([0u8; 32]);
    pad.copy_from_slice(&digest[..32]);
    pad
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

impl PersonaShare {
    /// This holder's identifier, 1 to `n`.
    pub fn participant(&self) -> u16 {
        self.participant
    }

    /// The split's `t` and `n`.
    pub fn params(&self) -> ThresholdParams {
        self.params
    }

    /// The persona this share recovers.
    pub fn persona(&self) -> PublicKey {
        self.persona
    }

    /// This share as a FROST key share of the persona: `t` holders can sign as the
    /// persona (e.g. a statement that retires it) without rebuilding the key, with
    /// [`sign_with_shares`] and [`PersonaShare::group`].
    pub fn key_share(&self) -> Result<KeyShare> {
        let package = frost::keys::KeyPackage::try_from(self.secret.clone()).map_err(|_| {
            Error::ThresholdInvalidShare {
                participant: self.participant,
                reason: "share does not match its commitment",
            }
        })?;
        KeyShare::from_package(self.participant, self.params, package)
    }

    /// The persona's threshold group, computed from the commitment the share carries.
    pub fn group(&self) -> Result<ThresholdGroup> {
        let identifiers: BTreeSet<_> = self.params.participants().map(identifier).collect();
        let package =
            frost::keys::PublicKeyPackage::from_commitment(&identifiers, self.secret.commitment())
                .map_err(protocol("persona group"))?;
        ThresholdGroup::from_package(self.params, package)
    }

    /// The encoding (see the module docs). Secret: zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let threshold = usize::from(self.params.threshold);
        let mut out = Zeroizing::new(Vec::with_capacity(persona_share_len(threshold)));
        out.extend_from_slice(PERSONA_SHARE_MAGIC);
        self.params.write(&mut out);
        out.extend_from_slice(&self.participant.to_le_bytes());
        out.extend_from_slice(self.persona.as_bytes());
        out.extend_from_slice(&self.secret.signing_share().serialize());
        for coefficient in self
            .secret
            .commitment()
            .serialize()
            .expect("commitments of a valid share are points")
        {
            out.extend_from_slice(&coefficient);
        }
        out.extend_from_slice(&self.sealed_seed);
        let check = checksum(&out);
        out.extend_from_slice(&check);
        out
    }

    /// Lowercase hex of [`PersonaShare::to_bytes`]. Secret.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.to_bytes().as_slice()))
    }

    /// Decodes and checks a share: checksum, parameters, points, and that the signing
    /// share matches the share's commitment and the commitment's constant term is the
    /// persona key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let content = unwrap_checked(bytes, PERSONA_SHARE_MAGIC, "PersonaShare")?;
        if content.len() < 6 {
            return Err(Error::ThresholdCorrupted("persona share is truncated"));
        }
        let params = ThresholdParams::read(&content[..4])?;
        let threshold = usize::from(params.threshold);
        if content.len() != persona_share_len(threshold) - 8 - CHECK_LEN {
            return Err(Error::ThresholdCorrupted(
                "persona share has the wrong length",
            ));
        }
        let participant = u16::from_le_bytes([content[4], content[5]]);
        params.check_participant(participant)?;
        let persona = PublicKey::try_from(&content[6..38])?;
        let signing_share = frost::keys::SigningShare::deserialize(&content[38..70])
            .map_err(|_| Error::ThresholdCorrupted("signing share is not a scalar"))?;
        let commitment_end = 70 + 32 * threshold;
        let commitment = frost::keys::VerifiableSecretSharingCommitment::deserialize(
            content[70..commitment_end]
                .chunks_exact(32)
                .map(<[u8]>::to_vec),
        )
        .map_err(|_| Error::ThresholdCorrupted("share commitment is not made of points"))?;
        let sealed_seed = array32(&content[commitment_end..]);
        let secret =
            frost::keys::SecretShare::new(identifier(participant), signing_share, commitment);
        let (_, key) = secret.verify().map_err(|_| Error::ThresholdInvalidShare {
            participant,
            reason: "share does not match its commitment",
        })?;
        if public_key_of(&key)? != persona {
            return Err(Error::ThresholdInvalidShare {
                participant,
                reason: "share commitment is for another key than its persona",
            });
        }
        Ok(Self {
            params,
            participant,
            persona,
            secret,
            sealed_seed,
        })
    }

    /// Parses [`PersonaShare::to_hex`] (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.len() > 2 * THRESHOLD_SHARE_MAX_BYTES {
            return Err(Error::TooLong {
                message: "PersonaShare",
                field: "hex",
                len: text.len(),
                max: 2 * THRESHOLD_SHARE_MAX_BYTES,
            });
        }
        let bytes = Zeroizing::new(
            hex::decode(text).map_err(|_| Error::ThresholdCorrupted("persona share is not hex"))?,
        );
        Self::from_bytes(&bytes)
    }
}

/// Splits a persona key `t`-of-`n` for recovery: one share per device or trusted
/// friend, holder 1 first. Any `t` shares rebuild the exact key with
/// [`recover_persona`]; fewer reveal nothing about it.
///
/// # Example
/// ```
/// use attn_receipts::threshold::{recover_persona, split_persona, ThresholdParams};
/// use attn_receipts::PersonaKey;
/// let persona = PersonaKey::from_secret_bytes(&[7; 32]);
/// let shares = split_persona(&persona, ThresholdParams::new(2, 3)?, &mut rand::rngs::OsRng)?;
/// let recovered = recover_persona(&[shares[2].clone(), shares[0].clone()])?;
/// assert_eq!(*recovered.secret_bytes(), *persona.secret_bytes());
/// # Ok::<(), attn_receipts::Error>(())
/// ```
pub fn split_persona(
    persona: &PersonaKey,
    params: ThresholdParams,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<PersonaShare>> {
    let seed = persona.secret_bytes();
    let public = persona.public_key();
    let scalar = expanded_scalar(&seed);
    let key = frost::SigningKey::deserialize(scalar.as_slice())
        .map_err(|_| Error::ThresholdCorrupted("persona scalar is zero"))?;
    let (secret_shares, _) = frost::keys::split(
        &key,
        params.shares,
        params.threshold,
        frost::keys::IdentifierList::Default,
        &mut *rng,
    )
    .map_err(protocol("split persona"))?;
    let sealed_seed = xor32(&seed, &custody_pad(&public, &scalar));
    params
        .participants()
        .map(|participant| {
            let secret = secret_shares
                .get(&identifier(participant))
                .cloned()
                .ok_or(Error::ThresholdMismatch("split skipped a participant"))?;
            Ok(PersonaShare {
                params,
                participant,
                persona: public,
                secret,
                sealed_seed,
            })
        })
        .collect()
}

/// Rebuilds a persona key from at least `t` of its shares (any `t`, any order).
///
/// Refuses, naming the fault: fewer than `t` shares, shares of different splits or
/// personas, a holder twice, a share that does not match the commitments; and checks
/// that the result is the persona's key before returning it.
pub fn recover_persona(shares: &[PersonaShare]) -> Result<PersonaKey> {
    let Some(first) = shares.first() else {
        return Err(Error::ThresholdTooFewShares {
            have: 0,
            need: usize::from(THRESHOLD_SIGNERS_MIN),
        });
    };
    let mut holders = BTreeSet::new();
    for share in shares {
        if share.persona != first.persona {
            return Err(Error::ThresholdMismatch("shares of different personas"));
        }
        if share.params != first.params
            || share.secret.commitment() != first.secret.commitment()
            || share.sealed_seed != first.sealed_seed
        {
            return Err(Error::ThresholdMismatch(
                "shares of different splits of the persona",
            ));
        }
        if !holders.insert(share.participant) {
            return Err(Error::ThresholdMismatch("the same holder's share twice"));
        }
    }
    let need = usize::from(first.params.threshold);
    if shares.len() < need {
        return Err(Error::ThresholdTooFewShares {
            have: shares.len(),
            need,
        });
    }
    let packages = shares
        .iter()
        .map(|share| {
            frost::keys::KeyPackage::try_from(share.secret.clone()).map_err(|_| {
                Error::ThresholdInvalidShare {
                    participant: share.participant,
                    reason: "share does not match its commitment",
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let key = frost::keys::reconstruct(&packages).map_err(protocol("reconstruct"))?;
    let scalar = Zeroizing::new(array32(&Zeroizing::new(key.serialize())));
    if public_key_of(&frost::VerifyingKey::from(&key))? != first.persona {
        return Err(Error::ThresholdMismatch(
            "shares rebuild another key than the persona",
        ));
    }
    let seed = Zeroizing::new(xor32(
        &first.sealed_seed,
        &custody_pad(&first.persona, &scalar),
    ));
    let persona = PersonaKey::from_secret_bytes(&seed);
    if persona.public_key() != first.persona || *expanded_scalar(&seed) != *scalar {
        return Err(Error::ThresholdCorrupted(
            "sealed seed does not match the persona",
        ));
    }
    Ok(persona)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed::signed_message;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(9591)
    }

    #[test]
    fn params_are_bounded() {
        assert!(ThresholdParams::new(2, 3).is_ok());
        assert!(ThresholdParams::new(THRESHOLD_SHARES_MAX, THRESHOLD_SHARES_MAX).is_ok());
        for (t, n) in [(1, 3), (0, 0), (4, 3), (2, THRESHOLD_SHARES_MAX + 1)] {
            assert!(
                matches!(
                    ThresholdParams::new(t, n),
                    Err(Error::ThresholdParameters { threshold, shares, .. }) if threshold == t && shares == n
                ),
                "{t}-of-{n} accepted"
            );
        }
    }

    #[test]
    fn dealt_key_signs_as_plain_ed25519() {
        let mut rng = rng();
        let (shares, group) = deal(ThresholdParams::new(2, 3).unwrap(), &mut rng).unwrap();
        let message = signed_message("attn/v1/receipt", b"body");
        let signature =
            sign_with_shares(&group, &[&shares[1], &shares[2]], &message, &mut rng).unwrap();
        group
            .group_key()
            .verifying_key()
            .verify_strict(&message, &signature)
            .unwrap();
    }

    #[test]
    fn split_advertiser_key_keeps_its_id() {
        let mut rng = rng();
        let key = AdvertiserKey::from_secret_bytes(&[5; 32]);
        let (shares, group) =
            split_advertiser_key(&key, ThresholdParams::new(3, 5).unwrap(), &mut rng).unwrap();
        assert_eq!(group.group_key(), key.public_key());
        let signature = sign_with_shares(
            &group,
            &[&shares[4], &shares[0], &shares[2]],
            b"m",
            &mut rng,
        )
        .unwrap();
        key.public_key()
            .verifying_key()
            .verify_strict(b"m", &signature)
            .unwrap();
    }

    #[test]
    fn encodings_round_trip_and_catch_corruption() {
        let mut rng = rng();
        let (shares, group) = deal(ThresholdParams::new(2, 4).unwrap(), &mut rng).unwrap();
        let group_bytes = group.to_bytes();
        assert_eq!(ThresholdGroup::from_bytes(&group_bytes).unwrap(), group);
        for share in &shares {
            let bytes = share.to_bytes();
            let decoded = KeyShare::from_bytes(&bytes).unwrap();
            assert_eq!(decoded.to_bytes(), bytes);
            group.check_share(&decoded).unwrap();
        }
        let mut corrupted = shares[0].to_bytes();
        corrupted[40] ^= 1;
        assert_eq!(
            KeyShare::from_bytes(&corrupted).unwrap_err(),
            Error::ThresholdCorrupted("checksum mismatch")
        );
        let mut corrupted = group_bytes.clone();
        corrupted[20] ^= 1;
        assert!(matches!(
            ThresholdGroup::from_bytes(&corrupted),
            Err(Error::ThresholdCorrupted(_))
        ));
        assert!(matches!(
            ThresholdGroup::from_bytes(&vec![0; THRESHOLD_SHARE_MAX_BYTES + 1]),
            Err(Error::TooLong {
                max: THRESHOLD_SHARE_MAX_BYTES,
                ..
            })
        ));
        let (nonces, commitment) = commit(&shares[0], &mut rng);
        assert_eq!(
            SigningCommitment::from_bytes(&commitment.to_bytes()).unwrap(),
            commitment
        );
        let (_, other) = commit(&shares[1], &mut rng);
        let request = SigningRequest::new(&group, &[commitment, other], b"m").unwrap();
        let signature_share = sign_share(&shares[0], nonces, &request).unwrap();
        assert_eq!(
            SignatureShare::from_bytes(&signature_share.to_bytes()).unwrap(),
            signature_share
        );
    }

    #[test]
    fn a_group_with_a_share_off_the_polynomial_is_refused() {
        let mut rng = rng();
        let (_, group) = deal(ThresholdParams::new(2, 3).unwrap(), &mut rng).unwrap();
        let (_, other) = deal(ThresholdParams::new(2, 3).unwrap(), &mut rng).unwrap();
        let mut bytes = group.to_bytes();
        // Replace holder 3's verifying share with another group's, fix the checksum.
        let start = 8 + 4 + 32 + 2 * 32;
        bytes[start..start + 32].copy_from_slice(&other.verifying_share(3).unwrap());
        let content_len = bytes.len() - CHECK_LEN;
        let check = checksum(&bytes[..content_len]);
        bytes[content_len..].copy_from_slice(&check);
        assert_eq!(
            ThresholdGroup::from_bytes(&bytes).unwrap_err(),
            Error::ThresholdInvalidShare {
                participant: 3,
                reason: "verifying share is off the group's polynomial"
            }
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let mut rng = rng();
        let (shares, _) = deal(ThresholdParams::new(2, 3).unwrap(), &mut rng).unwrap();
        let secret = hex::encode(shares[0].package.signing_share().serialize());
        let printed = format!("{:?}", shares[0]);
        assert!(printed.starts_with("KeyShare(1 of 2-of-3"));
        assert!(!printed.contains(&secret));
        let persona = PersonaKey::from_secret_bytes(&[3; 32]);
        let persona_shares =
            split_persona(&persona, ThresholdParams::new(2, 3).unwrap(), &mut rng).unwrap();
        let printed = format!("{:?}", persona_shares[0]);
        assert!(!printed.contains(&hex::encode(
            persona_shares[0].secret.signing_share().serialize()
        )));
    }
}
