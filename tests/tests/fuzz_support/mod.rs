//! Support of the property tests (`fuzz_parsers.rs`, `fuzz_props.rs`; `docs/fuzzing.md`): their bounds and
//! seed, hostile inputs, the components served natively, and requests generated from the API documents.
#![allow(dead_code)]

pub mod platform;
pub mod requests;
pub mod schema;

use proptest::test_runner::{Config, RngSeed};

/// The seed when `PROPTEST_RNG_SEED` is unset: CI runs the same cases every time.
pub const SEED: u64 = 20_261_202;

/// `PROPTEST_CASES` cases (else `default_cases`) from `PROPTEST_RNG_SEED` (else [`SEED`]); no regression
/// files (a fixed seed reproduces a failure, and each one fixed is kept as a named test); shrinking bounded
/// to a minute so that a failure is reported within CI's time.
pub fn config(default_cases: u32) -> Config {
    let env = Config::default();
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(default_cases);
    let rng_seed = match env.rng_seed {
        RngSeed::Random => RngSeed::Fixed(SEED),
        fixed => fixed,
    };
    Config { cases, rng_seed, failure_persistence: None, max_shrink_time: 60_000, ..env }
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
