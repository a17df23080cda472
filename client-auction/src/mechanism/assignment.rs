//! VCG's exact allocation: the assignment of agents to slots that maximises
//! `Σ weight × (price − reserve)`, by the Hungarian algorithm (shortest augmenting
//! paths with potentials, `O(k² · n)` for `k` slots and `n` agents).
//!
//! Only the agents of the per-slot lists of [`Selection`] take part (at most
//! `k · (k + 1)`): an agent outside a slot's top `k + 1` never holds that slot in an
//! optimal allocation, with or without any one winner.
//!
//! Ties between allocations of equal welfare are broken by a bonus, scaled below one
//! unit of welfare, of `(k − position of the slot) × (n − rank of the agent)` per
//! filled slot. Among the optimal allocations it picks the one that fills every slot
//! an agent at the reserve can still take (as GSP does), fills the most prominent
//! slots first, and gives higher-ranked agents more prominent slots: by the
//! rearrangement inequality the unique maximiser is the assortative allocation, so
//! with uniform reserves and full eligibility it is exactly the closed form's. The
//! welfare, hence every VCG payment, is the same for every optimal allocation; which
//! one is chosen depends only on the instance, never on the order of the candidates.

use std::cmp::Ordering;

use super::select::{LIST_MAX, Selection};
use super::{CLICK_WEIGHT_PPM_MAX, Context, PRICE_ATOMIC_MAX, SLOTS_MAX, outranks};

/// Most agents in one assignment problem.
const AGENTS_MAX: usize = SLOTS_MAX * LIST_MAX;
/// Most columns: the agents, plus one "leave empty" column per slot.
const COLUMNS_MAX: usize = AGENTS_MAX + SLOTS_MAX;
/// No candidate / no agent.
const NONE: u32 = u32::MAX;
/// Welfare is scaled by this before the tie-breaking bonus is added: the bonus of
/// one allocation is at most `SLOTS_MAX × (SLOTS_MAX × AGENTS_MAX)` (one term per
/// slot), so it never outweighs one unit of welfare.
const TIE_SCALE: i128 = (SLOTS_MAX * SLOTS_MAX * AGENTS_MAX) as i128 + 1;
const INFINITY: i128 = i128::MAX / 4;

const _: () = assert!(COLUMNS_MAX < u16::MAX as usize);
// Potentials and slacks stay sums of at most a few costs per row: every cost (the
// largest surplus, scaled, plus its bonus) times all rows, with room to spare, is
// far below INFINITY.
const _: () = assert!(
    (PRICE_ATOMIC_MAX as i128)
        * (CLICK_WEIGHT_PPM_MAX as i128)
        * (TIE_SCALE + 1)
        * (4 * SLOTS_MAX as i128 + 4)
        < INFINITY
);

/// The agents of one auction and, per slot, the candidate each would use there.
pub(super) struct Agents {
    count: usize,
    /// `best[agent][slot]`: the agent's best candidate that may take the slot.
    best: [[u32; SLOTS_MAX]; AGENTS_MAX],
    /// The agent's best candidate overall, which ranks the agent.
    head: [u32; AGENTS_MAX],
    /// Agents in rank order: column `j` of the problem is agent `order[j]`.
    order: [u16; AGENTS_MAX],
}

/// One optimal allocation.
pub(super) struct Allocation {
    /// The agent holding each slot, or [`NONE`].
    agent_of_slot: [u32; SLOTS_MAX],
    /// `Σ weight_ppm × (price − reserve)` over the filled slots.
    pub(super) surplus: u128,
}

impl Allocation {
    pub(super) fn agent_of(&self, slot: usize) -> Option<usize> {
        let agent = self.agent_of_slot[slot];
        (agent != NONE).then_some(agent as usize)
    }
}

impl Agents {
    pub(super) fn build(context: &Context<'_>, selection: &Selection) -> Self {
        let mut agents = Self {
            count: 0,
            best: [[NONE; SLOTS_MAX]; AGENTS_MAX],
            head: [NONE; AGENTS_MAX],
            order: [0; AGENTS_MAX],
        };
        for slot in 0..context.slot_count() {
            for &candidate in selection.list(slot) {
                let found = agents.head[..agents.count]
                    .iter()
                    .position(|&head| context.same_agent(head, candidate));
                let agent = match found {
                    Some(agent) => agent,
                    None => {
                        agents.count += 1;
                        agents.head[agents.count - 1] = candidate;
                        agents.count - 1
                    }
                };
                if rank_order(context, candidate, agents.head[agent]) == Ordering::Less {
                    agents.head[agent] = candidate;
                }
                agents.best[agent][slot] = candidate;
            }
        }
        for (i, column) in agents.order[..agents.count].iter_mut().enumerate() {
            *column = i as u16;
        }
        let heads = agents.head;
        agents.order[..agents.count].sort_unstable_by(|&a, &b| {
            rank_order(context, heads[usize::from(a)], heads[usize::from(b)])
        });
        agents
    }

    /// The candidate `agent` uses in `slot`.
    pub(super) fn candidate(&self, agent: usize, slot: usize) -> u32 {
        let candidate = self.best[agent][slot];
        assert_ne!(candidate, NONE, "an agent only holds a slot it may take");
        candidate
    }

