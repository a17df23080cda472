//! Every bound of the protocol, in one place. Each is checked where data enters
//! (the `TryFrom` conversions from wire messages) and each has a test that exceeds it.
//! `docs/protocol.md` lists them for integrators.

/// Fewest characters of a currency code.
pub const CURRENCY_MIN_CHARS: usize = 3;
/// Most characters of a currency code.
pub const CURRENCY_MAX_CHARS: usize = 8;
/// Most characters of an amount's decimal string.
pub const AMOUNT_MAX_CHARS: usize = 40;
/// Most fractional digits of an amount.
pub const MONEY_SCALE_MAX: u32 = 18;

/// Most bytes of an identifier (slot id, creative id).
pub const ID_MAX_BYTES: usize = 64;
/// Most bytes of a tag (context tag, category).
pub const TAG_MAX_BYTES: usize = 64;
/// Most context tags on a bid request.
pub const CONTEXT_TAGS_MAX: usize = 32;
/// Most category tags on a creative or a receipt.
pub const CATEGORIES_MAX: usize = 16;
/// Most bytes of a creative format name.
pub const FORMAT_MAX_BYTES: usize = 32;
/// Most bytes of a creative URL.
pub const URL_MAX_BYTES: usize = 512;
/// Most bytes of a rail name (`channel:ledger`).
pub const RAIL_NAME_MAX_BYTES: usize = 64;
/// Most bytes of a rail payment id.
pub const PAYMENT_ID_MAX_BYTES: usize = 128;

/// Most slots in one bid request (one auction for the whole page).
pub const SLOTS_PER_REQUEST_MAX: usize = 16;
/// Most bids one auction considers.
pub const BIDS_PER_AUCTION_MAX: usize = 256;
/// Most signed bids carried as VCG price evidence for one award.
pub const EVIDENCE_BIDS_MAX: usize = 64;
/// Largest click weight of a slot, in parts per million (10 units).
pub const CLICK_WEIGHT_PPM_MAX: u32 = 10_000_000;
/// Longest auction deadline a request may set.
pub const TMAX_MS_MAX: u32 = 5_000;
/// How far a signed time may be from the verifier's clock.
pub const CLOCK_SKEW_MAX_MS: u64 = 30_000;

/// Most receipts disclosed in one reputation proof.
pub const RECEIPTS_PER_PROOF_MAX: usize = 1_024;
/// Most issuers disclosed in one reputation proof (a power of two: the aggregated
/// range proof pads the issuer count to one).
pub const ISSUERS_PER_PROOF_MAX: usize = 64;
/// Most bytes of an aggregated range proof (64 values of 64 bits take 1,056 bytes).
pub const RANGE_PROOF_MAX_BYTES: usize = 4_096;
/// Most receipts in one pull answer.
pub const RECEIPTS_PER_BATCH_MAX: usize = 1_024;
/// Largest trust weight, in parts per million.
pub const TRUST_WEIGHT_PPM_MAX: u32 = 1_000_000;

/// Most bytes of a signed bid body.
pub const BID_BODY_MAX_BYTES: usize = 4 * 1024;
/// Most bytes of a signed conversion receipt body.
pub const RECEIPT_BODY_MAX_BYTES: usize = 4 * 1024;
/// Most bytes of small signed bodies (impressions, vouchers, trust statements, pulls).
pub const SMALL_BODY_MAX_BYTES: usize = 2 * 1024;
/// Most bytes of a signed reputation proof body (1,024 receipts of about 300 bytes
/// fit with room to spare).
pub const REPUTATION_BODY_MAX_BYTES: usize = 1024 * 1024;
/// Most bytes of a signed bid request body (it may carry the reputation proof).
pub const BID_REQUEST_BODY_MAX_BYTES: usize = REPUTATION_BODY_MAX_BYTES + 64 * 1024;
/// Most bytes of a signed auction result body (it carries price evidence).
pub const AUCTION_RESULT_BODY_MAX_BYTES: usize = 2 * 1024 * 1024;
/// Most bytes of any message on the wire; gRPC servers and clients set their decode
/// limit to this.
pub const MESSAGE_MAX_BYTES: usize = 4 * 1024 * 1024;

const _: () = assert!(ISSUERS_PER_PROOF_MAX.is_power_of_two());
const _: () = assert!(ISSUERS_PER_PROOF_MAX <= RECEIPTS_PER_PROOF_MAX);
const _: () = assert!(BID_REQUEST_BODY_MAX_BYTES < MESSAGE_MAX_BYTES);
const _: () = assert!(AUCTION_RESULT_BODY_MAX_BYTES < MESSAGE_MAX_BYTES);
const _: () = assert!(EVIDENCE_BIDS_MAX <= BIDS_PER_AUCTION_MAX);

/// Fewest signers `t` a threshold (FROST) key may require: one signer is an ordinary
/// key, and RFC 9591 requires `t ≥ 2`.
pub const THRESHOLD_SIGNERS_MIN: u16 = 2;
/// Most shares `n` of a threshold key (an advertiser's signing servers, or the
/// devices and friends holding a persona's recovery shares).
pub const THRESHOLD_SHARES_MAX: u16 = 32;
/// Largest message a threshold group signs in one round (an envelope's
/// `DOMAIN || 0x00 || body`).
pub const THRESHOLD_MESSAGE_MAX_BYTES: usize = MESSAGE_MAX_BYTES;
/// Most bytes of an encoded key share, persona share or group's public data (the
/// largest, a persona share of a 32-of-32 split, takes about 1.2 KiB).
pub const THRESHOLD_SHARE_MAX_BYTES: usize = 2 * 1024;
/// Most bytes of an encoded distributed-key-generation message.
pub const THRESHOLD_DKG_MESSAGE_MAX_BYTES: usize = 4 * 1024;

const _: () = assert!(THRESHOLD_SIGNERS_MIN >= 2);
const _: () = assert!(THRESHOLD_SIGNERS_MIN <= THRESHOLD_SHARES_MAX);

/// Longest time window a reputation proof may cover (366 days): receipts older than
/// this say little about a persona today, and a bound keeps proofs small.
pub const REPUTATION_WINDOW_MAX_MS: u64 = 366 * 24 * 60 * 60 * 1_000;
/// Window a persona's proof covers by default (90 days).
pub const REPUTATION_WINDOW_DEFAULT_MS: u64 = 90 * 24 * 60 * 60 * 1_000;
/// Most category tags a disclosure policy withholds.
pub const WITHHELD_CATEGORIES_MAX: usize = 256;
/// Most trust statements one trust computation takes.
pub const TRUST_STATEMENTS_MAX: usize = 1_000_000;
/// Most advertisers (nodes) in one trust graph.
pub const TRUST_NODES_MAX: usize = 1_000_000;
/// Most seeds of a verifier's trust.
pub const TRUST_SEEDS_MAX: usize = 1_024;
/// Most power-iteration steps of a trust computation.
pub const TRUST_ITERATIONS_MAX: u32 = 1_000;

const _: () = assert!(REPUTATION_WINDOW_DEFAULT_MS <= REPUTATION_WINDOW_MAX_MS);
const _: () = assert!(TRUST_SEEDS_MAX <= TRUST_NODES_MAX);
