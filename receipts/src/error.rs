//! The one error type of `attn-receipts`.

/// Everything that can go wrong in `attn-receipts`.
///
/// Validation errors name the message and the field at fault, so a bidder or client
/// that receives bad input can say exactly what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This error occurs when a required field of a wire message is absent or empty.
    #[error("{message}.{field} is missing")]
    MissingField {
        /// The message type, e.g. `BidRequest`.
        message: &'static str,
        /// The field, e.g. `persona`.
        field: &'static str,
    },
    /// This error occurs when a field holds a value outside what the protocol allows.
    #[error("{message}.{field} is invalid: {reason}")]
    InvalidField {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// This error occurs when a string, byte field or list is longer than its limit.
    #[error("{message}.{field} is too long: {len} > {max}")]
    TooLong {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// The length received (bytes, or items for a list).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// This error occurs when a byte field has the wrong fixed length (a key, a
    /// signature, a hash, an id).
    #[error("{message}.{field} must be {expected} bytes, got {len}")]
    WrongLength {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// The length required.
        expected: usize,
        /// The length received.
        len: usize,
    },
    /// This error occurs when 32 bytes are not a valid Ed25519 public key, or are a
    /// weak (small-order) key that no honest party uses.
    #[error("{message}.{field} is not a valid Ed25519 public key")]
    InvalidKey {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
    },
    /// This error occurs when a signature does not verify for its signer and domain.
    #[error("bad {domain} signature by {signer}")]
    BadSignature {
        /// The domain tag the signature was checked under.
        domain: &'static str,
        /// The claimed signer, hex.
        signer: String,
    },
    /// This error occurs when a batch of envelopes does not verify; `indices` names
    /// every envelope whose signature is bad.
    #[error("{} of a batch of {len} signatures are bad (first at index {})", indices.len(), indices.first().copied().unwrap_or_default())]
    BadSignatures {
        /// Positions of the bad envelopes in the batch.
        indices: Vec<usize>,
        /// Size of the batch.
        len: usize,
    },
    /// This error occurs when an envelope's signer is not the party its body names
    /// (e.g. a bid signed by one key that claims another advertiser).
    #[error("{message} is signed by {signer} but names {claimed}")]
    SignerMismatch {
        /// The message type.
        message: &'static str,
        /// The envelope's signer, hex.
        signer: String,
        /// The key the body names, hex.
        claimed: String,
    },
    /// This error occurs when bytes are not a valid protobuf encoding of the message.
    #[error("{message} does not decode: {reason}")]
    Decode {
        /// The message type.
        message: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// This error occurs when a currency code is not 3 to 8 uppercase ASCII letters
    /// or digits starting with a letter.
    #[error("invalid currency code {0:?}")]
    InvalidCurrency(String),
    /// This error occurs when an amount is negative, malformed, or has more
    /// fractional digits than the protocol allows.
    #[error("invalid amount {amount:?}: {reason}")]
    InvalidAmount {
        /// The amount as received.
        amount: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// This error occurs when two amounts of different currencies are combined.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// The first currency.
        left: String,
        /// The second currency.
        right: String,
    },
    /// This error occurs when arithmetic on money would overflow, or would go below
    /// zero.
    #[error("money arithmetic out of range: {0}")]
    AmountOutOfRange(&'static str),
    /// This error occurs when an amount has more fractional digits than the atomic
    /// unit of its currency can hold, so converting it would lose value.
    #[error("{amount} cannot be expressed in atomic units of scale {scale} without loss")]
    PrecisionLoss {
        /// The amount, as a decimal string with its currency.
        amount: String,
        /// The scale (fractional digits of the atomic unit).
        scale: u32,
    },
    /// This error occurs when a persona derivation index is not below 2^31.
    #[error("derivation index {0} is out of range (must be below 2^31)")]
    DerivationIndex(u32),
    /// This error occurs when a key file's passphrase is wrong: the file is intact
    /// but does not decrypt.
    #[error("wrong passphrase for this key file")]
    WrongPassphrase,
    /// This error occurs when a key file is truncated, altered or not a key file.
    #[error("key file is corrupted or not an attn key file: {0}")]
    CorruptedKeyFile(&'static str),
    /// This error occurs when a threshold key's parameters are out of bounds: the
    /// threshold `t` below [`THRESHOLD_SIGNERS_MIN`](crate::limits::THRESHOLD_SIGNERS_MIN),
    /// above the number of shares `n`, or `n` above
    /// [`THRESHOLD_SHARES_MAX`](crate::limits::THRESHOLD_SHARES_MAX).
    #[error("invalid threshold {threshold}-of-{shares}: {reason}")]
    ThresholdParameters {
        /// The threshold asked for.
        threshold: u16,
        /// The number of shares asked for.
        shares: u16,
        /// Which bound is broken.
        reason: &'static str,
    },
    /// This error occurs when fewer shares, commitments or signature shares than the
    /// threshold take part in a signing round or a recovery.
    #[error("{have} shares given but the threshold is {need}")]
    ThresholdTooFewShares {
        /// How many were given.
        have: usize,
        /// The threshold.
        need: usize,
    },
    /// This error occurs when one participant's share, commitment or signature share
    /// is inconsistent with the group (it does not match the group's commitments, or
    /// its signature share does not verify): `participant` is at fault.
    #[error("threshold participant {participant} is at fault: {reason}")]
    ThresholdInvalidShare {
        /// The participant's identifier (1 to `n`).
        participant: u16,
        /// What is wrong.
        reason: &'static str,
    },
    /// This error occurs when an encoded share, key share, group or protocol message
    /// is truncated, altered (its checksum fails) or not of the expected kind.
    #[error("threshold share or message is corrupted: {0}")]
    ThresholdCorrupted(&'static str),
    /// This error occurs when shares or messages that must belong to one group (or
    /// one persona, or one signing round) do not: different keys, thresholds or
    /// commitments, duplicated or unknown participants.
    #[error("threshold shares do not belong together: {0}")]
    ThresholdMismatch(&'static str),
    /// This error occurs when a step of the FROST protocol (RFC 9591) fails for a
    /// reason not covered above; `step` names it.
    #[error("FROST {step} failed: {reason}")]
    ThresholdProtocol {
        /// The protocol step, e.g. `dkg part2`.
        step: &'static str,
        /// The library's explanation.
        reason: String,
    },
    /// This error occurs when a receipt of a reputation proof (or one handed to the
    /// proof builder) cannot be counted: `index` is its position in the proof (or in
    /// the builder's input) and `fault` says why.
    #[error("receipt {index} of the reputation proof is rejected: {fault}")]
    ReceiptRejected {
        /// Position of the receipt.
        index: usize,
        /// What is wrong with it.
        fault: ReceiptFault,
    },
    /// This error occurs when an issuer's bracket in a reputation proof is out of the
    /// scale, repeated, out of order, or names an issuer no disclosed receipt has.
    #[error("bracket of issuer {issuer} is rejected: {reason}")]
    BracketRejected {
        /// The issuer, hex.
        issuer: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// This error occurs when the aggregated range proof of a reputation proof is
    /// malformed or does not verify against the receipts' commitments and brackets.
    #[error("the aggregated range proof does not verify: {0}")]
    RangeProof(String),
    /// This error occurs when a reputation proof is for another persona than the one
    /// expected (the persona of the bid request that carries or names it).
    #[error("reputation proof is for persona {found}, expected {expected}")]
    WrongPersona {
        /// The persona expected, hex.
        expected: String,
        /// The persona the proof names, hex.
        found: String,
    },
    /// This error occurs when the input of a trust computation is out of range: a node
    /// index past the graph, a weight that is negative or not finite, a damping
    /// outside `[0, 1)`, or more nodes, edges or seeds than the limits allow.
    #[error("invalid trust input: {0}")]
    TrustInput(String),
}

/// Why a receipt of a reputation proof is not counted (see
/// [`Error::ReceiptRejected`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptFault {
    /// The receipt is addressed to another persona than the proof's.
    #[error("it is addressed to persona {0}")]
    OtherPersona(String),
    /// The same issuer and receipt id appear earlier in the proof.
    #[error("the same receipt appears earlier in the proof")]
    Duplicate,
    /// The receipt's time is outside the proof's window.
    #[error("issued at {issued_at_ms} ms, outside the window {window_start_ms}..={window_end_ms}")]
    OutsideWindow {
        /// The receipt's time.
        issued_at_ms: u64,
        /// The window's start.
        window_start_ms: u64,
        /// The window's end.
        window_end_ms: u64,
    },
    /// The receipt's issuer has no bracket in the proof.
    #[error("its issuer has no bracket")]
    NoBracket,
    /// The persona's opening does not open the receipt's commitment (builder side).
    #[error("the opening does not open its commitment")]
    OpeningMismatch,
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
