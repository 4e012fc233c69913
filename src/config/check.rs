//! The configuration check behind `edigate check-config`, start-up and every partner reload:
//! the gateway file, the files it names (token files, the partner directory) and every partner
//! file with the grammar files it references, each problem located at `file:line:column` with a
//! hint. Nothing here touches the network.

use std::fmt;
use std::path::{Path, PathBuf};

use super::gateway::GatewayConfig;
use super::partner::{ConfigError, Partner, load_dir};
use crate::canonical::profile::Profiles;
use crate::x12::grammar::{Grammars, line_col};
use crate::x12::policy::Policy;

/// One problem found by the check, with advice on fixing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where and what.
    pub error: ConfigError,
    /// How to fix it, when there is a common fix.
    pub hint: Option<&'static str>,
}

impl Problem {
    fn new(error: ConfigError) -> Problem {
        let hint = hint_for(&error.message);
        Problem { error, hint }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(h) = self.hint {
            write!(f, "\n    hint: {h}")?;
        }
        Ok(())
    }
}

/// A configuration that passed the check.
#[derive(Debug)]
pub struct Checked {
    /// The gateway settings.
    pub gateway: GatewayConfig,
    /// The partners, in file-name order.
    pub partners: Vec<Partner>,
    /// Translation profiles built from them.
    pub profiles: Profiles,
}

/// Checks everything: the gateway file at `config` (or the local default under `base` when
/// `None`), then the partner directory it names. Every problem is returned, sorted by file and
/// position.
pub fn check_all(config: Option<&Path>, base: &Path) -> Result<Checked, Vec<Problem>> {
    let mut errors = Vec::new();
    let gateway = match config {
        Some(path) => match GatewayConfig::load(path) {
            Ok(g) => {
                errors.extend(check_gateway_files(path, &g));
                Some(g)
            }
            Err(e) => {
                errors.extend(e);
                None
            }
        },
        None => Some(GatewayConfig::local_default(base)),
    };
    let partners = gateway
        .as_ref()
        .filter(|g| config.is_none() || g.partners.is_dir())
        .map(|g| check_partners(&g.partners));
    match (gateway, partners) {
        (Some(gateway), Some(Ok((partners, profiles)))) if errors.is_empty() => Ok(Checked {
            gateway,
            partners,
            profiles,
        }),
        (_, partners) => {
            if let Some(Err(e)) = partners {
                errors.extend(e);
            }
            Err(sorted(errors))
        }
    }
}

/// Checks the partner directory: every partner file, duplicates across files, and every
/// grammar file a partner references. What the daemon runs at start-up and on every reload.
pub fn check_partners(dir: &Path) -> Result<(Vec<Partner>, Profiles), Vec<ConfigError>> {
    let mut errors = Vec::new();
    let loaded = load_dir(dir);
    // Grammar references are checked in every file that parses, even when another file is
    // broken, so one pass reports everything.
    let files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut parsed = Vec::new();
    match loaded {
        Ok(p) => parsed = p,
        Err(e) => {
            errors.extend(e);
            for f in files {
                if let Ok(p) = Partner::load(&f) {
                    parsed.push(p);
                }
            }
        }
    }
    for p in &parsed {
        errors.extend(grammar_references(p));
    }
    let grammars =
        Grammars::embedded().map_err(|e| e.into_iter().map(grammar_error).collect::<Vec<_>>())?;
    if !errors.is_empty() {
        return Err(errors);
    }
    match Profiles::new(grammars, Policy::default()).with_partners(&parsed) {
        Ok(profiles) => Ok((parsed, profiles)),
        Err(e) => Err(e.into_iter().map(grammar_error).collect()),
    }
}

fn grammar_error(e: crate::x12::grammar::GrammarError) -> ConfigError {
    ConfigError {
        file: e.file,
        line: e.line,
        column: e.column,
        message: format!("grammar: {}", e.message),
    }
}

