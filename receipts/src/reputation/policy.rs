//! Which receipts a persona discloses: the client side's [`DisclosurePolicy`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::limits::{
    ISSUERS_PER_PROOF_MAX, RECEIPTS_PER_PROOF_MAX, REPUTATION_WINDOW_DEFAULT_MS,
    REPUTATION_WINDOW_MAX_MS, TAG_MAX_BYTES, WITHHELD_CATEGORIES_MAX,
};
use crate::messages::{ConversionReceipt, ReceiptKind, ReceiptWithOpening};
use crate::signed::SignatureBatch;

/// Categories a persona withholds unless told otherwise.
pub const SENSITIVE_CATEGORIES: [&str; 5] =
    ["health", "politics", "religion", "sexuality", "finance"];

/// The time window a proof covers, in ms since the epoch, both ends included.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Window {
    /// First instant covered.
    pub start_ms: u64,
    /// Last instant covered.
    pub end_ms: u64,
}

impl Window {
    /// The window of `length_ms` ending at `end_ms`.
    pub fn ending_at(end_ms: u64, length_ms: u64) -> Self {
        Self {
            start_ms: end_ms.saturating_sub(length_ms),
            end_ms,
        }
    }

    /// Its length in ms.
    pub fn length_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }

    /// Whether `time_ms` falls in it.
    pub fn contains(&self, time_ms: u64) -> bool {
        (self.start_ms..=self.end_ms).contains(&time_ms)
    }

    /// Checks the window is well formed and at most
    /// [`REPUTATION_WINDOW_MAX_MS`] long.
    pub fn check(&self) -> Result<()> {
        if self.start_ms > self.end_ms {
            return Err(Error::InvalidField {
                message: "ReputationProof",
                field: "window_end_ms",
                reason: "window ends before it starts".into(),
            });
        }
        let length_ms = self.length_ms();
        if length_ms > REPUTATION_WINDOW_MAX_MS {
            return Err(Error::TooLong {
                message: "ReputationProof",
                field: "window_ms",
                len: usize::try_from(length_ms).unwrap_or(usize::MAX),
                max: usize::try_from(REPUTATION_WINDOW_MAX_MS).unwrap_or(usize::MAX),
            });
        }
        Ok(())
    }
}

/// What a persona discloses in its reputation proof.
///
/// [`DisclosurePolicy::select`] keeps a receipt only if it is valid (issuer signature,
/// addressed to the persona, its opening opens its commitment), falls in the window,
/// is of an allowed kind, comes from an issuer not withheld, and carries no withheld
/// category. A category is withheld when it equals a withheld tag, ignoring ASCII
/// case, or starts with one followed by `/` or `:` (`health/fitness`, `finance:loans`).
///
/// Then it fits the proof's limits: at most [`RECEIPTS_PER_PROOF_MAX`] receipts (the
/// most recent kept) from at most [`ISSUERS_PER_PROOF_MAX`] issuers (those whose
/// receipts sum to the most kept).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DisclosurePolicy {
    /// Category tags never disclosed, lowercase.
    pub withheld_categories: BTreeSet<String>,
    /// Issuers never disclosed.
    pub withheld_issuers: BTreeSet<PublicKey>,
    /// Kinds disclosed.
    pub kinds: BTreeSet<ReceiptKind>,
    /// Length of the window ending now; older receipts are withheld.
    pub window_ms: u64,
}

impl Default for DisclosurePolicy {
    /// Withholds [`SENSITIVE_CATEGORIES`] and receipts older than
    /// [`REPUTATION_WINDOW_DEFAULT_MS`]; every kind, every issuer.
    fn default() -> Self {
        Self {
            withheld_categories: SENSITIVE_CATEGORIES
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            withheld_issuers: BTreeSet::new(),
            kinds: ReceiptKind::ALL.into_iter().collect(),
            window_ms: REPUTATION_WINDOW_DEFAULT_MS,
        }
    }
}

/// Receipts chosen for a proof, with the window they were chosen in.
#[derive(Clone, Debug)]
pub struct Selection {
    /// The window the proof will cover.
    pub window: Window,
    /// The receipts, sorted by issuer, then time, then receipt id.
    pub receipts: Vec<ReceiptWithOpening>,
    /// How many valid receipts of the persona the policy withheld (window, kind,
    /// category, issuer, limits).
    pub withheld: usize,
    /// How many receipts were dropped as invalid (bad signature, another persona,
    /// opening mismatch, duplicate, undecodable).
    pub invalid: usize,
}

impl DisclosurePolicy {
    /// Also withholds `category`.
    pub fn withhold_category(mut self, category: &str) -> Self {
        self.withheld_categories
            .insert(category.to_ascii_lowercase());
        self
    }

    /// Discloses `category` again.
    pub fn disclose_category(mut self, category: &str) -> Self {
        self.withheld_categories
            .remove(&category.to_ascii_lowercase());
        self
    }

