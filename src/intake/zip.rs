//! Zip intake: walks an archive and hands each member, as its own input, to a callback under hard limits.
//!
//! Invariants:
//! - Nothing is ever written to disk, and names inside the archive are never used as paths: a
//!   member's name is only checked and passed on as a label.
//! - Declared sizes are never trusted. Every byte handed out is counted as it streams, against
//!   the member limit, the whole-walk total and the expansion ratio; the first byte past a limit
//!   turns into an I/O error for the reader and a [`ZipError`] for that member.
//! - One bad member never sinks the others: unsafe names, symlinks, encrypted or oversized
//!   members are reported and skipped. Only an unreadable outer archive, too many entries, or
//!   the whole-walk total being exceeded stop the walk (`ZipReport::aborted`).
//! - Nested archives are recognised by content (`PK\x03\x04` or `PK\x05\x06`), never by name,
//!   and opened from memory, at most `max_member_bytes` of it, up to `max_depth` levels.

use std::borrow::Cow;
use std::io::{self, Cursor, Read, Seek, SeekFrom};

use zip::ZipArchive;

/// An expansion ratio is only judged once a member has produced this many bytes: tiny members
/// of spaces or zeros legitimately compress far beyond any sane ratio.
pub const RATIO_GRACE_BYTES: u64 = 1024 * 1024;

/// Unix file-type bits and the symbolic-link type.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Separator between an archive and a member inside it in names and error labels.
pub const NESTED_SEPARATOR: &str = "!/";

/// Hard limits for one walk (the outer archive and everything nested in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Most entries (files, directories, links) across all levels.
    pub max_entries: usize,
    /// Most decompressed bytes handed out across all members and levels (a nested archive's
    /// bytes count once as a member and again as its members are read).
    pub max_total_bytes: u64,
    /// Most decompressed bytes per compressed byte for one member (judged past
    /// [`RATIO_GRACE_BYTES`]).
    pub max_ratio: u64,
    /// Most levels of archives inside the outer one that are opened (0: none).
    pub max_depth: u32,
    /// Most decompressed bytes of one member (also the memory bound for a nested archive).
    pub max_member_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_entries: 10_000,
            max_total_bytes: 1024 * 1024 * 1024,
            max_ratio: 200,
            max_depth: 2,
            max_member_bytes: 256 * 1024 * 1024,
        }
    }
}

/// One member handed to the callback.
pub struct Member<'a> {
    /// Checked name inside the outer archive: `/`-separated, no `.`/`..`, nested archives joined
    /// with [`NESTED_SEPARATOR`] (`inner.zip!/ASN.edi`).
    pub name: &'a str,
    /// 0 for members of the outer archive, 1 inside a nested archive, and so on.
    pub depth: u32,
    /// The member's bytes, counted against the limits as they stream.
    pub reader: &'a mut dyn Read,
}

impl Member<'_> {
    /// The last component of the name, for `source.file` (no directories).
    pub fn file_name(&self) -> &str {
        let last = self
            .name
            .rsplit(NESTED_SEPARATOR)
            .next()
            .unwrap_or(self.name);
        last.rsplit('/').next().unwrap_or(last)
    }
}

/// A failure of the callback itself (parsing, storing); reported against the member.
pub type ConsumerError = Box<dyn std::error::Error + Send + Sync>;

