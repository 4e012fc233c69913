//! Secret files (bearer tokens): read from systemd's credentials directory when the service
//! got them with `LoadCredential=<name>:<path>`, else from the configured path.
//!
//! The credential name is the configured file's name: `token_file = "/etc/edigate/api-token"`
//! is read from `$CREDENTIALS_DIRECTORY/api-token` when that file exists. Outside systemd,
//! `--credentials-dir DIR` plays the same part.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static CREDENTIALS_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Sets the credentials directory used when `$CREDENTIALS_DIRECTORY` is not set (from
/// `--credentials-dir`); the first call wins.
pub fn set_credentials_dir(dir: PathBuf) {
    let _ = CREDENTIALS_DIR.set(dir);
}

/// The credentials directory: `$CREDENTIALS_DIRECTORY`, else `--credentials-dir`.
pub fn credentials_dir() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| CREDENTIALS_DIR.get().cloned())
}

/// Where the secret configured as `path` is actually read from.
pub fn resolve(path: &Path) -> PathBuf {
    if let (Some(dir), Some(name)) = (credentials_dir(), path.file_name()) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    path.to_path_buf()
}

/// Reads a secret, trimmed of surrounding whitespace.
pub fn read_secret(path: &Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(resolve(path))?.trim().to_string())
}
