//! Secrets: Argon2id password hashes and opaque bearer tokens of which only a SHA-256 is stored.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of sign-in session tokens.
pub const SESSION_PREFIX: &str = "rms_";
/// Prefix of organisation API keys.
pub const API_KEY_PREFIX: &str = "rmk_";
/// Prefix of one-time invitation tokens.
pub const INVITATION_PREFIX: &str = "rmi_";
/// Prefix of single-use password reset tokens.
pub const RESET_PREFIX: &str = "rmr_";
/// Prefix of single-use address verification tokens.
pub const VERIFICATION_PREFIX: &str = "rmv_";
/// Every token prefix: what the log redaction and the idempotency store look for.
pub const TOKEN_PREFIXES: &[&str] = &[
    SESSION_PREFIX,
    API_KEY_PREFIX,
    INVITATION_PREFIX,
    RESET_PREFIX,
    VERIFICATION_PREFIX,
];

/// `text` with every token (a word starting with one of [`TOKEN_PREFIXES`]) replaced by its
/// prefix and `…`, for logs.
pub fn redact_tokens(text: &str) -> std::borrow::Cow<'_, str> {
    if !TOKEN_PREFIXES.iter().any(|p| text.contains(p)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, prefix)) = TOKEN_PREFIXES
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, *p)))
        .min_by_key(|(i, _)| *i)
    {
        out.push_str(&rest[..at]);
        out.push_str(prefix);
        out.push('…');
        let after = &rest[at + prefix.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Hashes a password with Argon2id and a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against a stored hash; a malformed hash never verifies.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so that timing does not reveal it.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password, only for timing").unwrap_or_default())
}

/// A new random token with `prefix` (256 bits of entropy, URL-safe).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What is stored for a token: its SHA-256 in hex. Tokens are random, so a fast hash suffices.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_redacted_for_logs() {
        let t = new_token(RESET_PREFIX);
        let uri = format!("/compte/mot-de-passe/{t}?lang=en");
        let red = redact_tokens(&uri);
        assert_eq!(red, "/compte/mot-de-passe/rmr_…?lang=en");
        assert_eq!(redact_tokens("/v1/items"), "/v1/items");
    }

    #[test]
    fn tokens_are_prefixed_and_distinct() {
        let a = new_token(SESSION_PREFIX);
        let b = new_token(SESSION_PREFIX);
        assert!(a.starts_with(SESSION_PREFIX));
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
    }
}
