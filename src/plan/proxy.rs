//! The managed nginx upstream (SPEC §6, §7), as scripts: on a proxy host, [`apply`] writes
//! the file at `proxy.config`, checks it with exactly `sudo -n nginx -t` and applies it with
//! exactly `sudo -n systemctl reload nginx` (so sudoers rules can be exact), putting the
//! previous file back when either fails; [`preflight`] tells, changing nothing, which of
//! those rights this user lacks, and [`sudo_rule`] the line that grants them. Pure:
//! builds scripts and parses their output; no I/O. The contents come from
//! `render::nginx_managed`.

use std::fmt;

use super::script::Script;
use crate::shell::quote;

/// `apply`: the new file could not be written next to `proxy.config` (no such directory, not
/// writable by this user, or the previous file unreadable); nothing changed. The shell's
/// message is on stderr.
pub const CANNOT_WRITE: i32 = 90;

/// `apply`: `sudo -n nginx -t` refused the configuration with the new file. The previous
/// file is back (or the new one removed on a first write), nothing was reloaded; nginx's
/// report is on stderr.
pub const INVALID: i32 = 91;

/// `apply`: `sudo -n nginx -t` passed but `sudo -n systemctl reload nginx` failed (nginx not
/// running?). The previous file is back, so the disk matches what nginx still serves;
/// systemctl's message is on stderr.
pub const RELOAD_FAILED: i32 = 92;

/// `apply`: sudo does not let this user run `nginx -t` or `systemctl reload nginx` without a
/// password. The previous file is back, nothing was reloaded; sudo's message is on stderr.
/// [`preflight`] says which and [`sudo_rule`] gives the line to add.
pub const NOT_ALLOWED: i32 = 93;

/// The sudo commands, word for word as the scripts run them (`sudo -n nginx -t`): sudoers
/// matches what is typed, and sudo finds the programs on its `secure_path`.
const NGINX_TEST: &str = "sudo -n nginx -t";
const NGINX_RELOAD: &str = "sudo -n systemctl reload nginx";

/// Where the programs usually are when `command -v` cannot tell (not installed).
const DEFAULT_NGINX: &str = "/usr/sbin/nginx";
const DEFAULT_SYSTEMCTL: &str = "/usr/bin/systemctl";

/// Writes `contents` at `config_path` and applies it, in one round trip:
///
/// 1. the contents go into a hidden file beside it (`.<name>.deliver-new`, mode 0644),
///    through the shell's `printf` builtin: on no command line;
/// 2. the current file, if any, is copied to `.<name>.deliver-prev` (kept after success);
/// 3. the new file is renamed over `config_path` (atomic: same directory);
/// 4. `sudo -n nginx -t`: on failure the previous file is renamed back (or the new one
///    removed when there was none), nothing is reloaded, exit [`INVALID`] (or
///    [`NOT_ALLOWED`] when sudo refuses the command), nginx's report on stderr;
/// 5. `sudo -n systemctl reload nginx`: on failure the previous file is put back, exit
///    [`RELOAD_FAILED`] (or [`NOT_ALLOWED`]).
///
/// A failure to write exits [`CANNOT_WRITE`] with nothing changed. The hidden names never
/// match nginx's `include conf.d/*.conf` (a leading dot, no `.conf` suffix).
pub fn apply(config_path: &str, contents: &str) -> Script {
    let (new, prev) = siblings(config_path);
    let write = |what: &str| {
        format!(
            "if ! (umask 022 && printf '%s' {what} >\"$new\"); then\n  \
             exit {CANNOT_WRITE}\n\
             fi"
        )
    };
    Script::new("proxy.apply")
        .raw(
            "the file deliver owns, its next version and the previous one: hidden names in the \
             same directory, which conf.d/*.conf never includes and a rename swaps atomically",
            format!(
                "conf={}\nnew={}\nprev={}",
                quote(config_path),
                quote(&new),
                quote(&prev)
            ),
        )
        .raw_hidden(
            "the new file, byte for byte: printf is a shell builtin, so the contents are on no \
             command line; 0644 in a subshell",
            write(&quote(contents)),
            write(&quote(&format!(
                "<{} bytes: the upstream deliver rendered>",
                contents.len()
            ))),
        )
        .raw(
            "keep the file it replaces (none on a first write: a stale copy must not come back)",
            format!(
                "if [ -f \"$conf\" ]; then\n  \
                 cp \"$conf\" \"$prev\" || {{ rm -f \"$new\"; exit {CANNOT_WRITE}; }}\n\
                 else\n  \
                 rm -f \"$prev\"\n\
                 fi\n\
                 mv -f \"$new\" \"$conf\" || {{ rm -f \"$new\"; exit {CANNOT_WRITE}; }}"
            ),
        )
        .raw(
            "what nginx served before: the previous file back, or no file after a first write",
            "put_back() {\n  \
             if [ -f \"$prev\" ]; then mv -f \"$prev\" \"$conf\"; else rm -f \"$conf\"; fi\n\
             }",
        )
        .raw(
            &format!(
                "exactly `{NGINX_TEST}` (the sudoers rule names it); its report goes to stderr \
                 only when it fails. `sudo -l CMD` asks whether sudo refused the command itself"
            ),
            format!(
                "if ! out=$({NGINX_TEST} 2>&1 </dev/null); then\n  \
                 put_back\n  \
                 printf '%s\\n' \"$out\" >&2\n  \
                 if sudo -n -l nginx -t >/dev/null 2>&1 </dev/null; then exit {INVALID}; fi\n  \
                 exit {NOT_ALLOWED}\n\
                 fi"
            ),
        )
        .raw(
            &format!("exactly `{NGINX_RELOAD}`; a failure leaves nginx on the previous file"),
            format!(
                "if ! {NGINX_RELOAD} </dev/null; then\n  \
                 put_back\n  \
                 if sudo -n -l systemctl reload nginx >/dev/null 2>&1 </dev/null; then exit \
                 {RELOAD_FAILED}; fi\n  \
                 exit {NOT_ALLOWED}\n\
                 fi"
            ),
        )
}

