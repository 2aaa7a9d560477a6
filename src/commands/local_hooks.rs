//! `[hooks]` (SPEC §9): the local commands around a deploy or rollback, run where deliver
//! runs, with `sh -c` in the project directory. The only place a run starts local processes.
//!
//! [`around`] runs `before` (the first failure ends the run with exit 1, and no host is
//! locked or changed), then the operation, then `after` (exit 0) or `failed` (any other exit);
//! every `after`/`failed` hook runs, and a failing one is a warning that leaves the exit code
//! as it was. Each hook sees [`Context::vars`]; its output is streamed as `hook.output`
//! (`local | line`). SIGINT/SIGTERM ends the hook in flight (its whole process group:
//! SIGTERM, then SIGKILL after [`GRACE`]); a hook may otherwise run as long as it likes.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::config::Hooks;
use crate::deploy::interrupt::{self, interrupted};
use crate::outcome::Outcome;
use crate::plan::log::Action;
use crate::ui::event::{Event, HookPhase, Reporter, StreamName};

/// How long a hook has to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// What the hooks of one run are told.
pub struct Context {
    /// Where they run: the directory of deliver.toml.
    pub dir: PathBuf,
    pub environment: String,
    pub action: Action,
    pub release: String,
    pub sha: String,
    /// The run's hosts as written in deliver.toml.
    pub hosts: Vec<String>,
}

impl Context {
    /// The context of `req` on `hosts`, for the project of `config_path`.
    pub fn of(req: &crate::deploy::Request, hosts: &[String], config_path: &Path) -> Context {
        Context {
            dir: super::project::beside(config_path, "."),
            environment: req.env.name.clone(),
            action: req.action,
            release: req.release.to_string(),
            sha: req.sha.clone(),
            hosts: hosts.to_vec(),
        }
    }

    /// The variables a hook sees: `DELIVER_RESULT` only for `after` and `failed`.
    pub fn vars(&self, result: Option<&str>) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("DELIVER_ENV", self.environment.clone()),
            ("DELIVER_ACTION", self.action.name().to_owned()),
            ("DELIVER_RELEASE", self.release.clone()),
            ("DELIVER_SHA", self.sha.clone()),
            ("DELIVER_HOSTS", self.hosts.join(",")),
        ];
        if let Some(result) = result {
            vars.push(("DELIVER_RESULT", result.to_owned()));
        }
        vars
    }
}

/// `DELIVER_RESULT`: how the run ended, one word per exit code (0 has two).
pub fn result_word(outcome: &Result<Outcome>, noop: bool) -> &'static str {
    match outcome {
        Ok(Outcome::Done) if noop => "unchanged",
        Ok(Outcome::Done) => "deployed",
        Ok(Outcome::Locked) => "locked",
        Ok(Outcome::Reverted) => "reverted",
        Ok(Outcome::RevertFailed) => "revert-failed",
        Ok(Outcome::FailedBeforeSwitch | Outcome::Usage) | Err(_) => "failed",
    }
}

/// Runs `op` (which reports through the reporter it is given) between the hooks of `hooks`.
/// With `dry_run`, only lists them (`hook.planned`).
pub fn around(
    hooks: &Hooks,
    ctx: &Context,
    dry_run: bool,
    reporter: &Arc<dyn Reporter>,
    op: impl FnOnce(Arc<dyn Reporter>) -> Result<Outcome>,
) -> Result<Outcome> {
    let lists = [
        (HookPhase::Before, &hooks.before),
        (HookPhase::After, &hooks.after),
        (HookPhase::Failed, &hooks.failed),
    ];
    if dry_run || lists.iter().all(|(_, l)| l.is_empty()) {
        for (phase, list) in lists {
            for command in list {
                reporter.event(&Event::HookPlanned {
                    phase,
                    command: command.clone(),
                });
            }
        }
        return op(Arc::clone(reporter));
    }
    // The hook in flight is ended on SIGINT/SIGTERM (a run installs this handler anyway).
    interrupt::catch_interrupts();
    for command in &hooks.before {
        if let Err(error) = run(HookPhase::Before, command, ctx, None, reporter.as_ref()) {
            reporter.event(&Event::DeployFailed {
                error: format!("before hook `{command}` failed: {error}"),
                code: Outcome::FailedBeforeSwitch.code(),
                summary: Vec::new(),
            });
            after(hooks, ctx, "failed", reporter.as_ref());
            return Ok(Outcome::FailedBeforeSwitch);
        }
    }
    let observed = Arc::new(Observed {
        inner: Arc::clone(reporter),
        noop: AtomicBool::new(false),
    });
    let outcome = op(Arc::clone(&observed) as Arc<dyn Reporter>);
    let word = result_word(&outcome, observed.noop.load(Ordering::SeqCst));
    // The run is over: a signal that ended it must not end its hooks too (a new one does).
    interrupt::INTERRUPTED.store(false, Ordering::SeqCst);
    after(hooks, ctx, word, reporter.as_ref());
    outcome
}

