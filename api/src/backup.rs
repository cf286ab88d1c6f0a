//! Backups of one deployment's own state, taken while the service runs, and their restore: the
//! embedded SQLite database (`VACUUM INTO`), the local blob directory and the checkpoint signing
//! key, with a `manifest.json` listing every file's size and SHA-256. What lives elsewhere
//! (PostgreSQL, an S3 bucket, a key given by `REEMPLOI_CHECKPOINT_KEY`) is named in the manifest
//! as not covered. The search index is never backed up: the service rebuilds it at start.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Settings;

/// The version of the manifest's format; a restore refuses any other.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's file name, at the top of a backup directory.
pub const MANIFEST: &str = "manifest.json";
/// The database copy, in a backup directory.
pub const DATABASE_FILE: &str = "reemploi.sqlite3";
const BLOBS_DIR: &str = "blobs";
const KEY_FILE: &str = "checkpoint-key";
const SEARCH_DIR: &str = "search";

/// What a backup holds: written as `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format_version: u32,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    /// The `reemploi` version that took it.
    pub service_version: String,
    /// `sqlite` or `postgres`.
    pub database_backend: String,
    /// Parts held: `database`, `blobs`, `checkpoint_key`.
    pub included: Vec<String>,
    /// Parts the backup does not cover, each with what to do instead.
    pub not_included: Vec<String>,
    /// Every file of the backup but the manifest, by path relative to the backup directory.
    pub files: Vec<FileEntry>,
    pub total_bytes: u64,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative path, `/`-separated.
    pub path: String,
    pub bytes: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

impl Manifest {
    /// A few lines for the operator: what is in, what is not.
    pub fn summary(&self) -> String {
        let blobs = self
            .files
            .iter()
            .filter(|f| f.path.starts_with("blobs/"))
            .count();
        let mut out = format!(
            "backup of {} ({} database), taken at {}: {} files, {} bytes\nincluded: {}",
            self.service_version,
            self.database_backend,
            self.taken_at.to_rfc3339(),
            self.files.len(),
            self.total_bytes,
            if self.included.is_empty() {
                "nothing".to_owned()
            } else {
                self.included.join(", ")
            },
        );
        if self.included.iter().any(|i| i == "blobs") {
            out.push_str(&format!(" ({blobs} blob files)"));
        }
        for n in &self.not_included {
            out.push_str(&format!("\nNOT included: {n}"));
        }
        out
    }
}

