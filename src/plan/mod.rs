//! Pure builders of the remote work: each function takes plain values (layout, resolved
//! config, release id, rendered units, `now`) and returns a [`Script`]. Nothing here touches
//! the network, clock, environment or disk; `remote::` runs the scripts, `deploy::` decides
//! which to run. Scripts signal outcomes with the named exit codes defined beside their
//! builders (e.g. `lock::HELD`), never with stderr text; [`EXIT_CODES`] lists them all.
//!
//! Every script runs as `sh -s` (text on stdin) with the SSH user's home directory as its
//! working directory; [`Layout`] paths are relative to it unless absolute. Since stdin is the
//! script itself, commands that could read stdin get `</dev/null`.

pub mod connections;
pub mod env_file;
pub mod facts;
pub mod failed;
pub mod history;
pub mod inspect;
pub mod layout;
pub mod lock;
pub mod log;
pub mod neighbours;
pub mod proxy;
pub mod prune;
pub mod release_command;
pub mod release_dir;
pub mod restarts;
#[cfg(test)]
mod sandbox;
pub mod scale;
pub mod script;
pub mod setup;
pub mod supervisor;
pub mod switch;

pub use layout::Layout;
pub use script::{Cmd, Script};

/// Every named exit code of the scripts, with its name. All lie in 64..=113: clear of 1 and 2
/// (generic failures), 124-127 (`timeout`, command not found) and 128+ (signals, git).
pub const EXIT_CODES: &[(&str, i32)] = &[
    ("lock::HELD", lock::HELD),
    ("lock::NOT_LOCKED", lock::NOT_LOCKED),
    ("release_dir::EXISTS", release_dir::EXISTS),
    ("release_dir::HOOK_FAILED", release_dir::HOOK_FAILED),
    ("release_dir::HOOK_TIMEOUT", release_dir::HOOK_TIMEOUT),
    ("release_dir::IS_CURRENT", release_dir::IS_CURRENT),
    ("switch::NO_RELEASE", switch::NO_RELEASE),
    ("inspect::NO_CURRENT", inspect::NO_CURRENT),
    ("supervisor::NO_UNITS", supervisor::NO_UNITS),
    ("setup::DEPLOYED", setup::DEPLOYED),
    ("proxy::CANNOT_WRITE", proxy::CANNOT_WRITE),
    ("proxy::INVALID", proxy::INVALID),
    ("proxy::RELOAD_FAILED", proxy::RELOAD_FAILED),
    ("proxy::NOT_ALLOWED", proxy::NOT_ALLOWED),
    ("env_file::UNREADABLE", env_file::UNREADABLE),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::config::Supervisor;
    use crate::release_id::ReleaseId;

    #[test]
    fn exit_codes_are_distinct_and_in_range() {
        let mut codes: Vec<i32> = EXIT_CODES.iter().map(|(_, c)| *c).collect();
        assert!(codes.iter().all(|c| (64..=113).contains(c)), "{codes:?}");
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), EXIT_CODES.len());
    }

    #[test]
    fn hostile_values_stay_literal_through_a_whole_deploy() {
        let sandbox = sandbox::Sandbox::new();
        let marker = format!("/tmp/deliver-pwned-{}", std::process::id());
        let evil = format!("x\"; touch {marker} #$(touch {marker})`id`'\\");
        let layout = Layout::new(&format!("~/{evil}"));
        let dirs = vec![evil.clone()];
        let files = vec![format!("{evil}.env")];
        let env = BTreeMap::from([(
            crate::config::EnvVarName::new("EVIL").unwrap(),
            evil.clone(),
        )]);
        let id: ReleaseId = "20240131235959-0a1b2c3".parse().unwrap();
        let sha = sandbox.commit(&evil, id.as_str(), &[("app.txt", "app")]);
        for script in [
            setup::setup(&layout, &dirs, &files),
            facts::gather(
                &layout,
                &crate::config::AppName("shop".to_owned()),
                Supervisor::Systemd,
                facts::Depth::Readiness,
            ),
            facts::gather(
                &layout,
                &crate::config::AppName("shop".to_owned()),
                Supervisor::SystemdUser,
                facts::Depth::Layout,
            ),
            lock::acquire(&layout, &evil),
            release_dir::prepare(&layout, &id, &sha, &dirs, &files),
            release_dir::build(
                &layout,
                &id,
                &["printf '%s' \"$EVIL\" > evil".to_owned()],
                &env,
                Duration::from_secs(60),
            ),
            switch::swap_current(&layout, &id),
            log::append(&layout, &evil),
            lock::release(&layout),
        ] {
            sandbox.run(&script).ok();
        }
        let ran = sandbox
            .run(&inspect::run_in_current(
                &layout,
                &env,
                "printf '%s' \"$EVIL\"",
            ))
            .ok();
        assert_eq!(ran.stdout, evil);
        let base = sandbox.path(&evil);
        assert_eq!(
            std::fs::read_to_string(base.join("current/evil")).unwrap(),
            evil
        );
        assert!(base.join("current").join(&evil).is_dir());
        assert!(base.join("shared").join(format!("{evil}.env")).is_file());
        assert!(!std::path::Path::new(&marker).exists());
    }
}
