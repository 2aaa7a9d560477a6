//! Text from the user's files (hosts, paths, commands, values) ends up in messages: its
//! control characters (ESC, BEL, C1) and the invisible marks that reorder or hide text
//! (bidi overrides like U+202E, zero-width characters) would act on the terminal instead of
//! showing. Every line `ui` prints passes through [`printable`] (issue 12).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with each control character but line break and tab written as `\x1b`, and each
/// invisible format character as `\u{202e}`; borrowed when there is none.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !hidden(c) {
            out.push(c);
        } else if c.is_ascii() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || invisible(c)
}

/// The format characters that make text print differently from what it holds: bidi
/// embeddings, overrides and isolates, zero-width characters, the BOM.
pub fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn controls_and_bidi_marks_are_shown_escaped() {
        // See: issue 12 (ESC, BEL and U+202E in values reached the terminal raw).
        assert_eq!(
            printable("deploy_to `a\u{1b}[2Jb\u{7}` \u{202e}cba \u{85}"),
            "deploy_to `a\\x1b[2Jb\\x07` \\u{202e}cba \\u{85}"
        );
        assert_eq!(
            printable("two\nlines\tand tab, ü €"),
            "two\nlines\tand tab, ü €"
        );
    }
}
