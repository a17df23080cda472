//! The auction mechanisms: pure functions from bids to winners, prices and evidence.
//!
//! One call to [`run`] sells every slot of a page at once with one of the four
//! [`Mechanism`]s (first-price, second-price, GSP, VCG). Inputs are plain integers
//! in atomic units per unit of attention; nothing here does I/O, reads a clock, draws
//! randomness or uses a float, so the simulator runs exactly the product's code. The
//! maths, the reserves, the tie-break and the evidence are written out in
//! `docs/mechanisms.md`.
//!
//! # Model
//! - Slots ([`SlotSpec`]) are filled in *position order*: click weight descending, ties
//!   by rank ascending (then by index). A slot's reserve is the largest of its own
//!   floor, the request's global floor and the user's minimum ([`reserve_atomic`]).
//! - Candidates ([`Candidate`]) are ranked by price descending, then by
//!   [`tiebreak`] hash ascending (then by index, which only matters when the same
//!   advertiser sends two identical bids). Arrival order never decides anything.
//! - First-price, second-price and GSP fill the slots greedily in position order:
//!   each slot takes the highest-ranked remaining candidate that may take it, if that
//!   candidate meets the slot's reserve. GSP and second-price charge
//!   `max(runner-up for that slot, reserve)`; second-price called with several slots
//!   *is* GSP over them.
//! - VCG chooses the allocation that maximises `Σ weight × (price − reserve)` (the
//!   reserve is the seller's own value of an empty slot) and charges each winner its
//!   externality. With every candidate eligible for every slot and one reserve for
//!   all slots it uses the closed form of the position auction; otherwise it solves
//!   the exact assignment problem (Hungarian algorithm, at most [`SLOTS_MAX`] slots).
//! - With [`Rules::one_slot_per_advertiser`] (the default) an advertiser is one
//!   agent: its bids compete as one, it wins at most one slot, and its own bids never
//!   set its price.
//!
//! Guarantees, checked by property tests: no winner pays more than its bid, no price
//! is below its slot's reserve, VCG is truthful, GSP prices are at least VCG prices,
//! and the outcome does not depend on the order of the candidates.
//!
//! # Example
//! ```
//! use attn_client_auction::mechanism::{self, Candidate, Evidence, Rules, SlotSpec};
//! use attn_receipts::Mechanism;
//!
//! let request_id = [7u8; 16];
//! let slots = [
//!     SlotSpec { rank: 0, click_weight_ppm: 2_000_000, reserve_atomic: 0 },
//!     SlotSpec { rank: 1, click_weight_ppm: 1_000_000, reserve_atomic: 0 },
//! ];
//! let candidates: Vec<Candidate> = [10u64, 4, 2]
//!     .iter()
//!     .enumerate()
//!     .map(|(i, &price)| {
//!         let advertiser = [i as u8 + 1; 32];
//!         Candidate::any_slot(price, mechanism::tiebreak(&request_id, &advertiser), advertiser)
//!     })
//!     .collect();
//! let gsp = mechanism::run(Mechanism::Gsp, &slots, &candidates, &Rules::default());
//! assert_eq!(gsp.awards[0].price_atomic, 4); // the runner-up's bid
//! assert_eq!(gsp.awards[0].evidence, Evidence::NextBid { candidate: 1 });
//! let vcg = mechanism::run(Mechanism::Vcg, &slots, &candidates, &Rules::default());
//! assert_eq!(vcg.awards[0].price_atomic, 3); // (1 × 4 + 1 × 2) / 2
//! assert_eq!(vcg.revenue_atomic(&slots), 8);
//! ```

mod assignment;
mod select;

use attn_receipts::limits::{CLICK_WEIGHT_PPM_MAX, EVIDENCE_BIDS_MAX, SLOTS_PER_REQUEST_MAX};
use attn_receipts::{Bid, BidRequest, Digest32, Money};

pub use attn_receipts::Mechanism;

