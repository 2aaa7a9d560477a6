//! Quoting for the files `render` writes, so that a Procfile command or an `[env]` value
//! reaches the process byte for byte. Each function names the syntax it targets and the
//! rules it follows; the tests at the bottom undo each quoting with a model of the reading
//! side and check that the original comes back. Pure string work.
//!
//! systemd (systemd.service(5) "Command lines", systemd.syntax(7) "Quoting",
//! systemd.unit(5) "Specifiers", systemd.exec(5) `Environment=`):
//! - an `ExecStart=` argument is split into words, where a word may be wrapped in `'...'`
//!   or `"..."`; inside, `\` starts a C escape (`\\`, `\'`, `\"`, `\n`, `\xNN`, ...) and
//!   any other backslash sequence draws a warning ("Ignoring unknown escape sequences");
//! - `%` starts a specifier (`%i`, `%n`, ...): `%%` is a literal `%`;
//! - when the command runs, `$NAME` and `${NAME}` in an argument are replaced by
//!   variables of the unit's environment: `$$` is a literal `$`;
//! - `Environment=` values are split and unquoted the same way and take specifiers, but
//!   `$` has no special meaning there ("variable expansion is not performed").
//!
//! The escapes here do not depend on the order in which systemd applies these steps
//! (unquoting, specifiers, variables): doubling `%` and `$` adds no `\` or quote, and the C
//! escapes add no `%` or `$`.
//!
//! upstart (init(5), parsed by libnih's `nih_config_token`): `exec` keeps the rest of the
//! line verbatim up to a `#` outside quotes, where libnih's quotes are `'` and `"` and a `\`
//! escapes the next character even inside quotes. The command is then run with
//! `/bin/sh -e -c "exec <command>"` because it contains shell characters. Other stanzas
//! (`env`, `chdir`, `setuid`) take one dequoted argument: quotes are removed, `\\` is a
//! backslash, `\ ` a space, and a `\` before any other character stays as it is.

use std::fmt::Write as _;

use crate::config::EnvVarName;

/// A value that no quoting can carry into the target file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} cannot contain {problem}")]
pub struct EscapeError {
    pub what: String,
    pub problem: &'static str,
}

fn reject(what: &str, value: &str, chars: &[(char, &'static str)]) -> Result<(), EscapeError> {
    for (c, problem) in chars {
        if value.contains(*c) {
            return Err(EscapeError {
                what: what.to_owned(),
                problem,
            });
        }
    }
    Ok(())
}

/// Appends `c` as a systemd C escape when it is a control character, else as itself.
fn push_c_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if c.is_ascii_control() => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// One `ExecStart=` argument, single-quoted: `'` and `\` are backslash-escaped, control
/// characters become C escapes, `%` becomes `%%` and `$` becomes `$$`. The process gets
/// `arg` exactly. `what` names the value in the error (a NUL cannot be passed).
pub fn systemd_exec_arg(what: &str, arg: &str) -> Result<String, EscapeError> {
    reject(what, arg, &[('\0', "a NUL character")])?;
    let mut out = String::with_capacity(arg.len() + 8);
    out.push('\'');
    for c in arg.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => push_c_escaped(&mut out, c),
        }
    }
    out.push('\'');
    Ok(out)
}

/// The value of an `Environment=` line: `"NAME=value"` with `"` and `\` backslash-escaped,
/// control characters as C escapes and `%` as `%%`; `$` stays (it is literal there).
/// `name` must be a valid variable name (`[A-Za-z_][A-Za-z0-9_]*`), or systemd ignores the
/// line.
pub fn systemd_env(name: &str, value: &str) -> Result<String, EscapeError> {
    check_env_name(name)?;
    reject(
        &format!("the value of `{name}`"),
        value,
        &[('\0', "a NUL character")],
    )?;
    let mut out = String::with_capacity(name.len() + value.len() + 4);
    out.push('"');
    out.push_str(name);
    out.push('=');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            c => push_c_escaped(&mut out, c),
        }
    }
    out.push('"');
    Ok(out)
}

