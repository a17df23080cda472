//! FROST threshold signing (issue 4, part 5): the time of one signing round of a
//! 2-of-3 and a 3-of-5 group (every signer's commit and signature share, and the
//! coordinator's aggregation with its strict verification), the round's steps apart,
//! the same round between tokio signer tasks in the bidder SDK, and key generation
//! (trusted dealer, the three-step DKG of all parties, persona split and recovery).
//! A single-key Ed25519 envelope signature is the baseline.

use attn_bidder_sdk::ThresholdSigner;
use attn_receipts::threshold::{self, KeyShare, SigningRequest, ThresholdGroup, ThresholdParams};
use attn_receipts::{
    AdvertiserKey, CommitmentOpening, ConversionReceipt, PersonaKey, PublicKey, ReceiptKind, Signed,
};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::rngs::OsRng;
use std::hint::black_box;

const GROUPS: [(u16, u16); 2] = [(2, 3), (3, 5)];

fn receipt(issuer: PublicKey) -> ConversionReceipt {
    let opening = CommitmentOpening::random([1; 16], 2_500, &mut OsRng);
    ConversionReceipt {
        receipt_id: [1; 16],
        persona: PersonaKey::from_secret_bytes(&[7; 32]).public_key(),
        issuer,
        kind: ReceiptKind::Conversion,
        issued_at_ms: 1_700_000_000_000,
        categories: vec!["sports".into()],
        value_commitment: opening.commitment(),
        public_value: None,
        impression_hash: None,
    }
}

fn group(t: u16, n: u16) -> (Vec<KeyShare>, ThresholdGroup) {
    threshold::deal(ThresholdParams::new(t, n).expect("params"), &mut OsRng).expect("deal")
}

fn dkg(params: ThresholdParams) -> ThresholdGroup {
    let (states, broadcasts): (Vec<_>, Vec<_>) = params
        .participants()
        .map(|i| threshold::dkg_start(i, params, &mut OsRng).expect("part1"))
        .unzip();
    let mut mailboxes = vec![Vec::new(); states.len()];
    let mut second = Vec::new();
    for state in states {
        let (state, messages) = state.receive(&broadcasts).expect("part2");
        for message in messages {
            mailboxes[usize::from(message.to()) - 1].push(message);
        }
        second.push(state);
    }
    let mut group = None;
    for (state, mailbox) in second.into_iter().zip(mailboxes) {
        group = Some(state.finish(&mailbox).expect("part3").1);
    }
    group.expect("at least two parties")
}

fn signing(c: &mut Criterion) {
    let key = AdvertiserKey::generate(&mut OsRng);
    let single = receipt(key.public_key());
    let mut bench = c.benchmark_group("threshold-sign");
    bench.bench_function("single-key-baseline", |b| {
        b.iter(|| Signed::sign(&key, black_box(&single)))
    });
    for (t, n) in GROUPS {
        let (shares, group) = group(t, n);
        let signers: Vec<&KeyShare> = shares.iter().take(usize::from(t)).collect();
        let receipt = receipt(group.group_key());
        let name = format!("{t}-of-{n}");
        bench.bench_function(BenchmarkId::new("round", &name), |b| {
            b.iter(|| {
                threshold::sign_envelope_with_shares(
                    &group,
                    &signers,
                    black_box(&receipt),
                    &mut OsRng,
                )
                .expect("sign")
            })
        });
        let body = threshold::envelope_body(&receipt);
        bench.bench_function(BenchmarkId::new("commit-one-signer", &name), |b| {
            b.iter(|| threshold::commit(signers[0], &mut OsRng))
        });
        bench.bench_function(BenchmarkId::new("sign-share-one-signer", &name), |b| {
            b.iter_batched(
                || {
                    let (nonces, commitments): (Vec<_>, Vec<_>) = signers
                        .iter()
                        .map(|s| threshold::commit(s, &mut OsRng))
                        .unzip();
                    let request = SigningRequest::for_envelope::<ConversionReceipt>(
                        &group,
                        &commitments,
                        &body,
                    )
                    .expect("request");
                    (nonces.into_iter().next().expect("a signer"), request)
                },
                |(nonces, request)| threshold::sign_share(signers[0], nonces, &request),
                criterion::BatchSize::SmallInput,
            )
        });
        bench.bench_function(BenchmarkId::new("aggregate", &name), |b| {
            b.iter_batched(
                || {
                    let (nonces, commitments): (Vec<_>, Vec<_>) = signers
                        .iter()
                        .map(|s| threshold::commit(s, &mut OsRng))
                        .unzip();
                    let request = SigningRequest::for_envelope::<ConversionReceipt>(
                        &group,
                        &commitments,
                        &body,
                    )
                    .expect("request");
                    let shares: Vec<_> = signers
                        .iter()
                        .zip(nonces)
                        .map(|(s, nonces)| {
                            threshold::sign_share(s, nonces, &request).expect("share")
                        })
                        .collect();
                    (request, shares)
                },
                |(request, shares)| {
                    threshold::aggregate_envelope::<ConversionReceipt>(&group, &request, &shares)
                        .expect("aggregate")
                },
                criterion::BatchSize::SmallInput,
            )
        });

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let signer = runtime.block_on(async {
            ThresholdSigner::spawn(group.clone(), shares.clone()).expect("spawn")
        });
        bench.bench_function(BenchmarkId::new("sdk-round-signer-tasks", &name), |b| {
            b.iter(|| {
                runtime
                    .block_on(signer.sign_envelope(black_box(&receipt)))
                    .expect("sign")
            })
        });
    }
    bench.finish();
}

fn key_generation(c: &mut Criterion) {
    let mut bench = c.benchmark_group("threshold-keygen");
    for (t, n) in GROUPS {
        let params = ThresholdParams::new(t, n).expect("params");
        let name = format!("{t}-of-{n}");
        bench.bench_function(BenchmarkId::new("dealer", &name), |b| {
            b.iter(|| threshold::deal(params, &mut OsRng).expect("deal"))
        });
        bench.bench_function(BenchmarkId::new("dkg-all-parties", &name), |b| {
            b.iter(|| dkg(params))
        });
        let persona = PersonaKey::generate(&mut OsRng);
        bench.bench_function(BenchmarkId::new("persona-split", &name), |b| {
            b.iter(|| threshold::split_persona(&persona, params, &mut OsRng).expect("split"))
        });
        let shares = threshold::split_persona(&persona, params, &mut OsRng).expect("split");
        let quorum = &shares[..usize::from(t)];
        bench.bench_function(BenchmarkId::new("persona-recover", &name), |b| {
            b.iter(|| threshold::recover_persona(black_box(quorum)).expect("recover"))
        });
    }
    bench.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = signing, key_generation
}
criterion_main!(benches);