use select::Selection;

/// Most slots one auction sells (the protocol's bound on slots per request).
pub const SLOTS_MAX: usize = SLOTS_PER_REQUEST_MAX;
/// Most candidates one call to [`run`] considers. The client runtime accepts far
/// fewer per auction ([`attn_receipts::limits::BIDS_PER_AUCTION_MAX`]); the simulator
/// and the benches may pass more.
pub const CANDIDATES_MAX: usize = 1 << 16;
/// Highest price per unit a candidate may carry: with a click weight of at most
/// [`CLICK_WEIGHT_PPM_MAX`] (10 units) the charge of any impression then fits a `u64`.
/// A candidate above it takes no slot and sets no price; the client runtime drops such
/// bids as over-limit before the mechanism ([`Candidate::from_bid`] refuses them).
pub const PRICE_ATOMIC_MAX: u64 = u64::MAX / 10;
/// Most candidate indices in one [`Evidence::Externality`]: those whose assignment
/// differs between the allocation with and without the winner (at most two per slot).
pub const EXTERNALITY_CANDIDATES_MAX: usize = 2 * SLOTS_MAX;

const PPM: u128 = 1_000_000;

const _: () = assert!(
    SLOTS_MAX <= u32::BITS as usize,
    "eligibility is a u32 bitmask"
);
const _: () = assert!(
    CANDIDATES_MAX <= u32::MAX as usize,
    "indices are stored as u32"
);
const _: () = assert!(EXTERNALITY_CANDIDATES_MAX <= EVIDENCE_BIDS_MAX);
const _: () =
    assert!((PRICE_ATOMIC_MAX as u128) * (CLICK_WEIGHT_PPM_MAX as u128) / PPM <= u64::MAX as u128);

/// One slot as the mechanism sees it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SlotSpec {
    /// 0 is the most prominent; breaks ties between slots of equal weight.
    pub rank: u32,
    /// Attention relative to a reference slot, in parts per million (1 to
    /// [`CLICK_WEIGHT_PPM_MAX`]). Fills the slots in order and weighs VCG's welfare.
    pub click_weight_ppm: u32,
    /// The lowest price per unit the slot sells for: the largest of the slot's floor,
    /// the global floor and the user's minimum (see [`reserve_atomic`]).
    pub reserve_atomic: u64,
}

/// One bid as the mechanism sees it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Candidate {
    /// The most it pays per unit of attention, in atomic units.
    pub price_atomic: u64,
    /// The [`tiebreak`] hash of the request id and the advertiser; between equal
    /// prices, the lower hash ranks first.
    pub tiebreak: [u8; 32],
    /// The advertiser's public key: with [`Rules::one_slot_per_advertiser`] all
    /// candidates of one advertiser act as one agent.
    pub advertiser: [u8; 32],
    /// Bit `i` set: the candidate may take the slot at index `i` of the slots slice.
    /// [`Candidate::ANY_SLOT`] for any slot.
    pub eligible: u32,
}

impl Candidate {
    /// The eligibility mask of a bid for every slot.
    pub const ANY_SLOT: u32 = u32::MAX;

    /// A candidate eligible for every slot.
    pub fn any_slot(price_atomic: u64, tiebreak: [u8; 32], advertiser: [u8; 32]) -> Self {
        Self {
            price_atomic,
            tiebreak,
            advertiser,
            eligible: Self::ANY_SLOT,
        }
    }