/// Why a member (or the whole archive) was not delivered. `archive` names the archive holding
/// the member: the outer name, or `outer.zip!/inner.zip` for a nested one.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// The archive's directory cannot be read.
    #[error("{archive}: not a readable zip archive: {source}")]
    Open {
        /// The archive.
        archive: String,
        /// What the zip reader said.
        #[source]
        source: zip::result::ZipError,
    },
    /// More entries than `max_entries`.
    #[error("{archive}: {count} entries bring the walk over the limit of {limit}")]
    TooManyEntries {
        /// The archive.
        archive: String,
        /// Entries counted so far including this archive's.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A name that could escape a directory or cannot be read.
    #[error("{archive}: member {member:?} was rejected: its name {reason}")]
    UnsafeName {
        /// The archive.
        archive: String,
        /// The name as stored (lossy).
        member: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A symbolic link entry.
    #[error("{archive}: member {member:?} was rejected: it is a symbolic link")]
    Symlink {
        /// The archive.
        archive: String,
        /// The member.
        member: String,
    },
    /// An encrypted entry.
    #[error("{archive}: member {member:?} was rejected: it is encrypted")]
    Encrypted {
        /// The archive.
        archive: String,
        /// The member.
        member: String,
    },
    /// A member that expands past `max_member_bytes`.
    #[error(
        "{archive}: member {member:?} was rejected: it expands past the limit of {limit} bytes"
    )]
    MemberTooLarge {
        /// The archive.
        archive: String,
        /// The member.
        member: String,
        /// The limit.
        limit: u64,
    },
    /// A member that expands more than `max_ratio` times its compressed size.
    #[error(
        "{archive}: member {member:?} was rejected: it expands more than {limit} times its compressed size of {compressed} bytes"
    )]
    RatioExceeded {
        /// The archive.
        archive: String,
        /// The member.
        member: String,
        /// Compressed size used for the ratio.
        compressed: u64,
        /// The limit.
        limit: u64,
    },
    /// The walk expanded past `max_total_bytes`; it stops here.
    #[error(
        "{archive}: the archive expands past the total limit of {limit} bytes (at member {member:?}); the rest was not read"
    )]
    TotalTooLarge {
        /// The archive.
        archive: String,
        /// The member being read when the limit was hit.
        member: String,
        /// The limit.
        limit: u64,
    },
    /// A nested archive deeper than `max_depth`.
    #[error(
        "{archive}: member {member:?} was rejected: it is a zip archive nested deeper than {limit} levels"
    )]
    TooDeep {
        /// The archive.
        archive: String,
        /// The member.
        member: String,
        /// The limit.
        limit: u32,
    },
    /// The member's data is corrupt or cannot be decompressed.
    #[error("{archive}: member {member:?} cannot be read: {source}")]
    Read {
        /// The archive.
        archive: String,
        /// The member.
        member: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The callback failed on this member.
    #[error("{archive}: member {member:?} was not processed: {source}")]
    Consumer {
        /// The archive.
        archive: String,
        /// The member.
        member: String,
        /// The callback's error.
        #[source]
        source: ConsumerError,
    },
}

impl ZipError {
    /// The archive the error is about (`outer.zip`, or `outer.zip!/inner.zip` when nested).
    pub fn archive(&self) -> &str {
        match self {
            ZipError::Open { archive, .. }
            | ZipError::TooManyEntries { archive, .. }
            | ZipError::UnsafeName { archive, .. }
            | ZipError::Symlink { archive, .. }
            | ZipError::Encrypted { archive, .. }
            | ZipError::MemberTooLarge { archive, .. }
            | ZipError::RatioExceeded { archive, .. }
            | ZipError::TotalTooLarge { archive, .. }
            | ZipError::TooDeep { archive, .. }
            | ZipError::Read { archive, .. }
            | ZipError::Consumer { archive, .. } => archive,
        }
    }
}

/// What a walk did.
#[derive(Debug, Default)]
pub struct ZipReport {
    /// Names of the members the callback accepted, in archive order.
    pub delivered: Vec<String>,
    /// Members that were rejected or failed; the walk went on past each.
    pub rejected: Vec<ZipError>,
    /// Set when the walk stopped early; members after that point were not looked at.
    pub aborted: Option<ZipError>,
}

impl ZipReport {
    /// True when every member was delivered.
    pub fn is_clean(&self) -> bool {
        self.rejected.is_empty() && self.aborted.is_none()
    }
}

