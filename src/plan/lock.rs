//! The per-host deploy lock (SPEC §5): `mkdir .deliver/lock` is atomic, so exactly one
//! deploy gets it; its `holder.json` says who. Builders for taking, releasing and breaking
//! it, and the pure [`holder_json`]/[`Holder`] for what it holds. No I/O here.
//!
//! The lock's lease is its holder's SSH session on the host: `acquire` records the sshd
//! process that carries the connection (`session`: pid and start time). While that process
//! lives the lock is held; once it is gone (the holder exited without unlocking, was killed,
//! or its connection was closed) the next `acquire` takes the lock over and says whose it
//! was ([`TAKEN_OVER`] on stderr).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::layout::Layout;
use super::log::utc_timestamp;
use super::script::Script;
use crate::release_id::ReleaseId;
use crate::shell::quote;

/// `acquire`: the lock is held by someone else; their `holder.json` is on stdout (empty when
/// they have not written it yet).
pub const HELD: i32 = 64;

/// `unlock`: there was no lock to remove.
pub const NOT_LOCKED: i32 = 65;

/// `acquire` took over a lock whose holder's session is gone: this, then the old
/// `holder.json`, on a line of stderr.
pub const TAKEN_OVER: &str = "deliver-lock-taken-over: ";

/// The sshd process of this connection, `PID STARTTIME` (`/proc/PID/stat` field 22), as
/// `$session`; empty when there is none (not run over SSH). Shell builtins only.
fn this_session() -> String {
    "session=''\n\
     p=$PPID\n\
     while [ \"$p\" -gt 1 ] 2>/dev/null; do\n  \
     read -r c <\"/proc/$p/comm\" || break\n  \
     read -r stat <\"/proc/$p/stat\" || break\n  \
     set -- $stat\n  \
     if [ \"$c\" = sshd ]; then session=\"$p ${22}\"; break; fi\n  \
     p=$4\n\
     done"
        .to_owned()
}

/// Exits 0 when the session recorded in `$1/session` is gone; 1 while it lives (or when
/// none is recorded: a lock from before leases, which only `unlock` breaks).
fn holder_gone(lock: &str) -> String {
    format!(
        "holder_gone() {{\n  \
         [ -f {lock}/session ] || return 1\n  \
         read -r pid start <{lock}/session || return 1\n  \
         [ -n \"$pid\" ] || return 1\n  \
         if read -r stat <\"/proc/$pid/stat\" 2>/dev/null; then\n    \
         set -- $stat\n    \
         [ \"${{22}}\" != \"$start\" ]\n    \
         return\n  \
         fi\n  \
         return 0\n\
         }}"
    )
}

/// Who holds a lock: what `holder.json` contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The local user who ran deliver.
    pub user: String,
    /// The machine deliver ran on.
    pub machine: String,
    pub pid: u32,
    /// The deliver command line (`deliver deploy production`).
    pub command: String,
    /// The release being deployed, when there is one.
    pub release: Option<String>,
    /// When the lock was taken, UTC, `2024-01-31T23:59:59Z`.
    pub started: String,
}

impl Holder {
    /// Reads `holder.json` as `acquire` or `unlock` printed it; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Holder> {
        serde_json::from_str(text.trim()).ok()
    }
}

impl Holder {
    /// How long ago the lock was taken, at `now_unix` (`2h 5m`); `None` when `started` is
    /// not a deliver timestamp.
    pub fn age(&self, now_unix: u64) -> Option<String> {
        let digits: String = self.started.chars().filter(char::is_ascii_digit).collect();
        // A release id holds the same UTC timestamp and knows its calendar arithmetic.
        let id: ReleaseId = format!("{digits}-0000000").parse().ok()?;
        Some(age(now_unix.saturating_sub(id.unix_seconds())))
    }
}

/// `45s`, `12m 3s`, `2h 5m`, `3d 4h`.
pub fn age(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

impl fmt::Display for Holder {
    /// `bob@laptop (pid 4242) since 2024-01-31T23:59:59Z: deliver deploy production`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} (pid {}) since {}: {}",
            self.user, self.machine, self.pid, self.started, self.command
        )?;
        if let Some(release) = &self.release {
            write!(f, " (release {release})")?;
        }
        Ok(())
    }
}

/// The `holder.json` of a lock taken at `started_unix` (seconds, UTC): one line of JSON.
pub fn holder_json(
    user: &str,
    machine: &str,
    pid: u32,
    command: &str,
    release: Option<&ReleaseId>,
    started_unix: u64,
) -> String {
    let holder = Holder {
        user: user.to_owned(),
        machine: machine.to_owned(),
        pid,
        command: command.to_owned(),
        release: release.map(ToString::to_string),
        started: utc_timestamp(started_unix),
    };
    serde_json::to_string(&holder).expect("a struct of strings serializes")
}

