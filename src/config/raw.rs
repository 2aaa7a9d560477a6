//! deliver.toml as written: the TOML syntax, the key names and the value types, each with
//! the byte offset it was written at. No judgement on values (ranges, formats, defaults,
//! merging): that is `resolve.rs` and the sections. No I/O.
//!
//! This file walks the document and reads the keys only the top level knows; each section
//! (`section/*.rs`) reads its own keys with the typed readers here (`string`, `strings`,
//! `known_entries`, ...).
//!
//! The document is read with `toml_edit`, the parser under `toml`, because its tree keeps a
//! span for every key and value; `toml::Spanned` loses them on implicit tables
//! (`[environments.production]` makes `environments` one) and cannot hold datetimes.

use toml_edit::ImDocument;

use super::section::{RawSettings, SETTINGS_KEYS};

/// A problem at a byte offset of the file; `resolve` turns it into a [`super::ConfigError`]
/// with a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub at: usize,
    pub message: String,
    pub suggestion: Option<String>,
    /// Where the value this one clashes with was written (its line is added to the message).
    pub first_at: Option<usize>,
}

impl Problem {
    pub(super) fn new(at: usize, message: impl Into<String>) -> Problem {
        Problem {
            at,
            message: message.into(),
            suggestion: None,
            first_at: None,
        }
    }

    /// Names the line of `first_at`, the value this one clashes with.
    pub(super) fn first_at(mut self, first_at: usize) -> Problem {
        self.first_at = Some(first_at);
        self
    }

    pub(super) fn suggest(mut self, suggestion: Option<&str>) -> Problem {
        self.suggestion = suggestion.map(str::to_owned);
        self
    }
}

/// One value as written: its dotted key path (`environments.production.hosts`), where the
/// key is and where the value starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Field<T> {
    pub path: String,
    pub key_at: usize,
    pub at: usize,
    pub value: T,
}

/// The whole file.
#[derive(Debug, Default)]
pub(super) struct RawFile {
    pub app: Option<Field<String>>,
    pub default_environment: Option<Field<String>>,
    /// The top-level defaults.
    pub settings: RawSettings,
    /// `None` when the file has no `[environments]`.
    pub environments: Option<Field<Vec<RawEnvironment>>>,
}

/// One `[environments.NAME]` table.
#[derive(Debug)]
pub(super) struct RawEnvironment {
    pub name: String,
    pub key_at: usize,
    /// Where its table starts: the `[` of its header, or its key when it has none.
    pub at: usize,
    pub settings: RawSettings,
}

/// Keys only the top level knows.
pub(super) const TOP_LEVEL_ONLY_KEYS: [&str; 3] = ["app", "default_environment", "environments"];
/// A value of the document in a form that is easy to walk, keeping offsets.
#[derive(Debug)]
pub(super) struct Node {
    pub at: usize,
    pub kind: Kind,
}

