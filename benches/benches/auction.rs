//! The auction mechanisms (issue 3): second price over 16 bids for 1 slot, GSP and VCG
//! over 1,000 bids for 5 slots, and the general VCG path (eligibility masks, per-slot
//! reserves), each beside a bare top-k selection over the same bids.
//! Goals: ≥ 1,000,000 second-price auctions/s on one core; GSP and VCG 1,000 × 5 under
//! 50 µs; each within 3× of the top-k baseline.
//! `attn bench auction` prints the same figures without criterion.

use attn_client_auction::mechanism::{self, Candidate, Mechanism, Outcome, Rules, SlotSpec};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// splitmix64: the same instances on every run, without a dependency.
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

/// `count` bids with prices uniform in 1..=1,000,000 atomic units; with `masks`,
/// one bid in ten names a random subset of the slots.
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

/// Slots with decreasing weights; one reserve for all, or one per slot.
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

fn bench(c: &mut Criterion) {
    let rules = Rules::default();
    let cases = [
        ("second-price", Mechanism::SecondPrice, 16, 1, false),
        ("gsp", Mechanism::Gsp, 1_000, 5, false),
        ("vcg", Mechanism::Vcg, 1_000, 5, false),
        ("vcg-masks", Mechanism::Vcg, 1_000, 5, true),
    ];
    let mut group = c.benchmark_group("auction");
    group.throughput(Throughput::Elements(1));
    for (name, mechanism, bids, slot_count, general) in cases {
        let candidates = candidates(bids, 1, general);
        let slots = slots(slot_count, general);
        let label = format!("{bids}x{slot_count}");
        let mut outcome = Outcome::default();
        group.bench_function(BenchmarkId::new(name, &label), |b| {
            b.iter(|| {
                mechanism::run_into(
                    mechanism,
                    black_box(&slots),
                    black_box(&candidates),
                    &rules,
                    &mut outcome,
                );
                black_box(outcome.awards.len())
            })
        });
        if !general {
            // The bare baseline: the k + 1 best bids (the winners and the bid that
            // prices the last of them).
            let mut top = vec![0usize; slot_count + 1];
            group.bench_function(BenchmarkId::new(format!("top-k-{name}"), &label), |b| {
                b.iter(|| mechanism::top_k(black_box(&candidates), &mut top))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
