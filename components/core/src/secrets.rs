//! Secrets (DESIGN "Secrets"): random bearer tokens shown once and stored as SHA-256, constant-time
//! comparison, and argon2id password hashes (PHC strings). Randomness comes from `getrandom` (WASI's
//! `random` interface inside wasm), never from a seeded generator.

use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Prefix of named API tokens.
pub const API_TOKEN_PREFIX: &str = "cvt_";
/// Prefix of login session tokens.
pub const SESSION_PREFIX: &str = "cvs_";
/// Prefix of account activation codes.
pub const ACTIVATION_PREFIX: &str = "cva_";
/// Prefix of password reset codes.
pub const RESET_PREFIX: &str = "cvr_";
/// Prefix of email change confirmation codes.
pub const EMAIL_CHANGE_PREFIX: &str = "cve_";

/// How many leading characters of a token are kept readable (`prefix` of SPEC §2).
pub const VISIBLE_PREFIX_LEN: usize = 8;

/// `n` bytes from the platform's secure random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("random source failed: {e}")))?;
    Ok(bytes)
}

/// A random (version 4) UUID, lower-case with hyphens: the ids of schedules (as Seed Scheduler's).
pub fn new_uuid() -> Result<String, ApiError> {
    let mut bytes = random_bytes::<16>()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex(&bytes);
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// A new secret: `prefix` + base64url (no padding) of 32 random bytes.
pub fn new_token(prefix: &str) -> Result<String, ApiError> {
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)))
}

/// The readable part of a token kept next to its hash (its first 8 characters).
pub fn visible_prefix(token: &str) -> String {
    token.chars().take(VISIBLE_PREFIX_LEN).collect()
}

/// SHA-256 of a secret: what the database stores and looks secrets up by.
pub fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// Compares two secrets in constant time by comparing their SHA-256 digests (equal length always), so
/// neither the content nor the length of the expected secret leaks through timing.
pub fn secrets_equal(presented: &str, expected: &str) -> bool {
    constant_time_eq(&sha256(presented), &sha256(expected))
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`: what webhooks sign their bodies with
/// (`X-Hub-Signature-256: sha256=<hex>`). Compare results with [`constant_time_eq`].
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|k| k ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id PHC string for `password` (default parameters: m=19 MiB, t=2, p=1) with a random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?).map_err(ApiError::internal)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::internal(format!("hashing a password failed: {e}")))
}

/// Whether `password` matches a stored PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// An argon2id hash of a random password nobody knows, with the default parameters: verified against
/// when a login names no account, so that answering "no such account" costs as long as a wrong password.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$wZ9Mf7Q3xL2s1bq8n0TqYg$4t9iQ0u6m9qfZf0oXkq3mN2q2Yl8Yd5n3m7bQ2kJx0E";

/// Spends the time of one password verification without matching anything.
pub fn verify_dummy(password: &str) {
    let _ = verify_password(password, DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_url_safe() {
        let a = new_token(API_TOKEN_PREFIX).unwrap();
        let b = new_token(API_TOKEN_PREFIX).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("cvt_"), "{a}");
        assert_eq!(a.len(), 4 + 43, "32 bytes are 43 base64url characters: {a}");
        assert!(a[4..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
        assert_eq!(visible_prefix(&a), a[..8]);
    }

    #[test]
    fn uuids_are_version_4() {
        let (a, b) = (new_uuid().unwrap(), new_uuid().unwrap());
        assert_ne!(a, b);
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{a}");
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn hashes_and_comparisons() {
        assert_eq!(sha256("abc").len(), 32);
        assert_eq!(sha256("abc"), sha256("abc"));
        assert_ne!(sha256("abc"), sha256("abd"));
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane"));
        assert!(!constant_time_eq(b"short", b"longer"));
        assert!(secrets_equal("token", "token"));
        assert!(!secrets_equal("token", "token2"));
        assert!(!secrets_equal("", "token"));
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Test case 6: a key longer than the block is hashed first.
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex(&mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert_ne!(hash, hash_password("correct horse").unwrap(), "salts differ");
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn the_dummy_hash_parses_with_the_default_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let real = hash_password("x").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.params, real.params, "the dummy must cost what a real verification costs");
        assert!(!verify_password("", DUMMY_HASH));
    }
}