    /// The candidate of a verified `bid` in `request`, priced in atomic units of
    /// `scale` fractional digits. Bit `i` of the eligibility is set when the bid covers
    /// `request.slots[i]` (a bid naming no slot covers them all), so pass
    /// `request.slots` (through [`slot_specs`]) in the same order to [`run`].
    ///
    /// # Errors
    /// [`attn_receipts::Error::CurrencyMismatch`] when the bid is not in the request's
    /// currency, [`attn_receipts::Error::PrecisionLoss`] when its price has more digits
    /// than `scale`, [`attn_receipts::Error::AmountOutOfRange`] when the price exceeds
    /// [`PRICE_ATOMIC_MAX`] or a `u64`.
    pub fn from_bid(bid: &Bid, request: &BidRequest, scale: u32) -> attn_receipts::Result<Self> {
        same_currency(&bid.price, request)?;
        let price_atomic = bid.price.to_atomic(scale)?;
        if price_atomic > PRICE_ATOMIC_MAX {
            return Err(attn_receipts::Error::AmountOutOfRange(
                "bid price above the mechanism's PRICE_ATOMIC_MAX",
            ));
        }
        let eligible = if bid.slot_ids.is_empty() {
            Self::ANY_SLOT
        } else {
            request
                .slots
                .iter()
                .take(SLOTS_MAX)
                .enumerate()
                .filter(|(_, slot)| bid.covers(&slot.slot_id))
                .fold(0u32, |mask, (i, _)| mask | (1 << i))
        };
        let advertiser = bid.advertiser.to_bytes();
        Ok(Self {
            price_atomic,
            tiebreak: tiebreak(&request.request_id.0, &advertiser),
            advertiser,
            eligible,
        })
    }
}

/// The deterministic tie-break between equal prices: `SHA-256(request_id ||
/// advertiser)`. It is fresh for every auction (so no advertiser always wins ties),
/// cannot be chosen by a bidder after the request is out, and any party holding the
/// request and the bids can recompute it.
pub fn tiebreak(request_id: &[u8; 16], advertiser: &[u8; 32]) -> [u8; 32] {
    Digest32::of(&[request_id, advertiser]).0
}

/// The reserve of a slot: the largest of the slot's own floor, the request's global
/// floor and the user's minimum price, all per unit in atomic units (absent = 0).
pub fn reserve_atomic(
    slot_floor: Option<u64>,
    global_floor: Option<u64>,
    user_minimum: Option<u64>,
) -> u64 {
    [slot_floor, global_floor, user_minimum]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
}

/// The [`SlotSpec`]s of `request.slots`, in order, with reserves from the slot floors,
/// the global floor and the user's minimum, in atomic units of `scale` digits.
///
/// # Errors
/// [`attn_receipts::Error::CurrencyMismatch`] when a floor or the minimum is not in
/// the request's currency, [`attn_receipts::Error::PrecisionLoss`] or
/// [`attn_receipts::Error::AmountOutOfRange`] when one does not convert exactly.
pub fn slot_specs(
    request: &BidRequest,
    user_minimum: Option<&Money>,
    scale: u32,
) -> attn_receipts::Result<Vec<SlotSpec>> {
    let atomic = |money: Option<&Money>| -> attn_receipts::Result<Option<u64>> {
        money
            .map(|m| {
                same_currency(m, request)?;
                m.to_atomic(scale)
            })
            .transpose()
    };
    let global = atomic(request.floor.as_ref())?;
    let minimum = atomic(user_minimum)?;
    request
        .slots
        .iter()
        .map(|slot| {
            Ok(SlotSpec {
                rank: slot.rank,
                click_weight_ppm: slot.click_weight_ppm,
                reserve_atomic: reserve_atomic(atomic(slot.floor.as_ref())?, global, minimum),
            })
        })
        .collect()
}

fn same_currency(money: &Money, request: &BidRequest) -> attn_receipts::Result<()> {
    if money.currency() == request.currency {
        Ok(())
    } else {
        Err(attn_receipts::Error::CurrencyMismatch {
            left: money.currency().to_string(),
            right: request.currency.to_string(),
        })
    }
}

/// Rules the user sets for its auctions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Rules {
    /// At most one slot per advertiser (default `true`): the candidates of one
    /// advertiser compete as one agent, and an advertiser's own bids never set its
    /// price. When `false`, every candidate is its own agent.
    pub one_slot_per_advertiser: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            one_slot_per_advertiser: true,
        }
    }
}

