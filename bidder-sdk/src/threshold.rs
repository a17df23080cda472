//! Threshold receipt signing: an advertiser's receipt key held as a `t`-of-`n` FROST
//! group ([`attn_receipts::threshold`]), one share per signer task, and a coordinator
//! that runs a signing round with them over channels. The signature is an ordinary
//! Ed25519 signature under the group key: a persona, or any verifier, cannot tell.
//!
//! Each [`SignerHandle`] is a tokio task holding one [`KeyShare`]. In production the
//! tasks run on different machines and the handle wraps an RPC client; the messages
//! are the same ([`SigningCommitment`], [`SigningRequest`], [`SignatureShare`]). A
//! signer never signs what its [`SigningPolicy`] refuses (by default [`ReceiptsOnly`]:
//! conversion receipts issued by the group; for a bidder serving as the group,
//! [`BidsAndReceipts`]: its bids and its receipts), so a compromised coordinator cannot
//! turn the group into a signer of vouchers, trust statements or anything else.
//!
//! A round: the coordinator asks every signer for a commitment, takes the first `t`
//! that answer within the round timeout (a signer that is down or slow is skipped),
//! tells the others to forget their nonces, sends the `t` chosen the signing request,
//! and aggregates their shares, naming a signer whose share does not verify.
//!
//! [`AdvertiserSigner`] is what the bidder server signs bids, view receipts and
//! issued receipts with: a single [`AdvertiserKey`] or a [`ThresholdSigner`]
//! ([`ReceiptSigner`] is its older name).
//!
//! # Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use attn_bidder_sdk::threshold::{AdvertiserSigner, BidsAndReceipts, ThresholdSigner};
//! use attn_bidder_sdk::Options;
//! use attn_receipts::threshold::{self, ThresholdParams};
//! use attn_receipts::Money;
//! let (shares, group) = threshold::deal(ThresholdParams::new(2, 3)?, &mut rand::rngs::OsRng)?;
//! let signer = ThresholdSigner::spawn_with_policy(group, shares, Arc::new(BidsAndReceipts))?;
//! let signer = AdvertiserSigner::from(signer);
//! // The bidder's id is the group key; bids and receipts verify as plain Ed25519.
//! let advertiser = signer.public_key();
//! let options = Options::with_signer(signer, Money::parse("USD", "50")?);
//! # let _ = (advertiser, options);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use attn_receipts::threshold::{
    self, KeyShare, SignatureShare, SigningCommitment, SigningNonces, SigningRequest,
    ThresholdGroup,
};
use attn_receipts::{AdvertiserKey, Bid, ConversionReceipt, Kind, PublicKey, Signed};
use rand::rngs::OsRng;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::error::{Error, Result};

/// Most requests queued for one signer task; a signer whose queue is full is skipped
/// for the round, as if it were down.
pub const SIGNER_QUEUE_MAX: usize = 256;
/// Most rounds a signer task keeps nonces for while waiting for their signing
/// request; beyond it the oldest are forgotten (their rounds then fail at that
/// signer).
pub const PENDING_ROUNDS_MAX: usize = 1024;
/// Default time a round waits for commitments, then again for signature shares.
pub const ROUND_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);

const _: () = assert!(SIGNER_QUEUE_MAX <= PENDING_ROUNDS_MAX);

/// What a signer task agrees to sign.
///
/// Implementations MUST decide from the message alone (the envelope's
/// `DOMAIN || 0x00 || body`) and the group key, MUST NOT block (they run inside the
/// signer task), and SHOULD refuse anything the group has no business signing: a
/// threshold key only protects against a compromised coordinator if its signers
/// check what they sign.
pub trait SigningPolicy: Send + Sync + 'static {
    /// `Ok(())` to sign, or the reason for refusing.
    fn check(&self, group_key: &PublicKey, message: &[u8]) -> std::result::Result<(), String>;
}

/// The default policy: sign only conversion receipts (`attn/v1/receipt`) that decode
/// and validate, and name the group as their issuer.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReceiptsOnly;

impl SigningPolicy for ReceiptsOnly {
    fn check(&self, group_key: &PublicKey, message: &[u8]) -> std::result::Result<(), String> {
        match body_of::<ConversionReceipt>(message) {
            Some(body) => check_body::<ConversionReceipt>(group_key, body),
            None => Err("not a conversion receipt".to_string()),
        }
    }
}

