//! `attn keys`: wallet seeds, personas and advertiser keys, encrypted at rest.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use attn_receipts::keystore::{self, KdfParams, KeyKind};
use attn_receipts::threshold::{self, PersonaShare, ThresholdParams};
use attn_receipts::{AdvertiserKey, PersonaKey, PublicKey, WalletSeed};
use clap::{Subcommand, ValueEnum};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

/// The environment variable a passphrase is read from before prompting.
pub const PASSPHRASE_ENV: &str = "ATTN_PASSPHRASE";
/// The environment variable naming attn's home folder (default `~/.attn`).
pub const HOME_ENV: &str = "ATTN_HOME";

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a new key and store it encrypted. A wallet (the default) is the seed
    /// your personas derive from; an advertiser key is what a bidder signs with.
    New {
        /// What to create.
        #[arg(long, value_enum, default_value_t = NewKind::Wallet)]
        kind: NewKind,
        /// Where to write it [default: $ATTN_HOME/wallet.key or advertiser.key].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the public key of a key file (never the secret). For a wallet, prints
    /// persona 0; use `attn keys derive` for others.
    Show {
        /// The key file [default: $ATTN_HOME/wallet.key].
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Derive persona number N from a wallet: an unlinkable pseudonymous key that
    /// advertisers see. Hardened derivation: a persona reveals nothing of the wallet
    /// or of other personas.
    Derive {
        /// The persona number, 0 to 2^31-1.
        #[arg(long)]
        index: u32,
        /// The wallet file [default: $ATTN_HOME/wallet.key].
        #[arg(long)]
        key: Option<PathBuf>,
        /// Also store the persona's secret key, encrypted, in this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Split a persona key T-of-N for recovery: one share file per device or trusted
    /// friend. Any T shares rebuild the exact key (`attn keys recover`); fewer reveal
    /// nothing about it. Share files are written owner-only; hand each to one holder.
    Split {
        /// How many shares are needed to recover (at least 2).
        #[arg(long)]
        threshold: u16,
        /// How many shares to make.
        #[arg(long)]
        shares: u16,
        /// A persona key file, or a wallet [default: $ATTN_HOME/wallet.key].
        #[arg(long)]
        key: Option<PathBuf>,
        /// With a wallet: the persona number to split.
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// Where to write the share files [default: $ATTN_HOME/shares].
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Overwrite existing share files.
        #[arg(long)]
        force: bool,
    },
    /// Recover a persona key from share files made by `attn keys split` (at least the
    /// threshold of them, in any order). Prints the persona; stores the key encrypted
    /// with --out.
    Recover {
        /// The share files.
        #[arg(required = true)]
        shares: Vec<PathBuf>,
        /// Store the recovered persona key, encrypted, in this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing --out file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NewKind {
    /// A wallet seed (personas derive from it).
    Wallet,
    /// An advertiser signing key.
    Advertiser,
}

pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::New { kind, out, force } => {
            let (key_kind, file_name) = match kind {
                NewKind::Wallet => (KeyKind::WalletSeed, "wallet.key"),
                NewKind::Advertiser => (KeyKind::Advertiser, "advertiser.key"),
            };
            let path = out.unwrap_or_else(|| home().join(file_name));
            if path.exists() && !force {
                bail!(
                    "{} already exists (use --force to overwrite)",
                    path.display()
                );
            }
            let passphrase = new_passphrase()?;
            let (secret, public) = match key_kind {
                KeyKind::WalletSeed => {
                    let seed = WalletSeed::generate(&mut OsRng);
                    let public = seed.persona(0)?.public_key();
                    (seed.secret_bytes(), public)
                }
                _ => {
                    let key = AdvertiserKey::generate(&mut OsRng);
                    (key.secret_bytes(), key.public_key())
                }
            };
            let file = keystore::seal(
                key_kind,
                &secret,
                passphrase.as_bytes(),
                KdfParams::DEFAULT,
                &mut OsRng,
            )?;
            write_private(&path, &file)?;
            println!("created {} key {}", key_kind.name(), path.display());
            print_public(key_kind, &public);
        }
        KeysCommand::Show { key } => {
            let path = key.unwrap_or_else(|| home().join("wallet.key"));
            let (kind, public) = load_public(&path)?;
            println!("{} key {}", kind.name(), path.display());
            print_public(kind, &public);
        }
        KeysCommand::Derive { index, key, out } => {
            let path = key.unwrap_or_else(|| home().join("wallet.key"));
            let passphrase = passphrase(&format!("passphrase for {}: ", path.display()))?;
            let (kind, secret) = read_key(&path, &passphrase)?;
            if kind != KeyKind::WalletSeed {
                bail!(
                    "{} holds a {} key; personas derive from a wallet",
                    path.display(),
                    kind.name()
                );
            }
            let persona = WalletSeed::from_bytes(*secret).persona(index)?;
            if let Some(out) = out {
                let file = keystore::seal(
                    KeyKind::Persona,
                    &persona.secret_bytes(),
                    passphrase.as_bytes(),
                    KdfParams::DEFAULT,
                    &mut OsRng,
                )?;
                write_private(&out, &file)?;
                println!("stored persona {index} in {}", out.display());
            }
            println!("persona {index}: {}", persona.public_key());
        }
        KeysCommand::Split {
            threshold,
            shares,
            key,
            index,
            out_dir,
            force,
        } => split_persona(threshold, shares, key, index, out_dir, force)?,
        KeysCommand::Recover { shares, out, force } => recover_persona(&shares, out, force)?,
    }
    Ok(())
}

/// Most share files `attn keys recover` reads.
const RECOVER_FILES_MAX: usize = attn_receipts::limits::THRESHOLD_SHARES_MAX as usize;
/// Largest share file read (a hex share plus comment lines).
const SHARE_FILE_MAX_BYTES: u64 = 4 * attn_receipts::limits::THRESHOLD_SHARE_MAX_BYTES as u64;

fn split_persona(
    threshold: u16,
    shares: u16,
    key: Option<PathBuf>,
    index: u32,
    out_dir: Option<PathBuf>,
    force: bool,
) -> anyhow::Result<()> {
    let params = ThresholdParams::new(threshold, shares)?;
    let path = key.unwrap_or_else(|| home().join("wallet.key"));
    let passphrase = passphrase(&format!("passphrase for {}: ", path.display()))?;
    let (kind, secret) = read_key(&path, &passphrase)?;
    let persona = match kind {
        KeyKind::WalletSeed => WalletSeed::from_bytes(*secret).persona(index)?,
        KeyKind::Persona => PersonaKey::from_secret_bytes(&secret),
        KeyKind::Advertiser => bail!(
            "{} holds an advertiser key; only personas are split for recovery",
            path.display()
        ),
    };
    let public = persona.public_key();
    let folder = out_dir.unwrap_or_else(|| home().join("shares"));
    let files: Vec<PathBuf> = params
        .participants()
        .map(|i| {
            folder.join(format!(
                "persona-{}-share-{i}-of-{shares}.txt",
                &public.to_hex()[..16]
            ))
        })
        .collect();
    if !force && let Some(existing) = files.iter().find(|file| file.exists()) {
        bail!(
            "{} already exists (use --force to overwrite)",
            existing.display()
        );
    }
    let split = threshold::split_persona(&persona, params, &mut OsRng)?;
    for (share, file) in split.iter().zip(&files) {
        let text = Zeroizing::new(format!(
            "# attn persona recovery share {} of {shares}; any {threshold} recover the persona\n\
             # persona {public}\n\
             # Keep it private. Recover with: attn keys recover SHARE-FILE...\n\
             {}\n",
            share.participant(),
            share.to_hex().as_str(),
        ));
        write_private(file, text.as_bytes())?;
    }
    println!("persona: {public}");
    println!("split {threshold}-of-{shares}; any {threshold} shares recover it:");
    for file in &files {
        println!("  {}", file.display());
    }
    Ok(())
}

fn read_share(path: &Path) -> anyhow::Result<PersonaShare> {
    let size = fs::metadata(path)
        .with_context(|| format!("cannot read share file {}", path.display()))?
        .len();
    if size > SHARE_FILE_MAX_BYTES {
        bail!(
            "{} is {size} bytes, larger than any share file ({SHARE_FILE_MAX_BYTES})",
            path.display()
        );
    }
    let text = Zeroizing::new(
        fs::read_to_string(path)
            .with_context(|| format!("cannot read share file {}", path.display()))?,
    );
    let hex: Zeroizing<String> = Zeroizing::new(
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect(),
    );
    PersonaShare::from_hex(&hex).with_context(|| format!("bad share file {}", path.display()))
}

fn recover_persona(files: &[PathBuf], out: Option<PathBuf>, force: bool) -> anyhow::Result<()> {
    if files.len() > RECOVER_FILES_MAX {
        bail!(
            "{} share files given; at most {RECOVER_FILES_MAX}",
            files.len()
        );
    }
    if let Some(out) = &out
        && out.exists()
        && !force
    {
        bail!(
            "{} already exists (use --force to overwrite)",
            out.display()
        );
    }
    let shares = files
        .iter()
        .map(|file| read_share(file))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let persona = threshold::recover_persona(&shares)?;
    println!("recovered persona: {}", persona.public_key());
    if let Some(out) = out {
        let passphrase = new_passphrase()?;
        let file = keystore::seal(
            KeyKind::Persona,
            &persona.secret_bytes(),
            passphrase.as_bytes(),
            KdfParams::DEFAULT,
            &mut OsRng,
        )?;
        write_private(&out, &file)?;
        println!("stored in {}", out.display());
    }
    Ok(())
}

fn print_public(kind: KeyKind, public: &PublicKey) {
    match kind {
        KeyKind::WalletSeed => println!("persona 0: {public}"),
        _ => println!("public key: {public}"),
    }
}

/// attn's home folder: `$ATTN_HOME`, else `~/.attn`.
pub fn home() -> PathBuf {
    if let Some(home) = std::env::var_os(HOME_ENV) {
        return PathBuf::from(home);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".attn")
}

fn passphrase(prompt: &str) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(value));
    }
    let value = rpassword::prompt_password(prompt)
        .with_context(|| format!("no terminal to ask for a passphrase; set {PASSPHRASE_ENV}"))?;
    Ok(Zeroizing::new(value))
}