/// Takes a backup into `to` (created if missing; refused unless empty) while the service may
/// run. The database is copied first, then the blobs, so that every blob the copied database
/// names is there unless it was deleted in between.
pub async fn backup(settings: &Settings, to: &Path) -> anyhow::Result<Manifest> {
    prepare_empty_dir(to)?;
    let mut included = Vec::new();
    let mut not_included = Vec::new();
    let mut files = Vec::new();

    if settings.is_sqlite() {
        let source = crate::store::sqlite_path(&settings.database_url)
            .context("DATABASE_URL names no SQLite file (an in-memory database?)")?;
        if !Path::new(&source).is_file() {
            bail!("no database at {source}: nothing to back up");
        }
        let db = crate::store::connect_url(&settings.database_url, 1)
            .await
            .context("connecting to the database")?;
        let target = to.join(DATABASE_FILE);
        crate::store::snapshot_sqlite(&db, &target)
            .await
            .context("copying the database (VACUUM INTO)")?;
        db.close().await.ok();
        let target_for_hash = target.clone();
        let (bytes, sha256) = tokio::task::spawn_blocking(move || hash_file(&target_for_hash))
            .await
            .context("hashing the database copy")??;
        files.push(FileEntry {
            path: DATABASE_FILE.to_owned(),
            bytes,
            sha256,
        });
        included.push("database".to_owned());
    } else {
        not_included.push(
            "database: PostgreSQL is not copied by this command; back it up with `pg_dump --format=custom` (and restore with `pg_restore`)".to_owned(),
        );
    }

    if settings.s3.is_some() {
        not_included.push(
            "blobs: they are in the S3 bucket; protect them with the store's bucket versioning or replication".to_owned(),
        );
    } else {
        let source = settings.data_dir.join(BLOBS_DIR);
        let target = to.join(BLOBS_DIR);
        let copied = tokio::task::spawn_blocking(move || copy_tree(&source, &target, BLOBS_DIR))
            .await
            .context("copying the blobs")??;
        files.extend(copied);
        included.push("blobs".to_owned());
    }

    if settings.checkpoint_key.is_some() {
        not_included.push(
            "checkpoint_key: it comes from REEMPLOI_CHECKPOINT_KEY; keep it with your other secrets".to_owned(),
        );
    } else {
        let source = settings.data_dir.join(KEY_FILE);
        if source.is_file() {
            let target = to.join(KEY_FILE);
            let entry = tokio::task::spawn_blocking(move || {
                copy_file(&source, &target, KEY_FILE.to_owned())
            })
            .await
            .context("copying the checkpoint key")??;
            files.push(entry);
            included.push("checkpoint_key".to_owned());
        } else {
            not_included.push(format!(
                "checkpoint_key: {} does not exist yet (the service creates it at its first checkpoint)",
                source.display()
            ));
        }
    }
    not_included.push(
        "search index: not needed, the service rebuilds it from the database at start".to_owned(),
    );

    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        taken_at: chrono::Utc::now(),
        service_version: env!("CARGO_PKG_VERSION").to_owned(),
        database_backend: settings.database_backend().to_owned(),
        included,
        not_included,
        total_bytes: files.iter().map(|f| f.bytes).sum(),
        files,
    };
    let text = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(to.join(MANIFEST), text + "\n").context("writing the manifest")?;
    Ok(manifest)
}

/// Reads a backup's manifest and checks every file it lists (size and SHA-256).
pub fn verify(from: &Path) -> anyhow::Result<Manifest> {
    let text = std::fs::read_to_string(from.join(MANIFEST))
        .with_context(|| format!("reading {}", from.join(MANIFEST).display()))?;
    let manifest: Manifest = serde_json::from_str(&text).context("the manifest is not valid")?;
    if manifest.format_version != FORMAT_VERSION {
        bail!(
            "backup format {} is not supported (this version reads format {FORMAT_VERSION})",
            manifest.format_version
        );
    }
    for f in &manifest.files {
        let path = inside(from, &f.path)?;
        let (bytes, sha256) = hash_file(&path).with_context(|| format!("reading {}", f.path))?;
        if bytes != f.bytes || sha256 != f.sha256 {
            bail!(
                "{} does not match the manifest (expected {} bytes, sha256 {}; found {bytes} bytes, sha256 {sha256}): the backup is damaged or was altered",
                f.path,
                f.bytes,
                f.sha256
            );
        }
    }
    Ok(manifest)
}

