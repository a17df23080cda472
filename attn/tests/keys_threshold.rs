//! `attn keys split` and `attn keys recover`: a persona split T-of-N into owner-only
//! share files comes back, exactly, from any T of them; too few, corrupted or
//! foreign shares give a clear error; no secret is ever printed.

mod common;

use common::stdout;
use std::path::{Path, PathBuf};
use std::process::Output;

fn attn(home: &Path, args: &[&str]) -> Output {
    common::attn_as(home, "pass phrase", args)
}

fn stderr_of_failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "attn succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn value_after(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        .trim()
        .to_string()
}

/// The share files listed by `attn keys split`, in order.
fn share_files(split_output: &str) -> Vec<PathBuf> {
    split_output
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .map(PathBuf::from)
        .collect()
}

fn path(file: &Path) -> &str {
    file.to_str().expect("utf-8 path")
}

#[test]
fn split_then_recover_from_any_threshold_of_shares() {
    let home = tempfile::tempdir().expect("temp dir");
    let created = stdout(&attn(home.path(), &["keys", "new"]));
    let persona = value_after(&created, "persona 0:");

    let split = stdout(&attn(
        home.path(),
        &["keys", "split", "--threshold", "2", "--shares", "3"],
    ));
    assert_eq!(value_after(&split, "persona:"), persona);
    let files = share_files(&split);
    assert_eq!(files.len(), 3);
    for file in &files {
        let text = std::fs::read_to_string(file).expect("share file");
        let share_hex = text
            .lines()
            .find(|line| !line.starts_with('#'))
            .expect("share line");
        assert!(!split.contains(share_hex), "a share was printed");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "share files must be owner-only");
        }
    }

    // Any two, in any order.
    for pair in [[2, 0], [1, 2], [0, 1]] {
        let recovered = stdout(&attn(
            home.path(),
            &[
                "keys",
                "recover",
                path(&files[pair[0]]),
                path(&files[pair[1]]),
            ],
        ));
        assert_eq!(value_after(&recovered, "recovered persona:"), persona);
    }

    // Stored, the recovered key is the persona's key.
    let out = home.path().join("recovered.key");
    stdout(&attn(
        home.path(),
        &[
            "keys",
            "recover",
            path(&files[0]),
            path(&files[2]),
            "--out",
            path(&out),
        ],
    ));
    let shown = stdout(&attn(home.path(), &["keys", "show", "--key", path(&out)]));
    assert_eq!(value_after(&shown, "public key:"), persona);
    assert!(shown.contains("persona key"));

    // Splitting again refuses to overwrite the share files.
    let again = attn(
        home.path(),
        &["keys", "split", "--threshold", "2", "--shares", "3"],
    );
    assert!(stderr_of_failure(&again).contains("already exists"));
}

#[test]
fn a_derived_persona_file_splits_3_of_5() {
    let home = tempfile::tempdir().expect("temp dir");
    stdout(&attn(home.path(), &["keys", "new"]));
    let persona_file = home.path().join("persona4.key");
    let derived = stdout(&attn(
        home.path(),
        &[
            "keys",
            "derive",
            "--index",
            "4",
            "--out",
            path(&persona_file),
        ],
    ));
    let persona = value_after(&derived, "persona 4:");
    let out_dir = home.path().join("elsewhere");
    let split = stdout(&attn(
        home.path(),
        &[
            "keys",
            "split",
            "--threshold",
            "3",
            "--shares",
            "5",
            "--key",
            path(&persona_file),
            "--out-dir",
            path(&out_dir),
        ],
    ));
    let files = share_files(&split);
    assert_eq!(files.len(), 5);
    assert!(files.iter().all(|file| file.starts_with(&out_dir)));
    let recovered = stdout(&attn(
        home.path(),
        &[
            "keys",
            "recover",
            path(&files[4]),
            path(&files[1]),
            path(&files[3]),
        ],
    ));
    assert_eq!(value_after(&recovered, "recovered persona:"), persona);

    // Two of a 3-of-5 split are not enough.
    let too_few = attn(
        home.path(),
        &["keys", "recover", path(&files[0]), path(&files[1])],
    );
    assert!(
        stderr_of_failure(&too_few).contains("2 shares given but the threshold is 3"),
        "unclear error"
    );
}

#[test]
fn bad_parameters_and_corrupted_or_foreign_shares_are_refused() {
    let home = tempfile::tempdir().expect("temp dir");
    stdout(&attn(home.path(), &["keys", "new"]));
    for (t, n) in [("1", "3"), ("4", "3"), ("2", "33")] {
        let refused = attn(
            home.path(),
            &["keys", "split", "--threshold", t, "--shares", n],
        );
        assert!(
            stderr_of_failure(&refused).contains("invalid threshold"),
            "{t}-of-{n}"
        );
    }

    let split = stdout(&attn(
        home.path(),
        &["keys", "split", "--threshold", "2", "--shares", "2"],
    ));
    let files = share_files(&split);

    // One flipped hex digit.
    let text = std::fs::read_to_string(&files[1]).expect("share");
    let corrupted: String = text
        .lines()
        .map(|line| {
            if line.starts_with('#') {
                line.to_string()
            } else {
                let mut chars: Vec<char> = line.chars().collect();
                chars[100] = if chars[100] == '0' { '1' } else { '0' };
                chars.into_iter().collect()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let bad = home.path().join("bad-share.txt");
    std::fs::write(&bad, corrupted).expect("write");
    let refused = attn(
        home.path(),
        &["keys", "recover", path(&files[0]), path(&bad)],
    );
    let error = stderr_of_failure(&refused);
    assert!(error.contains("bad-share.txt"), "names the file: {error}");
    assert!(error.contains("corrupted"), "says why: {error}");

    // A share of another persona.
    let other_home = tempfile::tempdir().expect("temp dir");
    stdout(&attn(other_home.path(), &["keys", "new"]));
    let other = share_files(&stdout(&attn(
        other_home.path(),
        &["keys", "split", "--threshold", "2", "--shares", "2"],
    )));
    let mixed = attn(
        home.path(),
        &["keys", "recover", path(&files[0]), path(&other[1])],
    );
    assert!(stderr_of_failure(&mixed).contains("different personas"));

    // Not a share at all.
    let garbage = home.path().join("garbage.txt");
    std::fs::write(&garbage, "hello").expect("write");
    let refused = attn(home.path(), &["keys", "recover", path(&garbage)]);
    assert!(stderr_of_failure(&refused).contains("garbage.txt"));
}