/// What set a winner's price; the client runtime turns it into the signed
/// [`attn_receipts::PriceEvidence`] the winner can check.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Evidence {
    /// First price: the winner pays its own bid.
    OwnBid,
    /// Second price or GSP: the runner-up for the slot, whose bid is the price.
    NextBid {
        /// Index of the runner-up in the candidates slice.
        candidate: usize,
    },
    /// The slot's reserve set the price (the signed request shows the floors).
    Reserve {
        /// Index of the slot in the slots slice.
        slot: usize,
    },
    /// VCG: the candidates whose assignment changes when the winner is left out
    /// (every one of them ranked below the winner in the common case), in rank order;
    /// with their bids, the weights and the reserves the winner recomputes its price.
    Externality {
        /// Indices in the candidates slice, at most [`EXTERNALITY_CANDIDATES_MAX`].
        lower: Vec<usize>,
    },
}

/// One winner.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct WinnerAward {
    /// Index of the slot won, in the slots slice.
    pub slot: usize,
    /// Index of the winning candidate, in the candidates slice.
    pub candidate: usize,
    /// The price per unit of attention: at least the slot's reserve, at most the bid.
    pub price_atomic: u64,
    /// What one impression costs: `price_atomic * click_weight_ppm / 1e6`, rounded
    /// down.
    pub charge_atomic: u64,
    /// What set the price.
    pub evidence: Evidence,
}

/// The result of one auction.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Outcome {
    /// At most one award per slot, in position order (most prominent first).
    pub awards: Vec<WinnerAward>,
}

impl Outcome {
    /// `Σ click_weight_ppm × price_atomic / 1e6` over the awards (rounded down once,
    /// unlike the sum of the per-impression charges).
    pub fn revenue_atomic(&self, slots: &[SlotSpec]) -> u128 {
        self.awards
            .iter()
            .map(|a| u128::from(slots[a.slot].click_weight_ppm) * u128::from(a.price_atomic))
            .sum::<u128>()
            / PPM
    }
}

/// Runs `mechanism` over `slots` and `candidates`. Pure and deterministic: the
/// outcome depends on the slots, the candidates' prices, tie-break hashes,
/// advertisers and eligibility, never on the order of `candidates`.
///
/// # Panics
/// On caller bugs the client runtime rules out by validating its request first: more
/// than [`SLOTS_MAX`] slots, more than [`CANDIDATES_MAX`] candidates, or a click
/// weight outside 1..=[`CLICK_WEIGHT_PPM_MAX`].
pub fn run(
    mechanism: Mechanism,
    slots: &[SlotSpec],
    candidates: &[Candidate],
    rules: &Rules,
) -> Outcome {
    let mut outcome = Outcome::default();
    run_into(mechanism, slots, candidates, rules, &mut outcome);
    outcome
}

/// [`run`], writing into `outcome` (cleared first) so a caller running many auctions
/// reuses its allocation. Apart from the awards, VCG's evidence lists and, when some
/// bid names only some slots, the per-slot candidate lists, the mechanisms work on
/// the stack and allocate nothing.
///
/// # Panics
/// As [`run`].
pub fn run_into(
    mechanism: Mechanism,
    slots: &[SlotSpec],
    candidates: &[Candidate],
    rules: &Rules,
    outcome: &mut Outcome,
) {
    check_arguments(slots, candidates);
    outcome.awards.clear();
    if slots.is_empty() || candidates.is_empty() {
        return;
    }
    if let [slot] = slots
        && mechanism != Mechanism::Vcg
    {
        single_slot(slot, candidates, rules, mechanism, &mut outcome.awards);
        if cfg!(debug_assertions) {
            debug_check_outcome(&Context::new(slots, candidates, rules), &outcome.awards);
        }
        return;
    }
    let context = Context::new(slots, candidates, rules);
    let selection = Selection::select(&context);
    match mechanism {
        Mechanism::FirstPrice | Mechanism::SecondPrice | Mechanism::Gsp => {
            greedy(&context, &selection, mechanism, &mut outcome.awards);
        }
        Mechanism::Vcg => {
            if selection.is_uniform() && context.uniform_reserve() {
                vcg_position_auction(&context, &selection, &mut outcome.awards);
            } else {
                vcg_assignment(&context, &selection, &mut outcome.awards);
            }
        }
    }
    debug_check_outcome(&context, &outcome.awards);
}

