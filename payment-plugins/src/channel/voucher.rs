//! The pure core of a payment channel: the terms both parties agreed, the payer's
//! side that issues vouchers, and the payee's side that verifies and keeps the
//! latest. No I/O, no clock (`now_ms` is a parameter), no randomness.
//!
//! A voucher is a payer-signed [`Voucher`] (domain `attn/v1/voucher`) carrying the
//! *cumulative* amount paid over the channel and a strictly increasing sequence. The
//! payee keeps only the latest valid one; closing the channel settles it. So a lost,
//! replayed or reordered voucher cannot cost the payee anything but the difference to
//! the newest, and cannot make the payer pay twice.

use std::fmt;

use attn_receipts::{Currency, Digest32, Money, PublicKey, Signed, Signer, Voucher};

/// Why a payee refused a voucher. A refused voucher changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VoucherRejection {
    /// The envelope's signer is not the channel's payer, or the signature is bad.
    BadSignature(String),
    /// The voucher names another channel.
    WrongChannel,
    /// The voucher names another payer or payee than the channel's.
    WrongParty(&'static str),
    /// The cumulative amount is in another currency than the deposit.
    WrongCurrency,
    /// The sequence is not above the latest accepted one (a replay or reordering).
    SequenceNotIncreasing {
        /// The voucher's sequence.
        sequence: u64,
        /// The latest accepted sequence.
        latest: u64,
    },
    /// The cumulative amount is not above the latest accepted one.
    CumulativeNotIncreasing {
        /// The voucher's cumulative amount.
        cumulative: String,
        /// The latest accepted cumulative amount.
        latest: String,
    },
    /// The cumulative amount exceeds the deposit.
    ExceedsDeposit {
        /// The voucher's cumulative amount.
        cumulative: String,
        /// The deposit.
        deposit: String,
    },
    /// The channel is closing or closed: it takes no more vouchers.
    ChannelClosed,
}

impl fmt::Display for VoucherRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignature(why) => write!(f, "bad signature: {why}"),
            Self::WrongChannel => f.write_str("voucher names another channel"),
            Self::WrongParty(who) => write!(f, "voucher names another {who}"),
            Self::WrongCurrency => f.write_str("voucher is in another currency than the deposit"),
            Self::SequenceNotIncreasing { sequence, latest } => {
                write!(f, "sequence {sequence} is not above the latest {latest}")
            }
            Self::CumulativeNotIncreasing { cumulative, latest } => {
                write!(
                    f,
                    "cumulative {cumulative} is not above the latest {latest}"
                )
            }
            Self::ExceedsDeposit {
                cumulative,
                deposit,
            } => write!(f, "cumulative {cumulative} exceeds the deposit {deposit}"),
            Self::ChannelClosed => f.write_str("channel is closed"),
        }
    }
}

/// What both parties of a channel agreed when it opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelTerms {
    /// The channel's id (see [`channel_id`]).
    pub channel_id: Digest32,
    /// Who pays and signs vouchers.
    pub payer: PublicKey,
    /// Who is paid.
    pub payee: PublicKey,
    /// The amount escrowed on the base rail: the most the vouchers may total.
    pub deposit: Money,
}

/// The id of the `nonce`-th channel from `payer` to `payee` in `currency`:
/// `SHA-256("attn/v1/channel" || 0x00 || payer || payee || currency || nonce_be)`.
/// Deterministic, so a payer that crashed while opening finds the same channel (and
/// the same base-rail deposit id) again.
pub fn channel_id(
    payer: &PublicKey,
    payee: &PublicKey,
    currency: Currency,
    nonce: u64,
) -> Digest32 {
    Digest32::of(&[
        b"attn/v1/channel\0",
        payer.as_bytes(),
        payee.as_bytes(),
        currency.as_str().as_bytes(),
        &[0],
        &nonce.to_be_bytes(),
    ])
}

/// The payer's side of one channel: what it has promised so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayerSide {
    /// The terms.
    pub terms: ChannelTerms,
    /// Total promised so far (the last voucher's cumulative amount).
    pub cumulative: Money,
    /// The last voucher's sequence (0 before the first).
    pub sequence: u64,
}

impl PayerSide {
    /// A fresh channel: nothing promised yet.
    pub fn new(terms: ChannelTerms) -> Self {
        Self {
            cumulative: Money::zero(terms.deposit.currency()),
            sequence: 0,
            terms,
        }
    }

    /// What is left of the deposit.
    pub fn remaining(&self) -> Money {
        self.terms
            .deposit
            .checked_sub(&self.cumulative)
            .unwrap_or_else(|_| Money::zero(self.terms.deposit.currency()))
    }