/// The policy of a bidder that serves as the group: sign only bids (`attn/v1/bid`)
/// and receipts (`attn/v1/receipt`, view receipts in impression acks and issued
/// click or conversion receipts) whose body decodes, validates as a receiver will,
/// and names the group as the bid's advertiser or the receipt's issuer. Anything
/// else (a voucher, a trust statement, a bid of another advertiser) is refused.
#[derive(Clone, Copy, Debug, Default)]
pub struct BidsAndReceipts;

impl SigningPolicy for BidsAndReceipts {
    fn check(&self, group_key: &PublicKey, message: &[u8]) -> std::result::Result<(), String> {
        if let Some(body) = body_of::<Bid>(message) {
            check_body::<Bid>(group_key, body)
        } else if let Some(body) = body_of::<ConversionReceipt>(message) {
            check_body::<ConversionReceipt>(group_key, body)
        } else {
            Err("neither a bid nor a receipt".to_string())
        }
    }
}

/// The body of a message `DOMAIN || 0x00 || body` under `T`'s domain.
fn body_of<T: Kind>(message: &[u8]) -> Option<&[u8]> {
    message
        .strip_prefix(T::DOMAIN.as_bytes())
        .and_then(|rest| rest.strip_prefix(&[0]))
}

/// Decodes and validates `body` as a receiver would, and checks that it names the
/// group as its signer.
fn check_body<T: Kind>(group_key: &PublicKey, body: &[u8]) -> std::result::Result<(), String> {
    Signed::<T>::from_parts(body.to_vec(), *group_key, [0; 64])
        .and_then(|envelope| envelope.decode_verified())
        .map(drop)
        .map_err(|error| error.to_string())
}

enum SignerRequest {
    Commit {
        round: u64,
        reply: mpsc::Sender<SigningCommitment>,
    },
    Sign {
        round: u64,
        request: Arc<SigningRequest>,
        reply: oneshot::Sender<std::result::Result<SignatureShare, String>>,
    },
    Forget {
        round: u64,
    },
}

/// One signer task, holding one key share. Dropping every handle (and the signer
/// using it) ends the task.
#[derive(Clone)]
pub struct SignerHandle {
    participant: u16,
    share_group_key: PublicKey,
    verifying_share: [u8; 32],
    sender: mpsc::Sender<SignerRequest>,
    task: AbortHandle,
}

impl fmt::Debug for SignerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerHandle(participant {})", self.participant)
    }
}

impl SignerHandle {
    /// Spawns a signer task for `share` with the default policy ([`ReceiptsOnly`]).
    /// Must be called inside a tokio runtime.
    pub fn spawn(share: KeyShare) -> Self {
        Self::spawn_with_policy(share, Arc::new(ReceiptsOnly))
    }

    /// Spawns a signer task for `share` that signs only what `policy` accepts.
    pub fn spawn_with_policy(share: KeyShare, policy: Arc<dyn SigningPolicy>) -> Self {
        let (sender, inbox) = mpsc::channel(SIGNER_QUEUE_MAX);
        let participant = share.participant();
        let share_group_key = share.group_key();
        let verifying_share = share.verifying_share();
        let task = tokio::spawn(run_signer(share, policy, inbox)).abort_handle();
        Self {
            participant,
            share_group_key,
            verifying_share,
            sender,
            task,
        }
    }

    /// The share holder's identifier, 1 to `n`.
    pub fn participant(&self) -> u16 {
        self.participant
    }

    /// Stops the task, as when a signing server goes down; rounds go on without it
    /// while at least `t` others answer.
    pub fn shutdown(&self) {
        self.task.abort();
    }

    /// Whether the task has stopped.
    pub fn is_stopped(&self) -> bool {
        self.task.is_finished() || self.sender.is_closed()
    }
}