/// The highest-ranked candidates in the mechanisms' order (price descending, then
/// tie-break hash, then index), written to `out` best first; returns how many were
/// written (at most `out.len()`). Ignores eligibility, reserves and advertisers: it is
/// the bare selection the benchmarks compare the mechanisms with.
pub fn top_k(candidates: &[Candidate], out: &mut [usize]) -> usize {
    let mut len = 0;
    // The price of the last kept candidate once `out` is full: anything cheaper is
    // turned away on one comparison (the mechanisms' selection does the same).
    let mut cutoff_price_atomic = 0;
    for (index, candidate) in candidates.iter().enumerate() {
        if candidate.price_atomic < cutoff_price_atomic {
            continue;
        }
        if len == out.len() {
            match out.last() {
                Some(&last) if outranks(candidate, index, &candidates[last], last) => len -= 1,
                _ => continue,
            }
        }
        let mut position = len;
        while position > 0 {
            let above = out[position - 1];
            if outranks(&candidates[above], above, candidate, index) {
                break;
            }
            out[position] = above;
            position -= 1;
        }
        out[position] = index;
        len += 1;
        if len == out.len() {
            cutoff_price_atomic = candidates[out[len - 1]].price_atomic;
        }
    }
    len
}

fn check_arguments(slots: &[SlotSpec], candidates: &[Candidate]) {
    assert!(
        slots.len() <= SLOTS_MAX,
        "{} slots exceed SLOTS_MAX ({SLOTS_MAX})",
        slots.len()
    );
    assert!(
        candidates.len() <= CANDIDATES_MAX,
        "{} candidates exceed CANDIDATES_MAX ({CANDIDATES_MAX})",
        candidates.len()
    );
    for slot in slots {
        assert!(
            (1..=CLICK_WEIGHT_PPM_MAX).contains(&slot.click_weight_ppm),
            "click weight {} is not in 1..={CLICK_WEIGHT_PPM_MAX}",
            slot.click_weight_ppm
        );
    }
}

/// Whether candidate `a` (at index `a_index`) ranks above `b`: higher price, then lower
/// tie-break hash, then lower index.
#[inline]
fn outranks(a: &Candidate, a_index: usize, b: &Candidate, b_index: usize) -> bool {
    if a.price_atomic != b.price_atomic {
        return a.price_atomic > b.price_atomic;
    }
    match a.tiebreak.cmp(&b.tiebreak) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => a_index < b_index,
    }
}

/// Slot indices in their own order, the start of [`Context::positions`].
const IDENTITY: [u8; SLOTS_MAX] = {
    let mut identity = [0u8; SLOTS_MAX];
    let mut i = 0;
    while i < SLOTS_MAX {
        identity[i] = i as u8;
        i += 1;
    }
    identity
};

/// The inputs with the slots put in position order.
struct Context<'a> {
    slots: &'a [SlotSpec],
    candidates: &'a [Candidate],
    rules: Rules,
    /// Slot indices in position order: weight descending, rank, index.
    positions: [u8; SLOTS_MAX],
}

impl<'a> Context<'a> {
    fn new(slots: &'a [SlotSpec], candidates: &'a [Candidate], rules: &Rules) -> Self {
        // 0, 1, 2…: one constant store, not one store per byte (the byte stores made
        // the later copy of the whole array wait on them).
        let mut positions = IDENTITY;
        positions[..slots.len()].sort_unstable_by_key(|&i| {
            let slot = &slots[usize::from(i)];
            (std::cmp::Reverse(slot.click_weight_ppm), slot.rank, i)
        });
        Self {
            slots,
            candidates,
            rules: *rules,
            positions,
        }
    }

