//! Candidate selection: one pass over the candidates keeps, for each slot, the
//! highest-ranked `k + 1` agents that may take it (`k` slots). Every mechanism only
//! ever looks at these: a slot's winner is among its top `k` eligible agents (at most
//! `k − 1` others are taken before it) and its runner-up, or the agent that moves into
//! it when a VCG winner is left out, among its top `k + 1`.
//!
//! When every candidate may take every slot (the common case) one shared list serves
//! all slots, so the pass costs one comparison per candidate against the price of the
//! current `(k + 1)`-th best, kept in a register, like a bare top-k selection. The
//! per-slot lists exist (on the heap) only when some candidate names only some slots.

use super::{Context, PRICE_ATOMIC_MAX, SLOTS_MAX, outranks};

/// Longest list: `k + 1` for `k` slots.
pub(super) const LIST_MAX: usize = SLOTS_MAX + 1;

/// The best candidates in rank order, with at most one per agent.
#[derive(Clone, Copy)]
pub(super) struct TopList {
    len: u8,
    items: [u32; LIST_MAX],
    /// The price of the last item when the list is full, else 0: a candidate priced
    /// below it ranks below every item and is turned away on one comparison.
    cutoff_price_atomic: u64,
}

impl TopList {
    const EMPTY: Self = Self {
        len: 0,
        items: [0; LIST_MAX],
        cutoff_price_atomic: 0,
    };

    pub(super) fn as_slice(&self) -> &[u32] {
        &self.items[..usize::from(self.len)]
    }

    /// Offers candidate `index`; keeps the best `capacity` agents.
    #[inline(always)]
    fn offer(&mut self, context: &Context<'_>, index: u32, capacity: usize) {
        if context.candidates[index as usize].price_atomic >= self.cutoff_price_atomic {
            self.offer_above_cutoff(context, index, capacity);
        }
    }

    #[inline(never)]
    fn offer_above_cutoff(&mut self, context: &Context<'_>, index: u32, capacity: usize) {
        let candidates = context.candidates;
        let candidate = &candidates[index as usize];
        let mut len = usize::from(self.len);
        if len == capacity {
            let last = self.items[len - 1];
            if !outranks(
                candidate,
                index as usize,
                &candidates[last as usize],
                last as usize,
            ) {
                return;
            }
        }
        self.insert(context, index, capacity, &mut len);
        self.len = len as u8;
        self.cutoff_price_atomic = if len == capacity {
            candidates[self.items[len - 1] as usize].price_atomic
        } else {
            0
        };
    }

    #[inline]
    fn insert(&mut self, context: &Context<'_>, index: u32, capacity: usize, len: &mut usize) {
        let candidates = context.candidates;
        let candidate = &candidates[index as usize];
        if context.rules.one_slot_per_advertiser
            && let Some(at) = self.items[..*len]
                .iter()
                .position(|&e| candidates[e as usize].advertiser == candidate.advertiser)
        {
            let existing = self.items[at];
            if outranks(
                &candidates[existing as usize],
                existing as usize,
                candidate,
                index as usize,
            ) {
                return;
            }
            self.items.copy_within(at + 1..*len, at);
            *len -= 1;
        }
        if *len == capacity {
            *len -= 1;
        }
        let mut at = *len;
        while at > 0 {
            let above = self.items[at - 1];
            if outranks(
                &candidates[above as usize],
                above as usize,
                candidate,
                index as usize,
            ) {
                break;
            }
            self.items[at] = above;
            at -= 1;
        }
        self.items[at] = index;
        *len += 1;
    }
}

/// The per-slot lists of one auction.
pub(super) struct Selection {
    /// Candidates that may take every slot.
    shared: TopList,
    /// Per slot, only when some candidate may take only some slots (then merged
    /// with `shared`); empty otherwise, so the common case allocates nothing.
    per_slot: Vec<TopList>,
}

impl Selection {
    pub(super) fn select(context: &Context<'_>) -> Self {
        let slot_count = context.slot_count();
        let full = if slot_count >= u32::BITS as usize {
            u32::MAX
        } else {
            (1u32 << slot_count) - 1
        };
        let capacity = slot_count + 1;
        let mut shared = TopList::EMPTY;
        let mut per_slot: Vec<TopList> = Vec::new();
        for (index, candidate) in context.candidates.iter().enumerate() {
            // Priced below the shared list's cutoff, a candidate ranks below `k + 1`
            // agents that may take every slot, so no slot's list keeps it (the per-slot
            // lists take the shared ones in at the end): turned away on this one
            // comparison, before its eligibility is even read.
            if candidate.price_atomic < shared.cutoff_price_atomic
                || candidate.price_atomic > PRICE_ATOMIC_MAX
            {
                continue;
            }
            let mask = candidate.eligible & full;
            if mask == full {
                shared.offer(context, index as u32, capacity);
            } else if mask != 0 {
                if per_slot.is_empty() {
                    per_slot = vec![TopList::EMPTY; slot_count];
                }
                let mut bits = mask;
                while bits != 0 {
                    let slot = bits.trailing_zeros() as usize;
                    per_slot[slot].offer(context, index as u32, capacity);
                    bits &= bits - 1;
                }
            }
        }
        for list in &mut per_slot {
            for &index in shared.as_slice() {
                list.offer(context, index, capacity);
            }
        }
        debug_assert!(per_slot.len() <= SLOTS_MAX);
        Self { shared, per_slot }
    }

    /// Whether every retained candidate may take every slot (one shared list).
    pub(super) fn is_uniform(&self) -> bool {
        self.per_slot.is_empty()
    }

    /// The best agents that may take `slot`, in rank order.
    pub(super) fn list(&self, slot: usize) -> &[u32] {
        if self.per_slot.is_empty() {
            self.shared.as_slice()
        } else {
            self.per_slot[slot].as_slice()
        }
    }

    /// Copies the shared list into every slot's list and uses those (tests only).
    #[cfg(test)]
    pub(super) fn force_per_slot(&mut self, slot_count: usize) {
        self.per_slot = vec![self.shared; slot_count];
    }
}
