//! `attn proof`: build the persona's reputation proof from its receipts file, verify
//! a proof file and print what it shows (weighted by a verifier's trust file), and
//! sign the trust statements such files hold. See docs/reputation.md.
//!
//! A proof file holds the protobuf encoding of the `attn.v1.Signed` envelope of the
//! `ReputationProof`, exactly the bytes a bid request attaches.
//!
//! A trust file (TOML):
//! ```toml
//! # The advertisers this verifier trusts outright (hex public keys).
//! seeds = ["<hex>"]
//! # Signed trust statements between advertisers, each the hex of the protobuf
//! # `Signed` envelope of a TrustStatement (as printed by `attn proof trust`).
//! statements = ["<hex>"]
//! # EigenTrust damping, in [0, 1) (optional, default 0.85).
//! damping = 0.85
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use attn_proto::Message as _;
use attn_proto::v1 as wire;
use attn_receipts::keystore::KeyKind;
use attn_receipts::reputation::{DisclosurePolicy, ReputationView, prove_reputation, verify_proof};
use attn_receipts::trust::{EigenTrustParams, ReputationPolicy, TrustNetwork, TrustWeighted};
use attn_receipts::{
    AdvertiserKey, PersonaKey, PublicKey, ReputationProof, Signed, TrustStatement, WalletSeed,
};
use clap::Subcommand;
use rand::rngs::OsRng;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::keys::{PASSPHRASE_ENV, home, read_key, write_private};
use super::receipts::{now_ms, open_receipts};

/// Most bytes of a trust file.
pub const TRUST_FILE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Most bytes of a proof file (a signed proof body and its envelope).
pub const PROOF_FILE_MAX_BYTES: u64 =
    attn_receipts::limits::REPUTATION_BODY_MAX_BYTES as u64 + 1024;

const DAY_MS: u64 = 24 * 60 * 60 * 1_000;