async fn run_signer(
    share: KeyShare,
    policy: Arc<dyn SigningPolicy>,
    mut inbox: mpsc::Receiver<SignerRequest>,
) {
    let mut pending: HashMap<u64, SigningNonces> = HashMap::new();
    let mut order: VecDeque<u64> = VecDeque::new();
    while let Some(request) = inbox.recv().await {
        match request {
            SignerRequest::Commit { round, reply } => {
                if pending.len() >= PENDING_ROUNDS_MAX
                    && let Some(oldest) = order.pop_front()
                {
                    pending.remove(&oldest);
                }
                let (nonces, commitment) = threshold::commit(&share, &mut OsRng);
                if reply.try_send(commitment).is_ok() {
                    pending.insert(round, nonces);
                    order.push_back(round);
                }
            }
            SignerRequest::Sign {
                round,
                request,
                reply,
            } => {
                order.retain(|&r| r != round);
                let result = match pending.remove(&round) {
                    None => Err("no commitment of this signer for the round".to_string()),
                    Some(nonces) => match policy.check(&share.group_key(), request.message()) {
                        Err(reason) => Err(format!("refused by policy: {reason}")),
                        Ok(()) => threshold::sign_share(&share, nonces, &request)
                            .map_err(|error| error.to_string()),
                    },
                };
                // The coordinator may have given up on the round; nothing to do then.
                let _ = reply.send(result);
            }
            SignerRequest::Forget { round } => {
                order.retain(|&r| r != round);
                pending.remove(&round);
            }
        }
        debug_assert!(pending.len() <= PENDING_ROUNDS_MAX);
    }
}

/// A coordinator of signing rounds over signer tasks; cheap to clone.
#[derive(Clone)]
pub struct ThresholdSigner {
    inner: Arc<Inner>,
    round_timeout: Duration,
}

struct Inner {
    group: ThresholdGroup,
    signers: Vec<SignerHandle>,
    next_round: AtomicU64,
}

impl fmt::Debug for ThresholdSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ThresholdSigner({:?}, {} signers)",
            self.inner.group,
            self.inner.signers.len()
        )
    }
}

impl ThresholdSigner {
    /// Spawns one signer task per share (default policy) and a coordinator for them.
    /// Each share must belong to `group`, each holder at most once, and at least `t`
    /// of them. Must be called inside a tokio runtime.
    pub fn spawn(group: ThresholdGroup, shares: Vec<KeyShare>) -> Result<Self> {
        Self::spawn_with_policy(group, shares, Arc::new(ReceiptsOnly))
    }

    /// Spawns one signer task per share, each signing only what `policy` accepts
    /// (for a bidder serving as the group: [`BidsAndReceipts`]), and a coordinator
    /// for them. The same checks as [`ThresholdSigner::spawn`].
    pub fn spawn_with_policy(
        group: ThresholdGroup,
        shares: Vec<KeyShare>,
        policy: Arc<dyn SigningPolicy>,
    ) -> Result<Self> {
        for share in &shares {
            group.check_share(share)?;
        }
        let signers = shares
            .into_iter()
            .map(|share| SignerHandle::spawn_with_policy(share, Arc::clone(&policy)))
            .collect();
        Self::new(group, signers)
    }

    /// A coordinator over already running signer tasks.
    pub fn new(group: ThresholdGroup, signers: Vec<SignerHandle>) -> Result<Self> {
        let mut seen = std::collections::BTreeSet::new();
        for signer in &signers {
            if signer.share_group_key != group.group_key()
                || group.verifying_share(signer.participant)? != signer.verifying_share
            {
                return Err(attn_receipts::Error::ThresholdMismatch(
                    "signer holds a share of another group",
                )
                .into());
            }
            if !seen.insert(signer.participant) {
                return Err(attn_receipts::Error::ThresholdMismatch(
                    "two signers hold the same share",
                )
                .into());
            }
        }
        let need = usize::from(group.params().threshold());
        if signers.len() < need {
            return Err(attn_receipts::Error::ThresholdTooFewShares {
                have: signers.len(),
                need,
            }
            .into());
        }
        Ok(Self {
            inner: Arc::new(Inner {
                group,
                signers,
                next_round: AtomicU64::new(0),
            }),
            round_timeout: ROUND_TIMEOUT_DEFAULT,
        })
    }

    /// Sets how long each half of a round waits for signers (default
    /// [`ROUND_TIMEOUT_DEFAULT`]).
    pub fn with_round_timeout(mut self, timeout: Duration) -> Self {
        self.round_timeout = timeout;
        self
    }

    /// The group key: the issuer named in the receipts this signer signs.
    pub fn group_key(&self) -> PublicKey {
        self.inner.group.group_key()
    }

    /// The group's public data.
    pub fn group(&self) -> &ThresholdGroup {
        &self.inner.group
    }

    /// The signer tasks.
    pub fn signers(&self) -> &[SignerHandle] {
        &self.inner.signers
    }

