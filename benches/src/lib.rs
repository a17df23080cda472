//! Criterion benchmarks across attn's crates; the benches live in `benches/` and
//! their figures go into `BENCHMARKS.md`.
//!
//! Nothing may depend on this crate.