    /// Signs the next voucher, adding `amount` to the cumulative total. Refuses (and
    /// changes nothing) if that would exceed the deposit, or `amount` is zero or in
    /// another currency. The caller persists the new state before handing the voucher
    /// out.
    pub fn issue(
        &mut self,
        signer: &impl Signer,
        amount: &Money,
        now_ms: u64,
    ) -> Result<Signed<Voucher>, VoucherRejection> {
        debug_assert_eq!(signer.public_key(), self.terms.payer);
        if amount.currency() != self.terms.deposit.currency() {
            return Err(VoucherRejection::WrongCurrency);
        }
        let cumulative =
            self.cumulative
                .checked_add(amount)
                .map_err(|_| VoucherRejection::ExceedsDeposit {
                    cumulative: "overflow".into(),
                    deposit: self.terms.deposit.to_string(),
                })?;
        if amount.is_zero() {
            return Err(VoucherRejection::CumulativeNotIncreasing {
                cumulative: cumulative.to_string(),
                latest: self.cumulative.to_string(),
            });
        }
        if cumulative.amount() > self.terms.deposit.amount() {
            return Err(VoucherRejection::ExceedsDeposit {
                cumulative: cumulative.to_string(),
                deposit: self.terms.deposit.to_string(),
            });
        }
        let sequence = self.sequence + 1;
        let voucher = Voucher {
            channel_id: self.terms.channel_id,
            payer: self.terms.payer,
            payee: self.terms.payee,
            cumulative,
            sequence,
            created_at_ms: now_ms,
        };
        let signed = Signed::sign(signer, &voucher);
        self.cumulative = cumulative;
        self.sequence = sequence;
        Ok(signed)
    }
}

/// The payee's side of one channel: the latest valid voucher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayeeSide {
    /// The terms.
    pub terms: ChannelTerms,
    /// The latest accepted voucher, if any.
    pub latest: Option<Signed<Voucher>>,
    /// Its cumulative amount (zero before the first).
    pub cumulative: Money,
    /// Its sequence (0 before the first).
    pub sequence: u64,
}

impl PayeeSide {
    /// A fresh channel: nothing received yet.
    pub fn new(terms: ChannelTerms) -> Self {
        Self {
            cumulative: Money::zero(terms.deposit.currency()),
            sequence: 0,
            latest: None,
            terms,
        }
    }

    /// Verifies `voucher` against the terms and the latest accepted one, and keeps it
    /// if it is newer and within the deposit. Returns the accepted cumulative amount
    /// and how much it added. A refused voucher changes nothing.
    pub fn accept(
        &mut self,
        voucher: &Signed<Voucher>,
    ) -> Result<(Money, Money), VoucherRejection> {
        let body = self.check(voucher)?;
        let added = body
            .cumulative
            .checked_sub(&self.cumulative)
            .map_err(|_| VoucherRejection::WrongCurrency)?;
        self.cumulative = body.cumulative;
        self.sequence = body.sequence;
        self.latest = Some(voucher.clone());
        Ok((body.cumulative, added))
    }

    /// The checks of [`PayeeSide::accept`], without keeping the voucher.
    pub fn check(&self, voucher: &Signed<Voucher>) -> Result<Voucher, VoucherRejection> {
        if voucher.signer() != self.terms.payer {
            return Err(VoucherRejection::BadSignature(format!(
                "signed by {}, the channel's payer is {}",
                voucher.signer(),
                self.terms.payer
            )));
        }
        let body = Voucher::open_knowing(voucher, &[self.terms.payer, self.terms.payee])
            .map_err(|error| VoucherRejection::BadSignature(error.to_string()))?;
        check_body(&self.terms, &body, &self.cumulative, self.sequence)?;
        Ok(body)
    }
}