#[derive(Subcommand)]
pub enum ProofCommand {
    /// Build the persona's reputation proof from its receipts and write it. By
    /// default sensitive categories (health, politics, religion, sexuality,
    /// finance) and receipts older than 90 days are withheld.
    Build {
        /// Where to write the proof.
        #[arg(long)]
        out: PathBuf,
        /// The wallet or persona key file [default: $ATTN_HOME/wallet.key].
        #[arg(long)]
        key: Option<PathBuf>,
        /// With a wallet: the persona number.
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// The receipts file [default: $ATTN_HOME/receipts.txt].
        #[arg(long)]
        receipts: Option<PathBuf>,
        /// The window, in days (at most 366).
        #[arg(long, default_value_t = 90)]
        window_days: u64,
        /// Disclose this category even if withheld by default (repeatable).
        #[arg(long)]
        disclose: Vec<String>,
        /// Also withhold this category (repeatable).
        #[arg(long)]
        withhold: Vec<String>,
        /// Overwrite an existing --out file.
        #[arg(long)]
        force: bool,
    },
    /// Verify a proof file and print its view: per issuer the bracket, its floor
    /// and the receipts by kind; with --trust, each issuer's weight and the score.
    Verify {
        /// The proof file.
        proof: PathBuf,
        /// A trust file (seeds and signed statements).
        #[arg(long)]
        trust: Option<PathBuf>,
        /// Refuse the proof unless it is this persona's (hex public key).
        #[arg(long)]
        persona: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Sign a trust statement with an advertiser key file and print it as hex, for
    /// trust files.
    Trust {
        /// The advertiser key file [default: $ATTN_HOME/advertiser.key].
        #[arg(long)]
        key: Option<PathBuf>,
        /// The advertiser trusted (hex public key).
        #[arg(long)]
        trustee: String,
        /// Weight in parts per million (0 revokes).
        #[arg(long, default_value_t = 1_000_000)]
        weight_ppm: u32,
    },
}

pub fn run(command: ProofCommand) -> anyhow::Result<()> {
    match command {
        ProofCommand::Build {
            out,
            key,
            index,
            receipts,
            window_days,
            disclose,
            withhold,
            force,
        } => {
            if out.exists() && !force {
                bail!(
                    "{} already exists (use --force to overwrite)",
                    out.display()
                );
            }
            let persona = load_persona(key, index)?;
            let store = open_receipts(receipts)?;
            let wallet = store.receipts_of(&persona.public_key())?;
            let mut policy = DisclosurePolicy {
                window_ms: window_days.saturating_mul(DAY_MS),
                ..DisclosurePolicy::default()
            };
            for category in &disclose {
                policy = policy.disclose_category(category);
            }
            for category in &withhold {
                policy = policy.withhold_category(category);
            }
            let now = now_ms();
            let selection = policy.select(&persona.public_key(), &wallet, now)?;
            let proof = prove_reputation(&persona, &wallet, &policy, now, &mut OsRng)?;
            write_private(&out, &proof.to_wire().encode_to_vec())?;
            let view = verify_proof(&proof, now, &mut OsRng)?;
            println!("wrote {}", out.display());
            println!(
                "receipts: {} disclosed, {} withheld by policy, {} invalid",
                selection.receipts.len(),
                selection.withheld,
                selection.invalid
            );
            print_view(&view, None);
        }
        ProofCommand::Verify {
            proof,
            trust,
            persona,
            json,
        } => {
            let envelope = read_proof(&proof)?;
            if let Some(persona) = persona {
                let persona = PublicKey::from_hex(&persona).context("--persona is not a key")?;
                if envelope.signer() != persona {
                    bail!("the proof is {}'s, not {persona}'s", envelope.signer());
                }
            }
            let view = verify_proof(&envelope, now_ms(), &mut OsRng)
                .with_context(|| format!("{} does not verify", proof.display()))?;
            let policy = trust.map(|path| read_trust(&path)).transpose()?;
            if json {
                println!("{}", view_json(&view, policy.as_ref()));
            } else {
                print_view(&view, policy.as_ref());
            }
        }
        ProofCommand::Trust {
            key,
            trustee,
            weight_ppm,
        } => {
            let path = key.unwrap_or_else(|| home().join("advertiser.key"));
            let passphrase = passphrase(&path)?;
            let (kind, secret) = read_key(&path, &passphrase)?;
            if kind != KeyKind::Advertiser {
                bail!("{} is not an advertiser key", path.display());
            }
            let truster = AdvertiserKey::from_secret_bytes(&secret);
            let statement = TrustStatement {
                truster: truster.public_key(),
                trustee: PublicKey::from_hex(&trustee).context("--trustee is not a key")?,
                weight_ppm,
                issued_at_ms: now_ms(),
            };
            let signed = Signed::sign(&truster, &statement);
            signed.open()?;
            println!("{}", hex::encode(signed.to_wire().encode_to_vec()));
        }
    }
    Ok(())
}

fn passphrase(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(value));
    }
    let value = rpassword::prompt_password(format!("passphrase for {}: ", path.display()))
        .with_context(|| format!("no terminal to ask for a passphrase; set {PASSPHRASE_ENV}"))?;
    Ok(Zeroizing::new(value))
}

/// The persona of a wallet (number `index`) or of a persona key file.
fn load_persona(key: Option<PathBuf>, index: u32) -> anyhow::Result<PersonaKey> {
    let path = key.unwrap_or_else(|| home().join("wallet.key"));
    let passphrase = passphrase(&path)?;
    let (kind, secret) = read_key(&path, &passphrase)?;
    match kind {
        KeyKind::WalletSeed => Ok(WalletSeed::from_bytes(*secret).persona(index)?),
        KeyKind::Persona => Ok(PersonaKey::from_secret_bytes(&secret)),
        KeyKind::Advertiser => bail!("{} is an advertiser key, not a persona", path.display()),
    }
}

