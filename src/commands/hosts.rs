//! What the remote commands share: choosing the environment's hosts (`--hosts`), connecting
//! to them ([`Connector`]; all of them in parallel: [`connect_all`]), showing each remote
//! command under `-v` ([`Shown`]), and the local git repository.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use super::project::beside;
use super::UsageError;
use crate::config::{Environment, HostSpec};
use crate::parallel;
use crate::plan::Script;
use crate::procfile::{self, ProcessType};
use crate::remote::{
    self, ConnectOptions, Output, PushStats, Remote, RemoteError, SshRemote, Stream,
};
use crate::ui::event::{Event, Reporter};

/// `-v`: a host that reports each remote command as a `host.script` event before it runs
/// it: every script (masked: `Script::render_masked`), and a one-line note for each push
/// and upload (their bytes travel on stdin and are never shown). Health GETs are not
/// commands and are not shown.
pub struct Shown {
    inner: Box<dyn Remote>,
    reporter: Arc<dyn Reporter>,
}

impl Shown {
    pub fn new(inner: Box<dyn Remote>, reporter: Arc<dyn Reporter>) -> Shown {
        Shown { inner, reporter }
    }

    fn show(&self, name: &str, script: String) {
        self.reporter.event(&Event::HostScript {
            host: self.inner.host().to_owned(),
            name: name.to_owned(),
            script,
        });
    }
}

/// Each of `remotes` wrapped in [`Shown`] when `verbose`.
pub fn shown(
    remotes: Vec<Box<dyn Remote>>,
    reporter: &Arc<dyn Reporter>,
    verbose: bool,
) -> Vec<Box<dyn Remote>> {
    if !verbose {
        return remotes;
    }
    remotes
        .into_iter()
        .map(|r| Box::new(Shown::new(r, Arc::clone(reporter))) as Box<dyn Remote>)
        .collect()
}

impl Remote for Shown {
    fn host(&self) -> &str {
        self.inner.host()
    }

    fn run(
        &mut self,
        script: &Script,
        on_line: &mut dyn FnMut(Stream, &str),
    ) -> Result<Output, RemoteError> {
        self.show(&script.name, script.render_masked());
        self.inner.run(script, on_line)
    }

    fn run_until(
        &mut self,
        script: &Script,
        on_line: &mut dyn FnMut(Stream, &str),
        stop: &dyn Fn() -> bool,
    ) -> Result<Output, RemoteError> {
        self.show(&script.name, script.render_masked());
        self.inner.run_until(script, on_line, stop)
    }

    fn upload(&mut self, path: &str, contents: &[u8], mode: i32) -> Result<(), RemoteError> {
        self.show(
            "upload",
            format!(
                "# deliver: upload {path} (mode {mode:o}, {} bytes on stdin)\n",
                contents.len()
            ),
        );
        self.inner.upload(path, contents, mode)
    }

    fn push(
        &mut self,
        repo: &Path,
        commit: &str,
        git_dir: &str,
        refname: &str,
        remote_tips: &[String],
    ) -> Result<PushStats, RemoteError> {
        self.show(
            "push",
            format!("# deliver: push {commit} into {git_dir} as {refname} (pack on stdin)\n"),
        );
        self.inner.push(repo, commit, git_dir, refname, remote_tips)
    }

    fn http_get(&mut self, port: u16, path: &str, timeout: Duration) -> Result<u16, RemoteError> {
        self.inner.http_get(port, path, timeout)
    }

    fn reconnect(&mut self) -> Result<bool, RemoteError> {
        self.inner.reconnect()
    }
}

