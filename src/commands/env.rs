//! `deliver env list|set|unset` (SPEC §9): the variables of `shared/.env` on every host.
//! `list` reads the file on each host and prints its keys, never a value. `set`/`unset`
//! take each host's lock (the first host alone, then the others in parallel, as a deploy
//! does) and read the file in that round trip, then write the edited file back as a 0600
//! upload (its bytes on stdin: never on a command line) and release the lock, on every path.
//! The edit itself is `plan::env_file`'s. Values appear in no output: events carry keys.
//! When a file changed (and not `--no-restart`), the running formation restarts through
//! the rollout core: `rollback::restart`, a forced rollout of the current release to itself.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};

use super::deploy::{holder_named, now_unix};
use super::env_input;
use super::fleet::{self, Fleet};
use super::hosts;
use super::project::load_config;
use super::UsageError;
use crate::cli::{EnvChangeArgs, EnvCommand};
use crate::deploy::lock_wait::wait_in_line;
use crate::outcome::Outcome;
use crate::parallel;
use crate::plan::env_file::{self, Edit};
use crate::plan::lock;
use crate::plan::Layout;
use crate::remote::Remote;
use crate::ui::event::{Event, Reporter};
use crate::ui::record::LockHolder;
use crate::ui::Ui;

pub fn run(command: &EnvCommand, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    match command {
        EnvCommand::List(args) => list(args.env.as_deref(), config_path, ui),
        EnvCommand::Set(args) => {
            let edits = env_input::set_edits(&args.pairs, &mut std::io::stdin().lock())?;
            change(&args.change, &edits, "set", config_path, ui)
        }
        EnvCommand::Unset(args) => {
            let edits = args
                .keys
                .iter()
                .map(|k| Ok(Edit::Unset(env_input::key(k)?)))
                .collect::<Result<Vec<_>>>()?;
            change(&args.change, &edits, "unset", config_path, ui)
        }
    }
}

/// `env list`: each host's keys; a warning naming the keys the hosts disagree on.
fn list(env: Option<&str>, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let fleet = Fleet::load(config_path, env, ui)?;
    let script = env_file::read(&fleet.layout);
    let results = fleet.each(|_, _, remote| {
        let out = remote.run(&script, &mut |_, _| {})?;
        match out.status {
            0 => Ok(env_file::keys(&out.stdout)),
            n => Err(anyhow!("{} exited {n}: {}", script.name, out.stderr.trim())),
        }
    })?;
    let got: Vec<(&str, &Vec<String>)> = results
        .iter()
        .filter_map(|r| r.result.as_ref().ok().map(|k| (r.host.as_str(), k)))
        .collect();
    for (host, keys) in &got {
        if ui.json {
            ui.event(&Event::EnvKeys {
                host: (*host).to_owned(),
                keys: (*keys).clone(),
            });
        } else if keys.is_empty() {
            ui.result(&format!("{host} | (no variables)"));
        } else {
            ui.result(&format!("{host} | {}", keys.join(" ")));
        }
    }
    for line in disagreements(&got) {
        ui.warn(&line);
    }
    fleet::failures(ui, "env", &results)?;
    Ok(Outcome::Done)
}

/// `KEY is set on h1, not on h2`, for each key some hosts lack.
fn disagreements(got: &[(&str, &Vec<String>)]) -> Vec<String> {
    let mut all: Vec<&String> = got.iter().flat_map(|(_, keys)| keys.iter()).collect();
    all.sort();
    all.dedup();
    all.into_iter()
        .filter_map(|key| {
            let (with, without): (Vec<&str>, Vec<&str>) = got
                .iter()
                .map(|(host, _)| *host)
                .partition(|host| got.iter().any(|(h, k)| h == host && k.contains(key)));
            (!without.is_empty()).then(|| {
                format!(
                    "the hosts disagree: {key} is set on {}, not on {}",
                    with.join(", "),
                    without.join(", ")
                )
            })
        })
        .collect()
}

/// A host of `set`/`unset`: its session, and what its lock round trip found.
struct Host {
    name: String,
    remote: Box<dyn Remote>,
    locked: bool,
}

/// How a host's lock round trip went.
enum Opened {
    /// Locked (unless a dry run), with the file's text.
    Read(String),
    /// Another run holds the lock: the holder as shown, and its `holder.json`.
    Held(String, String),
}

