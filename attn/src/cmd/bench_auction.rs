//! `attn bench auction`: the auction mechanisms on one core, each beside a bare top-k
//! selection over the same bids. Goals (issue 3): second price over 16 bids for 1 slot
//! at ≥ 1,000,000 auctions/s; GSP and VCG over 1,000 bids × 5 slots under 50 µs; each
//! within 3× of top-k. The criterion bench `benches/benches/auction.rs` measures the
//! same instances.

use std::hint::black_box;
use std::time::Instant;

use attn_client_auction::mechanism::{self, Candidate, Mechanism, Outcome, Rules, SlotSpec};

#[derive(clap::Args)]
pub struct Args {
    /// Rounds per figure, each timing the mechanism and the baseline in turn; the
    /// fastest round of each is reported, with the median of the per-round ratios.
    #[arg(long, default_value_t = 41)]
    rounds: usize,
    /// Auctions per round of second price over 16 bids (the 1,000 × 5 cases run a
    /// fiftieth of it).
    #[arg(long, default_value_t = 100_000)]
    iterations: usize,
}

/// splitmix64, as in the criterion bench: the same instances on every run.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn candidates(count: usize, seed: u64, masks: bool) -> Vec<Candidate> {
    let mut numbers = Numbers(seed);
    let request_id = [7u8; 16];
    (0..count)
        .map(|_| {
            let mut advertiser = [0u8; 32];
            for chunk in advertiser.chunks_mut(8) {
                chunk.copy_from_slice(&numbers.next().to_le_bytes());
            }
            let price = 1 + numbers.next() % 1_000_000;
            let eligible = if masks && numbers.next().is_multiple_of(10) {
                (numbers.next() as u32) | 1
            } else {
                Candidate::ANY_SLOT
            };
            Candidate {
                price_atomic: price,
                tiebreak: mechanism::tiebreak(&request_id, &advertiser),
                advertiser,
                eligible,
            }
        })
        .collect()
}

fn slots(count: usize, per_slot_reserves: bool) -> Vec<SlotSpec> {
    (0..count)
        .map(|i| SlotSpec {
            rank: i as u32,
            click_weight_ppm: 1_000_000 / (i as u32 + 1),
            reserve_atomic: if per_slot_reserves {
                50_000 - 10_000 * i as u64
            } else {
                20_000
            },
        })
        .collect()
}

/// Seconds per call of a mechanism and of its baseline, measured in alternating
/// rounds of `iterations` calls each (which one goes first alternates too), so both
/// see the same load on a shared machine.
struct Paired {
    /// The fastest round of each: the cost with the least interference.
    mechanism_min: f64,
    baseline_min: f64,
    /// The median over rounds of mechanism time / baseline time of the same round.
    ratio_median: f64,
}

impl Paired {
    /// The mechanism's fastest round over the baseline's fastest round.
    fn ratio_of_minimums(&self) -> f64 {
        self.mechanism_min / self.baseline_min
    }
}

fn paired(
    rounds: usize,
    iterations: usize,
    mut mechanism: impl FnMut(),
    mut baseline: impl FnMut(),
) -> Paired {
    for _ in 0..iterations / 10 {
        mechanism();
        baseline();
    }
    let time = |f: &mut dyn FnMut()| {
        let clock = Instant::now();
        for _ in 0..iterations {
            f();
        }
        clock.elapsed().as_secs_f64() / iterations as f64
    };
    let mut mechanism_min = f64::INFINITY;
    let mut baseline_min = f64::INFINITY;
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (m, b) = if round % 2 == 0 {
            let m = time(&mut mechanism);
            (m, time(&mut baseline))
        } else {
            let b = time(&mut baseline);
            (time(&mut mechanism), b)
        };
        mechanism_min = mechanism_min.min(m);
        baseline_min = baseline_min.min(b);
        ratios.push(m / b);
    }
    ratios.sort_by(f64::total_cmp);
    Paired {
        mechanism_min,
        baseline_min,
        ratio_median: ratios[ratios.len() / 2],
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rounds > 0 && args.iterations >= 50,
        "--rounds must be positive and --iterations at least 50"
    );
    println!("machine: {}", super::bench::machine());
    println!(
        "auction mechanisms, one thread, fastest of {} rounds alternating with the baseline \
         (a bare top-(k+1) selection of the same bids); wall time",
        args.rounds
    );
    let rules = Rules::default();
    let cases = [
        ("second price", Mechanism::SecondPrice, 16, 1, false),
        ("GSP", Mechanism::Gsp, 1_000, 5, false),
        ("VCG", Mechanism::Vcg, 1_000, 5, false),
        (
            "VCG, 10% masked bids, per-slot reserves",
            Mechanism::Vcg,
            1_000,
            5,
            true,
        ),
    ];
    for (name, mechanism, bids, slot_count, general) in cases {
        let iterations = if bids <= 16 {
            args.iterations
        } else {
            args.iterations / 50
        };
        let candidates = candidates(bids, 1, general);
        let slots = slots(slot_count, general);
        let mut outcome = Outcome::default();
        // The baseline reads the same bids: the k + 1 best, in the same order.
        let mut top = vec![0usize; slot_count + 1];
        let figures = paired(
            args.rounds,
            iterations,
            || {
                mechanism::run_into(
                    mechanism,
                    black_box(&slots),
                    black_box(&candidates),
                    &rules,
                    &mut outcome,
                );
                black_box(outcome.awards.len());
            },
            || {
                black_box(mechanism::top_k(black_box(&candidates), &mut top));
            },
        );
        println!(
            "{name:<40} {bids:>5} bids x {slot_count} slots: {:>9.3} µs  {:>12.0} auctions/s  \
             ({:.2}x top-k at {:.3} µs; median of per-round ratios {:.2}x)",
            figures.mechanism_min * 1e6,
            1.0 / figures.mechanism_min,
            figures.ratio_of_minimums(),
            figures.baseline_min * 1e6,
            figures.ratio_median,
        );
    }
    println!(
        "goals: second price >= 1,000,000 auctions/s; GSP and VCG 1,000 x 5 under 50 µs; within 3x of top-k"
    );
    Ok(())
}