/// Takes the lock, or exits [`HELD`] printing the holder's JSON. A lock whose holder's
/// session is gone is taken over: moved aside (`mv` is atomic, so one run wins), its
/// `holder.json` printed on stderr after [`TAKEN_OVER`], then taken as usual. The JSON
/// reaches the file through the shell's `printf` builtin: on no command line.
pub fn acquire(layout: &Layout, holder_json: &str) -> Script {
    let lock = quote(&layout.lock());
    let holder = quote(&layout.lock_holder());
    let gone = quote(&format!("{}.gone", layout.lock()));
    Script::new("lock.acquire")
        .raw(
            "0700: the lock, the log and the units are this user's business; the test spares a \
             process on every run",
            format!(
                "[ -d {state} ] || mkdir -p -m 0700 {state}",
                state = quote(&layout.state())
            ),
        )
        .raw(
            "the lease: this connection's sshd process, found with builtins",
            this_session(),
        )
        .raw(
            "whether a lock's holder session is gone",
            holder_gone(&lock),
        )
        .raw(
            "a lock whose holder's session is gone is moved aside (once: mv is atomic) and \
             reported; mkdir is the atomic test-and-set; a failure is HELD only when the lock \
             exists (else mkdir runs again to fail with its own message)",
            format!(
                "if [ -d {lock} ] && holder_gone && mv {lock} {gone}.$$ 2>/dev/null; then\n  \
                 old=''\n  \
                 read -r old <{gone}.$$/holder.json 2>/dev/null || true\n  \
                 printf '%s%s\\n' {marker} \"$old\" >&2\n  \
                 rm -rf {gone}.$$\n\
                 fi\n\
                 if ! mkdir {lock} 2>/dev/null; then\n  \
                 if [ -d {lock} ]; then\n    \
                 cat {holder} 2>/dev/null || true\n    \
                 exit {HELD}\n  \
                 fi\n  \
                 mkdir {lock}\n\
                 fi",
                marker = quote(TAKEN_OVER),
            ),
        )
        .raw(
            "printf is a shell builtin: the holder goes to the file on no command line. The \
             builtin says only `I/O error` when the write fails (a full disk): then `cat` \
             writes it, through a pipe, to fail with the reason",
            format!(
                "if ! printf '%s\\n' {json} >{holder} 2>/dev/null; then\n  \
                 printf '%s\\n' {json} | cat >{holder}\n\
                 fi\n\
                 [ -z \"$session\" ] || printf '%s\\n' \"$session\" >{lock}/session",
                json = quote(holder_json)
            ),
        )
}

/// The holder a [`TAKEN_OVER`] line of `acquire`'s stderr names (its `holder.json` text,
/// empty when it had none).
pub fn taken_over(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(TAKEN_OVER))
        .map(str::to_owned)
}

/// Releases the lock (at the end of every command that took it, on every path).
pub fn release(layout: &Layout) -> Script {
    Script::new("lock.release").raw(
        "moved aside before it is removed: a waiting run never sees a lock without its holder",
        remove(layout),
    )
}

/// Removes the lock at once: `mv` is atomic, so the lock is there with its `holder.json`
/// or gone, never half removed (`rm -rf` alone deletes the holder file before the
/// directory). No lock is no error.
pub fn remove(layout: &Layout) -> String {
    let gone = quote(&format!("{}.released", layout.lock()));
    format!(
        "if mv {lock} {gone}.$$ 2>/dev/null; then rm -rf {gone}.$$; fi",
        lock = quote(&layout.lock())
    )
}