#[derive(Debug)]
pub(super) enum Kind {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

#[derive(Debug)]
pub(super) struct Entry {
    pub key: String,
    pub key_at: usize,
    /// Dotted path of the key, for messages.
    pub path: String,
    pub node: Node,
}

impl Kind {
    /// For "found ..." in type errors.
    fn article_name(&self) -> &'static str {
        match self {
            Kind::String(_) => "a string",
            Kind::Integer(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Boolean(_) => "a boolean",
            Kind::Datetime => "a datetime",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }
}

impl RawFile {
    /// Checks the syntax, the key names and the value types of `text`.
    pub(super) fn parse(text: &str) -> Result<RawFile, Problem> {
        let doc = ImDocument::parse(text).map_err(|e| syntax_error(text, &e))?;
        let mut file = RawFile::default();
        for entry in table_entries(doc.as_table(), "", 0) {
            match entry.key.as_str() {
                "app" => file.app = Some(string(&entry)?),
                "default_environment" => file.default_environment = Some(string(&entry)?),
                "environments" => file.environments = Some(environments(&entry)?),
                _ => {
                    if !file.settings.take(&entry)? {
                        return Err(unknown_key(
                            &entry,
                            TOP_LEVEL_ONLY_KEYS.iter().chain(&SETTINGS_KEYS),
                        ));
                    }
                }
            }
        }
        Ok(file)
    }
}

fn environments(entry: &Entry) -> Result<Field<Vec<RawEnvironment>>, Problem> {
    let mut list = Vec::new();
    for env in table(entry)? {
        let Kind::Table(entries) = &env.node.kind else {
            return Err(wrong_type(env, "a table"));
        };
        let mut settings = RawSettings::default();
        for e in entries {
            if TOP_LEVEL_ONLY_KEYS.contains(&e.key.as_str()) {
                return Err(Problem::new(
                    e.key_at,
                    format!(
                        "`{}` is not allowed here: `{}` can only be set at the top level",
                        e.path, e.key
                    ),
                ));
            }
            if !settings.take(e)? {
                return Err(unknown_key(e, SETTINGS_KEYS.iter()));
            }
        }
        list.push(RawEnvironment {
            name: env.key.clone(),
            key_at: env.key_at,
            at: env.node.at,
            settings,
        });
    }
    Ok(field(entry, list))
}

pub(super) fn field<T>(entry: &Entry, value: T) -> Field<T> {
    Field {
        path: entry.path.clone(),
        key_at: entry.key_at,
        at: entry.node.at,
        value,
    }
}

pub(super) fn wrong_type(entry: &Entry, expected: &str) -> Problem {
    Problem::new(
        entry.node.at,
        format!(
            "{} must be {expected}, found {}",
            entry.path,
            entry.node.kind.article_name()
        ),
    )
}

pub(super) fn string(entry: &Entry) -> Result<Field<String>, Problem> {
    match &entry.node.kind {
        Kind::String(s) => Ok(field(entry, s.clone())),
        _ => Err(wrong_type(entry, "a string")),
    }
}

pub(super) fn integer(entry: &Entry) -> Result<Field<i64>, Problem> {
    match entry.node.kind {
        Kind::Integer(i) => Ok(field(entry, i)),
        _ => Err(wrong_type(entry, "an integer")),
    }
}

pub(super) fn boolean(entry: &Entry) -> Result<Field<bool>, Problem> {
    match entry.node.kind {
        Kind::Boolean(b) => Ok(field(entry, b)),
        _ => Err(wrong_type(entry, "a boolean (true or false)")),
    }
}

/// An array of strings; each element keeps its own offset and an indexed path (`hosts[1]`).
pub(super) fn strings(entry: &Entry) -> Result<Field<Vec<Field<String>>>, Problem> {
    let Kind::Array(items) = &entry.node.kind else {
        return Err(wrong_type(entry, "an array of strings"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("{}[{i}]", entry.path);
        match &item.kind {
            Kind::String(s) => out.push(Field {
                path,
                key_at: entry.key_at,
                at: item.at,
                value: s.clone(),
            }),
            other => {
                return Err(Problem::new(
                    item.at,
                    format!("{path} must be a string, found {}", other.article_name()),
                ))
            }
        }
    }
    Ok(field(entry, out))
}

pub(super) fn table(entry: &Entry) -> Result<&[Entry], Problem> {
    match &entry.node.kind {
        Kind::Table(entries) => Ok(entries),
        _ => Err(wrong_type(entry, "a table")),
    }
}

/// The entries of a table whose keys must all be in `known`.
pub(super) fn known_entries<'e>(entry: &'e Entry, known: &[&str]) -> Result<&'e [Entry], Problem> {
    let entries = table(entry)?;
    if let Some(e) = entries.iter().find(|e| !known.contains(&e.key.as_str())) {
        return Err(unknown_key(e, known.iter()));
    }
    Ok(entries)
}

pub(super) fn unknown_key<'k>(entry: &Entry, known: impl Iterator<Item = &'k &'k str>) -> Problem {
    let known: Vec<&str> = known.copied().collect();
    Problem::new(entry.key_at, format!("unknown key `{}`", entry.path))
        .suggest(nearest(&entry.key, &known))
}

/// The candidate closest to `word`, when it is close enough to be what the user meant:
/// Jaro-Winkler similarity of at least 0.8, or one edit away (short words). Case, `-` and
/// `_` are not told apart.
pub(super) fn nearest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let fold = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let word = fold(word);
    candidates
        .iter()
        .map(|&c| {
            let folded = fold(c);
            let similarity = strsim::jaro_winkler(&word, &folded);
            let edits = strsim::levenshtein(&word, &folded);
            (c, similarity, edits)
        })
        .filter(|&(_, similarity, edits)| similarity >= 0.8 || edits <= 1)
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.2.cmp(&a.2)))
        .map(|(c, _, _)| c)
}

#[path = "raw_tree.rs"]
mod tree;
use tree::{syntax_error, table_entries};

#[cfg(test)]
#[path = "raw_tests.rs"]
mod tests;