/// Walks the zip archive `input` (labelled `archive_name` in errors) and calls `on_member` once
/// per file member, nested archives included, under `limits`. Directories are skipped.
pub fn walk_zip<R: Read + Seek>(
    archive_name: &str,
    mut input: R,
    limits: &ZipLimits,
    on_member: &mut dyn FnMut(Member<'_>) -> Result<(), ConsumerError>,
) -> ZipReport {
    let mut walk = Walk {
        limits,
        on_member,
        total: 0,
        entries: 0,
        report: ZipReport::default(),
    };
    let len = input.seek(SeekFrom::End(0)).and_then(|len| {
        input.seek(SeekFrom::Start(0))?;
        Ok(len)
    });
    match len {
        Ok(len) => walk.archive(archive_name, "", 0, input, len),
        Err(source) => {
            walk.report.aborted = Some(ZipError::Open {
                archive: archive_name.to_string(),
                source: zip::result::ZipError::Io(source),
            })
        }
    }
    walk.report
}

/// State shared across the levels of one walk.
struct Walk<'w> {
    limits: &'w ZipLimits,
    on_member: &'w mut dyn FnMut(Member<'_>) -> Result<(), ConsumerError>,
    total: u64,
    entries: usize,
    report: ZipReport,
}

/// What became of one member after reading.
enum Outcome {
    Delivered,
    Nested(Vec<u8>),
    Rejected(ZipError),
    Abort(ZipError),
}

impl Walk<'_> {
    /// Walks one archive level. `label` names it in errors; `prefix` goes before member names.
    fn archive<R: Read + Seek>(
        &mut self,
        label: &str,
        prefix: &str,
        depth: u32,
        input: R,
        len: u64,
    ) {
        let mut zip = match ZipArchive::new(input) {
            Ok(zip) => zip,
            Err(source) => {
                let error = ZipError::Open {
                    archive: label.to_string(),
                    source,
                };
                self.fail(depth, error);
                return;
            }
        };
        self.entries = self.entries.saturating_add(zip.len());
        if self.entries > self.limits.max_entries {
            let error = ZipError::TooManyEntries {
                archive: label.to_string(),
                count: self.entries,
                limit: self.limits.max_entries,
            };
            self.fail(depth, error);
            return;
        }
        for index in 0..zip.len() {
            if self.report.aborted.is_some() {
                return;
            }
            let outcome = self.member(&mut zip, index, label, prefix, depth, len);
            match outcome {
                Some(Outcome::Delivered) | None => {}
                Some(Outcome::Rejected(error)) => self.report.rejected.push(error),
                Some(Outcome::Abort(error)) => self.report.aborted = Some(error),
                Some(Outcome::Nested(bytes)) => {
                    let name = member_name_at(&zip, index);
                    let inner_label = format!("{label}{NESTED_SEPARATOR}{name}");
                    let inner_prefix = format!("{prefix}{name}{NESTED_SEPARATOR}");
                    let inner_len = bytes.len() as u64;
                    self.archive(
                        &inner_label,
                        &inner_prefix,
                        depth + 1,
                        Cursor::new(bytes),
                        inner_len,
                    );
                }
            }
        }
    }

    /// An archive-level failure: fatal for the outer archive, a rejected member when nested.
    fn fail(&mut self, depth: u32, error: ZipError) {
        if depth == 0 {
            self.report.aborted = Some(error);
        } else {
            self.report.rejected.push(error);
        }
    }

    /// Checks and reads one member; `None` for directories.
    fn member<R: Read + Seek>(
        &mut self,
        zip: &mut ZipArchive<R>,
        index: usize,
        label: &str,
        prefix: &str,
        depth: u32,
        archive_len: u64,
    ) -> Option<Outcome> {
        let archive = || label.to_string();
        let entry = match zip.by_index_data(index) {
            Ok(entry) => entry,
            Err(source) => {
                return Some(Outcome::Rejected(ZipError::Read {
                    archive: archive(),
                    member: format!("#{}", index + 1),
                    source: io::Error::other(source),
                }));
            }
        };
        let raw_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let name = match entry.name() {
            Ok(name) => name.into_owned(),
            Err(_) => {
                return Some(Outcome::Rejected(ZipError::UnsafeName {
                    archive: archive(),
                    member: raw_name,
                    reason: "cannot be decoded",
                }));
            }
        };
        if entry
            .unix_mode()
            .is_some_and(|mode| mode & S_IFMT == S_IFLNK)
            || entry.is_symlink()
        {
            return Some(Outcome::Rejected(ZipError::Symlink {
                archive: archive(),
                member: name,
            }));
        }
        let safe = match safe_member_name(&name) {
            Ok(safe) => safe,
            Err(reason) => {
                return Some(Outcome::Rejected(ZipError::UnsafeName {
                    archive: archive(),
                    member: name,
                    reason,
                }));
            }
        };
        if entry.is_dir() {
            return None;
        }
        if entry.encrypted() {
            return Some(Outcome::Rejected(ZipError::Encrypted {
                archive: archive(),
                member: safe,
            }));
        }
        // The zip reader never consumes more than the declared compressed size, and that size
        // cannot exceed the archive, so the smaller of the two bounds the real input.
        let compressed = entry.compressed_size().min(archive_len);
        drop(entry);
        let file = match zip.by_index(index) {
            Ok(file) => file,
            Err(source) => {
                return Some(Outcome::Rejected(ZipError::Read {
                    archive: archive(),
                    member: safe,
                    source: io::Error::other(source),
                }));
            }
        };
        let mut counted = Counted::new(file, compressed, self.limits, &mut self.total);
        if let Err(error) = counted.fill_head() {
            return Some(counted.failure(label, &safe, error));
        }
        if counted.head_is_zip() {
            if depth >= self.limits.max_depth {
                return Some(Outcome::Rejected(ZipError::TooDeep {
                    archive: archive(),
                    member: safe,
                    limit: self.limits.max_depth,
                }));
            }
            let mut bytes = Vec::new();
            return Some(match counted.read_to_end(&mut bytes) {
                Ok(_) => Outcome::Nested(bytes),
                Err(error) => counted.failure(label, &safe, error),
            });
        }
        let full_name = format!("{prefix}{safe}");
        let result = (self.on_member)(Member {
            name: &full_name,
            depth,
            reader: &mut counted,
        });
        if counted.trip.is_some() || counted.read_error.is_some() {
            return Some(counted.failure(label, &safe, io::Error::other("limit")));
        }
        Some(match result {
            Ok(()) => {
                self.report.delivered.push(full_name);
                Outcome::Delivered
            }
            Err(source) => Outcome::Rejected(ZipError::Consumer {
                archive: archive(),
                member: safe,
                source,
            }),
        })
    }
}