/// A partner's `grammars = [...]` entries that name no readable file, located at the entry.
fn grammar_references(p: &Partner) -> Vec<ConfigError> {
    let Some(x) = &p.x12 else { return Vec::new() };
    let text = std::fs::read_to_string(&p.file).unwrap_or_default();
    let dir = p.file.parent().unwrap_or(Path::new(""));
    x.grammars
        .iter()
        .filter_map(|path| {
            let e = std::fs::File::open(path).err()?;
            let shown = path.strip_prefix(dir).unwrap_or(path);
            let needle = shown.to_string_lossy();
            let at = text
                .find(&format!("\"{needle}\""))
                .or_else(|| text.find("grammars"))
                .unwrap_or(0);
            let (line, column) = line_col(&text, at);
            Some(ConfigError {
                file: p.file.display().to_string(),
                line,
                column,
                message: format!("grammar file {} cannot be read: {e}", path.display()),
            })
        })
        .collect()
}

/// Files the gateway file names that must be readable: the ERP and API token files, and the
/// partner directory.
fn check_gateway_files(path: &Path, g: &GatewayConfig) -> Vec<ConfigError> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let file = path.display().to_string();
    let mut errors = Vec::new();
    let mut at = |table: &str, key: &str, message: String| {
        let (line, column) = line_col(&text, locate(&text, table, key));
        errors.push(ConfigError {
            file: file.clone(),
            line,
            column,
            message,
        });
    };
    let tokens = [
        ("erp", g.erp.as_ref().and_then(|e| e.token_file.as_ref())),
        ("api", g.api.as_ref().and_then(|a| a.token_file.as_ref())),
    ];
    for (table, token) in tokens {
        if let Some(t) = token {
            match super::secrets::read_secret(t) {
                Ok(s) if s.is_empty() => at(
                    table,
                    "token_file",
                    format!("token_file {} is empty", t.display()),
                ),
                Ok(_) => {}
                Err(e) => at(
                    table,
                    "token_file",
                    format!("token_file {} cannot be read: {e}", t.display()),
                ),
            }
        }
    }
    if !g.partners.is_dir() {
        at(
            "paths",
            "partners",
            format!("partners directory {} does not exist", g.partners.display()),
        );
    }
    errors
}

/// The byte offset of `key = ...` inside `[table]`, else of the table header, else 0.
fn locate(text: &str, table: &str, key: &str) -> usize {
    let header = format!("[{table}]");
    let mut offset = 0;
    let mut inside = false;
    let mut table_at = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with('[') {
            inside = trimmed.starts_with(&header);
            if inside {
                table_at = Some(offset + indent);
            }
        } else if inside
            && let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return offset + indent;
        }
        offset += line.len();
    }
    table_at.unwrap_or(0)
}

fn sorted(errors: Vec<ConfigError>) -> Vec<Problem> {
    let mut errors = errors;
    errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    errors.dedup();
    errors.into_iter().map(Problem::new).collect()
}

/// Advice for the common mistakes, matched on the message.
fn hint_for(message: &str) -> Option<&'static str> {
    let m = message;
    Some(if m.contains("unknown field") {
        "a misspelt or misplaced key: the message lists the keys this table accepts"
    } else if m.contains("invalid type") {
        "quote strings and durations (\"10s\"); numbers and booleans go unquoted"
    } else if m.contains("missing field") {
        "this key is required in this table"
    } else if m.contains("token_file") {
        "create the file with the token alone in it, readable by the service user (or use LoadCredential= and --credentials-dir)"
    } else if m.contains("partners directory") {
        "create it (one <id>.toml per partner) or fix [paths] partners"
    } else if m.contains("is also used by") || m.contains("same ISA") {
        "each partner needs its own id and its own ISA sender/receiver pair; remove or rename one file"
    } else if m.contains("grammar") {
        "grammar paths are relative to the partner file's directory"
    } else if m.contains("cannot read") {
        "check the path and that the service user may read it"
    } else if m.contains("duration") {
        "durations are strings like \"250ms\", \"10s\", \"5m\" or \"90d\""
    } else if m.contains("timezone") {
        "use an IANA name such as \"America/Chicago\""
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_a_key_in_its_table_only() {
        let text = "[erp]\nurl = \"x\"\ntoken_file = \"a\"\n[api]\ntoken_file = \"b\"\n";
        assert_eq!(line_col(text, locate(text, "api", "token_file")), (5, 1));
        assert_eq!(line_col(text, locate(text, "erp", "token_file")), (3, 1));
        assert_eq!(line_col(text, locate(text, "paths", "x")), (1, 1));
    }
}
