//! `shared/.env` as `deliver env` edits it (SPEC §9): which keys it defines, and the file
//! after `set`/`unset`. Pure text work; no I/O.
//!
//! The file is read by two parsers, and a value deliver writes must reach the process
//! byte for byte through both:
//! - systemd's `EnvironmentFile=` (`load_env_file`): `KEY=VALUE` lines, `#`/`;` comments, an
//!   optional `export `; inside `"..."` a `\` escapes only `"`, `\`, `` ` `` and `$` (and a
//!   newline, which continues the line) and is kept before anything else; a value with a
//!   control character other than a tab is dropped with a warning ("Invalid environment
//!   variable value");
//! - POSIX `sh` (`set -a; . shared/.env`, for hooks and the release command): inside
//!   `"..."` a `\` escapes exactly `$`, `` ` ``, `"`, `\` and a newline, and is kept before
//!   anything else; `$` and `` ` `` expand unless escaped.
//!
//! So a value is written as `KEY="..."` with `\`, `"`, `$` and `` ` `` backslash-escaped,
//! which both read back as the value; a newline, a carriage return (a line end to systemd)
//! or any other control character but a tab cannot be written, and is refused naming the key.
//!
//! Lines: a line ending in an odd number of `\` continues on the next (both parsers join
//! them), so an entry is one or more physical lines. `set` replaces the first entry of its
//! key (and drops later ones, so that the value set is the one that wins) or appends one;
//! `unset` removes every entry of its key; every other line, comment and blank line stays,
//! in order.

use super::layout::Layout;
use super::script::Script;
use crate::config::EnvVarName;
use crate::shell::quote;

/// [`read`]: `shared/.env` exists but cannot be read.
pub const UNREADABLE: i32 = 100;

/// Prints `shared/.env` on stdout (nothing when there is none; deliver reads it and shows
/// no value), or exits [`UNREADABLE`]. Run after `lock::acquire`, in the same round trip.
pub fn read(layout: &Layout) -> Script {
    let file = quote(&layout.shared_path(".env"));
    Script::new("env.read").raw(
        "the file travels to deliver on stdout; deliver never shows it",
        format!("if [ -e {file} ]; then cat {file} || exit {UNREADABLE}; fi"),
    )
}

/// A change to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Set(EnvVarName, String),
    Unset(EnvVarName),
}

impl Edit {
    pub fn key(&self) -> &EnvVarName {
        match self {
            Edit::Set(key, _) | Edit::Unset(key) => key,
        }
    }
}

/// A value that cannot live in an `EnvironmentFile=` line: the key, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the value of `{key}` cannot contain {problem} (shared/.env holds one line per variable)")]
pub struct ValueError {
    pub key: String,
    pub problem: &'static str,
}

/// The line that sets `key` to `value`: `KEY="value"`, escaped for systemd and sh.
pub fn line(key: &EnvVarName, value: &str) -> Result<String, ValueError> {
    let refuse = |problem| ValueError {
        key: key.to_string(),
        problem,
    };
    let mut out = String::with_capacity(key.len() + value.len() + 4);
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\n' => return Err(refuse("a newline")),
            '\r' => return Err(refuse("a carriage return")),
            '\0' => return Err(refuse("a NUL character")),
            '\t' => out.push('\t'),
            c if c.is_ascii_control() => return Err(refuse("a control character")),
            '\\' | '"' | '$' | '`' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// The key an entry defines: after leading blanks and an optional `export `, a valid name
/// followed by `=` (blanks allowed before it, as systemd allows); `None` for comments,
/// blank lines and anything else.
fn entry_key(entry: &str) -> Option<&str> {
    let s = entry.trim_start_matches([' ', '\t']);
    if s.starts_with('#') || s.starts_with(';') {
        return None;
    }
    let s = s
        .strip_prefix("export")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map_or(s, |rest| rest.trim_start_matches([' ', '\t']));
    let (key, _) = s.split_once('=')?;
    let key = key.trim_end_matches([' ', '\t']);
    EnvVarName::is_valid(key).then_some(key)
}

/// The file's entries: physical lines joined where a line ends in an odd number of `\`.
fn entries(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for l in text.lines() {
        match out.last_mut() {
            Some(last) if open => {
                last.push('\n');
                last.push_str(l);
            }
            _ => out.push(l.to_owned()),
        }
        open = (l.len() - l.trim_end_matches('\\').len()) % 2 == 1;
    }
    out
}

/// The keys the file defines, in the order of their first entry, each once.
pub fn keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for entry in entries(text) {
        if let Some(key) = entry_key(&entry) {
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_owned());
            }
        }
    }
    keys
}