    /// Runs one signing round for an envelope of `value` under `T`'s domain.
    pub async fn sign_envelope<T: Kind>(&self, value: &T) -> Result<Signed<T>> {
        let inner = &self.inner;
        let body = threshold::envelope_body(value);
        let round = inner.next_round.fetch_add(1, Ordering::Relaxed);
        let need = usize::from(inner.group.params().threshold());

        // Round one: commitments from the first t signers to answer.
        let (reply, mut replies) = mpsc::channel(inner.signers.len());
        let mut asked = 0;
        for signer in &inner.signers {
            // A full queue or a stopped task: this signer sits the round out.
            let sent = signer.sender.try_send(SignerRequest::Commit {
                round,
                reply: reply.clone(),
            });
            asked += usize::from(sent.is_ok());
        }
        drop(reply);
        if asked < need {
            // Too few signers can even be asked: fail now rather than at the timeout.
            for signer in &inner.signers {
                let _ = signer.sender.try_send(SignerRequest::Forget { round });
            }
            return Err(Error::ThresholdSigning(format!(
                "{asked} of {need} signers answered: the others are stopped or busy"
            )));
        }
        let deadline = tokio::time::Instant::now() + self.round_timeout;
        let mut commitments = Vec::with_capacity(need);
        while commitments.len() < need {
            match tokio::time::timeout_at(deadline, replies.recv()).await {
                Ok(Some(commitment)) => commitments.push(commitment),
                Ok(None) | Err(_) => break,
            }
        }
        let chosen: Vec<u16> = commitments.iter().map(|c| c.participant()).collect();
        for signer in inner
            .signers
            .iter()
            .filter(|s| !chosen.contains(&s.participant))
        {
            let _ = signer.sender.try_send(SignerRequest::Forget { round });
        }
        if commitments.len() < need {
            for signer in inner
                .signers
                .iter()
                .filter(|s| chosen.contains(&s.participant))
            {
                let _ = signer.sender.try_send(SignerRequest::Forget { round });
            }
            return Err(Error::ThresholdSigning(format!(
                "{} of {need} signers answered within {:?}",
                commitments.len(),
                self.round_timeout
            )));
        }
        let request = Arc::new(SigningRequest::for_envelope::<T>(
            &inner.group,
            &commitments,
            &body,
        )?);

        // Round two: a signature share from each chosen signer.
        let mut waiting = Vec::with_capacity(need);
        for signer in inner
            .signers
            .iter()
            .filter(|s| chosen.contains(&s.participant))
        {
            let (reply, answer) = oneshot::channel();
            signer
                .sender
                .try_send(SignerRequest::Sign {
                    round,
                    request: Arc::clone(&request),
                    reply,
                })
                .map_err(|_| {
                    Error::ThresholdSigning(format!(
                        "signer {} stopped during the round",
                        signer.participant
                    ))
                })?;
            waiting.push((signer.participant, answer));
        }
        let deadline = tokio::time::Instant::now() + self.round_timeout;
        let mut shares = Vec::with_capacity(need);
        for (participant, answer) in waiting {
            match tokio::time::timeout_at(deadline, answer).await {
                Ok(Ok(Ok(share))) => shares.push(share),
                Ok(Ok(Err(reason))) => {
                    return Err(Error::ThresholdSigning(format!(
                        "signer {participant}: {reason}"
                    )));
                }
                Ok(Err(_)) | Err(_) => {
                    return Err(Error::ThresholdSigning(format!(
                        "signer {participant} did not answer the signing request"
                    )));
                }
            }
        }
        threshold::aggregate_envelope(&inner.group, &request, &shares)
            .map_err(|error| Error::ThresholdSigning(format!("aggregation failed: {error}")))
    }
}

/// What a bidder signs with: one advertiser key, or a threshold group's signer
/// tasks. Either way the envelopes it makes are ordinary Ed25519 envelopes under
/// [`AdvertiserSigner::public_key`], the advertiser's id: a verifier cannot tell.
///
/// The single-key path signs in place, with no allocation and no task hop; the
/// threshold path runs one FROST round ([`ThresholdSigner::sign_envelope`]), which
/// can fail (too few signers alive, a round timeout, a policy refusal).
#[derive(Clone, Debug)]
pub enum AdvertiserSigner {
    /// A single Ed25519 key.
    Key(AdvertiserKey),
    /// A `t`-of-`n` FROST group.
    Threshold(ThresholdSigner),
}

/// The older name of [`AdvertiserSigner`], from when only receipts were signed
/// through it.
pub type ReceiptSigner = AdvertiserSigner;

impl From<AdvertiserKey> for AdvertiserSigner {
    fn from(key: AdvertiserKey) -> Self {
        Self::Key(key)
    }
}