/// `after` when the run succeeded, else `failed`: every hook, whatever the others did.
fn after(hooks: &Hooks, ctx: &Context, word: &str, reporter: &dyn Reporter) {
    let (phase, list) = match word {
        "deployed" | "unchanged" => (HookPhase::After, &hooks.after),
        _ => (HookPhase::Failed, &hooks.failed),
    };
    for command in list {
        // A failure is reported as `hook.failed` (a warning) and changes nothing else.
        let _ = run(phase, command, ctx, Some(word), reporter);
    }
}

/// Passes events on and notes a no-op (`deploy.noop`), which `after` hooks are told.
struct Observed {
    inner: Arc<dyn Reporter>,
    noop: AtomicBool,
}

impl Reporter for Observed {
    fn event(&self, event: &Event) {
        if let Event::DeployNoop { .. } = event {
            self.noop.store(true, Ordering::SeqCst);
        }
        self.inner.event(event);
    }
}

/// Runs one hook to its end, streaming its output; `Err` says why it failed (reported as
/// `hook.failed` too).
fn run(
    phase: HookPhase,
    command: &str,
    ctx: &Context,
    result: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    let started = Instant::now();
    reporter.event(&Event::HookStart {
        phase,
        command: command.to_owned(),
    });
    let outcome = spawn_and_wait(phase, shell(command, ctx, result), &ctx.dir, reporter);
    match &outcome {
        Ok(()) => reporter.event(&Event::HookDone {
            phase,
            command: command.to_owned(),
            ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
        Err(error) => reporter.event(&Event::HookFailed {
            phase,
            command: command.to_owned(),
            error: error.clone(),
        }),
    }
    outcome
}

/// `sh -c command` in the project dir, with the run's variables, in its own process group.
fn shell(command: &str, ctx: &Context, result: Option<&str>) -> Command {
    use std::os::unix::process::CommandExt;

    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(&ctx.dir)
        .env_remove("DELIVER_RESULT")
        .envs(ctx.vars(result))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that an interrupt ends whatever it started too.
        .process_group(0);
    cmd
}

fn spawn_and_wait(
    phase: HookPhase,
    mut cmd: Command,
    dir: &Path,
    reporter: &dyn Reporter,
) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;

    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `sh` in {}: {e}", dir.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let status = std::thread::scope(|scope| {
        scope.spawn(|| stream(phase, StreamName::Stdout, stdout, reporter));
        scope.spawn(|| stream(phase, StreamName::Stderr, stderr, reporter));
        wait(&mut child)
    })?;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(code), _) => Err(format!("exit {code}")),
        (None, Some(signal)) => Err(format!("killed by signal {signal}")),
        (None, None) => Err(format!("ended with {status}")),
    }
}

