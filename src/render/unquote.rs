//! Test models of the reading side of each quoting `escape` does: systemd's unquoting of
//! `ExecStart=` and `Environment=` (with specifiers and `$$`), libnih's tokenizer for
//! upstart stanzas, and POSIX sh word splitting. The escape tests and the property tests
//! (`proptests.rs`) undo the rendered files with them. Test-only.

/// Undoes systemd's C escapes (systemd.syntax(7) table) in quoted words, as
/// `extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)` does, then specifiers (`%%`
/// only, any other `%` is a test failure) and, for exec arguments, `$$`.
pub(super) fn systemd_words(line: &str, dollars: bool) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ').is_some() {}
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        let quote = (first == '\'' || first == '"').then(|| chars.next().unwrap());
        loop {
            let Some(c) = chars.next() else {
                assert!(quote.is_none(), "unterminated quote in {line:?}");
                break;
            };
            if Some(c) == quote {
                let next = chars.peek();
                assert!(next.is_none() || next == Some(&' '), "text after quote");
                break;
            }
            if quote.is_none() && c == ' ' {
                break;
            }
            if c == '\\' {
                let e = chars.next().expect("trailing backslash");
                word.push(match e {
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\x0b',
                    '\\' | '"' | '\'' => e,
                    's' => ' ',
                    'x' => {
                        let hex: String = [chars.next().unwrap(), chars.next().unwrap()]
                            .iter()
                            .collect();
                        let v = u32::from_str_radix(&hex, 16).unwrap();
                        assert_ne!(v, 0, "\\x00 is rejected");
                        char::from_u32(v).unwrap()
                    }
                    other => panic!("unknown escape \\{other} in {line:?}"),
                });
            } else {
                word.push(c);
            }
        }
        words.push(word);
    }
    words
        .into_iter()
        .map(|w| {
            let w = unescape_doubled(&w, '%');
            if dollars {
                unescape_doubled(&w, '$')
            } else {
                w
            }
        })
        .collect()
}

/// `%%` -> `%` (or `$$` -> `$`); a lone one would be expanded, which fails the test.
fn unescape_doubled(s: &str, special: char) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == special {
            assert_eq!(chars.next(), Some(special), "lone {special} in {s:?}");
        }
        out.push(c);
    }
    out
}

/// `NIH_CONFIG_WS`.
const NIH_WS: &str = " \t\r";

/// libnih's `nih_config_token` on one line: returns the token up to an unquoted,
/// unescaped `#` (the rest of the line is a comment), copying (`dequote = false`, the
/// `exec` stanza) or dequoting (`env`, `chdir`, `setuid`) it.
pub(super) fn nih_token(line: &str, dequote: bool, stop_at_space: bool) -> (String, String) {
    let mut out = String::new();
    let (mut slash, mut quote) = (false, None);
    let mut pending_ws = String::new();
    let mut rest = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        let mut text = String::new();
        if slash {
            slash = false;
            if c == '\\' || NIH_WS.contains(c) {
                if !dequote {
                    text.push('\\');
                }
            } else {
                text.push('\\');
            }
            text.push(c);
        } else if c == '\\' {
            slash = true;
            continue;
        } else if let Some(q) = quote {
            if c == q {
                quote = None;
                if !dequote {
                    text.push(c);
                }
            } else if NIH_WS.contains(c) {
                pending_ws.push(c);
                continue;
            } else {
                text.push(c);
            }
        } else if c == '\'' || c == '"' {
            quote = Some(c);
            if !dequote {
                text.push(c);
            }
        } else if c == '#' || (stop_at_space && NIH_WS.contains(c)) {
            rest = std::iter::once(c).chain(chars).collect();
            break;
        } else if NIH_WS.contains(c) {
            pending_ws.push(c);
            continue;
        } else {
            text.push(c);
        }
        out.push_str(&pending_ws);
        pending_ws.clear();
        out.push_str(&text);
    }
    assert!(!slash && quote.is_none(), "unbalanced: {line:?}");
    (out, rest)
}

/// POSIX sh word splitting for words made of `'...'` runs and `\x` escapes.
pub(super) fn sh_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '\\' => word
                .get_or_insert_with(String::new)
                .push(chars.next().unwrap()),
            c => {
                assert!(c.is_ascii_alphanumeric() || "/-".contains(c), "{c:?}");
                word.get_or_insert_with(String::new).push(c);
            }
        }
    }
    words.extend(word);
    words
}