    /// Checks the policy's own bounds: the window, and the withheld tags' number and
    /// size.
    pub fn check(&self) -> Result<()> {
        Window {
            start_ms: 0,
            end_ms: self.window_ms,
        }
        .check()?;
        if self.withheld_categories.len() > WITHHELD_CATEGORIES_MAX {
            return Err(Error::TooLong {
                message: "DisclosurePolicy",
                field: "withheld_categories",
                len: self.withheld_categories.len(),
                max: WITHHELD_CATEGORIES_MAX,
            });
        }
        if let Some(tag) = self
            .withheld_categories
            .iter()
            .find(|t| t.len() > TAG_MAX_BYTES)
        {
            return Err(Error::TooLong {
                message: "DisclosurePolicy",
                field: "withheld_categories",
                len: tag.len(),
                max: TAG_MAX_BYTES,
            });
        }
        Ok(())
    }

    /// Whether `category` is withheld.
    ///
    /// # Example
    /// ```
    /// use attn_receipts::reputation::DisclosurePolicy;
    /// let policy = DisclosurePolicy::default();
    /// assert!(policy.withholds_category("Health"));
    /// assert!(policy.withholds_category("finance/loans"));
    /// assert!(!policy.withholds_category("healthy-snacks"));
    /// assert!(!policy.withholds_category("cycling"));
    /// ```
    pub fn withholds_category(&self, category: &str) -> bool {
        let category = category.to_ascii_lowercase();
        let root = category.split(['/', ':']).next().unwrap_or_default();
        self.withheld_categories.contains(&category) || self.withheld_categories.contains(root)
    }

    /// Whether the policy discloses `receipt` in `window` (validity aside).
    pub fn discloses(&self, receipt: &ConversionReceipt, window: &Window) -> bool {
        window.contains(receipt.issued_at_ms)
            && self.kinds.contains(&receipt.kind)
            && !self.withheld_issuers.contains(&receipt.issuer)
            && !receipt
                .categories
                .iter()
                .any(|c| self.withholds_category(c))
    }

    /// Chooses, among a persona's `receipts`, those to disclose in a proof built at
    /// `now_ms`. Invalid receipts are dropped and counted, never fatal.
    ///
    /// # Errors
    /// Only when the policy itself is out of bounds ([`DisclosurePolicy::check`]).
    pub fn select(
        &self,
        persona: &PublicKey,
        receipts: &[ReceiptWithOpening],
        now_ms: u64,
    ) -> Result<Selection> {
        self.check()?;
        let window = Window::ending_at(now_ms, self.window_ms);
        let mut batch = SignatureBatch::with_capacity(receipts.len());
        for item in receipts {
            batch.push(&item.receipt);
        }
        let bad: HashSet<usize> = match batch.verify() {
            Ok(()) => HashSet::new(),
            Err(Error::BadSignatures { indices, .. }) => indices.into_iter().collect(),
            Err(other) => return Err(other),
        };
        let mut invalid = 0;
        let mut withheld = 0;
        let mut seen = HashSet::new();
        let mut kept: Vec<(ConversionReceipt, &ReceiptWithOpening)> = Vec::new();
        for (index, item) in receipts.iter().enumerate() {
            let receipt = match item.receipt.decode_verified() {
                Ok(receipt) if !bad.contains(&index) => receipt,
                _ => {
                    invalid += 1;
                    continue;
                }
            };
            if receipt.persona != *persona
                || item.opening.receipt_id != receipt.receipt_id
                || !item.opening.opens(&receipt.value_commitment)
                || !seen.insert((receipt.issuer, receipt.receipt_id))
            {
                invalid += 1;
                continue;
            }
            if !self.discloses(&receipt, &window) {
                withheld += 1;
                continue;
            }
            kept.push((receipt, item));
        }
        // Most recent first, to keep the newest within the receipt limit.
        kept.sort_by(|(a, _), (b, _)| {
            b.issued_at_ms
                .cmp(&a.issued_at_ms)
                .then(a.issuer.cmp(&b.issuer))
                .then(a.receipt_id.cmp(&b.receipt_id))
        });
        if kept.len() > RECEIPTS_PER_PROOF_MAX {
            withheld += kept.len() - RECEIPTS_PER_PROOF_MAX;
            kept.truncate(RECEIPTS_PER_PROOF_MAX);
        }
        let mut sums: BTreeMap<PublicKey, u128> = BTreeMap::new();
        for (receipt, item) in &kept {
            *sums.entry(receipt.issuer).or_default() += u128::from(item.opening.value_atomic);
        }
        if sums.len() > ISSUERS_PER_PROOF_MAX {
            let mut ranked: Vec<(PublicKey, u128)> = sums.into_iter().collect();
            ranked.sort_by(|(ka, a), (kb, b)| b.cmp(a).then(ka.cmp(kb)));
            let top: HashSet<PublicKey> = ranked
                .iter()
                .take(ISSUERS_PER_PROOF_MAX)
                .map(|(k, _)| *k)
                .collect();
            let before = kept.len();
            kept.retain(|(receipt, _)| top.contains(&receipt.issuer));
            withheld += before - kept.len();
        }
        kept.sort_by(|(a, _), (b, _)| {
            a.issuer
                .cmp(&b.issuer)
                .then(a.issued_at_ms.cmp(&b.issued_at_ms))
                .then(a.receipt_id.cmp(&b.receipt_id))
        });
        Ok(Selection {
            window,
            receipts: kept.into_iter().map(|(_, item)| item.clone()).collect(),
            withheld,
            invalid,
        })
    }
}