/// Breaks a stale lock: prints its holder's JSON, then removes it; exits [`NOT_LOCKED`]
/// when there is none.
pub fn unlock(layout: &Layout) -> Script {
    let lock = quote(&layout.lock());
    let holder = quote(&layout.lock_holder());
    Script::new("lock.unlock")
        .raw(
            "no lock: a named exit, not an error",
            format!(
                "if [ ! -d {lock} ]; then exit {NOT_LOCKED}; fi\ncat {holder} 2>/dev/null || true"
            ),
        )
        .raw("as a release removes it", remove(layout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sandbox::Sandbox;

    fn holder() -> String {
        let id: ReleaseId = "20240131235959-0a1b2c3".parse().unwrap();
        holder_json(
            "bob",
            "laptop",
            4242,
            "deliver deploy",
            Some(&id),
            1_706_745_599,
        )
    }

    #[test]
    fn holder_json_is_one_line_with_every_field() {
        insta::assert_snapshot!(holder(), @r#"{"user":"bob","machine":"laptop","pid":4242,"command":"deliver deploy","release":"20240131235959-0a1b2c3","started":"2024-01-31T23:59:59Z"}"#);
        let parsed = Holder::parse(&holder()).unwrap();
        assert_eq!(
            parsed.to_string(),
            "bob@laptop (pid 4242) since 2024-01-31T23:59:59Z: deliver deploy (release \
             20240131235959-0a1b2c3)"
        );
        assert_eq!(Holder::parse("not json"), None);
    }

    #[test]
    fn the_scripts() {
        let layout = Layout::new("~/shop");
        insta::assert_snapshot!("lock_acquire", acquire(&layout, &holder()).render());
        insta::assert_snapshot!("lock_release", release(&layout).render());
        insta::assert_snapshot!("lock_unlock", unlock(&layout).render());
    }

    #[test]
    fn a_second_acquire_exits_held_and_prints_the_holder() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let first = sandbox.run(&acquire(&layout, &holder())).ok();
        assert_eq!(first.stdout, "");
        // The lock comes before setup on a fresh host: it makes `.deliver` 0700 itself.
        let mode = std::fs::metadata(sandbox.path("shop/.deliver")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o700
        );
        let second = sandbox.run(&acquire(&layout, "{\"user\":\"eve\"}"));
        assert_eq!(second.status, HELD);
        assert_eq!(Holder::parse(&second.stdout).unwrap().user, "bob");

        sandbox.run(&release(&layout)).ok();
        sandbox.run(&acquire(&layout, &holder())).ok();
    }

    #[test]
    fn unlock_prints_the_holder_and_then_finds_nothing() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        sandbox.run(&acquire(&layout, &holder())).ok();
        let ran = sandbox.run(&unlock(&layout)).ok();
        assert_eq!(Holder::parse(&ran.stdout).unwrap().pid, 4242);
        assert!(!sandbox.path("shop/.deliver/lock").exists());
        assert_eq!(sandbox.run(&unlock(&layout)).status, NOT_LOCKED);
    }

    #[test]
    fn a_mkdir_failure_that_is_not_a_lock_is_not_held() {
        let sandbox = Sandbox::new();
        // `.deliver` is a file: mkdir fails, and no lock exists.
        sandbox.sh("mkdir shop && touch shop/.deliver");
        let ran = sandbox.run(&acquire(&Layout::new("~/shop"), &holder()));
        assert_ne!(ran.status, 0);
        assert_ne!(ran.status, HELD);
    }

    #[test]
    fn a_hostile_holder_stays_literal() {
        let sandbox = Sandbox::new();
        let json = holder_json(
            "x\"; touch pwned #",
            "$(touch pwned2)",
            1,
            "'`touch pwned3`'",
            None,
            0,
        );
        let layout = Layout::new("~/shop");
        sandbox.run(&acquire(&layout, &json)).ok();
        let ran = sandbox.run(&acquire(&layout, &json));
        assert_eq!(ran.status, HELD);
        assert_eq!(ran.stdout.trim_end(), json);
        for f in ["pwned", "pwned2", "pwned3"] {
            assert!(!sandbox.path(f).exists());
        }
    }

    /// `PID STARTTIME` of a process, as `acquire` records a session.
    fn session_of(pid: u32) -> String {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.split_whitespace().collect();
        format!("{pid} {}\n", fields[21])
    }

    #[test]
    fn a_lock_whose_holders_session_is_gone_is_taken_over_and_reported() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        sandbox.run(&acquire(&layout, &holder())).ok();
        // The holder's session: a process that has exited since.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id();
        gone.wait().unwrap();
        std::fs::write(
            sandbox.path("shop/.deliver/lock/session"),
            format!("{pid} 1\n"),
        )
        .unwrap();
        let eve = holder_json("eve", "ci", 7, "deliver deploy", None, 0);
        let ran = sandbox.run(&acquire(&layout, &eve)).ok();
        let old = taken_over(&ran.stderr).expect("reported on stderr");
        assert_eq!(Holder::parse(&old).unwrap().user, "bob");
        let now = std::fs::read_to_string(sandbox.path("shop/.deliver/lock/holder.json")).unwrap();
        assert_eq!(Holder::parse(&now).unwrap().user, "eve");
        assert!(!sandbox
            .path(&format!("shop/.deliver/lock.gone.{pid}"))
            .exists());
        let entries: Vec<String> = std::fs::read_dir(sandbox.path("shop/.deliver"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !entries.iter().any(|e| e.starts_with("lock.gone")),
            "{entries:?}"
        );
    }

    #[test]
    fn a_lock_whose_holders_session_lives_is_held() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        sandbox.run(&acquire(&layout, &holder())).ok();
        let session = sandbox.path("shop/.deliver/lock/session");
        // This test process stands for the holder's live session.
        std::fs::write(&session, session_of(std::process::id())).unwrap();
        let eve = holder_json("eve", "ci", 7, "deliver deploy", None, 0);
        let ran = sandbox.run(&acquire(&layout, &eve));
        assert_eq!(ran.status, HELD, "{}", ran.stderr);
        assert_eq!(taken_over(&ran.stderr), None);
        // The same pid with another start time is another process: the session is gone.
        std::fs::write(&session, format!("{} 1\n", std::process::id())).unwrap();
        let ran = sandbox.run(&acquire(&layout, &eve)).ok();
        assert!(taken_over(&ran.stderr).is_some());
        // A lock without a session (taken outside SSH, as here, or by a deliver from before
        // leases) is only broken by `unlock`.
        assert!(!session.exists());
        assert_eq!(sandbox.run(&acquire(&layout, &holder())).status, HELD);
    }
}