/// The checked name of member `index` (used for nested labels after a successful read).
fn member_name_at<R: Read + Seek>(zip: &ZipArchive<R>, index: usize) -> String {
    zip.by_index_data(index)
        .ok()
        .and_then(|entry| entry.name().ok().map(Cow::into_owned))
        .and_then(|name| safe_member_name(&name).ok())
        .unwrap_or_else(|| format!("#{}", index + 1))
}

/// Checks a stored name and returns it `/`-separated without `.` or empty components.
/// Rejects absolute paths, drive letters, `..`, control characters and empty names.
pub fn safe_member_name(name: &str) -> Result<String, &'static str> {
    if name.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err("is an absolute path");
    }
    let mut chars = name.chars();
    if let (Some(first), Some(':')) = (chars.next(), chars.next())
        && first.is_ascii_alphabetic()
    {
        return Err("starts with a drive letter");
    }
    let mut parts = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err("contains a parent-directory component"),
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("is empty");
    }
    Ok(parts.join("/"))
}

/// Which limit a member hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Member,
    Ratio,
    Total,
}

/// A reader that counts what it hands out and fails at the first byte past a limit.
/// It can peek the first four bytes (to recognise nested archives) and replays them.
struct Counted<'t, R> {
    inner: R,
    compressed: u64,
    limits: &'t ZipLimits,
    total: &'t mut u64,
    produced: u64,
    head: [u8; 4],
    head_len: usize,
    head_pos: usize,
    trip: Option<Trip>,
    read_error: Option<io::Error>,
}

impl<'t, R: Read> Counted<'t, R> {
    fn new(inner: R, compressed: u64, limits: &'t ZipLimits, total: &'t mut u64) -> Self {
        Counted {
            inner,
            compressed,
            limits,
            total,
            produced: 0,
            head: [0; 4],
            head_len: 0,
            head_pos: 0,
            trip: None,
            read_error: None,
        }
    }

