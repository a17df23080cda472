//! Receipts this bidder issued, kept with their openings until the persona pulls
//! them. Bounded: at most [`RECEIPTS_PER_PERSONA_MAX`] per persona (the oldest go
//! first) and [`PERSONAS_MAX`] personas (least recently used go first), each kept
//! for at most the configured retention.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use attn_receipts::limits::RECEIPTS_PER_BATCH_MAX;
use attn_receipts::{PublicKey, ReceiptWithOpening};

/// Most receipts kept for one persona.
pub const RECEIPTS_PER_PERSONA_MAX: usize = 4 * RECEIPTS_PER_BATCH_MAX;
/// Most personas with receipts kept.
pub const PERSONAS_MAX: u64 = 1_000_000;

/// Receipts with their issue time, oldest first.
type Shelf = Arc<Mutex<VecDeque<(u64, ReceiptWithOpening)>>>;

/// The receipts issued, per persona.
pub(crate) struct ReceiptBook {
    shelves: moka::future::Cache<PublicKey, Shelf>,
}

impl ReceiptBook {
    pub(crate) fn new(retention: Duration) -> Self {
        Self {
            shelves: moka::future::Cache::builder()
                .max_capacity(PERSONAS_MAX)
                .time_to_idle(retention)
                .build(),
        }
    }

    pub(crate) async fn keep(
        &self,
        persona: PublicKey,
        issued_at_ms: u64,
        receipt: ReceiptWithOpening,
    ) {
        let shelf = self
            .shelves
            .get_with(persona, async { Shelf::default() })
            .await;
        let mut shelf = shelf.lock().unwrap_or_else(PoisonError::into_inner);
        if shelf.len() >= RECEIPTS_PER_PERSONA_MAX {
            shelf.pop_front();
        }
        shelf.push_back((issued_at_ms, receipt));
    }

    /// The persona's receipts issued at or after `since_ms`, oldest first, at most
    /// one batch.
    pub(crate) async fn since(
        &self,
        persona: &PublicKey,
        since_ms: u64,
    ) -> Vec<ReceiptWithOpening> {
        let Some(shelf) = self.shelves.get(persona).await else {
            return Vec::new();
        };
        let shelf = shelf.lock().unwrap_or_else(PoisonError::into_inner);
        shelf
            .iter()
            .filter(|(issued_at_ms, _)| *issued_at_ms >= since_ms)
            .take(RECEIPTS_PER_BATCH_MAX)
            .map(|(_, receipt)| receipt.clone())
            .collect()
    }
}