/// The environment's hosts, or those of them named by `--hosts` (as written in deliver.toml,
/// or by their host part).
pub fn select(env: &Environment, only: &[String]) -> Result<Vec<HostSpec>> {
    if only.is_empty() {
        return Ok(env.hosts.clone());
    }
    let mut out = Vec::new();
    for name in only {
        let found = env
            .hosts
            .iter()
            .find(|h| h.to_string() == *name || h.host == *name)
            .ok_or_else(|| {
                let known: Vec<String> = env.hosts.iter().map(ToString::to_string).collect();
                UsageError(format!(
                    "--hosts: `{name}` is not a host of environment `{}` (its hosts: {})",
                    env.name,
                    known.join(", ")
                ))
            })?;
        if !out.contains(found) {
            out.push(found.clone());
        }
    }
    Ok(out)
}

/// How the commands reach an environment's hosts: the environment's `user` and the user's
/// ssh files, read once. `deploy`, `rollback` ([`connect_all`]) and the host commands
/// (`fleet::Fleet::each`) all connect through it.
pub struct Connector {
    pub opts: ConnectOptions,
}

/// A host reached: its session, and how long connecting took.
pub struct Connected {
    pub session: SshRemote,
    pub ms: u64,
}

impl Connector {
    pub fn new(env: &Environment) -> Result<Connector> {
        let mut opts = ConnectOptions::from_env()?;
        opts.default_user.clone_from(&env.user);
        // Once a run is interrupted, a host that stays silent is not waited on (SPEC §7).
        opts.interrupt = Some(&crate::deploy::interrupt::INTERRUPTED);
        Ok(Connector { opts })
    }

