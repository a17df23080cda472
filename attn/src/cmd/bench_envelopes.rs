//! `attn bench envelopes`: sign, verify one by one, and batch-verify signed envelopes.

use std::time::Instant;

use attn_receipts::{AdvertiserKey, Signed, TrustStatement, verify_batch};
use rand::rngs::OsRng;

#[derive(clap::Args)]
pub struct Args {
    /// Envelopes per measurement.
    #[arg(long, default_value_t = 1024)]
    count: usize,
    /// Measurements; the median is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.count > 0 && args.rounds > 0,
        "--count and --rounds must be positive"
    );
    let key = AdvertiserKey::generate(&mut OsRng);
    let statements: Vec<TrustStatement> = (0..args.count)
        .map(|i| TrustStatement {
            truster: key.public_key(),
            trustee: AdvertiserKey::generate(&mut OsRng).public_key(),
            weight_ppm: (i % 1_000_000) as u32,
            issued_at_ms: i as u64,
        })
        .collect();
    let (mut sign, mut verify, mut batch) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        let start = Instant::now();
        let envelopes = statements
            .iter()
            .map(|s| Signed::sign(&key, s))
            .collect::<Vec<_>>();
        sign.push(start.elapsed().as_secs_f64() / args.count as f64);
        let start = Instant::now();
        for envelope in &envelopes {
            envelope.verify()?;
        }
        verify.push(start.elapsed().as_secs_f64() / args.count as f64);
        let start = Instant::now();
        verify_batch(&envelopes)?;
        batch.push(start.elapsed().as_secs_f64() / args.count as f64);
    }
    let (sign, verify, batch) = (median(sign), median(verify), median(batch));
    println!("machine: {}", super::bench::machine());
    println!(
        "envelopes: {} per round, {} rounds, medians",
        args.count, args.rounds
    );
    println!("sign:               {:>8.2} µs/envelope", sign * 1e6);
    println!("verify one by one:  {:>8.2} µs/envelope", verify * 1e6);
    println!(
        "batch verify:       {:>8.2} µs/envelope ({:.2}x faster per signature)",
        batch * 1e6,
        verify / batch
    );
    Ok(())
}
