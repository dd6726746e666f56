//! The secrets of access control and how they are kept: passwords as argon2id hashes,
//! session ids and API tokens as random 256-bit values stored only as their SHA-256, so a
//! copy of the database opens nothing. It does not decide who may do what (`policy`).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// Shorter passwords are refused when a user is added or changes theirs.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The prefix of every API token, so a leaked one is recognisable in logs and scanners.
pub const TOKEN_PREFIX: &str = "arr_";

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("the password has {0} characters; at least {MIN_PASSWORD_CHARS} are required")]
    TooShort(usize),
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// A password the rules accept, hashed with argon2id (the crate's default parameters) and a
/// random salt. Slow on purpose: call it off the async runtime (`spawn_blocking`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let chars = password.chars().count();
    if chars == 0 {
        return Err(PasswordError::Empty);
    }
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort(chars));
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `hash`; a malformed hash matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password was made for: a login for an unknown name verifies against it, so it
/// takes as long as one for a known name and the timing does not tell which names exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&hex(&rand::random::<[u8; 16]>())).unwrap_or_default())
}

/// 256 random bits, hex-encoded: session ids and CSRF tokens.
pub fn random_secret() -> String {
    hex(&rand::random::<[u8; 32]>())
}

/// A new API token: the prefix and 256 random bits.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// What the store keeps of a session id or token: its SHA-256, hex-encoded. Enough for
/// 256-bit random values (no dictionary to try), and cheap on every request.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    arrears_engine::runtime::registry::hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() -> Result<(), PasswordError> {
        let h = hash_password("correct horse")?;
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsE"));
        assert!(!verify_password("not a hash", "correct horse"));
        Ok(())
    }

    #[test]
    fn empty_and_short_passwords_are_refused() {
        assert!(matches!(hash_password(""), Err(PasswordError::Empty)));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort(5))
        ));
    }

    #[test]
    fn tokens_are_prefixed_random_and_kept_as_digests() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with("arr_") && a.len() == 4 + 64, "{a}");
        assert_ne!(a, b);
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a);
        assert!(same(&a, &a) && !same(&a, &b) && !same("ab", "abc"));
    }
}
