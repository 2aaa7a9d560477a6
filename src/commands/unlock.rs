//! `deliver unlock [ENV]`: removes the deploy lock on every host where it is taken, printing
//! who held it and for how long; `not locked` elsewhere. For a lock a crashed or killed
//! deploy left behind: a running deploy's lock is its own to release.

use std::path::Path;

use anyhow::{anyhow, Result};

use super::deploy::now_unix;
use super::fleet::{self, Fleet};
use crate::cli::EnvArg;
use crate::outcome::Outcome;
use crate::plan::lock::{self, Holder};
use crate::ui::event::Event;
use crate::ui::record::LockHolder;
use crate::ui::Ui;

/// What a host's lock was.
enum Found {
    NotLocked,
    /// Removed; `holder.json` as it was (empty when the holder had not written it).
    Removed(String),
}

pub fn run(args: &EnvArg, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let script = lock::unlock(&fleet.layout);
    let results = fleet.each(|_, _, remote| {
        let out = remote.run(&script, &mut |_, _| {})?;
        match out.status {
            0 => Ok(Found::Removed(out.stdout.trim().to_owned())),
            lock::NOT_LOCKED => Ok(Found::NotLocked),
            n => Err(anyhow!("unlock exited {n}: {}", out.stderr.trim())),
        }
    })?;
    let now = now_unix();
    for r in &results {
        let Ok(found) = &r.result else { continue };
        let (locked, holder) = match found {
            Found::NotLocked => (false, None),
            Found::Removed(text) => (true, Some(text.as_str())),
        };
        if ui.json {
            let holder = holder.map(LockHolder::read);
            ui.event(&Event::HostUnlock {
                host: r.host.clone(),
                locked,
                holder,
            });
        } else {
            ui.result(&format!("{} | {}", r.host, describe(holder, now)));
        }
    }
    fleet::failures(ui, "unlock", &results)?;
    Ok(Outcome::Done)
}

/// `not locked`, or `removed the lock of <holder>, taken 2h 5m ago`.
fn describe(holder: Option<&str>, now: u64) -> String {
    let Some(text) = holder else {
        return "not locked".to_owned();
    };
    if text.is_empty() {
        return "removed a lock without holder.json (its holder died before writing it)".to_owned();
    }
    match Holder::parse(text) {
        Some(h) => {
            let age = h
                .age(now)
                .map(|a| format!(", taken {a} ago"))
                .unwrap_or_default();
            format!("removed the lock of {h}{age}")
        }
        None => format!("removed a lock whose holder.json is not deliver's: {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_and_the_age_of_the_lock() {
        let holder = lock::holder_json("ann", "ci-7", 42, "deliver deploy", None, 1_795_420_000);
        assert_eq!(
            describe(Some(&holder), 1_795_420_000 + 7_500),
            "removed the lock of ann@ci-7 (pid 42) since 2026-11-23T07:46:40Z: deliver deploy, \
             taken 2h 5m ago"
        );
        assert_eq!(describe(None, 0), "not locked");
        assert!(describe(Some(""), 0).contains("without holder.json"));
        assert!(describe(Some("junk"), 0).ends_with(": junk"));
        assert_eq!(lock::age(45), "45s");
        assert_eq!(lock::age(723), "12m 3s");
        assert_eq!(lock::age(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
        let at = |started: &str| Holder {
            user: "a".into(),
            machine: "m".into(),
            pid: 1,
            command: "c".into(),
            release: None,
            started: started.into(),
        };
        assert_eq!(at("1970-01-01T00:01:00Z").age(65).as_deref(), Some("5s"));
        assert_eq!(at("yesterday").age(65), None);
    }
}
