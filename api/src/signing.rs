//! The service's own signing key (Ed25519), which signs the checkpoints of the event log so
//! that anyone holding its public key can tell a checkpoint the service published from a forged
//! one. The key comes from `REEMPLOI_CHECKPOINT_KEY`, or is generated once and kept in
//! `$REEMPLOI_DATA_DIR/checkpoint-key` (mode 0600). Several instances share one key only through
//! the variable.

use rand::RngCore;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::config::Settings;

/// The algorithm name published with every signature.
pub const ALGORITHM: &str = "ed25519";

/// The key pair the service signs with.
pub struct Signer {
    pair: Ed25519KeyPair,
    public_hex: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public_key", &self.public_hex)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// From a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Option<Signer> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).ok()?;
        let public_hex = hex::encode(pair.public_key().as_ref());
        Some(Signer { pair, public_hex })
    }

    /// The configured key, or the one kept in the data directory (created on first use). When
    /// the directory cannot hold it, a key for this process only, with an error logged: its
    /// checkpoints still verify against their own public key, but not against the next start's.
    pub fn load(settings: &Settings) -> Signer {
        if let Some(seed) = settings.checkpoint_key.as_ref().and_then(Signer::from_seed) {
            return seed;
        }
        let path = settings.data_dir.join("checkpoint-key");
        let seed = match std::fs::read_to_string(&path) {
            Ok(text) => hex::decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok()),
            Err(_) => None,
        };
        let seed = seed.unwrap_or_else(|| {
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            if let Err(e) = write_private(&path, &hex::encode(seed)) {
                tracing::error!(path = %path.display(), error = %e, "cannot keep the checkpoint signing key; set REEMPLOI_CHECKPOINT_KEY");
            }
            seed
        });
        // ring accepts every 32-byte seed.
        Signer::from_seed(&seed).expect("an Ed25519 key from a 32-byte seed")
    }

    /// The public key, hex.
    pub fn public_key_hex(&self) -> &str {
        &self.public_hex
    }

    /// The signature of `message`, hex.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.pair.sign(message).as_ref())
    }
}

/// Whether `signature_hex` is a valid Ed25519 signature of `message` by `public_key_hex`.
pub fn verify(public_key_hex: &str, message: &[u8], signature_hex: &str) -> bool {
    let (Ok(key), Ok(sig)) = (hex::decode(public_key_hex), hex::decode(signature_hex)) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, key)
        .verify(message, &sig)
        .is_ok()
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_public_key_only() {
        let s = Signer::from_seed(&[7u8; 32]).expect("key");
        let sig = s.sign(b"root");
        assert!(verify(s.public_key_hex(), b"root", &sig));
        assert!(!verify(s.public_key_hex(), b"other root", &sig));
        let other = Signer::from_seed(&[8u8; 32]).expect("key");
        assert!(!verify(other.public_key_hex(), b"root", &sig));
        assert!(!verify("zz", b"root", &sig));
    }
}
