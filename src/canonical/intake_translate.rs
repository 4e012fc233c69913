//! Translates any input to canonical records: sniffs its content (X12, zip, CSV, fixed width), walks archives member by member, and reads flat files with their partner's layout.
//!
//! This is what `edigate translate` runs per file, and what the daemon reuses per received file.
//!
//! Invariants:
//! - The content decides, never the name: [`crate::intake::sniff`] looks at the first
//!   [`SNIFF_PREFIX_LEN`] bytes. X12 goes to the two-pass translator ([`super::translate`]);
//!   a zip archive is walked with [`walk_zip`]; CSV, fixed-width and other text go to a flat
//!   layout; anything else (binary, UTF-16, empty) is reported as an [`InputProblem`].
//! - Every member of an archive is its own input, named `archive.zip!/member` (nested archives
//!   `outer.zip!/inner.zip!/member`) in `source.file`, errors and row errors. A member that breaks
//!   a limit, has an unsafe name or is a symbolic link is reported against the archive and that
//!   member; the other members are still translated. Members are copied out as they stream, under
//!   the archive limits ([`ZipLimits`]), into memory up to [`SPOOL_MEMORY_BYTES`] and into an
//!   anonymous temporary file beyond that (X12 is read twice); nothing is ever written under a
//!   name taken from the archive.
//! - Flat files need a partner, because layouts are declared per partner (`[[flat]]`). The
//!   layout is chosen by content ([`crate::flat::detect`]): among the layouts of the partner given
//!   with [`InputTranslator::force_partner`] (`--partner`), or else of every loaded partner, the
//!   ones that fit the file best (a CSV header row naming every column the layout reads beats a
//!   matching shape, which beats a plain length limit). Exactly one must be best; a tie is an
//!   [`InputProblem::AmbiguousLayout`] that names the candidates, and
//!   [`InputTranslator::force_layout`] (`--layout`) settles it by name. File names play no part.
//! - Output goes to an [`InputSink`] in document order; the [`InputCounts`] say whether
//!   everything was accepted. Only a failing sink or an unreadable top-level file stops a call.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, Write};
use std::path::Path;

use super::profile::{Profiles, UnknownPartnerId};
use super::translate::{
    Collect, ControlTracker, Fingerprint, Hashing, Sink, TranslateError, translate,
};
use crate::config::partner::Partner;
use crate::flat::{
    FlatFileError, FlatItem, FlatLayout, FlatSource, RowError, best_layouts, parse_flat,
};
use crate::intake::sniff::SNIFF_PREFIX_LEN;
use crate::intake::zip::NESTED_SEPARATOR;
use crate::intake::{Sniffed, ZipError, ZipLimits, sniff, walk_zip};
use crate::x12::grammar::GrammarError;

/// Archive members up to this size are held in memory; larger ones go to a temporary file.
pub const SPOOL_MEMORY_BYTES: usize = 8 * 1024 * 1024;

/// Where translated input goes: the X12 [`Sink`] plus flat row errors and input problems.
pub trait InputSink: Sink {
    /// A bad flat row (or a group rejected for one), located by file, line and column.
    fn row_error(&mut self, error: &RowError) -> io::Result<()>;
    /// An input (or archive member) that could not be translated at all.
    fn problem(&mut self, problem: InputProblem) -> io::Result<()>;
}

