//! `attn keys`: files are encrypted and owner-only, secrets never printed, a wrong
//! passphrase or a corrupted file gives a clear error.

mod common;

use common::stdout;
use std::path::Path;
use std::process::Output;

fn attn(home: &Path, passphrase: &str, args: &[&str]) -> Output {
    common::attn_as(home, passphrase, args)
}

fn key_after(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        .trim()
        .to_string()
}

#[test]
fn new_show_derive_round_trip() {
    let home = tempfile::tempdir().expect("temp dir");
    let created = stdout(&attn(home.path(), "pass phrase", &["keys", "new"]));
    let persona0 = key_after(&created, "persona 0:");
    assert_eq!(persona0.len(), 64);

    let wallet = home.path().join("wallet.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&wallet)
            .expect("wallet exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key file must be owner-only");
    }
    let bytes = std::fs::read(&wallet).expect("wallet readable");
    assert!(bytes.starts_with(b"ATTNKEY1"));

    let shown = stdout(&attn(home.path(), "pass phrase", &["keys", "show"]));
    assert_eq!(key_after(&shown, "persona 0:"), persona0);

    let derived0 = stdout(&attn(
        home.path(),
        "pass phrase",
        &["keys", "derive", "--index", "0"],
    ));
    assert_eq!(key_after(&derived0, "persona 0:"), persona0);
    let out = home.path().join("persona7.key");
    let derived7 = stdout(&attn(
        home.path(),
        "pass phrase",
        &[
            "keys",
            "derive",
            "--index",
            "7",
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
    ));
    let persona7 = key_after(&derived7, "persona 7:");
    assert_ne!(persona7, persona0);
    let shown7 = stdout(&attn(
        home.path(),
        "pass phrase",
        &["keys", "show", "--key", out.to_str().unwrap()],
    ));
    assert_eq!(key_after(&shown7, "public key:"), persona7);

    // Creating over an existing wallet is refused without --force.
    let again = attn(home.path(), "pass phrase", &["keys", "new"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn wrong_passphrase_and_corruption_are_clear_errors() {
    let home = tempfile::tempdir().expect("temp dir");
    stdout(&attn(
        home.path(),
        "right",
        &["keys", "new", "--kind", "advertiser"],
    ));
    let file = home.path().join("advertiser.key");

    let wrong = attn(
        home.path(),
        "wrong",
        &["keys", "show", "--key", file.to_str().unwrap()],
    );
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong passphrase"));

    let mut bytes = std::fs::read(&file).expect("readable");
    bytes[70] ^= 0x01;
    std::fs::write(&file, &bytes).expect("writable");
    let corrupted = attn(
        home.path(),
        "right",
        &["keys", "show", "--key", file.to_str().unwrap()],
    );
    assert!(!corrupted.status.success());
    assert!(String::from_utf8_lossy(&corrupted.stderr).contains("corrupted"));

    let derive = attn(
        home.path(),
        "right",
        &[
            "keys",
            "derive",
            "--index",
            "1",
            "--key",
            "/nonexistent/w.key",
        ],
    );
    assert!(String::from_utf8_lossy(&derive.stderr).contains("cannot read key file"));
}