/// `.<name>.deliver-new` and `.<name>.deliver-prev` in the directory of `config_path`.
fn siblings(config_path: &str) -> (String, String) {
    let (dir, name) = split(config_path);
    (
        format!("{dir}.{name}.deliver-new"),
        format!("{dir}.{name}.deliver-prev"),
    )
}

/// The directory part (with its trailing `/`, empty for a bare name) and the file name.
fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    }
}

/// The directory `apply` writes in: `/etc/nginx/conf.d` for `/etc/nginx/conf.d/x.conf`.
fn directory(config_path: &str) -> &str {
    match split(config_path).0 {
        "" => ".",
        "/" => "/",
        dir => dir.trim_end_matches('/'),
    }
}

/// Asks, changing nothing, whether this user can do what [`apply`] does with `config_path`:
/// write in its directory (and read the file it replaces), and run exactly `sudo -n nginx -t`
/// and `sudo -n systemctl reload nginx` (`sudo -n -l CMD`); also where `nginx` and
/// `systemctl` are, for the sudoers line. Always exits 0; [`Preflight::parse`] reads the
/// `key=value` lines it prints.
pub fn preflight(config_path: &str) -> Script {
    Script::new("proxy.preflight")
        .raw(
            "the file apply writes and the directory its new and previous versions go to",
            format!(
                "conf={}\ndir={}",
                quote(config_path),
                quote(directory(config_path))
            ),
        )
        .raw(
            "apply creates and renames files in the directory, and copies the current file",
            "if [ ! -d \"$dir\" ]; then echo write=no-directory\n\
             elif [ ! -w \"$dir\" ] || [ ! -x \"$dir\" ]; then echo write=no\n\
             elif [ -e \"$conf\" ] && [ ! -r \"$conf\" ]; then echo write=unreadable\n\
             else echo write=yes\n\
             fi",
        )
        .raw(
            "`sudo -l CMD` checks a rule without running the command; -n: never ask for a \
             password",
            "if sudo -n -l nginx -t >/dev/null 2>&1 </dev/null; then echo test=yes; else echo \
             test=no; fi\n\
             if sudo -n -l systemctl reload nginx >/dev/null 2>&1 </dev/null; then echo \
             reload=yes; else echo reload=no; fi",
        )
        .raw(
            "the paths sudo would run, for the sudoers line: its usual secure_path first (the \
             sbin directories are not on a plain user's PATH on Debian)",
            "search=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH\n\
             printf 'nginx=%s\\n' \"$(PATH=$search; command -v nginx || true)\"\n\
             printf 'systemctl=%s\\n' \"$(PATH=$search; command -v systemctl || true)\"",
        )
        .raw(
            "the user the sudoers line is for",
            "printf 'user=%s\\n' \"$(id -un)\"",
        )
}