/// Why an input, or a member of an archive, produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum InputProblem {
    /// The content is none of X12, zip, CSV or fixed-width text.
    #[error("{file}: {what}; not translated")]
    Unrecognised {
        /// The input.
        file: String,
        /// What the content looks like.
        what: &'static str,
    },
    /// The content looked like X12 but the engine found no interchange in it.
    #[error("{file}: not X12 (no interchange header found)")]
    NotX12 {
        /// The input.
        file: String,
    },
    /// X12 arrived while the partner named for every input has no `[x12]` table.
    #[error(
        "{file}: partner {partner:?} has no [x12] table, so X12 cannot be translated as theirs"
    )]
    PartnerWithoutX12 {
        /// The input.
        file: String,
        /// The forced partner.
        partner: String,
    },
    /// A flat file, but no partner (with layouts) is loaded.
    #[error(
        "{file}: {format} content needs a partner's [[flat]] layout, and no partner is loaded (give --partners DIR)"
    )]
    NoPartners {
        /// The input.
        file: String,
        /// `CSV`, `fixed-width` or `text`.
        format: &'static str,
    },
    /// No layout in scope fits the content.
    #[error("{file}: no [[flat]] layout {scope} fits this {format} content")]
    NoLayout {
        /// The input.
        file: String,
        /// `of partner "acme"` or `of any partner`.
        scope: String,
        /// `CSV`, `fixed-width` or `text`.
        format: &'static str,
    },
    /// Several layouts fit equally well.
    #[error(
        "{file}: several [[flat]] layouts fit equally well ({}); name one with --layout",
        candidates.join(", ")
    )]
    AmbiguousLayout {
        /// The input.
        file: String,
        /// `partner/layout` of each candidate.
        candidates: Vec<String>,
    },
    /// The flat file could not be read with its layout (a header row without the named columns).
    #[error(transparent)]
    Flat(FlatFileError),
    /// A member of an archive was rejected, or the archive could not be walked to its end.
    #[error(transparent)]
    Zip(ZipError),
}

impl InputProblem {
    /// The input the problem is about, as it is named in records (`a.zip!/b.csv`).
    pub fn file(&self) -> &str {
        match self {
            InputProblem::Unrecognised { file, .. }
            | InputProblem::NotX12 { file }
            | InputProblem::PartnerWithoutX12 { file, .. }
            | InputProblem::NoPartners { file, .. }
            | InputProblem::NoLayout { file, .. }
            | InputProblem::AmbiguousLayout { file, .. } => file,
            InputProblem::Flat(FlatFileError::Io { file, .. })
            | InputProblem::Flat(FlatFileError::MissingColumns { file, .. }) => file,
            InputProblem::Zip(e) => e.archive(),
        }
    }
}

/// `--layout NAME` names no layout of the partners in scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no [[flat]] layout is named {0:?}")]
pub struct UnknownLayout(pub String);

/// What came out of one input (an archive's members added up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputCounts {
    /// Records written.
    pub records: u64,
    /// X12 sets, groups or interchanges rejected.
    pub rejected: u64,
    /// Accepted X12 sets without a mapping.
    pub skipped: u64,
    /// Bad flat rows and rejected flat groups.
    pub row_errors: u64,
    /// Inputs or members not translated at all.
    pub problems: u64,
}

impl InputCounts {
    /// True when everything was translated: the CLI exits 0 only then.
    pub fn clean(&self) -> bool {
        self.rejected == 0 && self.skipped == 0 && self.row_errors == 0 && self.problems == 0
    }

    fn add(&mut self, other: InputCounts) {
        self.records += other.records;
        self.rejected += other.rejected;
        self.skipped += other.skipped;
        self.row_errors += other.row_errors;
        self.problems += other.problems;
    }
}

/// Translates inputs of any format with a set of partners.
#[derive(Debug, Clone)]
pub struct InputTranslator {
    profiles: Profiles,
    partners: Vec<Partner>,
    forced: Option<usize>,
    layout: Option<String>,
    zip_limits: ZipLimits,
    spool_memory_bytes: usize,
}

impl InputTranslator {
    /// A translator with these partners added to `profiles` (their grammar files are loaded).
    pub fn new(profiles: Profiles, partners: Vec<Partner>) -> Result<Self, Vec<GrammarError>> {
        let profiles = profiles.with_partners(&partners)?;
        Ok(InputTranslator {
            profiles,
            partners,
            forced: None,
            layout: None,
            zip_limits: ZipLimits::default(),
            spool_memory_bytes: SPOOL_MEMORY_BYTES,
        })
    }