    /// Reads up to four bytes to look at; they are replayed by `read`.
    fn fill_head(&mut self) -> io::Result<()> {
        let mut head = [0u8; 4];
        let mut filled = 0;
        while filled < head.len() {
            let n = self.read_counted(&mut head[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        self.head = head;
        self.head_len = filled;
        Ok(())
    }

    fn head_is_zip(&self) -> bool {
        let head = &self.head[..self.head_len];
        head == b"PK\x03\x04" || head == b"PK\x05\x06"
    }

    /// Reads from the member, counting, and trips a limit instead of returning excess bytes.
    fn read_counted(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(trip) = self.trip {
            return Err(trip_error(trip));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(error) => {
                let copy = io::Error::new(error.kind(), error.to_string());
                self.read_error = Some(error);
                return Err(copy);
            }
        };
        let n64 = n as u64;
        self.produced += n64;
        *self.total += n64;
        let ratio_cap = self.compressed.max(1).saturating_mul(self.limits.max_ratio);
        self.trip = if *self.total > self.limits.max_total_bytes {
            Some(Trip::Total)
        } else if self.produced > self.limits.max_member_bytes {
            Some(Trip::Member)
        } else if self.produced > RATIO_GRACE_BYTES && self.produced > ratio_cap {
            Some(Trip::Ratio)
        } else {
            None
        };
        match self.trip {
            Some(trip) => Err(trip_error(trip)),
            None => Ok(n),
        }
    }

    /// Turns a failed read into the member's outcome.
    fn failure(&mut self, archive: &str, member: &str, error: io::Error) -> Outcome {
        let archive = archive.to_string();
        let member = member.to_string();
        match self.trip {
            Some(Trip::Total) => Outcome::Abort(ZipError::TotalTooLarge {
                archive,
                member,
                limit: self.limits.max_total_bytes,
            }),
            Some(Trip::Member) => Outcome::Rejected(ZipError::MemberTooLarge {
                archive,
                member,
                limit: self.limits.max_member_bytes,
            }),
            Some(Trip::Ratio) => Outcome::Rejected(ZipError::RatioExceeded {
                archive,
                member,
                compressed: self.compressed,
                limit: self.limits.max_ratio,
            }),
            None => Outcome::Rejected(ZipError::Read {
                archive,
                member,
                source: self.read_error.take().unwrap_or(error),
            }),
        }
    }
}

fn trip_error(trip: Trip) -> io::Error {
    let what = match trip {
        Trip::Member => "the member expands past its size limit",
        Trip::Ratio => "the member expands past the compression-ratio limit",
        Trip::Total => "the archive expands past its total size limit",
    };
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.head_pos < self.head_len {
            let n = (self.head_len - self.head_pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.head_pos..self.head_pos + n]);
            self.head_pos += n;
            return Ok(n);
        }
        self.read_counted(buf)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::CompressionMethod;
    use zip::write::{SimpleFileOptions, ZipWriter};

    use super::*;

    fn stored() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
    }

    fn deflated() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
    }

