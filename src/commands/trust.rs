//! `deliver trust [ENV] [--yes]`: fetches each host's key (a handshake, no login), prints its
//! SHA256 fingerprint and whether `known_hosts` knows it, and appends the new ones after a
//! confirmation on the terminal (or `--yes`). The file is the one the ssh config names for
//! the host (`UserKnownHostsFile`), else `~/.ssh/known_hosts`. A key that differs from the
//! known one is never added: the command says how to remove the old one and fails.

use std::collections::BTreeMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use super::fleet::Fleet;
use super::hosts::Connector;
use crate::cli::TrustArgs;
use crate::config::HostSpec;
use crate::outcome::Outcome;
use crate::parallel;
use crate::remote::{self, ConnectOptions, HostKeyProblem, ScannedKey};
use crate::remote::{expand_path, Tokens};
use crate::shell::quote;
use crate::ui::event::Event;
use crate::ui::Ui;

pub fn run(args: &TrustArgs, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let opts = Connector::new(&fleet.env)?.opts;
    let hosts = &fleet.env.hosts;
    let scans = parallel::each(hosts, |spec| remote::scan(spec, &opts));
    let mut errors = Vec::new();
    // File -> (host, line) of the keys to add, in host order.
    let mut new: BTreeMap<PathBuf, Vec<(String, String)>> = BTreeMap::new();
    for (spec, scan) in hosts.iter().zip(scans) {
        let host = spec.to_string();
        let key = match scan {
            Ok(key) => key,
            Err(e) => {
                ui.event(&Event::HostFailed {
                    host: host.clone(),
                    step: "trust".to_owned(),
                    error: e.to_string(),
                });
                errors.push(e.to_string());
                continue;
            }
        };
        let file = known_hosts_file(spec, &opts)?;
        report(ui, &host, &key, &file);
        match key.problem {
            None => {}
            Some(HostKeyProblem::Unknown) => new
                .entry(file)
                .or_default()
                .push((host, key.known_hosts_line)),
            Some(HostKeyProblem::Changed) => errors.push(format!(
                "{host}: the {} key differs from the one in known_hosts: not added",
                key.key_type
            )),
            Some(HostKeyProblem::Revoked) => errors.push(format!(
                "{host}: the {} key is marked @revoked in known_hosts: not added",
                key.key_type
            )),
        }
    }
    for (file, keys) in &new {
        if let Err(e) = add(ui, args.yes, file, keys) {
            errors.push(format!("{e:#}"));
        }
    }
    if errors.is_empty() {
        Ok(Outcome::Done)
    } else {
        Err(anyhow!(errors.join("\n")))
    }
}

/// `HOST | key_type SHA256:... (new|known|CHANGED|REVOKED)`, with what to do about a changed
/// key; a `host.key` record under --json.
fn report(ui: &Ui, host: &str, key: &ScannedKey, file: &Path) {
    let state = match key.problem {
        None => "known",
        Some(HostKeyProblem::Unknown) => "new",
        Some(HostKeyProblem::Changed) => "CHANGED",
        Some(HostKeyProblem::Revoked) => "REVOKED",
    };
    if ui.json {
        ui.event(&Event::HostKey {
            host: host.to_owned(),
            key_type: key.key_type.clone(),
            fingerprint: key.fingerprint.clone(),
            state: state.to_owned(),
            known_hosts: file.to_owned(),
        });
        return;
    }
    ui.result(&format!(
        "{host} | {} {} ({state})",
        key.key_type, key.fingerprint
    ));
    if key.problem == Some(HostKeyProblem::Changed) {
        for line in changed_advice(key, file) {
            ui.result(&format!("{host} |   {line}"));
        }
    }
}

/// Appends the new `keys` (host, line) to `file` once the user agreed (or `--yes`).
fn add(ui: &Ui, yes: bool, file: &Path, keys: &[(String, String)]) -> Result<()> {
    let count = match keys.len() {
        1 => "1 key".to_owned(),
        n => format!("{n} keys"),
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(anyhow!(
                "not adding {count} to {} without a confirmation (stdin is not a terminal): \
                 check the fingerprints above, then run `deliver trust --yes`",
                file.display()
            ));
        }
        if !ui.confirm(&format!("add {count} to {}?", file.display()))? {
            return Err(anyhow!("not adding {count} to {}", file.display()));
        }
    }
    let lines: Vec<&str> = keys.iter().map(|(_, line)| line.as_str()).collect();
    append(file, &lines)?;
    if ui.json {
        ui.event(&Event::TrustAdded {
            known_hosts: file.to_owned(),
            hosts: keys.iter().map(|(host, _)| host.clone()).collect(),
        });
    } else {
        ui.out(&format!("added {count} to {}", file.display()));
    }
    Ok(())
}