    /// Treats every input as partner `id`'s: its interchanges whatever their ISA ids (when it
    /// has an `[x12]` table), and only its layouts for flat files.
    pub fn force_partner(&mut self, id: &str) -> Result<(), UnknownPartnerId> {
        let index = self
            .partners
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| UnknownPartnerId(id.to_string()))?;
        if self.partners[index].x12.is_some() {
            self.profiles.force(id)?;
        }
        self.forced = Some(index);
        Ok(())
    }

    /// Reads every flat file with the layout of this name (of the forced partner, if any),
    /// whatever its content looks like.
    pub fn force_layout(&mut self, name: &str) -> Result<(), UnknownLayout> {
        let found = self.scope().any(|p| p.layout(name).is_some());
        if !found {
            return Err(UnknownLayout(name.to_string()));
        }
        self.layout = Some(name.to_string());
        Ok(())
    }

    /// Replaces the archive limits.
    pub fn set_zip_limits(&mut self, limits: ZipLimits) {
        self.zip_limits = limits;
    }

    /// Archive members up to this many bytes are held in memory, larger ones in an anonymous
    /// temporary file (default [`SPOOL_MEMORY_BYTES`]).
    pub fn set_spool_memory_bytes(&mut self, bytes: usize) {
        self.spool_memory_bytes = bytes;
    }

    /// The X12 profiles in use.
    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// The partners whose layouts flat files may use.
    fn scope(&self) -> impl Iterator<Item = &Partner> {
        let forced = self.forced.and_then(|i| self.partners.get(i));
        self.partners
            .iter()
            .filter(move |p| forced.is_none_or(|f| f.id == p.id))
    }

    /// Translates a file on disk; records carry its name without directories.
    pub fn translate_path<S: InputSink>(
        &self,
        path: &Path,
        tracker: &mut ControlTracker,
        sink: &mut S,
    ) -> Result<InputCounts, TranslateError> {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.translate_input(&name, || File::open(path), tracker, sink)
    }

    /// Translates one input named `name`; `open` must return the same bytes each time.
    pub fn translate_input<R: Read + Seek + Send, S: InputSink>(
        &self,
        name: &str,
        mut open: impl FnMut() -> io::Result<R>,
        tracker: &mut ControlTracker,
        sink: &mut S,
    ) -> Result<InputCounts, TranslateError> {
        let read_error = |source| TranslateError::Read {
            file: name.to_string(),
            source,
        };
        let prefix = open().and_then(read_prefix).map_err(read_error)?;
        let sniffed = sniff(&prefix);
        if sniffed == Sniffed::Zip {
            let input = open().map_err(read_error)?;
            return self.zip(name, input, tracker, sink);
        }
        self.content(name, sniffed, &prefix, open, tracker, sink)
    }

    /// Translates content that is not an archive.
    fn content<R: Read + Send, S: InputSink>(
        &self,
        name: &str,
        sniffed: Sniffed,
        prefix: &[u8],
        open: impl FnMut() -> io::Result<R>,
        tracker: &mut ControlTracker,
        sink: &mut S,
    ) -> Result<InputCounts, TranslateError> {
        let what = match sniffed {
            Sniffed::X12 { .. } => return self.x12(name, open, tracker, sink),
            Sniffed::Csv { .. } | Sniffed::FixedWidth { .. } | Sniffed::Text => {
                return self.flat(name, sniffed, prefix, open, sink);
            }
            Sniffed::Zip => "a zip archive that was not opened",
            Sniffed::Utf16 => "UTF-16 text (partners must send UTF-8 or a single-byte encoding)",
            Sniffed::Empty => "empty (nothing but white space)",
            Sniffed::Unknown => "binary content, not X12, a zip archive, CSV or fixed-width text",
        };
        report_problem(
            name,
            sink,
            InputProblem::Unrecognised {
                file: name.to_string(),
                what,
            },
        )
    }

    fn x12<R: Read + Send, S: InputSink>(
        &self,
        name: &str,
        open: impl FnMut() -> io::Result<R>,
        tracker: &mut ControlTracker,
        sink: &mut S,
    ) -> Result<InputCounts, TranslateError> {
        if let Some(p) = self.forced.and_then(|i| self.partners.get(i))
            && p.x12.is_none()
        {
            let partner = p.id.clone();
            let file = name.to_string();
            return report_problem(
                name,
                sink,
                InputProblem::PartnerWithoutX12 { file, partner },
            );
        }
        let outcome = translate(name, open, &self.profiles, tracker, sink)?;
        if !outcome.summary.x12 {
            let file = name.to_string();
            return report_problem(name, sink, InputProblem::NotX12 { file });
        }
        Ok(InputCounts {
            records: outcome.counts.records,
            rejected: outcome.counts.rejected,
            skipped: outcome.counts.skipped,
            ..InputCounts::default()
        })
    }

    /// The partner and layout a flat file is read with (see the module documentation).
    fn choose_layout(
        &self,
        name: &str,
        sniffed: Sniffed,
        prefix: &[u8],
    ) -> Result<(&Partner, &FlatLayout), InputProblem> {
        let format = match sniffed {
            Sniffed::Csv { .. } => "CSV",
            Sniffed::FixedWidth { .. } => "fixed-width",
            _ => "text",
        };
        let file = name.to_string();
        if self.partners.is_empty() {
            return Err(InputProblem::NoPartners { file, format });
        }
        let candidates: Vec<(&Partner, &FlatLayout)> = self
            .scope()
            .flat_map(|p| p.flat.iter().map(move |l| (p, l)))
            .filter(|(_, l)| self.layout.as_ref().is_none_or(|name| *name == l.name))
            .collect();
        let chosen: Vec<usize> = if self.layout.is_some() {
            (0..candidates.len()).collect()
        } else {
            best_layouts(candidates.iter().map(|(_, l)| *l), sniffed, prefix)
                .map(|(_, best)| best)
                .unwrap_or_default()
        };
        match chosen[..] {
            [one] => Ok(candidates[one]),
            [] => {
                let scope = match self.forced.and_then(|i| self.partners.get(i)) {
                    Some(p) => format!("of partner {:?}", p.id),
                    None => "of any partner".to_string(),
                };
                Err(InputProblem::NoLayout {
                    file,
                    scope,
                    format,
                })
            }
            _ => Err(InputProblem::AmbiguousLayout {
                file,
                candidates: chosen
                    .iter()
                    .map(|&i| format!("{}/{}", candidates[i].0.id, candidates[i].1.name))
                    .collect(),
            }),
        }
    }

    fn flat<R: Read, S: InputSink>(
        &self,
        name: &str,
        sniffed: Sniffed,
        prefix: &[u8],
        mut open: impl FnMut() -> io::Result<R>,
        sink: &mut S,
    ) -> Result<InputCounts, TranslateError> {
        let (partner, layout) = match self.choose_layout(name, sniffed, prefix) {
            Ok(chosen) => chosen,
            Err(p) => return report_problem(name, sink, p),
        };
        let read_error = |source| TranslateError::Read {
            file: name.to_string(),
            source,
        };
        let mut first = Fingerprint::new(Hashing::new(open().map_err(read_error)?));
        io::copy(&mut first, &mut io::sink()).map_err(read_error)?;
        let sha256 = first.get_ref().hex_of_read();
        let before = first.finish();
        let source = FlatSource {
            partner: &partner.id,
            file_name: name,
            file_sha256: &sha256,
            test: false,
        };
        let milestones = partner.milestones();
        let mut counts = InputCounts::default();
        let mut output: Option<io::Error> = None;
        let mut reader = Fingerprint::new(open().map_err(read_error)?);
        let parsed = parse_flat(layout, &mut reader, &source, &milestones, &mut |item| {
            if output.is_some() {
                return;
            }
            let sent = match item {
                FlatItem::Record(record) => {
                    counts.records += 1;
                    sink.record(&record)
                }
                FlatItem::RowError(error) => {
                    counts.row_errors += 1;
                    sink.row_error(&error)
                }
            };
            output = sent.err();
        });
        if let Some(source) = output {
            return Err(TranslateError::Output {
                file: name.to_string(),
                source,
            });
        }
        match parsed {
            Ok(_) => {}
            Err(FlatFileError::Io { source, .. }) => return Err(read_error(source)),
            Err(e @ FlatFileError::MissingColumns { .. }) => {
                let more = report_problem(name, sink, InputProblem::Flat(e))?;
                counts.add(more);
                return Ok(counts);
            }
        }
        if reader.finish() != before {
            return Err(TranslateError::Changed {
                file: name.to_string(),
            });
        }
        Ok(counts)
    }

    fn zip<R: Read + Seek + Send, S: InputSink>(
        &self,
        name: &str,
        input: R,
        tracker: &mut ControlTracker,
        sink: &mut S,
    ) -> Result<InputCounts, TranslateError> {
        let mut counts = InputCounts::default();
        let mut fatal: Option<TranslateError> = None;
        let report = walk_zip(name, input, &self.zip_limits, &mut |member| {
            if fatal.is_some() {
                return Ok(());
            }
            let label = format!("{name}{NESTED_SEPARATOR}{}", member.name);
            let spool = Spool::fill(member.reader, self.spool_memory_bytes)?;
            let prefix = spool.open().and_then(read_prefix)?;
            let sniffed = sniff(&prefix);
            match self.content(&label, sniffed, &prefix, || spool.open(), tracker, sink) {
                Ok(c) => counts.add(c),
                Err(e @ TranslateError::Output { .. }) => fatal = Some(e),
                Err(e) => return Err(Box::new(e)),
            }
            Ok(())
        });
        if let Some(e) = fatal {
            return Err(e);
        }
        for error in report.rejected.into_iter().chain(report.aborted) {
            counts.add(report_problem(name, sink, InputProblem::Zip(error))?);
        }
        Ok(counts)
    }
}

