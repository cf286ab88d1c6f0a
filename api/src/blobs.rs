//! The blob storage port: photos and documents. The embedded default keeps files under the data
//! directory and serves them through HMAC-signed, expiring URLs; an S3-compatible store (through
//! `rust-s3`) is used when `S3_ENDPOINT` is set, with presigned URLs. Keys are namespaced by
//! organisation: `<organisation id>/<kind>/<id>.<ext>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use s3::creds::Credentials;
use s3::{Bucket, BucketConfiguration, Region};
use sha2::{Digest, Sha256};

use crate::config::{S3Settings, Settings};

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no such blob")]
    NotFound,
    /// The store cannot be reached or refused our credentials: the caller answers 503.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
    #[error("invalid blob key")]
    InvalidKey,
}

/// The configured store.
#[derive(Clone)]
pub enum Blobs {
    Local(LocalBlobs),
    S3(Box<S3Blobs>),
}

impl Blobs {
    /// Builds the store named by the settings (creating the S3 bucket if needed; an unreachable
    /// store is not fatal at start: writes will answer 503 until it is back).
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Blobs> {
        match &settings.s3 {
            Some(s3) => {
                let store = S3Blobs::new(s3)?;
                // Start never waits on the store: an endpoint that accepts connections but
                // never answers must not delay serving what does not need it.
                let check = store.clone();
                tokio::spawn(async move {
                    if let Err(e) = check.ensure_bucket().await {
                        tracing::warn!(error = %e, "S3 bucket not checked at start");
                    }
                });
                Ok(Blobs::S3(Box::new(store)))
            }
            None => Ok(Blobs::Local(LocalBlobs::new(
                &settings.data_dir.join("blobs"),
                &settings.public_url,
            )?)),
        }
    }

    /// Whether the store answers now (readiness): the local directory exists, or the bucket
    /// answers a `HEAD` (a missing object is an answer).
    pub async fn check(&self) -> Result<(), BlobError> {
        match self {
            Blobs::Local(l) => {
                if tokio::fs::metadata(&l.root).await.is_ok_and(|m| m.is_dir()) {
                    Ok(())
                } else {
                    Err(BlobError::Unavailable(format!(
                        "{} is not a directory",
                        l.root.display()
                    )))
                }
            }
            Blobs::S3(b) => match b.bucket.head_object("readiness-probe").await {
                Ok(_) | Err(s3::error::S3Error::HttpFailWithBody(404, _)) => Ok(()),
                Err(e) => Err(s3_error(e)),
            },
        }
    }

    /// What the readiness report names this store.
    pub fn kind(&self) -> &'static str {
        match self {
            Blobs::Local(_) => "local",
            Blobs::S3(_) => "s3",
        }
    }

    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BlobError> {
        check_key(key)?;
        match self {
            Blobs::Local(l) => l.put(key, bytes).await,
            Blobs::S3(s) => s.put(key, bytes, content_type).await,
        }
    }

    /// Stores the file at `path` under `key`, streamed: the file is never held whole in memory.
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), BlobError> {
        check_key(key)?;
        match self {
            Blobs::Local(l) => l.put_file(key, path).await,
            Blobs::S3(s) => s.put_file(key, path, content_type).await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        check_key(key)?;
        match self {
            Blobs::Local(l) => l.get(key).await,
            Blobs::S3(s) => s.get(key).await,
        }
    }

    /// Writes the blob to the file at `path`, streamed: never held whole in memory.
    pub async fn get_to_file(&self, key: &str, path: &Path) -> Result<(), BlobError> {
        check_key(key)?;
        match self {
            Blobs::Local(l) => l.get_to_file(key, path).await,
            Blobs::S3(s) => s.get_to_file(key, path).await,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        check_key(key)?;
        match self {
            Blobs::Local(l) => l.delete(key).await,
            Blobs::S3(s) => s.delete(key).await,
        }
    }

    /// An expiring URL to download the blob.
    pub async fn signed_url(&self, key: &str, ttl_secs: u32) -> Result<String, BlobError> {
        check_key(key)?;
        match self {
            Blobs::Local(l) => Ok(l.signed_url(key, ttl_secs)),
            Blobs::S3(s) => s.presign(key, ttl_secs).await,
        }
    }
}

/// Keys are ours: lower-case hexadecimal, dashes, dots and slashes, no `..`.
fn check_key(key: &str) -> Result<(), BlobError> {
    let ok = !key.is_empty()
        && key.len() <= 200
        && !key.contains("..")
        && !key.starts_with('/')
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(BlobError::InvalidKey)
    }
}

/// The content type of a key, from its extension.
pub fn content_type_of(key: &str) -> &'static str {
    match key.rsplit('.').next() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        Some("txt" | "log") => "text/plain; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Files under a directory, served by the service itself through signed URLs.
#[derive(Clone)]
pub struct LocalBlobs {
    root: PathBuf,
    public_url: String,
    secret: [u8; 32],
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.iter().map(|b| b ^ 0x36).collect::<Vec<u8>>());
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(k.iter().map(|b| b ^ 0x5c).collect::<Vec<u8>>());
    outer.update(inner.finalize());
    outer.finalize().into()
}

