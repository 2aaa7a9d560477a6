//! A remote script as a value: an ordered list of commands, each quoted once, here, when the
//! script is rendered. Scripts travel on the channel's stdin to `sh -s`, so nothing in them
//! (paths, values, secrets) appears on a remote command line. [`Script::render_masked`] is
//! the text deliver shows (`-v`, `--dry-run`): every exported value masked.

use crate::shell::quote;

/// One command: a program and its arguments, each quoted when rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Cmd(Cmd),
    /// Shell syntax that commands cannot express (a redirect, a test, a loop); `why` is
    /// rendered as a comment above it.
    Raw {
        why: String,
        text: String,
        /// What [`Script::render_masked`] shows instead of `text` (see [`Script::raw_hidden`]).
        shown: Option<String>,
    },
}

/// A named POSIX `sh` script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// What it does, for logs and `--dry-run` (`lock.acquire`, `release.build`).
    pub name: String,
    lines: Vec<Line>,
}

impl Script {
    pub fn new(name: impl Into<String>) -> Script {
        Script {
            name: name.into(),
            lines: Vec::new(),
        }
    }

    /// Appends `program args...`.
    #[must_use]
    pub fn cmd<I, S>(mut self, program: &str, args: I) -> Script
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.lines.push(Line::Cmd(Cmd {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
        }));
        self
    }

    /// Appends raw shell text. Interpolate values only through [`quote`].
    #[must_use]
    pub fn raw(mut self, why: &str, text: impl Into<String>) -> Script {
        self.lines.push(Line::Raw {
            why: why.to_string(),
            text: text.into(),
            shown: None,
        });
        self
    }

    /// As [`raw`](Self::raw), but [`render_masked`](Self::render_masked) shows `shown`
    /// instead of `text`: for text that carries contents (a file's bytes) rather than
    /// commands.
    #[must_use]
    pub fn raw_hidden(
        mut self,
        why: &str,
        text: impl Into<String>,
        shown: impl Into<String>,
    ) -> Script {
        self.lines.push(Line::Raw {
            why: why.to_string(),
            text: text.into(),
            shown: Some(shown.into()),
        });
        self
    }

    /// Appends every line of `other`.
    #[must_use]
    pub fn then(mut self, other: Script) -> Script {
        self.lines.extend(other.lines);
        self
    }

    /// The script text for `sh -s`: `set -eu`, then every line.
    pub fn render(&self) -> String {
        self.render_with(false)
    }

    /// The script as deliver shows it (`-v`, `--dry-run`): as [`render`](Self::render), but
    /// each `export NAME=VALUE` reads `export NAME=[redacted]`. `[env]` values reach the
    /// scripts that way (the build, `deliver run`), and a value may be a secret whatever
    /// SPEC §3 asks, so none is shown. Not meant for `sh`.
    pub fn render_masked(&self) -> String {
        self.render_with(true)
    }

    fn render_with(&self, masked: bool) -> String {
        let mut out = format!("# deliver: {}\nset -eu\n", self.name);
        for line in &self.lines {
            match line {
                Line::Cmd(c) => {
                    out.push_str(&quote(&c.program));
                    for a in &c.args {
                        out.push(' ');
                        match a.split_once('=') {
                            Some((name, _)) if masked && c.program == "export" => {
                                out.push_str(&quote(name));
                                out.push_str("=[redacted]");
                            }
                            _ => out.push_str(&quote(a)),
                        }
                    }
                    out.push('\n');
                }
                Line::Raw { why, text, shown } => {
                    for w in why.lines() {
                        out.push_str("# ");
                        out.push_str(w);
                        out.push('\n');
                    }
                    out.push_str(match shown {
                        Some(shown) if masked => shown,
                        _ => text,
                    });
                    out.push('\n');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn hostile_values_stay_literal() {
        let s = Script::new("t").cmd(
            "mkdir",
            ["-p", "x\"; touch /tmp/pwned #", "it's", "$HOME", ""],
        );
        insta::assert_snapshot!(s.render(), @r#"
        # deliver: t
        set -eu
        mkdir -p 'x"; touch /tmp/pwned #' 'it'\''s' '$HOME' ''
        "#);
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        let words = [
            "plain",
            "with space",
            "x\"; touch /tmp/pwned #",
            "it's",
            "$(id)",
            "`id`",
            "a\\b",
            "ünï",
            "*",
            "-n",
            "%i",
            "\n",
        ];
        let script = Script::new("echo").cmd(
            "printf",
            std::iter::once("%s\\0".to_string()).chain(words.iter().map(|w| (*w).to_string())),
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script.render())
            .output()
            .expect("sh");
        assert!(out.status.success());
        let got: Vec<&[u8]> = out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .collect();
        let want: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn shown_scripts_mask_every_exported_value() {
        let env = std::collections::BTreeMap::from([
            (
                crate::config::EnvVarName::new("API_TOKEN").unwrap(),
                "tok-3f9a'x y".to_owned(),
            ),
            (
                crate::config::EnvVarName::new("NODE_ENV").unwrap(),
                "production".to_owned(),
            ),
        ]);
        let layout = crate::plan::Layout::new("~/shop");
        let id = "20240131235959-0a1b2c3".parse().unwrap();
        let hooks = ["npm run build".to_owned()];
        let build =
            crate::plan::release_dir::build(&layout, &id, &hooks, &env, Duration::from_secs(60));
        let run = crate::plan::inspect::run_in_current(&layout, &env, "true");
        for script in [build, run] {
            let shown = script.render_masked();
            assert!(!shown.contains("tok-3f9a"), "{shown}");
            assert!(!shown.contains("production"), "{shown}");
            assert!(shown.contains("\nexport API_TOKEN=[redacted]\n"), "{shown}");
            assert!(shown.contains("\nexport NODE_ENV=[redacted]\n"), "{shown}");
            // Everything else as sent; the real script has the values.
            let sent = script.render();
            assert!(
                sent.contains("export 'API_TOKEN=tok-3f9a'\\''x y'"),
                "{sent}"
            );
            let strip = |t: &str| {
                t.lines()
                    .filter(|l| !l.starts_with("export "))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(strip(&shown), strip(&sent));
        }
        // Only `export` words are masked.
        let s = Script::new("t").cmd("git", ["--git-dir=repo.git", "status"]);
        assert_eq!(s.render_masked(), s.render());
    }

    #[test]
    fn raw_lines_carry_their_reason() {
        let s = Script::new("t").raw("atomic swap: mv -T renames over the old link", "mv -T a b");
        assert!(s
            .render()
            .ends_with("# atomic swap: mv -T renames over the old link\nmv -T a b\n"));
    }
}