/// [`open`], waiting in line while another run holds the lock and `--lock-wait` leaves
/// time (`until`), as a deploy waits ([`wait_in_line`]).
fn open_waiting(
    h: &mut Host,
    layout: &Layout,
    holder: Option<&str>,
    until: Option<Instant>,
    (ui, reporter): (&Ui, &dyn Reporter),
) -> Result<Opened> {
    let name = h.name.clone();
    wait_in_line(
        until,
        || open(h, layout, holder, ui),
        |opened| match opened {
            Ok(Opened::Held(_, json)) => Some(json.clone()),
            _ => None,
        },
        |json, wait| {
            reporter.event(&Event::LockWaiting {
                host: name.clone(),
                holder: LockHolder::read(json),
                wait,
            });
        },
    )
}

fn open(h: &mut Host, layout: &Layout, holder: Option<&str>, ui: &Ui) -> Result<Opened> {
    let read = env_file::read(layout);
    let script = match holder {
        Some(holder) => lock::acquire(layout, holder).then(read),
        None => read,
    };
    let out = h.remote.run(&script, &mut |_, _| {})?;
    if let Some(old) = lock::taken_over(&out.stderr) {
        let old = lock::Holder::parse(&old).map_or(old, |o| o.to_string());
        ui.warn(&format!(
            "{}: took over the lock of a run that is gone: {old}",
            h.name
        ));
    }
    match out.status {
        lock::HELD => {
            let text = out.stdout.trim();
            let holder = lock::Holder::parse(text).map_or_else(
                || text.to_owned(),
                |hd| match hd.age(now_unix()) {
                    Some(age) => format!("{hd}, taken {age} ago"),
                    None => hd.to_string(),
                },
            );
            Ok(Opened::Held(holder, text.to_owned()))
        }
        0 => {
            h.locked = holder.is_some();
            Ok(Opened::Read(out.stdout))
        }
        n => {
            // The lock was taken when the read failed after it.
            h.locked = holder.is_some() && n == env_file::UNREADABLE;
            Err(anyhow!("{} exited {n}: {}", script.name, out.stderr.trim()))
        }
    }
}

/// Writes `text` (when it changed) and releases the lock: the release runs whatever the
/// upload did.
fn write(h: &mut Host, layout: &Layout, text: Option<&str>) -> Result<()> {
    let written = text.map_or(Ok(()), |text| {
        h.remote
            .upload(&layout.shared_path(".env"), text.as_bytes(), 0o600)
            .map_err(|e| anyhow!(e))
    });
    let released = release(h, layout);
    written.and(released)
}

fn release(h: &mut Host, layout: &Layout) -> Result<()> {
    if !h.locked {
        return Ok(());
    }
    h.locked = false;
    let out = h.remote.run(&lock::release(layout), &mut |_, _| {})?;
    match out.status {
        0 => Ok(()),
        n => Err(anyhow!("lock.release exited {n}: {}", out.stderr.trim())),
    }
}

/// The first host alone, then the others in parallel (lock ordering: two runs that start
/// at once meet at the first host's lock).
fn open_all(
    hosts: &mut [Host],
    layout: &Layout,
    holder: Option<&str>,
    until: Option<Instant>,
    out: (&Ui, &dyn Reporter),
) -> Vec<Result<Opened>> {
    let mut opened = Vec::new();
    if let Some((first, rest)) = hosts.split_first_mut() {
        opened.push(open_waiting(first, layout, holder, until, out));
        if matches!(opened[0], Ok(Opened::Read(_))) {
            opened.extend(parallel::each(rest.iter_mut(), |h| {
                open_waiting(h, layout, holder, until, out)
            }));
        }
    }
    opened
}

