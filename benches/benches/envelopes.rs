//! Envelope sign, verify, and batch verification of 64 and 1,024 envelopes.
//! Goal (issue 2): batch verification of 1,024 envelopes at least 1.8x faster per
//! signature than one by one.

use attn_receipts::{AdvertiserKey, Signed, TrustStatement, verify_batch};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::OsRng;
use std::hint::black_box;

fn envelopes(
    count: usize,
) -> (
    AdvertiserKey,
    Vec<TrustStatement>,
    Vec<Signed<TrustStatement>>,
) {
    let key = AdvertiserKey::generate(&mut OsRng);
    let statements: Vec<_> = (0..count)
        .map(|i| TrustStatement {
            truster: key.public_key(),
            trustee: AdvertiserKey::generate(&mut OsRng).public_key(),
            weight_ppm: 500_000,
            issued_at_ms: i as u64,
        })
        .collect();
    let signed = statements.iter().map(|s| Signed::sign(&key, s)).collect();
    (key, statements, signed)
}

fn bench(c: &mut Criterion) {
    let (key, statements, signed) = envelopes(1);
    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| {
        b.iter(|| Signed::sign(&key, black_box(&statements[0])))
    });
    group.bench_function("verify", |b| b.iter(|| black_box(&signed[0]).verify()));
    group.bench_function("open", |b| b.iter(|| black_box(&signed[0]).open()));
    group.finish();

    let mut group = c.benchmark_group("envelope-batch");
    for count in [64usize, 1024] {
        let (_, _, signed) = envelopes(count);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(
            BenchmarkId::new("one-by-one", count),
            &signed,
            |b, signed| b.iter(|| signed.iter().all(|s| s.verify().is_ok())),
        );
        group.bench_with_input(BenchmarkId::new("batch", count), &signed, |b, signed| {
            b.iter(|| verify_batch(signed))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
