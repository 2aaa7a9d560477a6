//! The per-host deploy log `.deliver/log.jsonl` (SPEC §5): [`entry`] builds one JSON line
//! (release id, sha, who, when, action, result), [`append`] is the script that adds it.
//! Pure: the caller passes the time in; no I/O here.

use serde::Serialize;

use super::layout::Layout;
use super::script::Script;
use crate::release_id::ReleaseId;
use crate::shell::quote;

/// What a log line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deploy,
    Rollback,
    /// The release every host runs, restarted (`deliver env`): a rollback to itself.
    Restart,
    /// The release every host runs, with other instance counts (`deliver scale`).
    Scale,
}

impl Action {
    /// As the log, `--json` and `DELIVER_*` variables name it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
            Action::Restart => "restart",
            Action::Scale => "scale",
        }
    }
}

/// How it ended on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogResult {
    /// The release is live (or was already: nothing to do).
    Done,
    /// Failed before this host switched; its release dir was removed.
    Failed,
    /// Switched, then reverted to the release it served before.
    Reverted,
    /// Switched, and the revert failed too: needs a human.
    RevertFailed,
}

#[derive(Serialize)]
struct Entry<'a> {
    id: &'a str,
    sha: &'a str,
    who: &'a str,
    when: String,
    action: Action,
    result: LogResult,
    /// How long the run had taken on this host when the line was written.
    ms: u64,
}

/// One line of the log (no newline): `{"id":..,"sha":..,"who":..,"when":..,"action":..,
/// "result":..,"ms":..}`; `who` is `user@machine`, `when_unix` seconds since the epoch (UTC)
/// when the run started, `ms` how long it had taken on this host.
pub fn entry(
    id: &ReleaseId,
    sha: &str,
    who: &str,
    when_unix: u64,
    (action, result): (Action, LogResult),
    ms: u64,
) -> String {
    serde_json::to_string(&Entry {
        id: id.as_str(),
        sha,
        who,
        when: utc_timestamp(when_unix),
        action,
        result,
        ms,
    })
    .expect("a struct of strings serializes")
}

/// Appends `json_line` (and a newline) to the log, creating `.deliver/` if needed. A log
/// that cannot be written (a full disk) is said on stderr and does not stop the script:
/// what follows it at the end of a run is the unlock.
pub fn append(layout: &Layout, json_line: &str) -> Script {
    Script::new("log.append").raw(
        "an append redirect; printf is a shell builtin, so the line is on no command line",
        format!(
            "if ! {{ mkdir -p {state} && printf '%s\\n' {line} >>{log}; }}; then\n  \
             echo \"deliver: the deploy log \"{log}\" could not be written\" >&2\n\
             fi",
            state = quote(&layout.state()),
            line = quote(json_line),
            log = quote(&layout.log())
        ),
    )
}

/// `2024-01-31T23:59:59Z` for a time in seconds since the epoch, UTC. Reuses the calendar
/// arithmetic of [`ReleaseId`], whose first 14 characters are exactly that time.
///
/// # Panics
/// After the year 9999.
pub fn utc_timestamp(unix_seconds: u64) -> String {
    let id = ReleaseId::new(unix_seconds, "0000000").expect("a time before the year 10000");
    let t = id.as_str();
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[8..10],
        &t[10..12],
        &t[12..14]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sandbox::Sandbox;

    fn line() -> String {
        let id: ReleaseId = "20240131235959-0a1b2c3".parse().unwrap();
        entry(
            &id,
            "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
            "bob@laptop",
            1_706_745_600,
            (Action::Deploy, LogResult::RevertFailed),
            4321,
        )
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(1_709_211_909), "2024-02-29T13:05:09Z");
    }

    #[test]
    fn an_entry_is_one_json_line() {
        insta::assert_snapshot!(line(), @r#"{"id":"20240131235959-0a1b2c3","sha":"0a1b2c3d4e5f60718293a4b5c6d7e8f901234567","who":"bob@laptop","when":"2024-02-01T00:00:00Z","action":"deploy","result":"revert-failed","ms":4321}"#);
    }

    #[test]
    fn the_append_script() {
        insta::assert_snapshot!(
            "log_append",
            append(&Layout::new("~/shop"), &line()).render()
        );
    }

    #[test]
    fn append_adds_lines_and_keeps_hostile_text_literal() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let hostile = "x\"; touch pwned # $(touch pwned2) 'q'";
        sandbox.run(&append(&layout, &line())).ok();
        sandbox.run(&append(&layout, hostile)).ok();
        let log = std::fs::read_to_string(sandbox.path("shop/.deliver/log.jsonl")).unwrap();
        assert_eq!(log, format!("{}\n{hostile}\n", line()));
        assert!(!sandbox.path("pwned").exists() && !sandbox.path("pwned2").exists());
    }

    #[test]
    fn a_log_that_cannot_be_written_is_said_and_the_script_goes_on_to_unlock() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        // A directory where the log file should be: the append fails as on a full disk.
        std::fs::create_dir_all(sandbox.path("shop/.deliver/log.jsonl")).unwrap();
        let then =
            Script::new("after").raw("what follows in a run's last round trip", "echo unlocked");
        let ran = sandbox.run(&append(&layout, &line()).then(then)).ok();
        assert_eq!(ran.stdout, "unlocked\n");
        assert!(
            ran.stderr.contains("could not be written"),
            "{}",
            ran.stderr
        );
    }
}