fn read_proof(path: &Path) -> anyhow::Result<Signed<ReputationProof>> {
    let size = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > PROOF_FILE_MAX_BYTES {
        bail!(
            "{} is {size} bytes, more than {PROOF_FILE_MAX_BYTES}",
            path.display()
        );
    }
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let wire = wire::Signed::decode(bytes.as_slice())
        .with_context(|| format!("{} is not a signed envelope", path.display()))?;
    Signed::try_from(wire).with_context(|| format!("{} is not a proof envelope", path.display()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    seeds: Vec<String>,
    #[serde(default)]
    statements: Vec<String>,
    damping: Option<f64>,
}

fn read_trust(path: &Path) -> anyhow::Result<TrustWeighted> {
    let size = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > TRUST_FILE_MAX_BYTES {
        bail!(
            "{} is {size} bytes, more than {TRUST_FILE_MAX_BYTES}",
            path.display()
        );
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: TrustFile =
        toml::from_str(&text).with_context(|| format!("{} is not a trust file", path.display()))?;
    let seeds = file
        .seeds
        .iter()
        .map(|hex| PublicKey::from_hex(hex).with_context(|| format!("seed {hex:?} is not a key")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let statements = file
        .statements
        .iter()
        .enumerate()
        .map(|(at, text)| {
            let bytes =
                hex::decode(text.trim()).with_context(|| format!("statement {at} is not hex"))?;
            let wire = wire::Signed::decode(bytes.as_slice())
                .with_context(|| format!("statement {at} is not an envelope"))?;
            Ok(Signed::<TrustStatement>::try_from(wire)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let params = EigenTrustParams {
        damping: file.damping.unwrap_or(EigenTrustParams::default().damping),
        ..EigenTrustParams::default()
    };
    let network = TrustNetwork::compute(&seeds, &statements, &params)
        .with_context(|| format!("the trust in {} does not verify", path.display()))?;
    Ok(TrustWeighted::new(network))
}

fn print_view(view: &ReputationView, policy: Option<&TrustWeighted>) {
    println!("persona: {}", view.persona);
    println!("proof: {}", view.proof_hash);
    println!(
        "window: {} .. {} ms ({} days)",
        view.window.start_ms,
        view.window.end_ms,
        view.window.length_ms() / DAY_MS
    );
    println!(
        "receipts: {} views, {} clicks, {} conversions",
        view.counts.views, view.counts.clicks, view.counts.conversions
    );
    println!("issuers: {}", view.issuers.len());
    for issuer in &view.issuers {
        let weight = policy
            .map(|policy| format!("  weight {:.3}", policy.network().weight(&issuer.issuer)))
            .unwrap_or_default();
        println!(
            "  {}  bracket {:>2} (>= {} atomic)  {} views {} clicks {} conversions{weight}",
            issuer.issuer,
            issuer.bracket,
            issuer.floor_atomic,
            issuer.counts.views,
            issuer.counts.clicks,
            issuer.counts.conversions
        );
    }
    if let Some(policy) = policy {
        println!("score: {:.3}", policy.score(view));
    }
}

fn view_json(view: &ReputationView, policy: Option<&TrustWeighted>) -> serde_json::Value {
    serde_json::json!({
        "persona": view.persona.to_hex(),
        "proof_hash": view.proof_hash.to_hex(),
        "window_start_ms": view.window.start_ms,
        "window_end_ms": view.window.end_ms,
        "counts": {
            "views": view.counts.views,
            "clicks": view.counts.clicks,
            "conversions": view.counts.conversions,
        },
        "issuers": view.issuers.iter().map(|issuer| serde_json::json!({
            "issuer": issuer.issuer.to_hex(),
            "bracket": issuer.bracket,
            "floor_atomic": issuer.floor_atomic,
            "views": issuer.counts.views,
            "clicks": issuer.counts.clicks,
            "conversions": issuer.counts.conversions,
            "weight": policy.map(|p| p.network().weight(&issuer.issuer)),
        })).collect::<Vec<_>>(),
        "score": policy.map(|p| p.score(view)),
    })
}