/// A value systemd takes whole, with specifiers but no unquoting (`WorkingDirectory=`,
/// `EnvironmentFile=`, `User=`): `%` becomes `%%`. Control characters cannot be written and
/// systemd strips whitespace around a value, so both are errors.
pub fn systemd_value(what: &str, value: &str) -> Result<String, EscapeError> {
    if value.chars().any(char::is_control) {
        return Err(EscapeError {
            what: what.to_owned(),
            problem: "control characters",
        });
    }
    if value.trim() != value || value.is_empty() {
        return Err(EscapeError {
            what: what.to_owned(),
            problem: "leading or trailing whitespace, or be empty",
        });
    }
    Ok(value.replace('%', "%%"))
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what systemd and POSIX shells accept as a variable name
/// ([`EnvVarName`]'s check).
pub fn check_env_name(name: &str) -> Result<(), EscapeError> {
    if EnvVarName::is_valid(name) {
        Ok(())
    } else {
        Err(EscapeError {
            what: format!("[env] name `{name}`"),
            problem: "characters other than letters, digits and `_` (or start with a digit)",
        })
    }
}

/// A user name both systemd (`User=`) and upstart (`setuid`) take as written:
/// `[A-Za-z0-9_][A-Za-z0-9_.-]*`.
pub fn check_user(user: &str) -> Result<(), EscapeError> {
    let valid = user
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(EscapeError {
            what: format!("the user name `{user}`"),
            problem: "characters other than letters, digits, `_`, `.` and `-` (or start with \
                      `-` or `.`)",
        })
    }
}

