//! `attn-example-rail`: an out-of-process payment rail, serving the gRPC
//! `PaymentRail` service of `proto/attn/v1/payment_rail.proto` over a sandbox rail.
//! It is the template for a rail written as its own program (in any language): see
//! `docs/writing-a-rail.md`.
//!
//! Usage: `attn-example-rail [--listen 127.0.0.1:7000] [--currency USD:2] [--issuer issuer]
//! [--pending-polls N]`. It prints `listening on ADDRESS` on its first line of output
//! (so `--listen 127.0.0.1:0` picks a free port a parent process can read), and stops
//! on Ctrl-C, on SIGTERM, or when its standard input closes.

use std::io::Write;
use std::sync::Arc;

use attn_payment_plugins::sandbox::{SandboxConfig, SandboxRail};
use attn_payment_plugins::{AccountName, RailCurrency};
use attn_receipts::Currency;
use tokio::io::AsyncReadExt;

type Failure = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    listen: String,
    currencies: Vec<RailCurrency>,
    issuer: AccountName,
    pending_polls: u32,
}

fn parse() -> Result<Args, Failure> {
    let mut args = Args {
        listen: "127.0.0.1:7000".into(),
        currencies: Vec::new(),
        issuer: AccountName::new("issuer")?,
        pending_polls: 0,
    };
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        let mut value = || words.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => args.listen = value()?,
            "--currency" => {
                let text = value()?;
                let (code, scale) = text.split_once(':').ok_or("--currency is CODE:SCALE")?;
                args.currencies.push(RailCurrency::with_scale(
                    Currency::new(code)?,
                    scale.parse()?,
                )?);
            }
            "--issuer" => args.issuer = AccountName::new(value()?)?,
            "--pending-polls" => args.pending_polls = value()?.parse()?,
            "--help" | "-h" => {
                println!(
                    "attn-example-rail [--listen ADDR] [--currency CODE:SCALE]... [--issuer NAME] [--pending-polls N]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if args.currencies.is_empty() {
        args.currencies
            .push(RailCurrency::with_scale(Currency::new("USD")?, 2)?);
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Failure> {
    let args = parse()?;
    let config = SandboxConfig {
        rail_id: "example".into(),
        pending_polls: args.pending_polls,
        ..SandboxConfig::new(args.currencies, args.issuer)
    };
    let rail = Arc::new(SandboxRail::new(config)?);
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let address = listener.local_addr()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {address}")?;
    stdout.flush()?;
    let shutdown = async {
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 64];
        let stdin_closed = async move {
            while let Ok(read) = stdin.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
            }
        };
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async move {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = stdin_closed => {}
            () = terminated => {}
        }
    };
    attn_payment_plugins::external::serve(rail, listener, shutdown).await?;
    Ok(())
}