/// The body checks shared by accepting and closing: channel, parties, currency,
/// sequence above `latest_sequence`, cumulative above `latest` and within the deposit.
pub fn check_body(
    terms: &ChannelTerms,
    body: &Voucher,
    latest: &Money,
    latest_sequence: u64,
) -> Result<(), VoucherRejection> {
    if body.channel_id != terms.channel_id {
        return Err(VoucherRejection::WrongChannel);
    }
    if body.payer != terms.payer {
        return Err(VoucherRejection::WrongParty("payer"));
    }
    if body.payee != terms.payee {
        return Err(VoucherRejection::WrongParty("payee"));
    }
    if body.cumulative.currency() != terms.deposit.currency() {
        return Err(VoucherRejection::WrongCurrency);
    }
    if body.sequence <= latest_sequence {
        return Err(VoucherRejection::SequenceNotIncreasing {
            sequence: body.sequence,
            latest: latest_sequence,
        });
    }
    if body.cumulative.amount() <= latest.amount() {
        return Err(VoucherRejection::CumulativeNotIncreasing {
            cumulative: body.cumulative.to_string(),
            latest: latest.to_string(),
        });
    }
    if body.cumulative.amount() > terms.deposit.amount() {
        return Err(VoucherRejection::ExceedsDeposit {
            cumulative: body.cumulative.to_string(),
            deposit: terms.deposit.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use attn_proto::Message as _;
    use attn_receipts::{AdvertiserKey, PersonaKey};
    use proptest::prelude::*;

    fn usd(amount: &str) -> Money {
        Money::parse("USD", amount).unwrap()
    }

    fn setup(deposit: &str) -> (AdvertiserKey, PayerSide, PayeeSide) {
        let payer = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let payee = PersonaKey::from_secret_bytes(&[2; 32]).public_key();
        let usd_code = Currency::new("USD").unwrap();
        let terms = ChannelTerms {
            channel_id: channel_id(&payer.public_key(), &payee, usd_code, 0),
            payer: payer.public_key(),
            payee,
            deposit: usd(deposit),
        };
        (payer, PayerSide::new(terms), PayeeSide::new(terms))
    }

    #[test]
    fn vouchers_accumulate_and_stop_at_the_deposit() {
        let (key, mut payer, mut payee) = setup("0.01");
        let first = payer.issue(&key, &usd("0.004"), 1).unwrap();
        let second = payer.issue(&key, &usd("0.006"), 2).unwrap();
        assert!(matches!(
            payer.issue(&key, &usd("0.000001"), 3),
            Err(VoucherRejection::ExceedsDeposit { .. })
        ));
        assert_eq!(payer.sequence, 2);
        assert_eq!(payee.accept(&first).unwrap(), (usd("0.004"), usd("0.004")));
        assert_eq!(payee.accept(&second).unwrap(), (usd("0.01"), usd("0.006")));
        // Replaying either changes nothing.
        assert!(payee.accept(&first).is_err());
        assert!(payee.accept(&second).is_err());
        assert_eq!(payee.cumulative, usd("0.01"));
        assert_eq!(payee.latest.as_ref(), Some(&second));
    }

    #[test]
    fn foreign_signers_and_forged_bodies_are_refused() {
        let (key, mut payer, mut payee) = setup("1");
        let thief = AdvertiserKey::from_secret_bytes(&[9; 32]);
        let forged = Signed::sign(
            &thief,
            &Voucher {
                payer: thief.public_key(),
                ..payer.issue(&key, &usd("0.5"), 1).unwrap().open().unwrap()
            },
        );
        assert!(matches!(
            payee.accept(&forged),
            Err(VoucherRejection::BadSignature(_))
        ));
        // A body naming the right payer but signed by another key.
        let body = Voucher {
            channel_id: payer.terms.channel_id,
            payer: payer.terms.payer,
            payee: payer.terms.payee,
            cumulative: usd("0.9"),
            sequence: 9,
            created_at_ms: 1,
        };
        let mislabeled = Signed::sign(&thief, &body);
        assert!(matches!(
            payee.accept(&mislabeled),
            Err(VoucherRejection::BadSignature(_))
        ));
        // The payer's key on the envelope, the thief's signature under it.
        let relabeled = Signed::<Voucher>::from_parts(
            mislabeled.body().to_vec(),
            payer.terms.payer,
            mislabeled.signature_bytes(),
        )
        .unwrap();
        assert!(matches!(
            payee.accept(&relabeled),
            Err(VoucherRejection::BadSignature(_))
        ));
        // Over the deposit, even if well signed.
        let mut greedy = payer.clone();
        greedy.terms.deposit = usd("5");
        let over = greedy.issue(&key, &usd("2"), 2).unwrap();
        assert!(matches!(
            payee.accept(&over),
            Err(VoucherRejection::ExceedsDeposit { .. })
        ));
        assert_eq!(payee.sequence, 0);
    }

    #[test]
    fn other_channels_and_parties_are_refused() {
        let (key, mut payer, mut payee) = setup("1");
        let mut elsewhere = payer.clone();
        elsewhere.terms.channel_id = Digest32([7; 32]);
        let voucher = elsewhere.issue(&key, &usd("0.1"), 1).unwrap();
        assert_eq!(payee.accept(&voucher), Err(VoucherRejection::WrongChannel));
        let mut other_payee = payer.clone();
        other_payee.terms.payee = PersonaKey::from_secret_bytes(&[5; 32]).public_key();
        let voucher = other_payee.issue(&key, &usd("0.1"), 1).unwrap();
        assert_eq!(
            payee.accept(&voucher),
            Err(VoucherRejection::WrongParty("payee"))
        );
        let eur = Money::parse("EUR", "0.1").unwrap();
        assert_eq!(
            payer.issue(&key, &eur, 1),
            Err(VoucherRejection::WrongCurrency)
        );
        assert!(payee.latest.is_none());
    }

    proptest! {
        /// Opening with the channel's parsed keys gives exactly what `Signed::open`
        /// gives, value or error, whatever the body names: the right or other keys,
        /// a short channel id, no amount, a foreign signer.
        #[test]
        fn opening_with_known_keys_matches_open(
            payer_pick in 0usize..3,
            payee_pick in 0usize..3,
            id_len in prop_oneof![Just(32usize), 0usize..40],
            with_amount in proptest::bool::weighted(0.9),
            signer_pick in 0usize..2,
            sequence in any::<u64>(),
        ) {
            let (key, payer, _) = setup("1");
            let thief = AdvertiserKey::from_secret_bytes(&[9; 32]);
            let keys = [payer.terms.payer, payer.terms.payee, thief.public_key()];
            let wire = attn_proto::v1::Voucher {
                channel_id: vec![3; id_len],
                payer: keys[payer_pick].to_bytes().to_vec(),
                payee: keys[payee_pick].to_bytes().to_vec(),
                cumulative: with_amount.then(|| (&usd("0.25")).into()),
                sequence,
                created_at_ms: 5,
            };
            let body = wire.encode_to_vec();
            let signed = if signer_pick == 0 {
                Signed::<Voucher>::sign_body(&key, body)
            } else {
                Signed::<Voucher>::sign_body(&thief, body)
            };
            let known = [payer.terms.payer, payer.terms.payee];
            prop_assert_eq!(Voucher::open_knowing(&signed, &known), signed.open());
            prop_assert_eq!(Voucher::open_knowing(&signed, &[]), signed.open());
        }
    }

    proptest! {
        /// Whatever order vouchers arrive in, with replays, the payee ends with the
        /// newest one it saw, its cumulative never decreases and never exceeds the
        /// deposit, and it never accepts the same sequence twice.
        #[test]
        fn any_delivery_order_keeps_the_payee_monotone(
            amounts in proptest::collection::vec(1u64..5_000, 1..24),
            order in proptest::collection::vec(0usize..64, 0..64),
        ) {
            let (key, mut payer, mut payee) = setup("0.05");
            let mut vouchers = Vec::new();
            for (index, units) in amounts.iter().enumerate() {
                let amount = Money::from_atomic(Currency::new("USD").unwrap(), *units, 6).unwrap();
                match payer.issue(&key, &amount, index as u64) {
                    Ok(voucher) => vouchers.push(voucher),
                    Err(VoucherRejection::ExceedsDeposit { .. }) => {
                        prop_assert!(payer.cumulative.checked_add(&amount).unwrap().amount() > payer.terms.deposit.amount());
                    }
                    Err(other) => prop_assert!(false, "unexpected {other}"),
                }
            }
            prop_assert!(payer.cumulative.amount() <= payer.terms.deposit.amount());
            let mut seen_max = 0u64;
            let mut accepted = std::collections::HashSet::new();
            for pick in order.iter().copied().chain(0..vouchers.len()) {
                let Some(voucher) = vouchers.get(pick % vouchers.len().max(1)) else { continue };
                let before = payee.clone();
                let sequence = voucher.open().unwrap().sequence;
                match payee.accept(voucher) {
                    Ok((cumulative, added)) => {
                        prop_assert!(sequence > seen_max);
                        prop_assert!(accepted.insert(sequence));
                        prop_assert!(cumulative.amount() > before.cumulative.amount());
                        prop_assert_eq!(before.cumulative.checked_add(&added).unwrap(), cumulative);
                        seen_max = sequence;
                    }
                    Err(_) => prop_assert_eq!(&payee, &before),
                }
                prop_assert!(payee.cumulative.amount() <= payee.terms.deposit.amount());
            }
            // Delivering everything in order at the end leaves the payee at the newest.
            if let Some(last) = vouchers.last() {
                prop_assert_eq!(payee.latest.as_ref(), Some(last));
                prop_assert_eq!(payee.cumulative, payer.cumulative);
            }
        }
    }
}