/// Waits for `child`; on SIGINT/SIGTERM ends its process group (TERM, then KILL).
fn wait(child: &mut std::process::Child) -> Result<std::process::ExitStatus, String> {
    use rustix::process::{kill_process_group, Pid, Signal};

    let group = Pid::from_child(child);
    let mut termed: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return match termed {
                Some(_) => Err("interrupted".to_owned()),
                None => Ok(status),
            };
        }
        match termed {
            None if interrupted() => {
                let _ = kill_process_group(group, Signal::TERM);
                termed = Some(Instant::now());
            }
            Some(at) if at.elapsed() > GRACE => {
                let _ = kill_process_group(group, Signal::KILL);
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reports each line of `pipe` (invalid UTF-8 replaced) until it closes.
fn stream(phase: HookPhase, stream: StreamName, pipe: impl Read, reporter: &dyn Reporter) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
        let line = String::from_utf8_lossy(&buf);
        reporter.event(&Event::HookOutput {
            phase,
            stream,
            line: line.trim_end_matches(['\n', '\r']).to_owned(),
        });
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Event>>);

    impl Reporter for Recorder {
        fn event(&self, event: &Event) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    fn ctx(dir: &std::path::Path) -> Context {
        Context {
            dir: dir.to_owned(),
            environment: "staging".into(),
            action: Action::Rollback,
            release: "20240131235959-0a1b2c3".into(),
            sha: "0a1b2c3d".into(),
            hosts: vec!["web1".into(), "app@web2:2222".into()],
        }
    }

    #[test]
    fn results_name_each_exit_code() {
        assert_eq!(result_word(&Ok(Outcome::Done), false), "deployed");
        assert_eq!(result_word(&Ok(Outcome::Done), true), "unchanged");
        assert_eq!(result_word(&Ok(Outcome::Locked), false), "locked");
        assert_eq!(result_word(&Ok(Outcome::Reverted), false), "reverted");
        assert_eq!(
            result_word(&Ok(Outcome::RevertFailed), false),
            "revert-failed"
        );
        assert_eq!(result_word(&Err(anyhow::anyhow!("x")), false), "failed");
    }

    #[test]
    fn a_failing_before_hook_skips_the_run_and_runs_the_failed_hooks() {
        let dir = tempfile::tempdir().unwrap();
        let hooks = Hooks {
            before: vec![
                "echo one; echo two >&2; exit 3".into(),
                "touch never".into(),
            ],
            after: vec!["touch after".into()],
            failed: vec!["env | grep ^DELIVER_ | sort >failed.env".into()],
        };
        let recorder = Arc::new(Recorder::default());
        let reporter: Arc<dyn Reporter> = Arc::clone(&recorder) as Arc<dyn Reporter>;
        let outcome = around(&hooks, &ctx(dir.path()), false, &reporter, |_| {
            panic!("the run must not start")
        });
        assert_eq!(outcome.unwrap(), Outcome::FailedBeforeSwitch);
        assert!(!dir.path().join("never").exists() && !dir.path().join("after").exists());
        let env = std::fs::read_to_string(dir.path().join("failed.env")).unwrap();
        assert_eq!(
            env,
            "DELIVER_ACTION=rollback\nDELIVER_ENV=staging\nDELIVER_HOSTS=web1,app@web2:2222\n\
             DELIVER_RELEASE=20240131235959-0a1b2c3\nDELIVER_RESULT=failed\nDELIVER_SHA=0a1b2c3d\n"
        );
        let events = recorder.0.lock().unwrap();
        let lines: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::HookOutput { line, stream, .. } => Some(format!("{stream:?} {line}")),
                Event::HookFailed { error, .. } => Some(error.clone()),
                _ => None,
            })
            .collect();
        let mut sorted = lines.clone();
        sorted[..2].sort();
        assert_eq!(sorted, ["Stderr two", "Stdout one", "exit 3"]);
    }

    #[test]
    fn after_hooks_all_run_and_their_failure_keeps_the_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let hooks = Hooks {
            before: vec![],
            after: vec!["exit 1".into(), "echo $DELIVER_RESULT >after".into()],
            failed: vec![],
        };
        let reporter: Arc<dyn Reporter> = Arc::new(Recorder::default());
        let outcome = around(&hooks, &ctx(dir.path()), false, &reporter, |r| {
            r.event(&Event::DeployNoop { reason: "x".into() });
            Ok(Outcome::Done)
        });
        assert_eq!(outcome.unwrap(), Outcome::Done);
        let after = std::fs::read_to_string(dir.path().join("after")).unwrap();
        assert_eq!(after, "unchanged\n");
    }

    #[test]
    fn a_dry_run_lists_the_hooks_and_runs_none() {
        let dir = tempfile::tempdir().unwrap();
        let hooks = Hooks {
            before: vec!["touch b".into()],
            after: vec!["touch a".into()],
            failed: vec![],
        };
        let recorder = Arc::new(Recorder::default());
        let reporter: Arc<dyn Reporter> = Arc::clone(&recorder) as Arc<dyn Reporter>;
        around(&hooks, &ctx(dir.path()), true, &reporter, |_| {
            Ok(Outcome::Done)
        })
        .unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [
                Event::HookPlanned {
                    phase: HookPhase::Before,
                    command: "touch b".into()
                },
                Event::HookPlanned {
                    phase: HookPhase::After,
                    command: "touch a".into()
                },
            ]
        );
    }
}