/// `set`/`unset`: every host's lock and file in one round trip, the first host alone; any
/// held lock (exit 3) or failure (exit 1) releases every lock taken and changes nothing.
/// Then each host's edited file is written and its lock released, in parallel.
fn change(
    args: &EnvChangeArgs,
    edits: &[Edit],
    verb: &str,
    config_path: &Path,
    ui: &Ui,
) -> Result<Outcome> {
    let config = load_config(config_path)?;
    let env = config.environment(args.env.as_deref())?.clone();
    let layout = Layout::new(&env.deploy_to);
    let keys: Vec<String> = edits.iter().map(|e| e.key().to_string()).collect();
    let reporter: Arc<dyn Reporter> = Arc::from(ui.reporter());
    let remotes = hosts::connect_all(&env, &env.hosts, reporter.as_ref())?;
    let remotes = hosts::shown(remotes, &reporter, ui.verbose);
    let mut hosts: Vec<Host> = env
        .hosts
        .iter()
        .zip(remotes)
        .map(|(spec, remote)| Host {
            name: spec.to_string(),
            remote,
            locked: false,
        })
        .collect();
    let holder = holder_named(
        &format!("deliver env {verb} {}", keys.join(" ")),
        None,
        now_unix(),
    );
    let holder = (!args.dry_run).then_some(holder.as_str());
    let until = args.lock_wait.map(|wait| Instant::now() + wait);
    let opened = open_all(&mut hosts, &layout, holder, until, (ui, &*reporter));
    let mut failed = Vec::new();
    let mut held = false;
    let mut texts = Vec::new();
    for (h, o) in hosts.iter().zip(opened) {
        match o {
            Ok(Opened::Read(text)) => texts.push(text),
            Ok(Opened::Held(holder, _)) => {
                held = true;
                failed.push(format!("{}: locked by another deploy: {holder}", h.name));
            }
            Err(e) => failed.push(format!("{}: {e:#}", h.name)),
        }
    }
    if !failed.is_empty() {
        for h in &mut hosts {
            if let Err(e) = release(h, &layout) {
                ui.warn(&format!("{}: {e:#}", h.name));
            }
        }
        ui.error(&anyhow!(
            "nothing changed on any host:\n{}",
            failed.join("\n")
        ));
        return Ok(if held {
            Outcome::Locked
        } else {
            Outcome::FailedBeforeSwitch
        });
    }
    // The values were checked before connecting: no host can refuse them now.
    let new: Vec<String> = texts
        .iter()
        .map(|t| env_file::apply(t, edits))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!(UsageError(e.to_string())))?;
    let results = parallel::each(
        hosts.iter_mut().zip(texts.iter().zip(&new)),
        |(h, (old, new))| {
            let changed = old != new;
            let text = (changed && !args.dry_run).then_some(new.as_str());
            write(h, &layout, text).map(|()| changed)
        },
    );
    let mut errors = Vec::new();
    let mut any_changed = false;
    for (h, r) in hosts.iter().zip(results) {
        match r {
            Ok(changed) => {
                any_changed |= changed;
                report(ui, &h.name, &keys, changed, args.dry_run, verb);
            }
            Err(e) => errors.push(format!("{}: {e:#}", h.name)),
        }
    }
    if !errors.is_empty() {
        return Err(anyhow!(errors.join("\n")));
    }
    if !any_changed || args.no_restart {
        return Ok(Outcome::Done);
    }
    if args.dry_run {
        ui.note("then the running formation would restart (--no-restart skips it)");
        return Ok(Outcome::Done);
    }
    drop(hosts);
    let not_restarted = "shared/.env is changed on every host, but the restart did not \
                         complete (`deliver deploy --force` restarts the processes)";
    let outcome = super::rollback::restart(args.env.as_deref(), args.lock_wait, config_path, ui)
        .map_err(|e| e.context(not_restarted))?;
    if outcome != Outcome::Done {
        ui.warn(not_restarted);
    }
    Ok(outcome)
}

fn report(ui: &Ui, host: &str, keys: &[String], changed: bool, dry_run: bool, verb: &str) {
    if ui.json {
        ui.event(&Event::EnvChanged {
            host: host.to_owned(),
            keys: keys.to_vec(),
            changed,
            dry_run,
        });
        return;
    }
    let what = match (changed, dry_run) {
        (false, _) => "unchanged".to_owned(),
        (true, true) => format!("would {verb} {}", keys.join(" ")),
        (true, false) => format!("{verb} {}", keys.join(" ")),
    };
    ui.out(&format!("{host} | {what}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disagreeing_hosts_are_named_per_key() {
        let (a, b) = (vec!["X".to_owned(), "Y".to_owned()], vec!["Y".to_owned()]);
        assert_eq!(
            disagreements(&[("h1", &a), ("h2", &b)]),
            ["the hosts disagree: X is set on h1, not on h2"]
        );
        assert!(disagreements(&[("h1", &b), ("h2", &b)]).is_empty());
    }
}