    fn slot_count(&self) -> usize {
        self.slots.len()
    }

    fn positions(&self) -> &[u8] {
        &self.positions[..self.slots.len()]
    }

    fn price(&self, candidate: u32) -> u64 {
        self.candidates[candidate as usize].price_atomic
    }

    fn weight(&self, slot: usize) -> u128 {
        u128::from(self.slots[slot].click_weight_ppm)
    }

    fn reserve(&self, slot: usize) -> u64 {
        self.slots[slot].reserve_atomic
    }

    fn uniform_reserve(&self) -> bool {
        let first = self.slots[0].reserve_atomic;
        self.slots.iter().all(|s| s.reserve_atomic == first)
    }

    fn same_agent(&self, a: u32, b: u32) -> bool {
        same_agent(&self.rules, self.candidates, a as usize, b as usize)
    }

    fn award(
        &self,
        slot: usize,
        candidate: u32,
        price_atomic: u64,
        evidence: Evidence,
    ) -> WinnerAward {
        award(
            slot,
            &self.slots[slot],
            candidate as usize,
            price_atomic,
            evidence,
        )
    }
}

/// Whether candidates `a` and `b` act as one agent: the same advertiser under
/// [`Rules::one_slot_per_advertiser`], else the same bid.
fn same_agent(rules: &Rules, candidates: &[Candidate], a: usize, b: usize) -> bool {
    if rules.one_slot_per_advertiser {
        candidates[a].advertiser == candidates[b].advertiser
    } else {
        a == b
    }
}

/// The price per unit a slot's winner pays and its evidence, under first price,
/// second price or GSP: its own bid under first price; else the runner-up's bid when
/// above the reserve, or the reserve.
fn greedy_price(
    mechanism: Mechanism,
    bid_atomic: u64,
    runner_up: Option<(usize, u64)>,
    slot: usize,
    reserve_atomic: u64,
) -> (u64, Evidence) {
    match (mechanism, runner_up) {
        (Mechanism::FirstPrice, _) => (bid_atomic, Evidence::OwnBid),
        (_, Some((candidate, price_atomic))) if price_atomic > reserve_atomic => {
            (price_atomic, Evidence::NextBid { candidate })
        }
        _ => (reserve_atomic, Evidence::Reserve { slot }),
    }
}

/// The award of `slot` (at index `slot_index`) to `candidate` at `price_atomic` per
/// unit: the charge is the price times the slot's weight.
fn award(
    slot_index: usize,
    slot: &SlotSpec,
    candidate: usize,
    price_atomic: u64,
    evidence: Evidence,
) -> WinnerAward {
    let weight = u64::from(slot.click_weight_ppm);
    // In u64 when the product fits (a division by a constant the compiler turns into a
    // multiplication), in u128 otherwise: the same value either way.
    let charge_atomic = match price_atomic.checked_mul(weight) {
        Some(product) => product / PPM as u64,
        None => u64::try_from(u128::from(price_atomic) * u128::from(weight) / PPM)
            .expect("PRICE_ATOMIC_MAX and CLICK_WEIGHT_PPM_MAX keep every charge in a u64"),
    };
    WinnerAward {
        slot: slot_index,
        candidate,
        price_atomic,
        charge_atomic,
        evidence,
    }
}