fn new_passphrase() -> anyhow::Result<Zeroizing<String>> {
    if let Ok(value) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(value));
    }
    let first = passphrase("new passphrase: ")?;
    let second = passphrase("repeat passphrase: ")?;
    if *first != *second {
        bail!("the passphrases differ");
    }
    Ok(first)
}

/// Reads and decrypts a key file.
pub fn read_key(path: &Path, passphrase: &str) -> anyhow::Result<(KeyKind, Zeroizing<[u8; 32]>)> {
    let bytes =
        fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    keystore::open(&bytes, passphrase.as_bytes())
        .with_context(|| format!("cannot open {}", path.display()))
}

fn load_public(path: &Path) -> anyhow::Result<(KeyKind, PublicKey)> {
    let passphrase = passphrase(&format!("passphrase for {}: ", path.display()))?;
    let (kind, secret) = read_key(path, &passphrase)?;
    let public = match kind {
        KeyKind::WalletSeed => WalletSeed::from_bytes(*secret).persona(0)?.public_key(),
        KeyKind::Persona => PersonaKey::from_secret_bytes(&secret).public_key(),
        KeyKind::Advertiser => AdvertiserKey::from_secret_bytes(&secret).public_key(),
    };
    Ok((kind, public))
}

/// Writes `bytes` to `path` readable by its owner only (mode 0600), atomically: a
/// temporary file in the same folder, synced, then renamed over the target.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let temporary = folder.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("key")
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
