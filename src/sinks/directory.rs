//! The directory sink: each record becomes `<outbox>/<kind>/<id>.json`, written atomically
//! (temporary name, fsync, rename, fsync of the folder). Writing the same id again replaces the
//! file with the same bytes, so a retry after a crash is harmless.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::Delivery;
use super::retry::{Attempt, transport_failure};

/// Writes records under a directory.
#[derive(Debug, Clone)]
pub struct DirectorySink {
    root: PathBuf,
}

impl DirectorySink {
    /// A sink writing under `root` (created as needed).
    pub fn new(root: PathBuf) -> Self {
        DirectorySink { root }
    }

    /// Writes one record.
    pub async fn deliver(&self, d: Delivery<'_>) -> Attempt {
        let (Some(kind), Some(id)) = (safe_name(d.kind), safe_name(d.id)) else {
            return Attempt::Rejected {
                error: format!("kind {:?} or id {:?} cannot name a file", d.kind, d.id),
                status: None,
                excerpt: String::new(),
            };
        };
        let dir = self.root.join(kind);
        let name = format!("{id}.json");
        let body = d.body.as_bytes().to_vec();
        let result = tokio::task::spawn_blocking(move || {
            write_atomic(&dir, &name, &body).map(|()| dir.join(name))
        })
        .await;
        match result {
            Ok(Ok(path)) => Attempt::Delivered {
                status: 200,
                excerpt: path.display().to_string(),
            },
            Ok(Err(e)) => transport_failure(format!("cannot write outbox file: {e}")),
            Err(e) => transport_failure(format!("outbox writer failed: {e}")),
        }
    }
}

/// A name is used as one path component only if it cannot climb out of its folder.
fn safe_name(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then_some(s)
}

/// Writes `dir/name` so that readers see either nothing or the whole file, durably.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Makes a rename or creation in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_and_rewrites_the_same_id_harmlessly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = DirectorySink::new(dir.path().to_path_buf());
        let d = Delivery {
            id: "x12:abc",
            kind: "warehouse_order",
            correlation_id: "c",
            body: "{\"id\":\"x12:abc\"}",
        };
        for _ in 0..2 {
            let a = sink.deliver(d).await;
            assert!(matches!(a, Attempt::Delivered { status: 200, .. }), "{a:?}");
        }
        let path = dir.path().join("warehouse_order/x12:abc.json");
        assert_eq!(fs::read_to_string(path).expect("written"), d.body);
        let names: Vec<_> = fs::read_dir(dir.path().join("warehouse_order"))
            .expect("dir")
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[tokio::test]
    async fn an_id_that_would_escape_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = DirectorySink::new(dir.path().to_path_buf());
        let d = Delivery {
            id: "../x",
            kind: "warehouse_order",
            correlation_id: "c",
            body: "{}",
        };
        assert!(matches!(sink.deliver(d).await, Attempt::Rejected { .. }));
    }
}
