//! Pure builders of the remote work: each function takes plain values (layout, resolved
//! config, release id, rendered units, `now`) and returns a [`Script`]. Nothing here touches
//! the network, clock, environment or disk; `remote::` runs the scripts, `deploy::` decides
//! which to run. Scripts signal outcomes with the named exit codes defined beside their
//! builders (e.g. `lock::HELD`), never with stderr text; [`EXIT_CODES`] lists them all.
//!
//! Every script runs as `sh -s` (text on stdin) with the SSH user's home directory as its
//! working directory; [`Layout`] paths are relative to it unless absolute. Since stdin is the
//! script itself, commands that could read stdin get `</dev/null`.

pub mod layout;
pub mod lock;
pub mod log;
pub mod prune;
pub mod release;
#[cfg(test)]
mod sandbox;
pub mod script;
pub mod setup;
pub mod switch;

pub use layout::Layout;
pub use script::{Cmd, Script};

/// Every named exit code of the scripts, with its name. All lie in 64..=113: clear of 1 and 2
/// (generic failures), 124-127 (`timeout`, command not found) and 128+ (signals, git).
pub const EXIT_CODES: &[(&str, i32)] = &[
    ("lock::HELD", lock::HELD),
    ("lock::NOT_LOCKED", lock::NOT_LOCKED),
    ("release::EXISTS", release::EXISTS),
    ("release::HOOK_FAILED", release::HOOK_FAILED),
    ("release::HOOK_TIMEOUT", release::HOOK_TIMEOUT),
    ("release::IS_CURRENT", release::IS_CURRENT),
    ("switch::NO_RELEASE", switch::NO_RELEASE),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_in_range() {
        let mut codes: Vec<i32> = EXIT_CODES.iter().map(|(_, c)| *c).collect();
        assert!(codes.iter().all(|c| (64..=113).contains(c)), "{codes:?}");
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), EXIT_CODES.len());
    }
}