/// Restores a verified backup into the configured data directory (the service must be
/// stopped). Refuses when a database is already there unless `force`, which replaces it and
/// drops the search index so that it is rebuilt.
pub fn restore(settings: &Settings, from: &Path, force: bool) -> anyhow::Result<Manifest> {
    let manifest = verify(from)?;
    let has_database = manifest.included.iter().any(|i| i == "database");
    let db_target = if has_database {
        if !settings.is_sqlite() {
            bail!(
                "the backup holds a SQLite database but DATABASE_URL names PostgreSQL: restore into a SQLite deployment"
            );
        }
        let path = crate::store::sqlite_path(&settings.database_url)
            .context("DATABASE_URL names no SQLite file")?;
        Some(PathBuf::from(path))
    } else {
        None
    };
    if let Some(target) = &db_target
        && target.exists()
    {
        if !force {
            bail!(
                "{} already holds a database; pass --force to replace it",
                target.display()
            );
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = target.as_os_str().to_owned();
            p.push(suffix);
            let p = PathBuf::from(p);
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let search = settings.data_dir.join(SEARCH_DIR);
    if force && search.exists() {
        std::fs::remove_dir_all(&search)
            .with_context(|| format!("removing the old search index {}", search.display()))?;
    }
    for f in &manifest.files {
        let source = inside(from, &f.path)?;
        let target = if f.path == DATABASE_FILE {
            match &db_target {
                Some(t) => t.clone(),
                None => continue,
            }
        } else {
            inside(&settings.data_dir, &f.path)?
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        // Written beside, then renamed: an interrupted restore leaves no half file in place.
        let mut partial = target.as_os_str().to_owned();
        partial.push(".restoring");
        let partial = PathBuf::from(partial);
        // Left by an interrupted restore, if any.
        let _ = std::fs::remove_file(&partial);
        let copied = copy_file(&source, &partial, f.path.clone())?;
        if copied.sha256 != f.sha256 {
            bail!("{} changed while it was restored", f.path);
        }
        std::fs::rename(&partial, &target)
            .with_context(|| format!("moving {} into place", target.display()))?;
    }
    Ok(manifest)
}

/// `dir` inside `base`, refusing absolute paths and `..` (a manifest is read from outside).
fn inside(base: &Path, relative: &str) -> anyhow::Result<PathBuf> {
    let rel = Path::new(relative);
    if relative.is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        bail!("the manifest names an invalid path: {relative}");
    }
    Ok(base.join(rel))
}

fn prepare_empty_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty: a backup goes into a new or empty directory",
                dir.display()
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // It holds personal data and a private key.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    Ok(())
}

/// Copies every file under `source` (absent: nothing) to `target`, named `prefix/…`.
fn copy_tree(source: &Path, target: &Path, prefix: &str) -> anyhow::Result<Vec<FileEntry>> {
    let mut out = Vec::new();
    if !source.exists() {
        return Ok(out);
    }
    let mut stack = vec![(source.to_owned(), target.to_owned(), prefix.to_owned())];
    while let Some((from, to, name)) = stack.pop() {
        std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
        for entry in
            std::fs::read_dir(&from).with_context(|| format!("reading {}", from.display()))?
        {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some(file_str) = file_name.to_str() else {
                bail!("{} has a name that is not UTF-8", entry.path().display());
            };
            let child = format!("{name}/{file_str}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push((entry.path(), to.join(&file_name), child));
            } else if kind.is_file() {
                match copy_file(&entry.path(), &to.join(&file_name), child) {
                    Ok(e) => out.push(e),
                    // Deleted since it was listed (an erasure, a replaced photo): not a failure.
                    Err(e)
                        if e.downcast_ref::<std::io::Error>()
                            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Copies one file, hashing it on the way, with the same private mode on Unix.
fn copy_file(source: &Path, target: &Path, name: String) -> anyhow::Result<FileEntry> {
    let mut input = std::fs::File::open(source)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut output = options
        .open(target)
        .with_context(|| format!("creating {}", target.display()))?;
    let (bytes, sha256) = stream_hashed(&mut input, Some(&mut output))?;
    output.sync_all()?;
    Ok(FileEntry {
        path: name,
        bytes,
        sha256,
    })
}

/// Reads `input` to its end, hashing it and copying it into `output` if given: its size and
/// SHA-256 (hex).
fn stream_hashed(
    input: &mut impl Read,
    mut output: Option<&mut std::fs::File>,
) -> anyhow::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(out) = output.as_mut() {
            out.write_all(&buf[..n])?;
        }
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    stream_hashed(&mut std::fs::File::open(path)?, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_cannot_leave_the_directory() {
        let base = Path::new("/b");
        assert!(inside(base, "blobs/x/y.jpg").is_ok());
        for bad in ["", "../etc/passwd", "/etc/passwd", "blobs/../../x"] {
            assert!(inside(base, bad).is_err(), "{bad}");
        }
    }
}
