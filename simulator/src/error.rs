//! [`Error`]: everything that can stop a simulation run or a sweep.

use std::path::PathBuf;

/// Why a simulation could not run, or why it stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This error occurs when a configuration file is not valid TOML, names a key the
    /// simulator does not know, or gives a key a value of the wrong type or outside its
    /// allowed set; the message names the key and the allowed values.
    #[error("config: {message}")]
    ConfigSyntax {
        /// The parser's message (key, line, allowed values).
        message: String,
    },
    /// This error occurs when a configuration parses but a value is out of range or
    /// inconsistent with another one.
    #[error("config key `{key}`: {message}")]
    ConfigValue {
        /// The dotted key at fault, e.g. `users.count`.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// This error occurs when a sweep file is malformed: no seeds, an empty grid axis,
    /// a grid key that does not exist in the configuration, or too many runs.
    #[error("sweep key `{key}`: {message}")]
    Sweep {
        /// The key at fault.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// This error occurs when an invariant checker finds that the run broke a rule
    /// that must always hold (money conserved, budgets respected). It is a bug in the
    /// simulator or in the code it runs, never an expected outcome.
    #[error("invariant broken in round {round}: {message}")]
    Invariant {
        /// The round after which the check failed.
        round: u32,
        /// What was broken.
        message: String,
    },
    /// This error occurs when the product's ledger refuses an operation the simulator
    /// submitted (for example a transfer that would overdraw a budget account).
    #[error("ledger: {0}")]
    Ledger(String),
    /// This error occurs when `crypto = "real"` and a signature made in the run does
    /// not verify, or a domain message cannot be built.
    #[error("crypto: {0}")]
    Crypto(String),
    /// This error occurs when the product's trust weighting refuses the run's trust
    /// graph (more advertisers or endorsements than `attn_receipts::limits` allows).
    #[error("trust weighting: {0}")]
    Trust(String),
    /// This error occurs when an output file or folder cannot be created or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// This error occurs when a plot cannot be drawn.
    #[error("plot {path}: {message}")]
    Plot {
        /// The SVG being drawn.
        path: PathBuf,
        /// The drawing backend's message.
        message: String,
    },
}

impl Error {
    pub(crate) fn value(key: &str, message: impl Into<String>) -> Self {
        Self::ConfigValue {
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