impl LocalBlobs {
    /// Opens (or creates) the directory and its signing key, kept beside it so that signed URLs
    /// survive a restart.
    pub fn new(root: &Path, public_url: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)?;
        let key_path = root.join(".signing-key");
        let secret = match std::fs::read(&key_path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut s = [0u8; 32];
                s.copy_from_slice(&bytes);
                s
            }
            _ => {
                let mut s = [0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut s);
                std::fs::write(&key_path, s)?;
                s
            }
        };
        Ok(Self {
            root: root.to_owned(),
            public_url: public_url.to_owned(),
            secret,
        })
    }

    /// A store that is never written to, for generating the spec without a data directory.
    pub fn detached() -> Self {
        Self {
            root: PathBuf::from("/nonexistent"),
            public_url: String::new(),
            secret: [0; 32],
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        let path = self.path(key);
        let io = |e: std::io::Error| BlobError::Unavailable(e.to_string());
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let tmp = path.with_extension("part");
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)
    }

    async fn put_file(&self, key: &str, source: &Path) -> Result<(), BlobError> {
        let path = self.path(key);
        let io = |e: std::io::Error| BlobError::Unavailable(e.to_string());
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let tmp = path.with_extension("part");
        tokio::fs::copy(source, &tmp).await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        match tokio::fs::read(self.path(key)).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
            Err(e) => Err(BlobError::Unavailable(e.to_string())),
        }
    }

    async fn get_to_file(&self, key: &str, target: &Path) -> Result<(), BlobError> {
        match tokio::fs::copy(self.path(key), target).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
            Err(e) => Err(BlobError::Unavailable(e.to_string())),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BlobError::Unavailable(e.to_string())),
        }
    }

    /// The signature of `key` valid until `expires` (Unix seconds).
    pub fn signature(&self, key: &str, expires: i64) -> String {
        hex::encode(hmac_sha256(
            &self.secret,
            format!("{key}\n{expires}").as_bytes(),
        ))
    }

    fn signed_url(&self, key: &str, ttl_secs: u32) -> String {
        let expires = chrono::Utc::now().timestamp() + i64::from(ttl_secs);
        format!(
            "{}/v1/blobs?key={key}&expires={expires}&signature={}",
            self.public_url,
            self.signature(key, expires)
        )
    }

    /// Checks a signed URL's parameters (constant-time comparison).
    pub fn verify(&self, key: &str, expires: i64, signature: &str) -> bool {
        if expires < chrono::Utc::now().timestamp() {
            return false;
        }
        let expected = self.signature(key, expires);
        expected.len() == signature.len()
            && expected
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// An S3-compatible bucket.
#[derive(Clone)]
pub struct S3Blobs {
    bucket: Box<Bucket>,
    region: Region,
    credentials: Credentials,
}

fn s3_error(e: s3::error::S3Error) -> BlobError {
    match e {
        s3::error::S3Error::HttpFailWithBody(404, _) => BlobError::NotFound,
        other => BlobError::Unavailable(other.to_string()),
    }
}

impl S3Blobs {
    pub fn new(s: &S3Settings) -> anyhow::Result<Self> {
        let region = Region::Custom {
            region: s.region.clone(),
            endpoint: s.endpoint.clone(),
        };
        let credentials =
            Credentials::new(Some(&s.access_key), Some(&s.secret_key), None, None, None)?;
        let mut bucket = Bucket::new(&s.bucket, region.clone(), credentials.clone())?;
        if s.path_style {
            bucket = bucket.with_path_style();
        }
        bucket.set_request_timeout(Some(Duration::from_secs(30)));
        Ok(Self {
            bucket,
            region,
            credentials,
        })
    }

    /// Creates the bucket; one that already exists is fine.
    pub async fn ensure_bucket(&self) -> Result<(), BlobError> {
        let created = Bucket::create_with_path_style(
            &self.bucket.name,
            self.region.clone(),
            self.credentials.clone(),
            BucketConfiguration::default(),
        )
        .await;
        match created {
            Ok(r) if r.success() || r.response_code == 409 => Ok(()),
            Ok(r) => Err(BlobError::Unavailable(format!(
                "bucket creation answered {}",
                r.response_code
            ))),
            Err(s3::error::S3Error::HttpFailWithBody(409, _)) => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.bucket
            .put_object_with_content_type(key, &bytes, content_type)
            .await
            .map(|_| ())
            .map_err(s3_error)
    }

    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), BlobError> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| BlobError::Unavailable(e.to_string()))?;
        self.bucket
            .put_object_stream_with_content_type(&mut file, key, content_type)
            .await
            .map(|_| ())
            .map_err(s3_error)
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        self.bucket
            .get_object(key)
            .await
            .map(|r| r.bytes().to_vec())
            .map_err(s3_error)
    }

    async fn get_to_file(&self, key: &str, target: &Path) -> Result<(), BlobError> {
        let mut file = tokio::fs::File::create(target)
            .await
            .map_err(|e| BlobError::Unavailable(e.to_string()))?;
        let status = self
            .bucket
            .get_object_to_writer(key, &mut file)
            .await
            .map_err(s3_error)?;
        match status {
            200..=299 => {
                tokio::io::AsyncWriteExt::flush(&mut file)
                    .await
                    .map_err(|e| BlobError::Unavailable(e.to_string()))?;
                Ok(())
            }
            404 => Err(BlobError::NotFound),
            other => Err(BlobError::Unavailable(format!("GET answered {other}"))),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.bucket.delete_object(key).await {
            Ok(_) | Err(s3::error::S3Error::HttpFailWithBody(404, _)) => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn presign(&self, key: &str, ttl_secs: u32) -> Result<String, BlobError> {
        self.bucket
            .presign_get(key, ttl_secs, None)
            .await
            .map_err(s3_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn keys_cannot_escape_the_store() {
        assert!(check_key("0193/photos/abc.jpg").is_ok());
        for bad in ["../etc/passwd", "/abs", "a/../../b", "UPPER", "a b", ""] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