    /// Builds an archive from (name, bytes) pairs.
    fn build(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in members {
            writer.start_file(*name, deflated()).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    /// Walks and collects (name, depth, contents) of delivered members.
    fn walk(bytes: Vec<u8>, limits: &ZipLimits) -> (Vec<(String, u32, Vec<u8>)>, ZipReport) {
        let mut seen = Vec::new();
        let report = walk_zip("in.zip", Cursor::new(bytes), limits, &mut |member| {
            let mut buf = Vec::new();
            member.reader.read_to_end(&mut buf)?;
            seen.push((member.name.to_string(), member.depth, buf));
            Ok(())
        });
        (seen, report)
    }

    #[test]
    fn delivers_every_member_with_its_bytes() {
        let zip = build(&[("a/ASN.edi", b"ISA*00*"), ("b.csv", b"x,y\n1,2\n")]);
        let (seen, report) = walk(zip, &ZipLimits::default());
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(
            seen,
            vec![
                ("a/ASN.edi".to_string(), 0, b"ISA*00*".to_vec()),
                ("b.csv".to_string(), 0, b"x,y\n1,2\n".to_vec()),
            ]
        );
        assert_eq!(report.delivered, vec!["a/ASN.edi", "b.csv"]);
    }

    #[test]
    fn bomb_is_stopped_by_the_ratio_while_streaming() {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        writer
            .start_file(
                "zeros.bin",
                deflated().compression_level(Some(9)).large_file(false),
            )
            .unwrap();
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..50 {
            writer.write_all(&chunk).unwrap();
        }
        writer.start_file("ok.txt", stored()).unwrap();
        writer.write_all(b"fine").unwrap();
        let zip = writer.finish().unwrap().into_inner();
        assert!(zip.len() < 200 * 1024, "compressed to {} bytes", zip.len());
        let limits = ZipLimits {
            max_ratio: 100,
            max_total_bytes: 10 * 1024 * 1024,
            ..ZipLimits::default()
        };
        let mut read_before_error = 0u64;
        let report = walk_zip("bomb.zip", Cursor::new(zip), &limits, &mut |member| {
            let mut buf = [0u8; 8192];
            loop {
                match member.reader.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => read_before_error += n as u64,
                    Err(error) => return Err(error.into()),
                }
            }
        });
        assert!(read_before_error < 10 * 1024 * 1024);
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        assert!(
            matches!(&report.rejected[0], ZipError::RatioExceeded { member, limit: 100, .. } if member == "zeros.bin"),
            "{}",
            report.rejected[0]
        );
        assert_eq!(report.delivered, vec!["ok.txt"]);
    }

    #[test]
    fn total_limit_stops_the_walk() {
        let zip = build(&[("a", &[7u8; 3000]), ("b", &[8u8; 3000]), ("c", b"x")]);
        let limits = ZipLimits {
            max_total_bytes: 4000,
            ..ZipLimits::default()
        };
        let (seen, report) = walk(zip, &limits);
        assert_eq!(seen.len(), 1);
        assert!(matches!(
            report.aborted,
            Some(ZipError::TotalTooLarge { ref member, .. }) if member == "b"
        ));
    }

    #[test]
    fn member_limit_rejects_only_that_member() {
        let zip = build(&[("big", &[1u8; 5000]), ("small", b"ok")]);
        let limits = ZipLimits {
            max_member_bytes: 4096,
            ..ZipLimits::default()
        };
        let (seen, report) = walk(zip, &limits);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "small");
        assert!(matches!(
            report.rejected[..],
            [ZipError::MemberTooLarge { .. }]
        ));
    }

    #[test]
    fn too_many_entries_is_refused_before_reading() {
        let names: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
        let members: Vec<(&str, &[u8])> = names
            .iter()
            .map(|n| (n.as_str(), b"x".as_slice()))
            .collect();
        let limits = ZipLimits {
            max_entries: 5,
            ..ZipLimits::default()
        };
        let (seen, report) = walk(build(&members), &limits);
        assert!(seen.is_empty());
        assert!(matches!(
            report.aborted,
            Some(ZipError::TooManyEntries {
                count: 6,
                limit: 5,
                ..
            })
        ));
    }