    /// The surplus of `agent` in `slot`, if it may take it at or above the reserve.
    fn surplus(&self, context: &Context<'_>, agent: usize, slot: usize) -> Option<u128> {
        let candidate = self.best[agent][slot];
        if candidate == NONE {
            return None;
        }
        let price = context.price(candidate);
        let reserve = context.reserve(slot);
        (price >= reserve).then(|| context.weight(slot) * u128::from(price - reserve))
    }

    /// The optimal allocation, leaving out `excluded` if given.
    pub(super) fn solve(&self, context: &Context<'_>, excluded: Option<usize>) -> Allocation {
        let rows = context.slot_count();
        let agents = self.count;
        let columns = agents + rows;
        // prominence[slot]: k for the first slot in position order, down to 1.
        let mut prominence = [0i128; SLOTS_MAX];
        for (position, &slot) in context.positions().iter().enumerate() {
            prominence[usize::from(slot)] = (rows - position) as i128;
        }
        // cost(row, column), minimised: minus the scaled surplus minus the tie-break
        // bonus (column j is the agent of rank j); "leave empty" columns cost 0;
        // None = not allowed.
        let cost = |row: usize, column: usize| -> Option<i128> {
            if column >= agents {
                return Some(0);
            }
            let agent = usize::from(self.order[column]);
            if Some(agent) == excluded {
                return None;
            }
            self.surplus(context, agent, row).map(|surplus| {
                let surplus = i128::try_from(surplus).expect("welfare is far below i128::MAX");
                let bonus = prominence[row] * (agents - column) as i128;
                -(surplus * TIE_SCALE + bonus)
            })
        };
        // Hungarian algorithm with 1-based rows and columns; column 0 is the root of
        // each augmenting path. `matched[j]` is the row holding column j (0 = none).
        let mut row_potential = [0i128; SLOTS_MAX + 1];
        let mut column_potential = [0i128; COLUMNS_MAX + 1];
        let mut matched = [0u16; COLUMNS_MAX + 1];
        let mut way = [0u16; COLUMNS_MAX + 1];
        let mut min_slack = [INFINITY; COLUMNS_MAX + 1];
        let mut used = [false; COLUMNS_MAX + 1];
        for row in 1..=rows {
            matched[0] = row as u16;
            let mut column0 = 0usize;
            min_slack[..=columns].fill(INFINITY);
            used[..=columns].fill(false);
            loop {
                used[column0] = true;
                let row0 = usize::from(matched[column0]);
                let mut delta = INFINITY;
                let mut column1 = 0usize;
                for column in 1..=columns {
                    if used[column] {
                        continue;
                    }
                    if let Some(c) = cost(row0 - 1, column - 1) {
                        let slack = c - row_potential[row0] - column_potential[column];
                        if slack < min_slack[column] {
                            min_slack[column] = slack;
                            way[column] = column0 as u16;
                        }
                    }
                    if min_slack[column] < delta {
                        delta = min_slack[column];
                        column1 = column;
                    }
                }
                // A free "leave empty" column is always reachable, so delta is finite.
                assert!(column1 != 0, "an augmenting path always exists");
                for column in 0..=columns {
                    if used[column] {
                        row_potential[usize::from(matched[column])] += delta;
                        column_potential[column] -= delta;
                    } else {
                        min_slack[column] -= delta;
                    }
                }
                column0 = column1;
                if matched[column0] == 0 {
                    break;
                }
            }
            loop {
                let column1 = usize::from(way[column0]);
                matched[column0] = matched[column1];
                column0 = column1;
                if column0 == 0 {
                    break;
                }
            }
        }
        let mut allocation = Allocation {
            agent_of_slot: [NONE; SLOTS_MAX],
            surplus: 0,
        };
        for (&row, &agent) in matched[1..=agents].iter().zip(&self.order) {
            let row = usize::from(row);
            if row == 0 {
                continue;
            }
            let agent = usize::from(agent);
            let slot = row - 1;
            allocation.agent_of_slot[slot] = agent as u32;
            allocation.surplus += self
                .surplus(context, agent, slot)
                .expect("the assignment only uses allowed pairs");
        }
        allocation
    }

    /// The candidates whose slot differs between `with_all` and `without` (the winner
    /// `agent` left out), in rank order: the bids a VCG price depends on.
    pub(super) fn changed_candidates(
        &self,
        context: &Context<'_>,
        with_all: &Allocation,
        without: &Allocation,
        agent: usize,
    ) -> Vec<usize> {
        let mut changed: Vec<u32> = Vec::with_capacity(2 * context.slot_count());
        for slot in 0..context.slot_count() {
            let before = with_all.agent_of_slot[slot];
            let after = without.agent_of_slot[slot];
            if before == after {
                continue;
            }
            if before != NONE && before as usize != agent {
                changed.push(self.candidate(before as usize, slot));
            }
            if after != NONE {
                changed.push(self.candidate(after as usize, slot));
            }
        }
        changed.sort_unstable_by(|&a, &b| rank_order(context, a, b));
        changed.dedup();
        changed.into_iter().map(|c| c as usize).collect()
    }
}

/// `Less` when candidate `a` ranks above candidate `b`.
fn rank_order(context: &Context<'_>, a: u32, b: u32) -> Ordering {
    let candidates = context.candidates;
    if a == b {
        Ordering::Equal
    } else if outranks(
        &candidates[a as usize],
        a as usize,
        &candidates[b as usize],
        b as usize,
    ) {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}