/// Whether this user can write where [`apply`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAccess {
    Yes,
    /// The directory of `proxy.config` does not exist.
    NoDirectory,
    /// It exists but this user cannot create files in it.
    NotWritable,
    /// The current file cannot be read (so it could not be put back).
    Unreadable,
}

/// What [`preflight`] found on a proxy host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    pub write: WriteAccess,
    /// `sudo -n nginx -t` is allowed without a password.
    pub may_test: bool,
    /// `sudo -n systemctl reload nginx` is allowed without a password.
    pub may_reload: bool,
    /// Where `nginx` is, when found.
    pub nginx: Option<String>,
    /// Where `systemctl` is, when found.
    pub systemctl: Option<String>,
    /// The user the script ran as: the one the sudoers line is for.
    pub user: String,
}

/// One thing a proxy host lacks for [`apply`]; its `Display` says what, for a line naming
/// the host (`lb1: <missing>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    NoDirectory,
    NotWritable,
    Unreadable,
    NoNginx,
    NoSystemctl,
    /// sudo refuses `nginx -t`: add [`sudo_rule`].
    Test,
    /// sudo refuses `systemctl reload nginx`: add [`sudo_rule`].
    Reload,
}

impl Missing {
    /// Whether the sudoers line of [`sudo_rule`] fixes it.
    pub fn needs_sudo_rule(self) -> bool {
        matches!(self, Missing::Test | Missing::Reload)
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Missing::NoDirectory => "the directory of proxy.config does not exist",
            Missing::NotWritable => {
                "the directory of proxy.config is not writable by this user (deliver writes \
                 the file beside it and renames it into place)"
            }
            Missing::Unreadable => "the file at proxy.config is not readable by this user",
            Missing::NoNginx => "nginx is not installed",
            Missing::NoSystemctl => "systemctl is not installed (nginx is reloaded with it)",
            Missing::Test => "`sudo -n nginx -t` is not allowed without a password",
            Missing::Reload => "`sudo -n systemctl reload nginx` is not allowed without a password",
        })
    }
}

impl Preflight {
    /// Reads the output of [`preflight`].
    pub fn parse(stdout: &str) -> Result<Preflight, String> {
        let (mut write, mut test, mut reload, mut nginx, mut systemctl, mut user) =
            (None, None, None, None, None, None);
        let yes_no = |key: &str, value: &str| match value {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err(format!("proxy preflight: `{key}={value}` is not yes or no")),
        };
        let path = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        for line in stdout.lines() {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("proxy preflight: expected `key=value`, got `{line}`"))?;
            match key {
                "write" => {
                    write = Some(match value {
                        "yes" => WriteAccess::Yes,
                        "no-directory" => WriteAccess::NoDirectory,
                        "no" => WriteAccess::NotWritable,
                        "unreadable" => WriteAccess::Unreadable,
                        _ => return Err(format!("proxy preflight: unknown `write={value}`")),
                    });
                }
                "test" => test = Some(yes_no(key, value)?),
                "reload" => reload = Some(yes_no(key, value)?),
                "nginx" => nginx = Some(path(value)),
                "systemctl" => systemctl = Some(path(value)),
                "user" => user = Some(value.to_owned()),
                _ => return Err(format!("proxy preflight: unknown line `{line}`")),
            }
        }
        let missing = |key: &str| format!("proxy preflight: no `{key}=` line");
        Ok(Preflight {
            write: write.ok_or_else(|| missing("write"))?,
            may_test: test.ok_or_else(|| missing("test"))?,
            may_reload: reload.ok_or_else(|| missing("reload"))?,
            nginx: nginx.ok_or_else(|| missing("nginx"))?,
            systemctl: systemctl.ok_or_else(|| missing("systemctl"))?,
            user: user.ok_or_else(|| missing("user"))?,
        })
    }

    /// Everything [`apply`] would lack, in the order it would hit it; empty when all is set.
    pub fn missing(&self) -> Vec<Missing> {
        let mut missing = Vec::new();
        match self.write {
            WriteAccess::Yes => {}
            WriteAccess::NoDirectory => missing.push(Missing::NoDirectory),
            WriteAccess::NotWritable => missing.push(Missing::NotWritable),
            WriteAccess::Unreadable => missing.push(Missing::Unreadable),
        }
        if self.nginx.is_none() {
            missing.push(Missing::NoNginx);
        }
        if !self.may_test {
            missing.push(Missing::Test);
        }
        if self.systemctl.is_none() {
            missing.push(Missing::NoSystemctl);
        }
        if !self.may_reload {
            missing.push(Missing::Reload);
        }
        missing
    }

    /// [`sudo_rule`] with the paths found on this host (the usual ones when not found).
    pub fn sudo_rule(&self, user: &str) -> String {
        sudo_rule(
            user,
            self.nginx.as_deref().unwrap_or(DEFAULT_NGINX),
            self.systemctl.as_deref().unwrap_or(DEFAULT_SYSTEMCTL),
        )
    }
}

