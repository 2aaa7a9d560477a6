//! What the host commands (`setup`, `check`, `releases`, `status`, `logs`, `run`, `unlock`)
//! share: the environment's hosts, one session per host opened in parallel, the command's
//! work for each host in that host's thread, and the per-host results in host order. A host
//! that cannot be reached, or whose work fails, does not stop the others: the command reports
//! what it got and then fails naming those hosts (exit 1). Under `-v` each host reports its
//! scripts as it runs them (`hosts::Shown`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Result};

use super::hosts::{Connector, Shown};
use super::project::load_config;
use crate::config::{Environment, HostSpec};
use crate::parallel;
use crate::plan::Layout;
use crate::remote::Remote;
use crate::ui::event::{Event, Reporter};
use crate::ui::Ui;

/// The environment a host command works on.
pub struct Fleet {
    pub env: Environment,
    pub layout: Layout,
    /// `-v`: where the hosts report their scripts.
    shown: Option<Arc<dyn Reporter>>,
}

/// How a host was reached: `user@hostname` as resolved, and how long the connect took.
pub struct Reached {
    pub address: String,
    pub ms: u64,
}

/// One host's outcome: its name as written in deliver.toml, and the work's result.
pub struct HostResult<T> {
    pub host: String,
    pub result: Result<T>,
}

impl Fleet {
    pub fn load(config_path: &Path, env: Option<&str>, ui: &Ui) -> Result<Fleet> {
        let config = load_config(config_path)?;
        let env = config.environment(env)?.clone();
        let layout = Layout::new(&env.deploy_to);
        let shown = ui.verbose.then(|| Arc::from(ui.reporter()));
        Ok(Fleet { env, layout, shown })
    }

    /// Connects to every host in parallel (one session each) and runs `work` with it in that
    /// host's thread. Results come back in the order of the environment's hosts.
    pub fn each<T, F>(&self, work: F) -> Result<Vec<HostResult<T>>>
    where
        T: Send,
        F: Fn(&HostSpec, &Reached, &mut dyn Remote) -> Result<T> + Sync,
    {
        self.each_of(&self.env.hosts, work)
    }

    /// [`Fleet::each`] for other hosts of the environment (its proxy hosts).
    pub fn each_of<T, F>(&self, hosts: &[HostSpec], work: F) -> Result<Vec<HostResult<T>>>
    where
        T: Send,
        F: Fn(&HostSpec, &Reached, &mut dyn Remote) -> Result<T> + Sync,
    {
        let connector = Connector::new(&self.env)?;
        let results = parallel::each(hosts, |spec| {
            let connected = connector.connect(spec)?;
            let reached = Reached {
                address: connected.session.address().to_owned(),
                ms: connected.ms,
            };
            let mut session: Box<dyn Remote> = Box::new(connected.session);
            if let Some(reporter) = &self.shown {
                session = Box::new(Shown::new(session, Arc::clone(reporter)));
            }
            work(spec, &reached, session.as_mut())
        });
        Ok(hosts
            .iter()
            .zip(results)
            .map(|(spec, result)| HostResult {
                host: spec.to_string(),
                result,
            })
            .collect())
    }
}

/// Fails naming every host whose work failed (after the command printed what it got); with
/// `--json`, each of them is also a `host.failed` line of `step`.
pub fn failures<T>(ui: &Ui, step: &str, results: &[HostResult<T>]) -> Result<()> {
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.result.as_ref().err().map(|e| (&r.host, e)))
        .map(|(host, e)| {
            let message = host_message(host, e);
            ui.event(&Event::HostFailed {
                host: host.clone(),
                step: step.to_owned(),
                error: format!("{e:#}"),
            });
            message
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(failed.join("\n")))
    }
}

/// `host: message`; remote errors already start with the host.
fn host_message(host: &str, e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    if text.starts_with(&format!("{host}:")) {
        text
    } else {
        format!("{host}: {text}")
    }
}

/// Runs `script`'s facts variant on `remote` and parses the answer.
pub fn facts(
    remote: &mut dyn Remote,
    script: &crate::plan::Script,
) -> Result<crate::plan::facts::Facts> {
    let out = remote.run(script, &mut |_, _| {})?;
    if out.status != 0 {
        return Err(anyhow!(
            "{} exited {}: {}",
            script.name,
            out.status,
            out.stderr.trim()
        ));
    }
    crate::plan::facts::parse(&out.stdout).map_err(|e| anyhow!(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_messages_name_the_host_once() {
        let e = anyhow!("h1: cannot connect: refused");
        assert_eq!(host_message("h1", &e), "h1: cannot connect: refused");
        let e = anyhow!("facts exited 3: boom");
        assert_eq!(host_message("h1", &e), "h1: facts exited 3: boom");
    }
}
