//! Procfile text -> process types (SPEC §4). Strict: every line is a `name: command`, a
//! comment or blank; anything else is an error naming its line. Pure, no I/O.

use std::collections::HashMap;

/// One `name: command` line. `index` is its position among the types (0-based), which
/// gives its port range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessType {
    pub name: String,
    pub command: String,
    pub index: usize,
    /// 1-based line number in the Procfile.
    pub line: usize,
}

/// A Procfile that cannot be used. `line` is 1-based; 0 means the file as a whole (an empty
/// Procfile), which displays without a line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Procfile{}: {message}", if *line == 0 { String::new() } else { format!(":{line}") })]
pub struct ProcfileError {
    pub line: usize,
    pub message: String,
}

/// Longest allowed process type name.
pub const MAX_NAME_LEN: usize = 63;

/// Parses a Procfile. Errors name the 1-based line.
pub fn parse(text: &str) -> Result<Vec<ProcessType>, ProcfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut types: Vec<ProcessType> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (number, raw) in text.split('\n').enumerate() {
        let line = number + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |message: String| ProcfileError { line, message };
        let Some((name, command)) = trimmed.split_once(':') else {
            return Err(err(format!("expected `name: command`, found `{trimmed}`")));
        };
        let (name, command) = (name.trim_end(), command.trim());
        check_name(name).map_err(err)?;
        if command.is_empty() {
            return Err(err(format!("process type `{name}` has no command")));
        }
        if let Some(c) = command.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(err(format!(
                "the command of `{name}` contains the control character U+{:04X}",
                u32::from(c)
            )));
        }
        if let Some(message) =
            crate::config::too_long(&format!("the command of `{name}`"), command.len())
        {
            return Err(err(message));
        }
        if let Some(first) = seen.get(name) {
            return Err(err(format!(
                "process type `{name}` is defined twice, on lines {first} and {line}"
            )));
        }
        seen.insert(name.to_owned(), line);
        types.push(ProcessType {
            name: name.to_owned(),
            command: command.to_owned(),
            index: types.len(),
            line,
        });
    }
    if types.is_empty() {
        return Err(ProcfileError {
            line: 0,
            message: "no process types: add a line like `web: bin/server`".to_owned(),
        });
    }
    Ok(types)
}

/// `[A-Za-z0-9_-]{1,63}`; the message says which rule `name` breaks.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing process type name before `:`".to_owned());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "invalid process type name `{name}`: {c:?} is not allowed, use only letters, \
             digits, `_` and `-`"
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "process type name `{name}` is {} characters long, at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_types_in_order_with_index_and_line() {
        let types = parse("# app\n\nweb: node server.js\n  worker :  node worker.js  \n").unwrap();
        assert_eq!(
            types,
            vec![
                ProcessType {
                    name: "web".into(),
                    command: "node server.js".into(),
                    index: 0,
                    line: 3,
                },
                ProcessType {
                    name: "worker".into(),
                    command: "node worker.js".into(),
                    index: 1,
                    line: 4,
                },
            ]
        );
    }

    #[test]
    fn tolerates_crlf_bom_and_indented_comments() {
        let types = parse("\u{feff}web: a\r\n   # note\r\n\r\nclock: b c\r\n").unwrap();
        assert_eq!(types[0].command, "a");
        assert_eq!(types[1].name, "clock");
        assert_eq!(types[1].command, "b c");
        assert_eq!(types[1].line, 4);
    }

    #[test]
    fn keeps_everything_after_the_first_colon() {
        let types = parse("web: env A=b: c 'x:y' \"$PORT\" %s\n").unwrap();
        assert_eq!(types[0].command, "env A=b: c 'x:y' \"$PORT\" %s");
    }

    #[test]
    fn accepts_names_of_letters_digits_underscores_and_dashes() {
        let name = "A-z_09".repeat(10) + "abc";
        assert_eq!(name.len(), MAX_NAME_LEN);
        let types = parse(&format!("{name}: x")).unwrap();
        assert_eq!(types[0].name, name);
    }

    #[test]
    fn line_without_colon_is_an_error_naming_it() {
        assert_eq!(
            error("web: a\n\nweb node server.js\n"),
            "Procfile:3: expected `name: command`, found `web node server.js`"
        );
    }

    #[test]
    fn empty_command_is_an_error() {
        assert_eq!(
            error("web:   \n"),
            "Procfile:1: process type `web` has no command"
        );
    }

    #[test]
    fn missing_name_is_an_error() {
        assert_eq!(
            error("# c\n: node x\n"),
            "Procfile:2: missing process type name before `:`"
        );
    }

    #[test]
    fn bad_name_characters_are_an_error() {
        assert_eq!(
            error("web server: node x\n"),
            "Procfile:1: invalid process type name `web server`: ' ' is not allowed, use only \
             letters, digits, `_` and `-`"
        );
        assert_eq!(
            error("wéb: node x\n"),
            "Procfile:1: invalid process type name `wéb`: 'é' is not allowed, use only \
             letters, digits, `_` and `-`"
        );
    }

    #[test]
    fn long_name_is_an_error() {
        let name = "w".repeat(64);
        assert_eq!(
            error(&format!("{name}: x")),
            format!(
                "Procfile:1: process type name `{name}` is 64 characters long, at most 63 are \
                 allowed"
            )
        );
    }

    #[test]
    fn duplicate_names_both_lines() {
        assert_eq!(
            error("web: a\nworker: b\n# c\nweb: c\n"),
            "Procfile:4: process type `web` is defined twice, on lines 1 and 4"
        );
    }

    #[test]
    fn control_characters_in_commands_are_an_error() {
        assert_eq!(
            error("web: a\u{1b}[0m\n"),
            "Procfile:1: the command of `web` contains the control character U+001B"
        );
        assert_eq!(parse("web: a\tb").unwrap()[0].command, "a\tb");
    }

    #[test]
    fn a_command_the_host_could_not_exec_is_an_error() {
        // See: issue 12 (a 128 KiB command failed at exec with E2BIG).
        let max = crate::config::MAX_ARG_BYTES;
        assert_eq!(
            error(&format!("web: a\nworker: {}\n", "x".repeat(max + 1))),
            "Procfile:2: the command of `worker` is 114689 bytes long; at most 114688 are \
             allowed (Linux refuses longer arguments and environment strings)"
        );
        assert_eq!(
            parse(&format!("web: {}", "x".repeat(max))).unwrap()[0]
                .command
                .len(),
            max
        );
    }

    #[test]
    fn empty_procfile_is_an_error() {
        assert_eq!(
            error(""),
            "Procfile: no process types: add a line like `web: bin/server`"
        );
        assert_eq!(
            error("# only\n\n   \n"),
            "Procfile: no process types: add a line like `web: bin/server`"
        );
    }
}