/// First price, second price and GSP over a single slot, in one pass and without the
/// selection's lists: the best candidate that may take the slot wins if it meets the
/// reserve, and the best candidate of another agent sets the second price. The same
/// outcome as [`greedy`] over a [`Selection`] (a property test compares them); it
/// exists because a page of one slot is the common auction and the lists' upkeep
/// was most of its cost.
fn single_slot(
    slot: &SlotSpec,
    candidates: &[Candidate],
    rules: &Rules,
    mechanism: Mechanism,
    awards: &mut Vec<WinnerAward>,
) {
    let same_agent = |a: usize, b: usize| same_agent(rules, candidates, a, b);
    let mut best: Option<usize> = None;
    // The best candidate of another agent than `best`'s.
    let mut second: Option<usize> = None;
    // `second`'s price once there is one: a cheaper candidate changes neither.
    let mut cutoff_price_atomic = 0;
    for (index, candidate) in candidates.iter().enumerate() {
        if candidate.price_atomic < cutoff_price_atomic
            || candidate.price_atomic > PRICE_ATOMIC_MAX
            || candidate.eligible & 1 == 0
        {
            continue;
        }
        let Some(leader) = best else {
            best = Some(index);
            continue;
        };
        if outranks(candidate, index, &candidates[leader], leader) {
            // The old leader is the best of the agents other than the new one's, unless
            // it is the same agent, whose runner-up stays what it was.
            if !same_agent(index, leader) {
                second = Some(leader);
            }
            best = Some(index);
        } else if !same_agent(index, leader)
            && second.is_none_or(|s| outranks(candidate, index, &candidates[s], s))
        {
            second = Some(index);
        } else {
            continue;
        }
        if let Some(s) = second {
            cutoff_price_atomic = candidates[s].price_atomic;
        }
    }
    let Some(winner) = best else { return };
    let bid = candidates[winner].price_atomic;
    if bid < slot.reserve_atomic {
        return;
    }
    let runner_up = second.map(|s| (s, candidates[s].price_atomic));
    let (price, evidence) = greedy_price(mechanism, bid, runner_up, 0, slot.reserve_atomic);
    awards.push(award(0, slot, winner, price, evidence));
}

/// First-price, second-price and GSP: fill slots in position order, each with the
/// highest-ranked remaining candidate that may take it if it meets the reserve; the
/// runner-up for the slot (the next remaining candidate that may take it) sets the
/// second price.
fn greedy(
    context: &Context<'_>,
    selection: &Selection,
    mechanism: Mechanism,
    awards: &mut Vec<WinnerAward>,
) {
    let mut winners = [0u32; SLOTS_MAX];
    let mut winner_count = 0;
    for &slot in context.positions() {
        let slot = usize::from(slot);
        let taken = |c: u32| {
            winners[..winner_count]
                .iter()
                .any(|&w| context.same_agent(w, c))
        };
        let mut remaining = selection.list(slot).iter().copied().filter(|&c| !taken(c));
        let Some(winner) = remaining.next() else {
            continue;
        };
        let reserve = context.reserve(slot);
        if context.price(winner) < reserve {
            continue;
        }
        // First price needs no runner-up: the search is skipped.
        let runner_up = (mechanism != Mechanism::FirstPrice)
            .then(|| remaining.find(|&c| !context.same_agent(c, winner)))
            .flatten()
            .map(|c| (c as usize, context.price(c)));
        let (price, evidence) =
            greedy_price(mechanism, context.price(winner), runner_up, slot, reserve);
        winners[winner_count] = winner;
        winner_count += 1;
        awards.push(context.award(slot, winner, price, evidence));
    }
}

