//! `attn bench e2e`: auctions end to end over loopback gRPC, with the bidders in this
//! process: latency of one auction at a time (p50, p99), sustained auctions per
//! second with several in flight, and how far past `tmax` a bidder that sleeps 10 s
//! pushes an auction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attn_client_auction::client::{BidderEntry, Client, ClientConfig, MemoryWallet, Registry};
use attn_client_auction::preferences::Preferences;
use attn_proto::v1 as wire;
use attn_proto::v1::bidder_server::{Bidder, BidderServer};
use attn_receipts::{AdvertiserKey, Currency, Mechanism, PersonaKey};
use futures_util::StreamExt as _;
use rand::rngs::OsRng;

use super::demo::{BidderSpec, page_slots, start_bidders};

#[derive(clap::Args)]
pub struct Args {
    /// Bidders answering every auction.
    #[arg(long, default_value_t = 8)]
    bidders: usize,
    /// Slots per auction.
    #[arg(long, default_value_t = 1)]
    slots: usize,
    /// Auction deadline in milliseconds.
    #[arg(long, default_value_t = 100)]
    tmax: u32,
    /// Auctions measured one at a time.
    #[arg(long, default_value_t = 2_000)]
    auctions: usize,
    /// Auctions in flight at once for the throughput figure.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of the throughput run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Auctions with a 10 s sleeper among the bidders.
    #[arg(long, default_value_t = 20)]
    sleeper_auctions: usize,
}

/// A bidder that never answers in time: it sleeps 10 s on every request.
struct Sleeper;

#[tonic::async_trait]
impl Bidder for Sleeper {
    async fn bid(
        &self,
        _: tonic::Request<wire::Signed>,
    ) -> Result<tonic::Response<wire::BidResponse>, tonic::Status> {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(tonic::Response::new(wire::BidResponse::default()))
    }
    async fn impression(
        &self,
        _: tonic::Request<wire::Signed>,
    ) -> Result<tonic::Response<wire::ImpressionAck>, tonic::Status> {
        Err(tonic::Status::unimplemented("sleeper"))
    }
    async fn pull_receipts(
        &self,
        _: tonic::Request<wire::Signed>,
    ) -> Result<tonic::Response<wire::ReceiptsBatch>, tonic::Status> {
        Err(tonic::Status::unimplemented("sleeper"))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=64).contains(&args.bidders),
        "--bidders must be 1 to 64"
    );
    anyhow::ensure!(args.auctions >= 10, "--auctions must be at least 10");
    anyhow::ensure!(
        (1..=1_024).contains(&args.concurrency),
        "--concurrency must be 1 to 1024"
    );
    anyhow::ensure!(
        (1..=600).contains(&args.seconds),
        "--seconds must be 1 to 600"
    );
    anyhow::ensure!(
        args.sleeper_auctions >= 1,
        "--sleeper-auctions must be at least 1"
    );
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(measure(args))
}

fn client(registry: Arc<Registry>, tmax: u32) -> anyhow::Result<Client> {
    let mut config = ClientConfig::new(Currency::new("USD")?);
    config.tmax_ms = tmax;
    config.mechanism = Mechanism::Gsp;
    Ok(Client::new(
        PersonaKey::generate(&mut OsRng),
        registry,
        Preferences::default(),
        config,
        Arc::new(MemoryWallet::new()),
    )?)
}

async fn measure(args: Args) -> anyhow::Result<()> {
    let names: Vec<String> = (0..args.bidders).map(|i| format!("bidder-{i}")).collect();
    let specs: Vec<BidderSpec> = names
        .iter()
        .enumerate()
        .map(|(i, name)| BidderSpec {
            name: Box::leak(name.clone().into_boxed_str()),
            base_price_atomic: 1_000_000 + 10_000 * i as u64,
            categories: &[],
            interests: &[],
            budget: "1000000",
            think_time: Duration::ZERO,
            margin: None,
        })
        .collect();
    let bidders = start_bidders(&specs).await?;
    let entries: Vec<BidderEntry> = bidders.iter().map(|b| b.entry.clone()).collect();
    let registry = Arc::new(Registry::new(entries.clone())?);
    let slots = page_slots(args.slots)?;
    let auctioneer = client(Arc::clone(&registry), args.tmax)?;

    // Warm the connections up.
    for _ in 0..100 {
        auctioneer.run_auction(&slots).await?;
    }
    let mut latencies = Vec::with_capacity(args.auctions);
    let mut incomplete = 0;
    for _ in 0..args.auctions {
        let outcome = auctioneer.run_auction(&slots).await?;
        if outcome.bids() != args.bidders {
            incomplete += 1;
        }
        latencies.push(outcome.elapsed);
    }
    latencies.sort();

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let clients: Vec<Client> = (0..args.concurrency)
        .map(|_| client(Arc::clone(&registry), args.tmax))
        .collect::<anyhow::Result<_>>()?;
    let completed: Vec<usize> = futures_util::stream::iter(clients.iter())
        .map(|c| {
            let slots = &slots;
            async move {
                let mut done = 0usize;
                while Instant::now() < deadline {
                    if c.run_auction(slots).await.is_ok() {
                        done += 1;
                    }
                }
                done
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let throughput = completed.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64();

    // A sleeper joins: every auction now waits for tmax; how much longer?
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sleeper_address = listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(BidderServer::new(Sleeper))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut with_sleeper = entries;
    with_sleeper.push(BidderEntry {
        name: "sleeper".into(),
        endpoint: format!("http://{sleeper_address}"),
        advertiser: AdvertiserKey::generate(&mut OsRng).public_key().to_hex(),
    });
    let sleepy = client(Arc::new(Registry::new(with_sleeper)?), args.tmax)?;
    let tmax = Duration::from_millis(u64::from(args.tmax));
    let mut lengths = Vec::with_capacity(args.sleeper_auctions);
    let mut late = 0;
    for _ in 0..args.sleeper_auctions {
        let outcome = sleepy.run_auction(&slots).await?;
        late += outcome.drops().get("late").copied().unwrap_or(0);
        lengths.push(outcome.elapsed);
    }
    lengths.sort();
    let overshoot: Vec<Duration> = lengths.iter().map(|l| l.saturating_sub(tmax)).collect();

    println!("machine: {}", super::bench::machine());
    println!(
        "e2e: {} bidders in-process on loopback gRPC, {} slot(s), GSP, tmax {} ms",
        args.bidders, args.slots, args.tmax
    );
    println!(
        "one at a time ({} auctions): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} with a bid missing)",
        args.auctions,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1]),
        incomplete
    );
    println!(
        "sustained: {:.0} auctions/s with {} in flight over {} s",
        throughput, args.concurrency, args.seconds
    );
    println!(
        "with a bidder sleeping 10 s ({} auctions, {} late answers dropped): auction length p50 {:.2} ms, max {:.2} ms; time past tmax p50 {:.2} ms, max {:.2} ms (the client closes {} ms before tmax)",
        args.sleeper_auctions,
        late,
        ms(percentile(&lengths, 0.5)),
        ms(lengths[lengths.len() - 1]),
        ms(percentile(&overshoot, 0.5)),
        ms(overshoot[overshoot.len() - 1]),
        attn_client_auction::client::CLOSE_MARGIN.as_millis(),
    );
    for bidder in bidders {
        bidder.running.shutdown().await?;
    }
    Ok(())
}
