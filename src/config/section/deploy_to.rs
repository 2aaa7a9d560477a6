//! The value of `deploy_to` (a key of `general.rs`): a directory every tool on the host
//! takes as written. systemd refuses a `WorkingDirectory=` that is not normalized or too
//! long ("not normalized"), GNU tar reads `\` escapes in its `-C` argument, and ssh, sh and
//! the unit files cannot all carry control characters; so only paths that work everywhere
//! pass (issue 12). No I/O.

use crate::config::raw::{Field, Problem};

/// Longest path Linux takes (`PATH_MAX` 4096, NUL included).
pub(super) const MAX_PATH_BYTES: usize = 4095;
/// Longest file name (`NAME_MAX`).
pub(super) const MAX_NAME_BYTES: usize = 255;
/// What `~` may grow to on a host (`/home/` and a 32-byte user name, with room), plus the
/// longest path a unit names under `deploy_to` (`/shared/.env`).
const EXPANSION_BYTES: usize = 64 + "/shared/.env".len();

/// `~`, `~/path`, an absolute path or one relative to the home directory, normalized.
pub(super) fn check(field: &Field<String>) -> Result<String, Problem> {
    let value = &field.value;
    let fail = |why: String| {
        Err(Problem::new(
            field.at,
            format!("{} `{value}` {why}", field.path),
        ))
    };
    if value.is_empty() {
        return Err(Problem::new(
            field.at,
            format!("{} must not be empty", field.path),
        ));
    }
    if let Some(c) = value.chars().find(|&c| forbidden(c)) {
        return fail(format!(
            "contains {}: a path on the host cannot hold it (tar reads `\\` as an escape; \
             control and direction characters do not survive the unit files)",
            describe(c)
        ));
    }
    if value.trim() != value {
        return fail("has leading or trailing whitespace, which systemd strips".to_owned());
    }
    if value.starts_with('-') {
        return fail("must not start with `-` (commands would read it as an option)".to_owned());
    }
    let rest = match value.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        Some(_) => {
            return fail(
                "names another user's home (`~name`); write `~/dir` or an absolute path".to_owned(),
            )
        }
        None => value.as_str(),
    };
    let body = rest.strip_prefix('/').unwrap_or(rest);
    // One trailing `/` is harmless (`~/shop/`); anything else systemd calls "not normalized".
    let body = body.strip_suffix('/').unwrap_or(body);
    if !body.is_empty() {
        for part in body.split('/') {
            match part {
                "" => return fail("is not normalized: it has `//`".to_owned()),
                "." | ".." => {
                    return fail(format!(
                        "is not normalized: it has a `{part}` component; write the directory \
                         it stands for"
                    ))
                }
                _ if part.len() > MAX_NAME_BYTES => {
                    return fail(format!(
                        "has a component of {} bytes; at most {MAX_NAME_BYTES} are allowed",
                        part.len()
                    ))
                }
                _ => {}
            }
        }
    }
    if value.len() + EXPANSION_BYTES > MAX_PATH_BYTES {
        return fail(format!(
            "is {} bytes long; with the home directory and the paths under it, at most {} \
             are allowed",
            value.len(),
            MAX_PATH_BYTES - EXPANSION_BYTES
        ));
    }
    Ok(value.clone())
}

/// Control characters (C0, DEL, C1), `\`, and the invisible marks that reorder or hide
/// text (bidi controls, zero-width characters, BOM).
fn forbidden(c: char) -> bool {
    c == '\\' || c.is_control() || crate::ui::printable::invisible(c)
}

fn describe(c: char) -> String {
    match c {
        '\\' => "a backslash".to_owned(),
        '\t' => "a tab".to_owned(),
        '\n' | '\r' => "a line break".to_owned(),
        c => format!("the character U+{:04X}", u32::from(c)),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::*;

    #[test]
    fn deploy_to_that_no_host_tool_takes_as_written_is_refused() {
        // See: issue 12 (a backslash escape reached tar; systemd refused "not normalized").
        let long_part = "a".repeat(256);
        let long_path = format!("/{}", "b/".repeat(2039) + "b");
        assert_errors(&[
            ("deploy_to = \"\"\n", "3:13: deploy_to must not be empty"),
            (
                "deploy_to = '~/victim\\0'\n",
                "3:13: deploy_to `~/victim\\0` contains a backslash: a path on the host cannot \
                 hold it (tar reads `\\` as an escape; control and direction characters do not \
                 survive the unit files)",
            ),
            (
                "deploy_to = \"~/a\\tb\"\n",
                "3:13: deploy_to `~/a\tb` contains a tab: a path on the host cannot hold it (tar \
                 reads `\\` as an escape; control and direction characters do not survive the \
                 unit files)",
            ),
            (
                "deploy_to = \"~/shop\\u202e\"\n",
                "3:13: deploy_to `~/shop\u{202e}` contains the character U+202E: a path on the \
                 host cannot hold it (tar reads `\\` as an escape; control and direction \
                 characters do not survive the unit files)",
            ),
            (
                "deploy_to = \"/srv/x/../shop\"\n",
                "3:13: deploy_to `/srv/x/../shop` is not normalized: it has a `..` component; \
                 write the directory it stands for",
            ),
            (
                "deploy_to = \"./\"\n",
                "3:13: deploy_to `./` is not normalized: it has a `.` component; write the \
                 directory it stands for",
            ),
            (
                "deploy_to = \"/srv//shop\"\n",
                "3:13: deploy_to `/srv//shop` is not normalized: it has `//`",
            ),
            (
                "deploy_to = \"/srv/shop/.\"\n",
                "3:13: deploy_to `/srv/shop/.` is not normalized: it has a `.` component; write \
                 the directory it stands for",
            ),
            (
                "deploy_to = \"~bob/shop\"\n",
                "3:13: deploy_to `~bob/shop` names another user's home (`~name`); write `~/dir` \
                 or an absolute path",
            ),
            (
                "deploy_to = \"-rf\"\n",
                "3:13: deploy_to `-rf` must not start with `-` (commands would read it as an \
                 option)",
            ),
            (
                "deploy_to = \"/srv/shop \"\n",
                "3:13: deploy_to `/srv/shop ` has leading or trailing whitespace, which systemd \
                 strips",
            ),
        ]);
        assert_eq!(
            error_with(&format!("deploy_to = \"~/{long_part}\"\n")),
            format!(
                "deliver.toml:3:13: deploy_to `~/{long_part}` has a component of 256 bytes; at \
                 most 255 are allowed"
            )
        );
        assert_eq!(
            error_with(&format!("deploy_to = \"{long_path}\"\n")),
            format!(
                "deliver.toml:3:13: deploy_to `{long_path}` is 4080 bytes long; with the home \
                 directory and the paths under it, at most 4019 are allowed"
            )
        );
    }

    #[test]
    fn deploy_to_takes_home_absolute_relative_and_odd_but_valid_paths() {
        for path in [
            "~",
            "~/",
            "~/shop",
            "~/apps/shop/",
            "/srv/shop",
            "/",
            "shop",
            "/srv/100% shop/it's \"here\"",
            &format!("~/{}", "a".repeat(255)),
        ] {
            let env = only_env(&format!("{BASE}deploy_to = {path:?}\n"));
            assert_eq!(env.deploy_to, path);
        }
    }
}