impl From<ThresholdSigner> for AdvertiserSigner {
    fn from(signer: ThresholdSigner) -> Self {
        Self::Threshold(signer)
    }
}

impl AdvertiserSigner {
    /// The advertiser's key: what its bids and receipts verify under.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Key(key) => key.public_key(),
            Self::Threshold(signer) => signer.group_key(),
        }
    }

    /// The single key, when this is not a threshold group.
    pub fn key(&self) -> Option<&AdvertiserKey> {
        match self {
            Self::Key(key) => Some(key),
            Self::Threshold(_) => None,
        }
    }

    /// Signs `value` under `T`'s domain. `value` must name
    /// [`AdvertiserSigner::public_key`] as its signer (a bid's advertiser, a
    /// receipt's issuer), or the envelope would not open.
    pub async fn sign<T: Kind>(&self, value: &T) -> Result<Signed<T>> {
        if value.claimed_signer() != &self.public_key() {
            return Err(attn_receipts::Error::SignerMismatch {
                message: T::NAME,
                signer: self.public_key().to_hex(),
                claimed: value.claimed_signer().to_hex(),
            }
            .into());
        }
        match self {
            Self::Key(key) => Ok(Signed::sign(key, value)),
            // Boxed so the single-key path's future stays small.
            Self::Threshold(signer) => Box::pin(signer.sign_envelope(value)).await,
        }
    }

    /// Signs `receipt`, which must name [`AdvertiserSigner::public_key`] as its
    /// issuer.
    pub async fn sign_receipt(
        &self,
        receipt: &ConversionReceipt,
    ) -> Result<Signed<ConversionReceipt>> {
        self.sign(receipt).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attn_receipts::threshold::ThresholdParams;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn group(t: u16, n: u16) -> (Vec<KeyShare>, ThresholdGroup) {
        let mut rng = StdRng::seed_from_u64(42);
        threshold::deal(ThresholdParams::new(t, n).expect("params"), &mut rng).expect("deal")
    }

    /// A signer keeps nonces for at most `PENDING_ROUNDS_MAX` rounds: the oldest are
    /// forgotten, and a signing request for them is refused.
    #[tokio::test]
    async fn pending_rounds_are_bounded() {
        let (shares, group) = group(2, 2);
        let signer = SignerHandle::spawn_with_policy(shares[0].clone(), Arc::new(AnyMessage));
        let (reply, mut replies) = mpsc::channel(PENDING_ROUNDS_MAX + 1);
        for round in 0..=PENDING_ROUNDS_MAX as u64 {
            signer
                .sender
                .send(SignerRequest::Commit {
                    round,
                    reply: reply.clone(),
                })
                .await
                .expect("signer runs");
        }
        let mut commitments = Vec::new();
        for _ in 0..=PENDING_ROUNDS_MAX {
            commitments.push(replies.recv().await.expect("commitment"));
        }
        let (_, other) = threshold::commit(&shares[1], &mut OsRng);
        let sign = |round: u64, mine: SigningCommitment| {
            let request = SigningRequest::new(&group, &[mine, other], b"m").expect("request");
            let (reply, answer) = oneshot::channel();
            let message = SignerRequest::Sign {
                round,
                request: Arc::new(request),
                reply,
            };
            (message, answer)
        };
        let (message, answer) = sign(0, commitments[0]);
        signer.sender.send(message).await.expect("signer runs");
        assert_eq!(
            answer.await.expect("answer").unwrap_err(),
            "no commitment of this signer for the round"
        );
        let (message, answer) = sign(1, commitments[1]);
        signer.sender.send(message).await.expect("signer runs");
        assert!(answer.await.expect("answer").is_ok());
    }

    /// A signer whose queue is full (`SIGNER_QUEUE_MAX`) sits the round out, so a
    /// 2-of-2 round cannot complete and says so.
    #[tokio::test(start_paused = true)]
    async fn a_full_signer_queue_skips_the_signer() {
        let (shares, group) = group(2, 2);
        let signer = ThresholdSigner::spawn(group, shares)
            .expect("spawn")
            .with_round_timeout(Duration::from_millis(50));
        for _ in 0..SIGNER_QUEUE_MAX {
            signer.signers()[0]
                .sender
                .try_send(SignerRequest::Forget { round: u64::MAX })
                .expect("room in the queue");
        }
        assert!(
            signer.signers()[0]
                .sender
                .try_send(SignerRequest::Forget { round: u64::MAX })
                .is_err()
        );
        let receipt = ConversionReceipt {
            receipt_id: [1; 16],
            persona: signer.group_key(),
            issuer: signer.group_key(),
            kind: attn_receipts::ReceiptKind::View,
            issued_at_ms: 1,
            categories: Vec::new(),
            value_commitment: attn_receipts::CommitmentOpening::random([1; 16], 1, &mut OsRng)
                .commitment(),
            public_value: None,
            impression_hash: None,
        };
        let error = signer.sign_envelope(&receipt).await.unwrap_err();
        assert!(
            matches!(&error, Error::ThresholdSigning(reason) if reason.starts_with("1 of 2 signers")),
            "{error}"
        );
    }

    struct AnyMessage;

    impl SigningPolicy for AnyMessage {
        fn check(&self, _: &PublicKey, _: &[u8]) -> std::result::Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn receipts_only_accepts_receipts_of_the_group_alone() {
        let (_, group) = group(2, 3);
        let key = group.group_key();
        let receipt = ConversionReceipt {
            receipt_id: [2; 16],
            persona: AdvertiserKey::from_secret_bytes(&[1; 32]).public_key(),
            issuer: key,
            kind: attn_receipts::ReceiptKind::Click,
            issued_at_ms: 1,
            categories: Vec::new(),
            value_commitment: attn_receipts::CommitmentOpening::random([2; 16], 1, &mut OsRng)
                .commitment(),
            public_value: None,
            impression_hash: None,
        };
        let body = threshold::envelope_body(&receipt);
        let message = attn_receipts::signed::signed_message(ConversionReceipt::DOMAIN, &body);
        assert_eq!(ReceiptsOnly.check(&key, &message), Ok(()));
        let other = AdvertiserKey::from_secret_bytes(&[4; 32]).public_key();
        assert!(ReceiptsOnly.check(&other, &message).is_err());
        let as_bid = attn_receipts::signed::signed_message("attn/v1/bid", &body);
        assert!(ReceiptsOnly.check(&key, &as_bid).is_err());
        assert!(ReceiptsOnly.check(&key, b"attn/v1/receipt").is_err());
    }

    /// A bidder's signers sign its bids and receipts, and nothing else: not another
    /// advertiser's bid, not a bid body under another domain, not garbage.
    #[test]
    fn bids_and_receipts_accepts_the_groups_bids_and_receipts_alone() {
        let (_, group) = group(2, 3);
        let key = group.group_key();
        let other = AdvertiserKey::from_secret_bytes(&[4; 32]).public_key();
        let bid = |advertiser| attn_receipts::Bid {
            request_id: attn_receipts::RequestId([3; 16]),
            advertiser,
            price: attn_receipts::Money::parse("USD", "0.5").expect("money"),
            slot_ids: Vec::new(),
            creative: attn_receipts::Creative {
                creative_id: "c".into(),
                categories: Vec::new(),
                content_hash: attn_receipts::Digest32([5; 32]),
                url: None,
            },
            rail: "sandbox".into(),
            created_at_ms: 1,
        };
        let message = |domain, body: &[u8]| attn_receipts::signed::signed_message(domain, body);
        let ours = threshold::envelope_body(&bid(key));
        assert_eq!(
            BidsAndReceipts.check(&key, &message(Bid::DOMAIN, &ours)),
            Ok(())
        );
        let theirs = threshold::envelope_body(&bid(other));
        assert!(
            BidsAndReceipts
                .check(&key, &message(Bid::DOMAIN, &theirs))
                .is_err()
        );
        assert!(
            ReceiptsOnly
                .check(&key, &message(Bid::DOMAIN, &ours))
                .is_err()
        );
        assert!(
            BidsAndReceipts
                .check(&key, &message("attn/v1/voucher", &ours))
                .is_err()
        );
        assert!(
            BidsAndReceipts
                .check(&key, &message(Bid::DOMAIN, b"\xff\xff"))
                .is_err()
        );
        let receipt = ConversionReceipt {
            receipt_id: [2; 16],
            persona: other,
            issuer: key,
            kind: attn_receipts::ReceiptKind::View,
            issued_at_ms: 1,
            categories: Vec::new(),
            value_commitment: attn_receipts::CommitmentOpening::random([2; 16], 1, &mut OsRng)
                .commitment(),
            public_value: None,
            impression_hash: None,
        };
        let body = threshold::envelope_body(&receipt);
        assert_eq!(
            BidsAndReceipts.check(&key, &message(ConversionReceipt::DOMAIN, &body)),
            Ok(())
        );
    }
}