/// The file after `edits`, in order. Refuses a value [`line`] cannot write (nothing is
/// changed then). The result ends with a newline unless it is empty.
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, ValueError> {
    let mut entries = entries(text);
    for edit in edits {
        let key: &str = edit.key();
        let new = match edit {
            Edit::Set(key, value) => Some(line(key, value)?),
            Edit::Unset(_) => None,
        };
        let mut replaced = false;
        entries.retain_mut(|entry| {
            if entry_key(entry) != Some(key) {
                return true;
            }
            match &new {
                Some(line) if !replaced => {
                    line.clone_into(entry);
                    replaced = true;
                    true
                }
                _ => false,
            }
        });
        if let (Some(line), false) = (new, replaced) {
            entries.push(line);
        }
    }
    let mut out = entries.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> EnvVarName {
        EnvVarName::new(s).unwrap()
    }

    fn set(k: &str, v: &str) -> Edit {
        Edit::Set(name(k), v.to_owned())
    }

    /// systemd's reading of a `KEY="..."` value (`load_env_file`, double-quote state).
    fn systemd_unquote(line: &str) -> (String, String) {
        let (key, rest) = line.split_once('=').unwrap();
        let inner = rest.strip_prefix('"').unwrap().strip_suffix('"').unwrap();
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => panic!("unescaped quote in {line:?}"),
                '\\' => {
                    let e = chars.next().unwrap();
                    if !"\"\\`$".contains(e) {
                        out.push('\\');
                    }
                    out.push(e);
                }
                c => out.push(c),
            }
        }
        (key.to_owned(), out)
    }

    const HARD: &[&str] = &[
        "",
        "plain",
        "with space  ",
        " lead",
        "a\"b",
        "back\\slash\\",
        "\\n stays two characters",
        "$HOME ${X} $(id) `id`",
        "it's 'quoted'",
        "#not a comment; nor this",
        "tab\there",
        "100% ünïcode ✓",
        "a=b=c",
    ];

    #[test]
    fn systemd_reads_back_every_value_exactly() {
        for value in HARD {
            let line = line(&name("K"), value).unwrap();
            assert_eq!(
                systemd_unquote(&line),
                ("K".into(), (*value).into()),
                "{line}"
            );
        }
    }

    #[test]
    fn sh_reads_back_every_value_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        let text = HARD
            .iter()
            .enumerate()
            .map(|(i, v)| line(&name(&format!("V{i}")), v).unwrap() + "\n")
            .collect::<String>();
        std::fs::write(&file, text).unwrap();
        for (i, value) in HARD.iter().enumerate() {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("set -a; . \"$1\"; printf %s \"$V{i}\""))
                .arg("sh")
                .arg(&file)
                .output()
                .unwrap();
            assert!(out.status.success());
            assert_eq!(String::from_utf8(out.stdout).unwrap(), *value);
        }
    }

    #[test]
    fn a_value_that_cannot_be_one_line_is_refused_naming_the_key() {
        for (value, problem) in [
            ("a\nb", "a newline"),
            ("a\rb", "a carriage return"),
            ("a\0b", "a NUL character"),
            ("bell\x07", "a control character"),
        ] {
            let e = line(&name("API_TOKEN"), value).unwrap_err();
            assert_eq!(e.problem, problem);
            assert!(e.to_string().contains("`API_TOKEN`"), "{e}");
            assert!(!e.to_string().contains(value), "the value is never shown");
            assert_eq!(apply("X=1\n", &[set("API_TOKEN", value)]), Err(e));
        }
    }

    const FILE: &str = "# the app's secrets\n\
                        DATABASE_URL=postgres://x\n\
                        \n\
                        export API_TOKEN='old'\n\
                        ; a systemd comment\n\
                        LONG=\"one \\\n\
                        two\"\n\
                        TAIL = 3\n";

    #[test]
    fn keys_in_order_without_comments_or_values() {
        assert_eq!(keys(FILE), ["DATABASE_URL", "API_TOKEN", "LONG", "TAIL"]);
        assert_eq!(keys("A=1\nA=2\n#B=3\n 1X=2\nnot a line\n"), ["A"]);
        assert!(keys("").is_empty());
    }

    #[test]
    fn set_replaces_the_line_of_its_key_and_keeps_every_other_line_in_order() {
        let out = apply(FILE, &[set("API_TOKEN", "new")]).unwrap();
        assert_eq!(
            out,
            FILE.replace("export API_TOKEN='old'", "API_TOKEN=\"new\"")
        );
        let out = apply(FILE, &[set("LONG", "short")]).unwrap();
        assert_eq!(out, FILE.replace("LONG=\"one \\\ntwo\"", "LONG=\"short\""));
    }

    #[test]
    fn set_appends_a_new_key_and_drops_later_duplicates() {
        let out = apply("A=1\nB=2", &[set("C", "3")]).unwrap();
        assert_eq!(out, "A=1\nB=2\nC=\"3\"\n");
        let out = apply("A=1\n# x\nA=2\n", &[set("A", "9")]).unwrap();
        assert_eq!(out, "A=\"9\"\n# x\n");
        assert_eq!(apply("", &[set("A", "")]).unwrap(), "A=\"\"\n");
    }

    #[test]
    fn unset_removes_every_line_of_its_key_and_nothing_else() {
        let out = apply(FILE, &[Edit::Unset(name("DATABASE_URL"))]).unwrap();
        assert_eq!(out, FILE.replace("DATABASE_URL=postgres://x\n", ""));
        let out = apply(FILE, &[Edit::Unset(name("LONG"))]).unwrap();
        assert_eq!(out, FILE.replace("LONG=\"one \\\ntwo\"\n", ""));
        assert_eq!(apply("A=1\nA=2\n", &[Edit::Unset(name("A"))]).unwrap(), "");
        assert_eq!(apply(FILE, &[Edit::Unset(name("NOPE"))]).unwrap(), FILE);
    }

    #[test]
    fn edits_apply_in_order() {
        let edits = [set("A", "1"), Edit::Unset(name("A")), set("B", "2")];
        assert_eq!(apply("", &edits).unwrap(), "B=\"2\"\n");
    }
}
