//! The `[release] command` (SPEC §9) on its one host: in the new release dir, with `[env]`
//! and `shared/.env` exported as for `deliver run` ([`release_dir::app_environment`]), stdin
//! from /dev/null, under the `[build] timeout`. The script's status is the command's; past
//! the timeout it says so on stderr and exits 124 (`timeout`'s own status).

use std::collections::BTreeMap;
use std::time::Duration;

use super::layout::Layout;
use super::release_dir::{self, app_environment, HOOK_KILL_GRACE};
use super::script::Script;
use crate::config::EnvVarName;
use crate::release_id::ReleaseId;

/// Runs `command` with `sh -c` in `releases/<ID>` with `env` and `shared/.env`.
pub fn script(
    layout: &Layout,
    id: &ReleaseId,
    env: &BTreeMap<EnvVarName, String>,
    command: &str,
    timeout: Duration,
) -> Script {
    let seconds = release_dir::timeout_seconds(timeout).to_string();
    app_environment(Script::new("release.command"), layout, env)
        .cmd("cd", [layout.release(id)])
        .raw(
            "one function names the command and tells a timeout (124 or 137 after the full \
             time) from a failure; stdin is the script itself, hence /dev/null",
            format!(
                "release_command() {{\n  \
                 printf 'deliver: release command: %s\\n' \"$2\"\n  \
                 deliver_status=0\n  \
                 deliver_started=$(date +%s)\n  \
                 timeout -k {grace} \"$1\" sh -c \"$2\" </dev/null || deliver_status=$?\n  \
                 case $deliver_status in\n  \
                 124|137)\n    \
                 if [ $(( $(date +%s) - deliver_started )) -ge \"$1\" ]; then\n      \
                 printf 'deliver: release command timed out after %ss\\n' \"$1\" >&2\n      \
                 exit 124\n    \
                 fi ;;\n  \
                 esac\n  \
                 exit $deliver_status\n\
                 }}",
                grace = HOOK_KILL_GRACE.as_secs()
            ),
        )
        .cmd("release_command", [seconds, command.to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::release_dir::prepare;
    use crate::plan::sandbox::Sandbox;

    fn id() -> ReleaseId {
        "20240131235959-0a1b2c3".parse().unwrap()
    }

    fn ready() -> (Sandbox, Layout, BTreeMap<EnvVarName, String>) {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let sha = sandbox.commit("shop", id().as_str(), &[("a", "a")]);
        sandbox.run(&prepare(&layout, &id(), &sha, &[], &[])).ok();
        sandbox.sh("mkdir -p shop/shared && printf 'SECRET=s3cret\\n' > shop/shared/.env");
        let env = BTreeMap::from([(
            EnvVarName::new("GREETING").unwrap(),
            "x\"; touch pwned # 'q'".to_owned(),
        )]);
        (sandbox, layout, env)
    }

    #[test]
    fn runs_in_the_release_with_the_env_and_shared_env() {
        let (sandbox, layout, env) = ready();
        let command =
            "printf '%s|%s|%s\\n' \"$GREETING\" \"$SECRET\" \"$(basename \"$(pwd -P)\")\"";
        let script = script(&layout, &id(), &env, command, Duration::from_secs(60));
        let ran = sandbox.run(&script).ok();
        assert_eq!(
            ran.stdout,
            format!(
                "deliver: release command: {command}\n\
                 x\"; touch pwned # 'q'|s3cret|20240131235959-0a1b2c3\n"
            )
        );
        assert!(!sandbox.path("pwned").exists());
        // Shown (-v, --dry-run) with the exported value masked.
        assert!(!script.render_masked().contains("touch pwned"));
    }

    #[test]
    fn the_status_is_the_command_s_and_a_timeout_says_so() {
        let (sandbox, layout, env) = ready();
        let failing = sandbox.run(&script(
            &layout,
            &id(),
            &env,
            "exit 3",
            Duration::from_secs(60),
        ));
        assert_eq!(failing.status, 3);
        let slow = script(&layout, &id(), &env, "sleep 30", Duration::from_millis(300));
        let started = std::time::Instant::now();
        let ran = sandbox.run(&slow);
        assert_eq!(ran.status, 124);
        assert_eq!(ran.stderr, "deliver: release command timed out after 1s\n");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}
