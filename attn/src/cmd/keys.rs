//! `attn keys`: wallet seeds, personas and advertiser keys, encrypted at rest.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use attn_receipts::keystore::{self, KdfParams, KeyKind};
use attn_receipts::threshold::{self, KeyShare, PersonaShare, ThresholdGroup, ThresholdParams};
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
    /// With --threshold and --shares, an advertiser key is made as a T-of-N FROST
    /// group by a trusted dealer: N encrypted share files, any T of which sign as the
    /// group (`threshold_shares` in bidder.toml); the key itself is never stored.
    New {
        /// What to create.
        #[arg(long, value_enum, default_value_t = NewKind::Wallet)]
        kind: NewKind,
        /// Where to write it [default: $ATTN_HOME/wallet.key or advertiser.key].
        #[arg(long, conflicts_with = "threshold")]
        out: Option<PathBuf>,
        /// Advertiser group: how many signers must sign (at least 2).
        #[arg(long, requires = "shares")]
        threshold: Option<u16>,
        /// Advertiser group: how many share files to make.
        #[arg(long, requires = "threshold")]
        shares: Option<u16>,
        /// Advertiser group: where to write the share files
        /// [default: $ATTN_HOME/advertiser-shares].
        #[arg(long, requires = "threshold")]
        out_dir: Option<PathBuf>,
        /// Overwrite existing files.
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
        KeysCommand::New {
            kind,
            out: _,
            threshold: Some(threshold),
            shares: Some(shares),
            out_dir,
            force,
        } => {
            if !matches!(kind, NewKind::Advertiser) {
                bail!("--threshold and --shares make an advertiser group: add --kind advertiser");
            }
            new_advertiser_group(threshold, shares, out_dir, force)?;
        }
        KeysCommand::New {
            kind, out, force, ..
        } => {
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

/// The first line of an advertiser share file.
const ADVERTISER_SHARE_HEADER: &str = "# attn advertiser signing share";
/// Bytes of a key share's public prefix: magic, t, n, holder, group key (see
/// docs/threshold.md, Encodings); the 32-byte signing share follows, then the check.
const KEY_SHARE_PUBLIC_LEN: usize = 8 + 2 + 2 + 2 + 32;
const KEY_SHARE_SECRET_LEN: usize = 32;
const KEY_SHARE_CHECK_LEN: usize = 8;

/// `attn keys new --kind advertiser --threshold T --shares N`: a trusted dealer
/// (RFC 9591 Appendix C) draws the group key, writes one share file per holder, and
/// forgets the key.
fn new_advertiser_group(
    threshold: u16,
    shares: u16,
    out_dir: Option<PathBuf>,
    force: bool,
) -> anyhow::Result<()> {
    let params = ThresholdParams::new(threshold, shares)?;
    let folder = out_dir.unwrap_or_else(|| home().join("advertiser-shares"));
    let passphrase = new_passphrase()?;
    let (key_shares, group) = threshold::deal(params, &mut OsRng)?;
    let group_key = group.group_key();
    let files: Vec<PathBuf> = key_shares
        .iter()
        .map(|share| {
            folder.join(format!(
                "advertiser-{}-share-{}-of-{shares}.share",
                &group_key.to_hex()[..16],
                share.participant()
            ))
        })
        .collect();
    if !force && let Some(existing) = files.iter().find(|file| file.exists()) {
        bail!(
            "{} already exists (use --force to overwrite)",
            existing.display()
        );
    }
    let group_hex = hex::encode(group.to_bytes());
    for (share, file) in key_shares.iter().zip(&files) {
        let bytes = share.to_bytes();
        let (public, rest) = bytes.split_at(KEY_SHARE_PUBLIC_LEN);
        let mut secret = Zeroizing::new([0u8; KEY_SHARE_SECRET_LEN]);
        secret.copy_from_slice(&rest[..KEY_SHARE_SECRET_LEN]);
        let sealed = keystore::seal(
            KeyKind::Advertiser,
            &secret,
            passphrase.as_bytes(),
            KdfParams::DEFAULT,
            &mut OsRng,
        )?;
        let text = format!(
            "{ADVERTISER_SHARE_HEADER} {} of {shares}; any {threshold} sign as the group\n\
             # group key {group_key}\n\
             # The share is encrypted under your passphrase. Serve with\n\
             # threshold_shares = [\"...\"] in bidder.toml (attn bidder serve --config).\n\
             group {group_hex}\n\
             share {}\n\
             sealed {}\n",
            share.participant(),
            hex::encode(public),
            hex::encode(&sealed),
        );
        write_private(file, text.as_bytes())?;
    }
    println!("group key: {group_key}");
    println!("split {threshold}-of-{shares}; any {threshold} shares sign as the group:");
    for file in &files {
        println!("  {}", file.display());
    }
    let entry = attn_client_auction::client::BidderEntry {
        name: "advertiser".into(),
        endpoint: "http://127.0.0.1:50051".into(),
        advertiser: group_key.to_hex(),
    };
    println!(
        "registry line for a client's bidders file (set the endpoint you serve on):\n\n{}",
        entry.to_toml()
    );
    Ok(())
}

/// Reads and decrypts an advertiser share file written by `attn keys new --kind
/// advertiser --threshold T --shares N`: the holder's key share, checked against the
/// group the file carries, and that group.
pub fn read_advertiser_share(
    path: &Path,
    passphrase: &str,
) -> anyhow::Result<(KeyShare, ThresholdGroup)> {
    let bad =
        |reason: &str| anyhow::anyhow!("bad advertiser share file {}: {reason}", path.display());
    let text = read_share_text(path)?;
    if !text.starts_with(ADVERTISER_SHARE_HEADER) {
        return Err(bad("not an advertiser share file"));
    }
    let field = |name: &str| -> anyhow::Result<Vec<u8>> {
        let value = text
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .ok_or_else(|| bad(&format!("no {name} line")))?;
        hex::decode(value.trim()).map_err(|_| bad(&format!("the {name} line is not hex")))
    };
    let group =
        ThresholdGroup::from_bytes(&field("group")?).map_err(|error| bad(&error.to_string()))?;
    let public = field("share")?;
    if public.len() != KEY_SHARE_PUBLIC_LEN {
        return Err(bad("the share line has the wrong length"));
    }
    let (kind, secret) = keystore::open(&field("sealed")?, passphrase.as_bytes())
        .with_context(|| format!("cannot open {}", path.display()))?;
    if kind != KeyKind::Advertiser {
        return Err(bad("the sealed secret is not an advertiser share"));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        KEY_SHARE_PUBLIC_LEN + KEY_SHARE_SECRET_LEN + KEY_SHARE_CHECK_LEN,
    ));
    bytes.extend_from_slice(&public);
    bytes.extend_from_slice(secret.as_slice());
    let check = attn_receipts::Digest32::of(&[bytes.as_slice()]);
    bytes.extend_from_slice(&check.0[..KEY_SHARE_CHECK_LEN]);
    let share = KeyShare::from_bytes(&bytes).map_err(|error| bad(&error.to_string()))?;
    group
        .check_share(&share)
        .map_err(|error| bad(&format!("the share is not one of its group's: {error}")))?;
    Ok((share, group))
}

/// The text of a share file, refused unread when larger than any share file.
fn read_share_text(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let size = fs::metadata(path)
        .with_context(|| format!("cannot read share file {}", path.display()))?
        .len();
    if size > SHARE_FILE_MAX_BYTES {
        bail!(
            "{} is {size} bytes, larger than any share file ({SHARE_FILE_MAX_BYTES})",
            path.display()
        );
    }
    Ok(Zeroizing::new(fs::read_to_string(path).with_context(
        || format!("cannot read share file {}", path.display()),
    )?))
}

fn read_share(path: &Path) -> anyhow::Result<PersonaShare> {
    let text = read_share_text(path)?;
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
