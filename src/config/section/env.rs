//! `[env]`: the plain environment of every process, hook and `deliver run` (never
//! secrets). Names are [`EnvVarName`]s, checked here once; values are kept verbatim (quoting
//! is the render and plan layers' job) but may not hold NUL or line breaks. An
//! environment's `[env]` adds to the top-level one, its values winning. No I/O.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use crate::config::raw::{field, table, wrong_type, Entry, Field, Kind, Problem};
use crate::config::value::{no_control_chars, str_newtype, too_long};

/// `[env]` as written, in file order; integers and booleans are kept as their TOML text.
pub(in crate::config) type RawEnv = Vec<(String, Field<String>)>;

/// `[A-Za-z_][A-Za-z0-9_]*`: what systemd and POSIX shells accept as a variable name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvVarName(String);

str_newtype!(EnvVarName);

impl EnvVarName {
    /// `name` when it is a valid variable name.
    pub fn new(name: &str) -> Option<EnvVarName> {
        EnvVarName::is_valid(name).then(|| EnvVarName(name.to_owned()))
    }

    /// The one check of a variable name, for code that still holds a plain string.
    pub fn is_valid(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// Skips the check, for tests of the layers that re-check names they are handed.
    #[cfg(test)]
    pub(crate) fn unchecked(name: &str) -> EnvVarName {
        EnvVarName(name.to_owned())
    }
}

// Lets `vars["NAME"]` and `vars.get("NAME")` look a name up by its text; the derived
// `Ord`, `Eq` and `Hash` are those of the one `String` field, as `Borrow` requires.
impl Borrow<str> for EnvVarName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

pub(super) fn read(entry: &Entry) -> Result<RawEnv, Problem> {
    let mut env = Vec::new();
    for var in table(entry)? {
        env.push((var.key.clone(), value(var)?));
    }
    Ok(env)
}

fn value(entry: &Entry) -> Result<Field<String>, Problem> {
    match &entry.node.kind {
        Kind::String(s) => Ok(field(entry, s.clone())),
        Kind::Integer(i) => Ok(field(entry, i.to_string())),
        Kind::Boolean(b) => Ok(field(entry, b.to_string())),
        _ => Err(wrong_type(entry, "a string, an integer or a boolean")),
    }
}

pub(super) fn check(raw: &RawEnv) -> Result<BTreeMap<EnvVarName, String>, Problem> {
    let mut env = BTreeMap::new();
    for (name, value) in raw {
        let Some(name) = EnvVarName::new(name) else {
            return Err(Problem::new(
                value.key_at,
                format!(
                    "{} is not a valid environment variable name: letters, digits and `_`, \
                     not starting with a digit ([A-Za-z_][A-Za-z0-9_]*)",
                    value.path
                ),
            ));
        };
        no_control_chars(value)?;
        let line = name.len() + 1 + value.value.len();
        if let Some(message) = too_long(&format!("{} (as `NAME=value`)", value.path), line) {
            return Err(Problem::new(value.at, message));
        }
        env.insert(name, value.value.clone());
    }
    Ok(env)
}

/// Key by key, `over` winning.
pub(super) fn overlay(
    mut base: BTreeMap<EnvVarName, String>,
    over: BTreeMap<EnvVarName, String>,
) -> BTreeMap<EnvVarName, String> {
    base.extend(over);
    base
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn names_paths_and_strings_are_checked() {
        assert_errors(&[
            (
                "[env]\nA = \"x\\ny\"\n",
                "4:5: env.A must not contain NUL or line breaks",
            ),
            (
                &format!(
                    "[env]\nA = \"{}\"\n",
                    "x".repeat(crate::config::MAX_ARG_BYTES - 1)
                ),
                "4:5: env.A (as `NAME=value`) is 114689 bytes long; at most 114688 are allowed \
                     (Linux refuses longer arguments and environment strings)",
            ),
            (
                "[env]\n\"MY-VAR\" = \"x\"\n",
                "4:1: env.MY-VAR is not a valid environment variable name: letters, digits and \
                     `_`, not starting with a digit ([A-Za-z_][A-Za-z0-9_]*)",
            ),
        ]);
    }
}
