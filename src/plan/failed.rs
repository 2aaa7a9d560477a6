//! The mark of a failed release (issue 12): a deploy whose rollout failed (exit 4 or 5)
//! leaves its release dir on the hosts it reached, and marks it there with the file
//! `releases/<ID>/.deliver-failed`, one JSON line `{"when","why","by"}`. The mark lives and
//! dies with the release dir (pruning removes both), so nothing else needs cleaning up.
//! `releases` shows it, `rollback` never picks a marked release as "the previous one" (and
//! `--to` refuses one without `--force`), and pruning removes marked releases first. [`mark`]
//! is written into the run's last round trip (`finish`), never one of its own. Pure: builds
//! the script and reads the line; no I/O.

use serde::{Deserialize, Serialize};

use super::layout::Layout;
use super::log::utc_timestamp;
use super::script::Script;
use crate::release_id::ReleaseId;
use crate::shell::quote;

/// The mark's file name, inside the release dir.
pub const MARKER: &str = ".deliver-failed";

/// The longest `why` a mark keeps (bytes, cut at a character boundary): the facts read the
/// line back with a shell `read`, and an error message needs no more.
const MAX_WHY: usize = 1000;

/// What a mark says: when the rollout failed (RFC 3339, UTC), why (the run's error), by whom
/// (`user@machine`, as in the deploy log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub when: String,
    pub why: String,
    pub by: String,
}

impl Mark {
    pub fn new(when_unix: u64, why: &str, by: &str) -> Mark {
        let mut end = why.len().min(MAX_WHY);
        while !why.is_char_boundary(end) {
            end -= 1;
        }
        Mark {
            when: utc_timestamp(when_unix),
            why: why[..end].to_owned(),
            by: by.to_owned(),
        }
    }

    /// The file's one line (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings serializes")
    }

    /// A mark's line as written; `None` when it is not one (a hand-made empty file still
    /// marks the release: see [`crate::plan::facts`], which tests only that the file exists).
    pub fn parse(line: &str) -> Option<Mark> {
        serde_json::from_str(line.trim()).ok()
    }
}

/// The path of the mark of release `id`.
pub fn path(layout: &Layout, id: &ReleaseId) -> String {
    format!("{}/{MARKER}", layout.release(id))
}

/// Marks release `id` failed, when its dir exists (a host the run never prepared has none).
/// A mark that cannot be written is said on stderr but fails nothing: the round trip it
/// rides in also logs and unlocks, which matter more.
pub fn mark(layout: &Layout, id: &ReleaseId, mark: &Mark) -> Script {
    Script::new("release.mark_failed").raw(
        "printf is a builtin: the line is on no command line; a failed write is no reason to \
         keep the lock",
        format!(
            "if [ -d {dir} ]; then\n  \
             printf '%s\\n' {line} >{file} || echo \"deliver: could not mark \"{dir}\" failed\" >&2\n\
             fi",
            dir = quote(&layout.release(id)),
            line = quote(&mark.to_line()),
            file = quote(&path(layout, id)),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sandbox::Sandbox;

    fn id() -> ReleaseId {
        "20240131235959-0a1b2c3".parse().unwrap()
    }

    #[test]
    fn the_mark_is_one_json_line_that_reads_back() {
        let m = Mark::new(1_706_745_599, "h2: web@5000: it's \"down\"\nnow", "ann@ci");
        let line = m.to_line();
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(Mark::parse(&line), Some(m.clone()));
        assert_eq!(m.when, "2024-01-31T23:59:59Z");
        assert_eq!(Mark::parse(""), None);
    }

    #[test]
    fn a_long_why_is_cut_at_a_character_boundary() {
        let why = "é".repeat(MAX_WHY);
        let m = Mark::new(0, &why, "me");
        assert!(m.why.len() <= MAX_WHY && m.why.len() >= MAX_WHY - 1);
        assert!(why.starts_with(&m.why));
    }

    #[test]
    fn the_script() {
        let m = Mark::new(1_706_745_599, "h2: health 'check' failed", "ann@ci");
        insta::assert_snapshot!(mark(&Layout::new("~/shop"), &id(), &m).render(), @r#"
        # deliver: release.mark_failed
        set -eu
        # printf is a builtin: the line is on no command line; a failed write is no reason to keep the lock
        if [ -d shop/releases/20240131235959-0a1b2c3 ]; then
          printf '%s\n' '{"when":"2024-01-31T23:59:59Z","why":"h2: health '\''check'\'' failed","by":"ann@ci"}' >shop/releases/20240131235959-0a1b2c3/.deliver-failed || echo "deliver: could not mark "shop/releases/20240131235959-0a1b2c3" failed" >&2
        fi
        "#);
    }

    #[test]
    fn marking_writes_the_file_only_where_the_release_exists() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let m = Mark::new(1_706_745_599, "it broke; $(touch pwned)", "me@here");
        sandbox.sh(&format!("mkdir -p shop/releases/{}", id()));
        sandbox.run(&mark(&layout, &id(), &m)).ok();
        let written = sandbox.sh(&format!("cat shop/releases/{}/{MARKER}", id()));
        assert_eq!(Mark::parse(&written), Some(m.clone()));
        assert_eq!(sandbox.sh("ls"), "shop\n", "nothing ran from the why");
        let other: ReleaseId = "20240201000000-0a1b2c3".parse().unwrap();
        sandbox.run(&mark(&layout, &other, &m)).ok();
        assert_eq!(sandbox.sh("ls shop/releases"), format!("{}\n", id()));
    }
}