    #[test]
    fn unsafe_names_are_rejected_and_the_rest_delivered() {
        let zip = build(&[
            ("../evil", b"1"),
            ("/etc/passwd", b"2"),
            ("C:\\windows\\x", b"3"),
            ("a/../../b", b"4"),
            ("good.edi", b"5"),
        ]);
        let (seen, report) = walk(zip, &ZipLimits::default());
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "good.edi");
        let reasons: Vec<&str> = report
            .rejected
            .iter()
            .map(|e| match e {
                ZipError::UnsafeName { reason, .. } => *reason,
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "contains a parent-directory component",
                "is an absolute path",
                "starts with a drive letter",
                "contains a parent-directory component",
            ]
        );
        assert!(report.rejected[0].to_string().contains("\"../evil\""));
    }

    #[test]
    fn symlink_entries_are_rejected() {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        writer.add_symlink("link", "/etc/shadow", stored()).unwrap();
        writer.start_file("data.csv", stored()).unwrap();
        writer.write_all(b"a,b\n").unwrap();
        let zip = writer.finish().unwrap().into_inner();
        let (seen, report) = walk(zip, &ZipLimits::default());
        assert_eq!(seen.len(), 1);
        assert!(
            matches!(&report.rejected[..], [ZipError::Symlink { member, .. }] if member == "link")
        );
    }

    #[test]
    fn encrypted_members_are_rejected() {
        let mut zip = build(&[("secret.edi", b"ISA"), ("plain.edi", b"ISA")]);
        // Set the "encrypted" flag (bit 0 of the general purpose flags) of the first member in
        // its local header (offset 6) and its central directory header (offset 8).
        zip[6] |= 1;
        let central = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        zip[central + 8] |= 1;
        let (seen, report) = walk(zip, &ZipLimits::default());
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "plain.edi");
        assert!(
            matches!(&report.rejected[..], [ZipError::Encrypted { member, .. }] if member == "secret.edi")
        );
    }

    #[test]
    fn nested_zip_within_depth_is_walked() {
        let inner = build(&[("deep.csv", b"1,2\n")]);
        let outer = build(&[("inner.bin", &inner), ("top.edi", b"ISA")]);
        let limits = ZipLimits {
            max_depth: 1,
            ..ZipLimits::default()
        };
        let (seen, report) = walk(outer, &limits);
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(
            seen,
            vec![
                ("inner.bin!/deep.csv".to_string(), 1, b"1,2\n".to_vec()),
                ("top.edi".to_string(), 0, b"ISA".to_vec()),
            ]
        );
    }

    #[test]
    fn nested_zip_beyond_depth_is_rejected() {
        let innermost = build(&[("x.csv", b"1\n")]);
        let middle = build(&[("innermost.zip", &innermost), ("m.csv", b"2\n")]);
        let outer = build(&[("middle.zip", &middle)]);
        let limits = ZipLimits {
            max_depth: 1,
            ..ZipLimits::default()
        };
        let (seen, report) = walk(outer, &limits);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "middle.zip!/m.csv");
        assert!(matches!(
            &report.rejected[..],
            [ZipError::TooDeep { archive, member, limit: 1 }]
                if archive == "in.zip!/middle.zip" && member == "innermost.zip"
        ));
    }

    #[test]
    fn consumer_failure_is_reported_against_the_member() {
        let zip = build(&[("a.edi", b"bad"), ("b.edi", b"good")]);
        let report = walk_zip(
            "in.zip",
            Cursor::new(zip),
            &ZipLimits::default(),
            &mut |m| {
                if m.name == "a.edi" {
                    Err("unparseable".into())
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(report.delivered, vec!["b.edi"]);
        assert_eq!(
            report.rejected[0].to_string(),
            "in.zip: member \"a.edi\" was not processed: unparseable"
        );
    }

    #[test]
    fn not_a_zip_aborts() {
        let report = walk_zip(
            "x.zip",
            Cursor::new(b"hello".to_vec()),
            &ZipLimits::default(),
            &mut |_| Ok(()),
        );
        assert!(matches!(report.aborted, Some(ZipError::Open { .. })));
    }

    #[test]
    fn member_file_name_drops_directories_and_nesting() {
        let mut empty = io::empty();
        let member = Member {
            name: "in/inner.zip!/dir/ASN.edi",
            depth: 1,
            reader: &mut empty,
        };
        assert_eq!(member.file_name(), "ASN.edi");
    }

    #[test]
    fn safe_names() {
        assert_eq!(safe_member_name("./a//b/./c.edi").unwrap(), "a/b/c.edi");
        assert_eq!(safe_member_name("a\\b.edi").unwrap(), "a/b.edi");
        assert!(safe_member_name("").is_err());
        assert!(safe_member_name("a\nb").is_err());
        assert!(safe_member_name("\\\\server\\share").is_err());
    }
}