/// A shell word for the end of an upstart `exec` line: `'...'` where `'` is written
/// `'\''` and `\` is written `'\\'` (outside the quotes). A backslash therefore never
/// stands inside quotes, so libnih's quote tracking agrees with the shell's and every `#`
/// is quoted. Newlines and NULs cannot be carried.
pub fn upstart_exec_word(what: &str, s: &str) -> Result<String, EscapeError> {
    reject(what, s, &[('\0', "a NUL character"), ('\n', "a newline")])?;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str(r"'\''"),
            '\\' => out.push_str(r"'\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

/// One argument of an upstart stanza (`env NAME=<arg>`, `chdir <arg>`, `setuid <arg>`),
/// read by libnih with dequoting: bare when plain, else `"..."` with `\` doubled and each
/// `"` written as `'"'` between two double-quoted runs. Newlines and NULs cannot be carried.
pub fn upstart_arg(what: &str, s: &str) -> Result<String, EscapeError> {
    reject(what, s, &[('\0', "a NUL character"), ('\n', "a newline")])?;
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@+,=%".contains(c))
    {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str(r#""'"'""#),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::unquote::{nih_token, sh_words, systemd_words};
    use super::*;

    /// Every character class the escapes care about, plus unicode and controls.
    const SAMPLES: &[&str] = &[
        "node server.js --port $PORT",
        "node worker.js --queue '%default%'",
        r#"sh -c "echo \"tick\" $(date +%s) \\ done""#,
        "exec env A=${HOME}x $$ $1 ${} $",
        r"a\'b\\'c'\'' \ \\ \\\ '",
        "100% %i %n %% %%%",
        "tab\there\rcr\x01\x1b\x7f",
        "unicode: ü € 🚀 \u{a0}nbsp",
        "# not a comment; semicolon ; & | < > ` ~ * ? [ ] { } ( ) !",
        "  leading and trailing spaces  ",
        "",
        "'",
        "\"",
        "\\",
        "$",
        "%",
    ];

    #[test]
    fn exec_arg_examples() {
        let arg = |s| systemd_exec_arg("the command", s).unwrap();
        assert_eq!(arg("exec node x"), "'exec node x'");
        assert_eq!(arg("a $PORT ${X}"), "'a $$PORT $${X}'");
        assert_eq!(arg("'%default%'"), r"'\'%%default%%\''");
        assert_eq!(arg(r#""tick" \ done"#), r#"'"tick" \\ done'"#);
        assert_eq!(arg("a\tb\x01ü"), r"'a\tb\x01ü'");
        assert_eq!(
            systemd_exec_arg("the command of `web`", "a\0b")
                .unwrap_err()
                .to_string(),
            "the command of `web` cannot contain a NUL character"
        );
    }

    #[test]
    fn exec_arg_reaches_the_process_unchanged() {
        for sample in SAMPLES {
            let line = format!("/bin/sh -c {}", systemd_exec_arg("x", sample).unwrap());
            assert_eq!(
                systemd_words(&line, true),
                vec!["/bin/sh".to_owned(), "-c".to_owned(), (*sample).to_owned()],
                "{line}"
            );
        }
    }

    #[test]
    fn exec_arg_of_every_ascii_character_round_trips() {
        let all: String = (1_u8..=127).map(char::from).collect();
        let line = format!("/bin/sh -c {}", systemd_exec_arg("x", &all).unwrap());
        assert_eq!(systemd_words(&line, true)[2], all);
    }

    #[test]
    fn env_examples() {
        assert_eq!(
            systemd_env("NODE_ENV", "production").unwrap(),
            r#""NODE_ENV=production""#
        );
        assert_eq!(
            systemd_env("GREETING", r#"it's "100%" $HOME \o/"#).unwrap(),
            r#""GREETING=it's \"100%%\" $HOME \\o/""#
        );
        assert_eq!(systemd_env("A", "x\ny").unwrap(), r#""A=x\ny""#);
        assert_eq!(
            systemd_env("1A", "x").unwrap_err().to_string(),
            "[env] name `1A` cannot contain characters other than letters, digits and `_` (or \
             start with a digit)"
        );
        assert!(systemd_env("A-B", "x").is_err());
        assert!(systemd_env("", "x").is_err());
        assert!(systemd_env("_a1", "").is_ok());
        assert!(systemd_env("A", "\0").is_err());
    }

    #[test]
    fn env_value_reaches_the_process_unchanged() {
        for sample in SAMPLES {
            let line = systemd_env("NAME", sample).unwrap();
            // No `$$` undoing: `$` is literal in Environment=.
            assert_eq!(
                systemd_words(&line, false),
                vec![format!("NAME={sample}")],
                "{line}"
            );
        }
    }

    #[test]
    fn values_double_percent_and_refuse_what_systemd_would_mangle() {
        assert_eq!(
            systemd_value("deploy path", "/srv/100%/a b").unwrap(),
            "/srv/100%%/a b"
        );
        assert!(systemd_value("deploy path", "/srv/a ").is_err());
        assert!(systemd_value("deploy path", "").is_err());
        assert_eq!(
            systemd_value("deploy path", "/srv\n/x")
                .unwrap_err()
                .to_string(),
            "deploy path cannot contain control characters"
        );
    }

    #[test]
    fn upstart_exec_word_examples() {
        let word = |s| upstart_exec_word("the command", s).unwrap();
        assert_eq!(word("exec node x"), "'exec node x'");
        assert_eq!(word("a 'b' $X"), r"'a '\''b'\'' $X'");
        assert_eq!(word(r"a \ b\"), r"'a '\\' b'\\''");
        assert!(upstart_exec_word("x", "a\nb").is_err());
    }

    #[test]
    fn upstart_exec_line_reaches_the_shell_unchanged() {
        for sample in SAMPLES.iter().filter(|s| !s.contains('\n')) {
            let line = format!("/bin/sh -c {}", upstart_exec_word("x", sample).unwrap());
            let (command, comment) = nih_token(&line, false, false);
            assert_eq!(comment, "", "libnih saw a comment in {line}");
            // Trailing whitespace aside (the line ends in a quote), libnih copies verbatim.
            assert_eq!(command, line);
            assert_eq!(
                sh_words(&command),
                vec!["/bin/sh".to_owned(), "-c".to_owned(), (*sample).to_owned()],
                "{line}"
            );
        }
    }

    #[test]
    fn upstart_arg_examples() {
        let arg = |s| upstart_arg("x", s).unwrap();
        assert_eq!(arg("production"), "production");
        assert_eq!(arg("/home/app/shop/current"), "/home/app/shop/current");
        assert_eq!(arg("a b"), r#""a b""#);
        assert_eq!(arg(r#"say "hi" \o/"#), r#""say "'"'"hi"'"'" \\o/""#);
        assert_eq!(arg(""), r#""""#);
        assert!(upstart_arg("x", "a\nb").is_err());
    }

    #[test]
    fn upstart_arg_reaches_upstart_unchanged() {
        for sample in SAMPLES.iter().filter(|s| !s.contains('\n')) {
            let quoted = upstart_arg("x", sample).unwrap();
            let (value, rest) = nih_token(&format!("NAME={quoted} # note"), true, true);
            assert_eq!(value, format!("NAME={sample}"), "{quoted}");
            assert_eq!(rest, " # note");
        }
    }
}
