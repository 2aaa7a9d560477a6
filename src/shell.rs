//! The one POSIX `sh` quoter: a word that the shell reads back byte for byte. Remote scripts
//! (`plan::Script::render`), the upstart job files (`render::upstart`) and the commands
//! deliver prints for people to run all quote through [`quote`]. Pure string work.

/// One shell word, quoted for POSIX `sh`: bare when it holds only safe characters
/// (ASCII letters and digits, `@%+=:,./-_`), else in single quotes with each `'` written as
/// `'\''`. NUL cannot be represented and is replaced by nothing (config validation rejects
/// it before this point).
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b));
    if safe {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars().filter(|&c| c != '\0') {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_words_stay_bare_others_are_single_quoted() {
        assert_eq!(quote("/home/app/shop"), "/home/app/shop");
        assert_eq!(quote("a-web@%i.service"), "a-web@%i.service");
        assert_eq!(quote("/srv/a b"), "'/srv/a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote(""), "''");
    }
}