/// What to do about a changed key: verify, then remove the old entries under every name.
fn changed_advice(key: &ScannedKey, file: &Path) -> Vec<String> {
    let names = key
        .known_hosts_line
        .split_whitespace()
        .next()
        .unwrap_or(&key.host);
    let file = quote(&file.to_string_lossy());
    let removes: Vec<String> = names
        .split(',')
        .map(|name| format!("ssh-keygen -R {} -f {file}", quote(name)))
        .collect();
    vec![
        "known_hosts has another key for this host: the host was reinstalled, or someone is \
         in between (man-in-the-middle)."
            .to_owned(),
        "Check the fingerprint above with the host's admin; if it is right, remove the old \
         key and run `deliver trust` again:"
            .to_owned(),
        format!("  {}", removes.join(" && ")),
    ]
}

/// Where the key of `spec` goes: the first `UserKnownHostsFile` the ssh config names for
/// it, else the first of the user's files (`~/.ssh/known_hosts`), as `connect` reads them.
fn known_hosts_file(spec: &HostSpec, opts: &ConnectOptions) -> Result<PathBuf> {
    let cfg = opts.ssh_config.lookup(&spec.host);
    if let Some(file) = cfg.user_known_hosts_files.first() {
        let remote_user = spec
            .user
            .as_deref()
            .or(opts.default_user.as_deref())
            .or(cfg.user.as_deref())
            .or(opts.local_user.as_deref())
            .unwrap_or_default();
        let tokens = Tokens {
            home: opts.home.as_deref(),
            local_user: opts.local_user.as_deref(),
            remote_user,
            host: cfg.hostname.as_deref().unwrap_or(&spec.host),
            port: spec.port.or(cfg.port).unwrap_or(22),
        };
        return expand_path(file, &tokens).ok_or_else(|| {
            anyhow!("{spec}: UserKnownHostsFile {file}: no home directory to expand `~` in")
        });
    }
    opts.user_known_hosts_files.first().cloned().ok_or_else(|| {
        anyhow!("no home directory: set HOME, or name a UserKnownHostsFile in ~/.ssh/config")
    })
}

/// Appends `lines` to `file`, creating its directory (0700) and the file (0600) when
/// missing, on a line of their own even when the file does not end with a newline.
fn append(file: &Path, lines: &[&str]) -> Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("opening {}", file.display()))?;
    let mut text = String::new();
    if f.metadata()?.len() > 0 {
        let mut last = [0u8];
        f.seek(SeekFrom::End(-1))?;
        f.read_exact(&mut last)?;
        if last != *b"\n" {
            text.push('\n');
        }
    }
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", file.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn tokens_and_home_expand_in_known_hosts_paths() {
        let t = Tokens {
            home: Some(Path::new("/home/me")),
            local_user: Some("me"),
            remote_user: "app",
            host: "10.0.0.2",
            port: 2222,
        };
        assert_eq!(
            expand_path("~/.ssh/kh_%r@%h:%p_%u%%", &t),
            Some(PathBuf::from("/home/me/.ssh/kh_app@10.0.0.2:2222_me%"))
        );
        assert_eq!(expand_path("%d/kh", &t), Some(PathBuf::from("/home/me/kh")));
        assert_eq!(expand_path("~/kh", &Tokens { home: None, ..t }), None);
    }

    #[test]
    fn append_creates_the_directory_and_file_private_and_keeps_lines_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".ssh/known_hosts");
        append(&file, &["h1 ssh-ed25519 AAAA"]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join(".ssh")), 0o700);
        assert_eq!(mode(&file), 0o600);
        std::fs::write(&file, "old ssh-rsa BBBB").unwrap();
        append(&file, &["h1 ssh-ed25519 AAAA", "h2 ssh-ed25519 CCCC"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "old ssh-rsa BBBB\nh1 ssh-ed25519 AAAA\nh2 ssh-ed25519 CCCC\n"
        );
    }

    #[test]
    fn a_changed_key_says_how_to_remove_every_old_name() {
        let key = ScannedKey {
            host: "web".into(),
            port: 2222,
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:x".into(),
            known_hosts_line: "[web]:2222,[10.0.0.2]:2222 ssh-ed25519 AAAA".into(),
            problem: Some(HostKeyProblem::Changed),
        };
        let advice = changed_advice(&key, Path::new("/home/me/.ssh/known_hosts"));
        assert_eq!(
            advice[2],
            "  ssh-keygen -R '[web]:2222' -f /home/me/.ssh/known_hosts && ssh-keygen -R \
             '[10.0.0.2]:2222' -f /home/me/.ssh/known_hosts"
        );
    }
}