/// VCG when every candidate may take every slot and all reserves are equal: the
/// allocation is assortative and the winner at position `i` pays
/// `Σ_{q=i+1}^{k} (w_{q-1} − w_q) · max(b_q, r)` in total (with `w_k = 0` and a
/// missing bid counted as the reserve `r`), divided by `w_i` per unit.
fn vcg_position_auction(
    context: &Context<'_>,
    selection: &Selection,
    awards: &mut Vec<WinnerAward>,
) {
    let ranked = selection.list(0);
    let positions = context.positions();
    let slot_count = context.slot_count();
    let reserve = context.reserve(0);
    let bid_or_reserve = |q: usize| {
        ranked
            .get(q)
            .map_or(reserve, |&c| context.price(c).max(reserve))
    };
    let weight_at = |q: usize| {
        if q < slot_count {
            context.weight(usize::from(positions[q]))
        } else {
            0
        }
    };
    for (i, &slot) in positions.iter().enumerate() {
        let slot = usize::from(slot);
        let Some(&winner) = ranked.get(i) else { break };
        if context.price(winner) < reserve {
            break;
        }
        let payment: u128 = (i + 1..=slot_count)
            .map(|q| (weight_at(q - 1) - weight_at(q)) * u128::from(bid_or_reserve(q)))
            .sum();
        let price = per_unit(payment, context.weight(slot));
        let lower: Vec<usize> = (i + 1..=slot_count)
            .filter_map(|q| ranked.get(q))
            .filter(|&&c| context.price(c) >= reserve)
            .map(|&c| c as usize)
            .collect();
        let evidence = if lower.is_empty() {
            Evidence::Reserve { slot }
        } else {
            Evidence::Externality { lower }
        };
        awards.push(context.award(slot, winner, price, evidence));
    }
}

/// VCG in general (eligibility masks, unequal reserves): the exact welfare-maximising
/// assignment of agents to slots, and each winner's externality from one more
/// assignment without it. Kept out of line: its tables (kilobytes of stack) would
/// otherwise make every call of [`run_into`] probe and reserve them.
#[inline(never)]
fn vcg_assignment(context: &Context<'_>, selection: &Selection, awards: &mut Vec<WinnerAward>) {
    let agents = assignment::Agents::build(context, selection);
    let with_all = agents.solve(context, None);
    for &slot in context.positions() {
        let slot = usize::from(slot);
        let Some(agent) = with_all.agent_of(slot) else {
            continue;
        };
        let winner = agents.candidate(agent, slot);
        let without = agents.solve(context, Some(agent));
        let weight = context.weight(slot);
        let reserve = u128::from(context.reserve(slot));
        let own_surplus = weight * (u128::from(context.price(winner)) - reserve);
        // payment = seller's value of the slot + what the others lose because of the
        // winner; both allocations are optimal, so reserve ≤ price ≤ bid.
        let payment = weight * reserve + without.surplus - (with_all.surplus - own_surplus);
        let price = per_unit(payment, weight);
        let lower = agents.changed_candidates(context, &with_all, &without, agent);
        let evidence = if lower.is_empty() {
            Evidence::Reserve { slot }
        } else {
            Evidence::Externality { lower }
        };
        awards.push(context.award(slot, winner, price, evidence));
    }
}

/// A total payment (weight ppm × atomic units) as a price per unit, rounded down.
fn per_unit(payment: u128, weight: u128) -> u64 {
    // A 64-bit division when both fit (weights always do), else the 128-bit one.
    match (u64::try_from(payment), u64::try_from(weight)) {
        (Ok(payment), Ok(weight)) => payment / weight,
        _ => {
            u64::try_from(payment / weight).expect("a per-unit price never exceeds its bid, a u64")
        }
    }
}

/// The guarantees every outcome must keep; a failure is a bug in this module.
fn debug_check_outcome(context: &Context<'_>, awards: &[WinnerAward]) {
    if cfg!(debug_assertions) {
        for (i, award) in awards.iter().enumerate() {
            let bid = context.candidates[award.candidate].price_atomic;
            assert!(award.price_atomic <= bid, "price above the bid: {award:?}");
            assert!(
                award.price_atomic >= context.reserve(award.slot),
                "price below the reserve: {award:?}"
            );
            assert!(
                awards[..i].iter().all(|a| a.slot != award.slot),
                "one slot awarded twice"
            );
            if let Evidence::Externality { lower } = &award.evidence {
                assert!(lower.len() <= EXTERNALITY_CANDIDATES_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests;