/// The sudoers line (e.g. for `/etc/sudoers.d/deliver-proxy`) that lets `user` run what
/// [`apply`] runs as root, with the absolute paths sudo resolves `nginx` and `systemctl` to:
/// `app ALL=(root) NOPASSWD: /usr/sbin/nginx -t, /usr/bin/systemctl reload nginx`.
pub fn sudo_rule(user: &str, nginx: &str, systemctl: &str) -> String {
    format!("{user} ALL=(root) NOPASSWD: {nginx} -t, {systemctl} reload nginx\n")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::plan::sandbox::{Ran, Sandbox};

    const CONFIG: &str = "/etc/nginx/conf.d/shop-upstream.conf";

    /// In the sandbox: relative to its home, as a path without a leading `/` is on a host.
    const LOCAL: &str = "conf.d/shop-upstream.conf";

    const UPSTREAM: &str = "upstream shop {\n    server 10.0.0.11:5000;\n}\n";

    #[test]
    fn the_scripts() {
        insta::assert_snapshot!("proxy_apply", apply(CONFIG, UPSTREAM).render());
        insta::assert_snapshot!("proxy_preflight", preflight(CONFIG).render());
    }

    #[test]
    fn shown_apply_gives_the_size_not_the_contents() {
        let shown = apply(CONFIG, UPSTREAM).render_masked();
        assert!(!shown.contains("10.0.0.11"), "{shown}");
        assert!(
            shown.contains(&format!(
                "printf '%s' '<{} bytes: the upstream deliver rendered>' >\"$new\"",
                UPSTREAM.len()
            )),
            "{shown}"
        );
    }

    #[test]
    fn temporary_files_sit_hidden_beside_the_target() {
        assert_eq!(
            siblings(CONFIG),
            (
                "/etc/nginx/conf.d/.shop-upstream.conf.deliver-new".to_owned(),
                "/etc/nginx/conf.d/.shop-upstream.conf.deliver-prev".to_owned()
            )
        );
        assert_eq!(
            siblings("up.conf"),
            (
                ".up.conf.deliver-new".to_owned(),
                ".up.conf.deliver-prev".to_owned()
            )
        );
        assert_eq!(directory(CONFIG), "/etc/nginx/conf.d");
        assert_eq!(directory("/up.conf"), "/");
        assert_eq!(directory("up.conf"), ".");
    }

    /// A fake `sudo` that logs its arguments to `calls`. `-l` (and everything) is refused
    /// while `denied` exists; `nginx -t` fails when a `conf.d/*.conf` holds `invalid` (the
    /// glob, like nginx's include, skips hidden files); the reload fails while `reload-fails`
    /// exists.
    fn fake_sudo(sandbox: &Sandbox) -> PathBuf {
        sandbox.stub(
            "sudo",
            r#"printf '%s\n' "$*" >>"$HOME/calls"
if [ -e "$HOME/denied" ]; then echo 'sudo: a password is required' >&2; exit 1; fi
case "$*" in
  "-n -l "*) exit 0 ;;
  "-n nginx -t")
    if cat "$HOME"/conf.d/*.conf 2>/dev/null | grep -q invalid; then
      echo 'nginx: [emerg] unknown directive "invalid" in /etc/nginx/conf.d/shop-upstream.conf:1' >&2
      echo 'nginx: configuration file /etc/nginx/nginx.conf test failed' >&2
      exit 1
    fi
    echo 'nginx: configuration file /etc/nginx/nginx.conf test is successful' >&2 ;;
  "-n systemctl reload nginx")
    if [ -e "$HOME/reload-fails" ]; then echo 'nginx.service is not active' >&2; exit 1; fi ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac"#,
        )
    }

    fn calls(sandbox: &Sandbox) -> String {
        std::fs::read_to_string(sandbox.path("calls")).unwrap_or_default()
    }

    fn apply_in(sandbox: &Sandbox, contents: &str) -> Ran {
        let bin = fake_sudo(sandbox);
        std::fs::remove_file(sandbox.path("calls")).ok();
        sandbox.run_with_path(&apply(LOCAL, contents), Some(&bin))
    }

    fn conf_d(sandbox: &Sandbox) -> String {
        sandbox.sh("ls -A conf.d")
    }

    fn current(sandbox: &Sandbox) -> String {
        std::fs::read_to_string(sandbox.path(LOCAL)).unwrap()
    }

    #[test]
    fn apply_writes_checks_and_reloads_keeping_the_previous_file() {
        let sandbox = Sandbox::new();
        sandbox.sh("mkdir conf.d && echo old >conf.d/shop-upstream.conf");
        let ran = apply_in(&sandbox, UPSTREAM).ok();
        assert_eq!((ran.stdout.as_str(), ran.stderr.as_str()), ("", ""));
        assert_eq!(current(&sandbox), UPSTREAM);
        assert_eq!(
            calls(&sandbox),
            "-n nginx -t\n-n systemctl reload nginx\n",
            "exactly the commands of the sudoers rule"
        );
        assert_eq!(
            conf_d(&sandbox),
            ".shop-upstream.conf.deliver-prev\nshop-upstream.conf\n"
        );
        assert_eq!(
            std::fs::read_to_string(sandbox.path("conf.d/.shop-upstream.conf.deliver-prev"))
                .unwrap(),
            "old\n"
        );
        let mode = std::fs::metadata(sandbox.path(LOCAL)).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o644
        );
    }

    #[test]
    fn a_config_nginx_refuses_puts_the_previous_file_back_and_reloads_nothing() {
        let sandbox = Sandbox::new();
        sandbox.sh("mkdir conf.d && echo old >conf.d/shop-upstream.conf");
        let ran = apply_in(&sandbox, "invalid;\n");
        assert_eq!(ran.status, INVALID, "{ran:?}");
        assert!(
            ran.stderr
                .contains("nginx: [emerg] unknown directive \"invalid\""),
            "{ran:?}"
        );
        assert_eq!(current(&sandbox), "old\n");
        assert_eq!(calls(&sandbox), "-n nginx -t\n-n -l nginx -t\n");
        assert_eq!(conf_d(&sandbox), "shop-upstream.conf\n");
    }

    #[test]
    fn a_refused_first_write_leaves_no_file() {
        let sandbox = Sandbox::new();
        sandbox.sh("mkdir conf.d && echo stale >conf.d/.shop-upstream.conf.deliver-prev");
        let ran = apply_in(&sandbox, "invalid;\n");
        assert_eq!(ran.status, INVALID, "{ran:?}");
        assert_eq!(conf_d(&sandbox), "");
        // And a good one then goes through.
        apply_in(&sandbox, UPSTREAM).ok();
        assert_eq!(current(&sandbox), UPSTREAM);
    }

    #[test]
    fn a_failed_reload_puts_the_previous_file_back() {
        let sandbox = Sandbox::new();
        sandbox.sh("mkdir conf.d && echo old >conf.d/shop-upstream.conf && touch reload-fails");
        let ran = apply_in(&sandbox, UPSTREAM);
        assert_eq!(ran.status, RELOAD_FAILED, "{ran:?}");
        assert!(
            ran.stderr.contains("nginx.service is not active"),
            "{ran:?}"
        );
        assert_eq!(current(&sandbox), "old\n");
        assert_eq!(
            calls(&sandbox),
            "-n nginx -t\n-n systemctl reload nginx\n-n -l systemctl reload nginx\n"
        );
    }

    #[test]
    fn sudo_refusing_is_not_allowed_not_invalid() {
        let sandbox = Sandbox::new();
        sandbox.sh("mkdir conf.d && echo old >conf.d/shop-upstream.conf && touch denied");
        let ran = apply_in(&sandbox, UPSTREAM);
        assert_eq!(ran.status, NOT_ALLOWED, "{ran:?}");
        assert!(ran.stderr.contains("a password is required"), "{ran:?}");
        assert_eq!(current(&sandbox), "old\n");
        assert!(!calls(&sandbox).contains("reload"));
    }

    #[test]
    fn no_directory_cannot_write_and_changes_nothing() {
        let sandbox = Sandbox::new();
        let ran = apply_in(&sandbox, UPSTREAM);
        assert_eq!(ran.status, CANNOT_WRITE, "{ran:?}");
        assert_eq!(calls(&sandbox), "");
        assert!(!sandbox.path("conf.d").exists());
    }

    #[test]
    fn hostile_contents_and_paths_stay_literal() {
        let sandbox = Sandbox::new();
        let evil_dir = "x\"; touch pwned #$(touch pwned2)`touch pwned3`'\\";
        let contents =
            "x'\"; touch pwned #$(touch pwned2)`touch pwned3`\\n %s %% \\ \n\nno newline";
        std::fs::create_dir(sandbox.path(evil_dir)).unwrap();
        let bin = fake_sudo(&sandbox);
        let path = format!("{evil_dir}/up.conf");
        sandbox
            .run_with_path(&apply(&path, contents), Some(&bin))
            .ok();
        assert_eq!(
            std::fs::read_to_string(sandbox.path(&path)).unwrap(),
            contents
        );
        let found = Preflight::parse(&sandbox.run(&preflight(&path)).ok().stdout).unwrap();
        assert_eq!(found.write, WriteAccess::Yes);
        for f in ["pwned", "pwned2", "pwned3"] {
            assert!(!sandbox.path(f).exists(), "{f}");
        }
    }

    #[test]
    fn preflight_reports_each_missing_right() {
        let sandbox = Sandbox::new();
        let bin = fake_sudo(&sandbox);
        sandbox.sh("mkdir conf.d");
        let run = |sandbox: &Sandbox| {
            let ran = sandbox.run_with_path(&preflight(LOCAL), Some(&bin)).ok();
            Preflight::parse(&ran.stdout).unwrap()
        };
        let all = run(&sandbox);
        assert_eq!(all.write, WriteAccess::Yes);
        assert!(all.may_test && all.may_reload, "{all:?}");
        assert_eq!(all.missing(), []);
        assert_eq!(
            calls(&sandbox),
            "-n -l nginx -t\n-n -l systemctl reload nginx\n",
            "asks, never runs"
        );
        // This machine has both (install.sh --test-deps).
        assert!(all.nginx.as_deref().unwrap().ends_with("/nginx"), "{all:?}");
        assert!(
            all.systemctl.as_deref().unwrap().ends_with("/systemctl"),
            "{all:?}"
        );

        sandbox.sh("touch denied && rmdir conf.d");
        let none = run(&sandbox);
        assert_eq!(none.write, WriteAccess::NoDirectory);
        assert_eq!(
            none.missing(),
            [Missing::NoDirectory, Missing::Test, Missing::Reload]
        );
        assert!(!sandbox.path("conf.d").exists(), "changes nothing");
    }

    #[test]
    fn preflight_output_parses_into_what_is_missing_and_the_rule() {
        let found = Preflight::parse(
            "write=no\ntest=no\nreload=yes\nnginx=/usr/local/sbin/nginx\nsystemctl=\nuser=app\n",
        )
        .unwrap();
        assert_eq!(found.user, "app");
        assert_eq!(
            found.missing(),
            [Missing::NotWritable, Missing::Test, Missing::NoSystemctl]
        );
        assert_eq!(
            found.sudo_rule("app"),
            "app ALL=(root) NOPASSWD: /usr/local/sbin/nginx -t, /usr/bin/systemctl reload nginx\n"
        );
        let lines: Vec<String> = found
            .missing()
            .iter()
            .filter(|m| m.needs_sudo_rule())
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            ["`sudo -n nginx -t` is not allowed without a password"]
        );
        let unreadable = Preflight::parse(
            "write=unreadable\ntest=yes\nreload=yes\nnginx=/usr/sbin/nginx\nsystemctl=/bin/systemctl\n\
             user=deploy\n",
        )
        .unwrap();
        assert_eq!(unreadable.missing(), [Missing::Unreadable]);
        insta::assert_snapshot!(unreadable.sudo_rule("deploy"), @"deploy ALL=(root) NOPASSWD: /usr/sbin/nginx -t, /bin/systemctl reload nginx");
        for bad in [
            "write=maybe\n",
            "oops\n",
            "write=yes\ntest=yes\nreload=yes\nnginx=\n",
            "write=yes\ntest=1\n",
            "color=blue\n",
        ] {
            assert!(Preflight::parse(bad).is_err(), "{bad}");
        }
    }
}