/// Reports a problem; the counts of an input that produced nothing else.
fn report_problem<S: InputSink>(
    name: &str,
    sink: &mut S,
    problem: InputProblem,
) -> Result<InputCounts, TranslateError> {
    sink.problem(problem)
        .map_err(|source| TranslateError::Output {
            file: name.to_string(),
            source,
        })?;
    Ok(InputCounts {
        problems: 1,
        ..InputCounts::default()
    })
}

/// The first [`SNIFF_PREFIX_LEN`] bytes (fewer when the input is shorter).
fn read_prefix<R: Read>(input: R) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(SNIFF_PREFIX_LEN);
    input
        .take(SNIFF_PREFIX_LEN as u64)
        .read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// An archive member copied out, to be read as often as its translation needs.
enum Spool {
    Memory(Vec<u8>),
    File(File),
}

impl Spool {
    /// Copies a member: in memory up to `memory_bytes`, else to an anonymous temporary file
    /// (unlinked at creation, so it disappears with the handle).
    fn fill(reader: &mut dyn Read, memory_bytes: usize) -> io::Result<Spool> {
        let mut buf = Vec::new();
        let limit = memory_bytes as u64 + 1;
        (&mut *reader).take(limit).read_to_end(&mut buf)?;
        if buf.len() <= memory_bytes {
            return Ok(Spool::Memory(buf));
        }
        let mut file = tempfile::tempfile()?;
        file.write_all(&buf)?;
        drop(buf);
        io::copy(reader, &mut file)?;
        Ok(Spool::File(file))
    }

    fn open(&self) -> io::Result<SpoolReader<'_>> {
        Ok(match self {
            Spool::Memory(bytes) => SpoolReader::Memory(Cursor::new(bytes)),
            Spool::File(file) => SpoolReader::File { file, at: 0 },
        })
    }
}

/// A reader over a [`Spool`], from its start. Readers of one spool are independent (a file is
/// read at each reader's own offset), so they may be read at the same time.
enum SpoolReader<'a> {
    Memory(Cursor<&'a Vec<u8>>),
    File { file: &'a File, at: u64 },
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SpoolReader::Memory(c) => c.read(buf),
            SpoolReader::File { file, at } => {
                let n = std::os::unix::fs::FileExt::read_at(*file, buf, *at)?;
                *at += n as u64;
                Ok(n)
            }
        }
    }
}

impl InputSink for Collect {
    fn row_error(&mut self, error: &RowError) -> io::Result<()> {
        self.row_errors.push(error.clone());
        Ok(())
    }
    fn problem(&mut self, problem: InputProblem) -> io::Result<()> {
        self.problems.push(problem);
        Ok(())
    }
}
