//! Reputation proofs (issue 4): building and verifying a proof of 256 receipts from
//! 16 issuers, against the floor of what any such verification must do in the same
//! run (batch-verify the 256 issuer signatures, verify one 16-value aggregated
//! Bulletproofs range proof), a cached verification (the bidder SDK's lookup by
//! hash), and the trust computation over a graph of 1,000 advertisers.

use std::hint::black_box;

use attn_bidder_sdk::reputation::ProofCache;
use attn_receipts::issuance::{ReceiptDraft, issue_receipt};
use attn_receipts::reputation::{Window, build_proof, verify_proof};
use attn_receipts::trust::{EigenTrustParams, eigentrust};
use attn_receipts::{AdvertiserKey, PersonaKey, ReceiptKind, ReceiptWithOpening, SignatureBatch};
use bulletproofs::{BulletproofGens, PedersenGens, RangeProof};
use criterion::{Criterion, criterion_group, criterion_main};
use curve25519_dalek::scalar::Scalar;
use merlin::Transcript;
use rand::rngs::{OsRng, StdRng};
use rand::{Rng, SeedableRng};

const RECEIPTS: usize = 256;
const ISSUERS: usize = 16;
const NOW_MS: u64 = 1_700_000_000_000;

fn wallet(persona: &PersonaKey) -> Vec<ReceiptWithOpening> {
    let mut rng = StdRng::seed_from_u64(42);
    let issuers: Vec<AdvertiserKey> = (0..ISSUERS)
        .map(|_| AdvertiserKey::generate(&mut rng))
        .collect();
    (0..RECEIPTS)
        .map(|i| {
            let kind = ReceiptKind::ALL[i % 3];
            let value_atomic = rng.gen_range(0..1_000_000);
            let draft = ReceiptDraft::new(
                persona.public_key(),
                kind,
                value_atomic,
                NOW_MS - 1_000 - i as u64,
            )
            .with_categories(["sports"]);
            issue_receipt(&issuers[i % ISSUERS], draft, &mut rng).expect("receipt")
        })
        .collect()
}

fn window() -> Window {
    Window::ending_at(NOW_MS, 30 * 24 * 60 * 60 * 1_000)
}

fn proofs(c: &mut Criterion) {
    let persona = PersonaKey::from_secret_bytes(&[7; 32]);
    let wallet = wallet(&persona);
    let proof = build_proof(&persona, &wallet, window(), &mut OsRng).expect("proof");
    assert_eq!(
        verify_proof(&proof, NOW_MS, &mut OsRng)
            .expect("verifies")
            .issuers
            .len(),
        ISSUERS
    );

    let mut group = c.benchmark_group("reputation");
    group.bench_function("build 256 receipts, 16 issuers", |b| {
        b.iter(|| build_proof(&persona, black_box(&wallet), window(), &mut OsRng).expect("proof"))
    });
    group.bench_function("verify 256 receipts, 16 issuers", |b| {
        b.iter(|| verify_proof(black_box(&proof), NOW_MS, &mut OsRng).expect("verifies"))
    });

    // The floor: the same 256 signatures in one batch, and one 16-value range proof.
    let bp_gens = BulletproofGens::new(64, ISSUERS);
    let pc_gens = PedersenGens::default();
    let values: Vec<u64> = (0..ISSUERS as u64).map(|i| i * 1_000).collect();
    let blindings: Vec<Scalar> = values.iter().map(|_| Scalar::random(&mut OsRng)).collect();
    let (range_proof, commitments) = RangeProof::prove_multiple_with_rng(
        &bp_gens,
        &pc_gens,
        &mut Transcript::new(b"baseline"),
        &values,
        &blindings,
        64,
        &mut OsRng,
    )
    .expect("range proof");
    let verify_signatures = || {
        let mut batch = SignatureBatch::with_capacity(RECEIPTS);
        for item in &wallet {
            batch.push(&item.receipt);
        }
        batch.verify().expect("signatures");
    };
    let verify_range = || {
        range_proof
            .verify_multiple_with_rng(
                &bp_gens,
                &pc_gens,
                &mut Transcript::new(b"baseline"),
                &commitments,
                64,
                &mut OsRng,
            )
            .expect("range proof");
    };
    group.bench_function(
        "baseline: batch 256 signatures + 16-value range proof",
        |b| {
            b.iter(|| {
                verify_signatures();
                verify_range();
            })
        },
    );
    group.bench_function("baseline: batch 256 signatures", |b| {
        b.iter(verify_signatures)
    });
    group.bench_function("baseline: 16-value range proof", |b| b.iter(verify_range));

    let cache = ProofCache::default();
    let view = cache
        .verify(&proof, &persona.public_key(), NOW_MS)
        .expect("verifies");
    let hash = proof.hash();
    let key = persona.public_key();
    group.bench_function("cached verification (lookup by hash)", |b| {
        b.iter(|| {
            cache
                .cached(black_box(&hash), black_box(&key))
                .expect("cached")
        })
    });
    drop(view);
    group.finish();
}

fn trust(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(9);
    let nodes = 1_000u32;
    let edges: Vec<(u32, u32, f64)> = (0..nodes)
        .flat_map(|from| (0..10).map(move |k| (from, (from * 7 + k * 13 + 1) % nodes, 1.0)))
        .map(|(from, to, _)| (from, to, rng.gen_range(0.1..1.0)))
        .collect();
    let seeds: Vec<u32> = (0..10).collect();
    let params = EigenTrustParams::default();
    c.bench_function(
        "trust: eigentrust 1,000 advertisers, 10,000 statements",
        |b| {
            b.iter(|| {
                eigentrust(nodes as usize, black_box(&edges), &seeds, &params).expect("trust")
            })
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = proofs, trust
}
criterion_main!(benches);