    /// One authenticated session to `spec` (strict host keys).
    pub fn connect(&self, spec: &HostSpec) -> Result<Connected, RemoteError> {
        let t = Instant::now();
        let session = remote::connect(spec, &self.opts)?;
        Ok(Connected {
            session,
            ms: u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// Refuses to drive a proxy whose upstream file another environment writes too (exit 2):
/// each run would list only its own hosts there.
pub fn own_upstream(config: &crate::config::Config, env: &Environment) -> Result<()> {
    let others: Vec<&str> = config
        .sharing_upstream(env)
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    match (&env.proxy, others.is_empty()) {
        (Some(proxy), false) => Err(UsageError(format!(
            "environments `{}` and `{}` would both write {} on the same proxy host(s), each \
             listing only its own hosts: give each environment its own [proxy] (another \
             `config` and `upstream`, or other hosts)",
            env.name,
            others.join("`, `"),
            proxy.config
        ))
        .into()),
        _ => Ok(()),
    }
}

/// With `[proxy] hosts`: the address nginx reaches each of `hosts` at (`proxy.addresses`,
/// else the `HostName` of an ~/.ssh/config alias, else the host as written); empty without
/// a proxy. Refuses a subset of the environment's hosts (`--hosts`): the upstream lists every
/// host, and deliver knows the running formation only of the hosts it reaches.
pub fn proxy_addresses(env: &Environment, hosts: &[HostSpec]) -> Result<Vec<String>> {
    let Some(proxy) = &env.proxy else {
        return Ok(Vec::new());
    };
    if hosts.len() != env.hosts.len() {
        return Err(UsageError(format!(
            "--hosts: environment `{}` has [proxy] hosts, whose upstream lists every host; \
             deploy to all of them",
            env.name
        ))
        .into());
    }
    let ssh = ConnectOptions::from_env()?.ssh_config;
    Ok(hosts
        .iter()
        .map(|h| {
            proxy.address_of(h).map_or_else(
                || {
                    ssh.lookup(&h.host)
                        .hostname
                        .unwrap_or_else(|| h.host.clone())
                },
                str::to_owned,
            )
        })
        .collect())
}

/// The sessions of a deploy or rollback: `hosts`, and the proxy hosts of `[proxy]` (each
/// reached like an app host: one session, strict host keys).
pub fn connect_run(
    env: &Environment,
    hosts: &[HostSpec],
    reporter: &dyn Reporter,
) -> Result<crate::deploy::Remotes> {
    let apps = connect_all(env, hosts, reporter)?;
    let proxies = match &env.proxy {
        Some(proxy) => connect_all(env, &proxy.hosts, reporter)?,
        None => Vec::new(),
    };
    Ok(crate::deploy::Remotes { apps, proxies })
}

/// One authenticated session per host, opened in parallel. Each success is reported as
/// `host.connected`; any failure is an error naming every host that failed.
pub fn connect_all(
    env: &Environment,
    hosts: &[HostSpec],
    reporter: &dyn Reporter,
) -> Result<Vec<Box<dyn Remote>>> {
    let connector = Connector::new(env)?;
    let results = parallel::each(hosts, |spec| connector.connect(spec));
    let mut remotes: Vec<Box<dyn Remote>> = Vec::new();
    let mut errors = Vec::new();
    for (spec, result) in hosts.iter().zip(results) {
        match result {
            Ok(connected) => {
                reporter.event(&Event::HostConnected {
                    host: spec.to_string(),
                    ms: connected.ms,
                });
                remotes.push(Box::new(connected.session));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(remotes)
    } else {
        Err(anyhow!(errors.join("\n")))
    }
}

/// The local repository holding `dir` (deliver.toml's directory).
pub fn open_repo(dir: &Path) -> Result<git2::Repository> {
    git2::Repository::discover(dir).with_context(|| {
        format!(
            "{} is not in a git repository: deliver deploys commits",
            dir.display()
        )
    })
}

/// The commit `git_ref` names, as a full sha.
pub fn resolve_commit(repo: &git2::Repository, git_ref: &str) -> Result<String> {
    let object = repo
        .revparse_single(git_ref)
        .map_err(|e| UsageError(format!("--ref `{git_ref}`: {}", e.message())))?;
    let commit = object.peel_to_commit().map_err(|e| {
        UsageError(format!(
            "--ref `{git_ref}` is not a commit: {}",
            e.message()
        ))
    })?;
    Ok(commit.id().to_string())
}

/// A file of the commit, as text (the Procfile that is deployed, not the working tree's).
pub fn file_at(repo: &git2::Repository, sha: &str, path: &Path) -> Result<Option<String>> {
    let commit = repo.find_commit(git2::Oid::from_str(sha)?)?;
    let tree = commit.tree()?;
    let Ok(entry) = tree.get_path(path) else {
        return Ok(None);
    };
    let blob = entry.to_object(repo)?.peel_to_blob()?;
    Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
}

/// The process types of the Procfile beside `config_path` as commit `sha` has it: what a
/// deploy of that commit renders units from.
pub fn committed_types(
    repo: &git2::Repository,
    sha: &str,
    config_path: &Path,
) -> Result<Vec<ProcessType>> {
    let procfile_path = beside(config_path, "Procfile");
    let in_repo = in_repo(repo, &procfile_path)?;
    let text = file_at(repo, sha, &in_repo)?.ok_or_else(|| {
        UsageError(format!(
            "{} is not in commit {} (commit it first)",
            in_repo.display(),
            &sha[..7]
        ))
    })?;
    let types = procfile::parse(&text).map_err(|e| {
        UsageError(format!(
            "{}:{}: {} (in commit {})",
            procfile_path.display(),
            e.line,
            e.message,
            &sha[..7]
        ))
    })?;
    Ok(types)
}

/// True when the working tree has changes that a deploy of HEAD would not carry.
pub fn is_dirty(repo: &git2::Repository) -> bool {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).include_ignored(false);
    repo.statuses(Some(&mut opts)).is_ok_and(|s| !s.is_empty())
}

/// `path` relative to the repository's work tree (for reading it from a commit).
pub fn in_repo(repo: &git2::Repository, path: &Path) -> Result<PathBuf> {
    let workdir = repo
        .workdir()
        .ok_or_else(|| anyhow!("the repository has no work tree (bare)"))?;
    let abs =
        std::fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))?;
    let root = std::fs::canonicalize(workdir)?;
    Ok(abs
        .strip_prefix(&root)
        .with_context(|| format!("{} is outside the repository", path.display()))?
        .to_path_buf())
}
