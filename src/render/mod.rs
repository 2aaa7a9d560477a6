//! Renders process-supervisor units and the nginx upstream from `templates/*.tera`, which are
//! embedded in the binary. Pure: takes resolved values, returns file names and contents.

use crate::config::Environment;
use crate::release::Formation;

/// One rendered file: its name (no directory) and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub name: String,
    pub contents: String,
}

#[derive(Debug, thiserror::Error)]
#[error("rendering {template}: {message}")]
pub struct RenderError {
    pub template: String,
    pub message: String,
}

/// What the units run and where: one host's view of an environment.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub env: &'a Environment,
    pub formation: &'a Formation,
    /// The app user on the host (`User=` of system units).
    pub user: &'a str,
    /// Absolute `deploy_to` on the host (`~` already expanded against the user's home).
    pub deploy_path: &'a str,
}

/// One host's instances of the health-checked process, for the nginx upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Address nginx connects to (IP or DNS name).
    pub address: String,
    pub ports: Vec<u16>,
}

/// `<app>-<type>@.service` per Procfile type with instances, plus `<app>.target`.
/// `user_units`: render for `systemctl --user` (no `User=`, `WantedBy=default.target`).
pub fn systemd(target: &Target<'_>, user_units: bool) -> Result<Vec<RenderedFile>, RenderError> {
    let _ = (target, user_units);
    todo!("issue 3: render")
}

/// `<app>.conf`, `<app>-<type>.conf`, `<app>-<type>-<N>.conf`.
pub fn upstart(target: &Target<'_>) -> Result<Vec<RenderedFile>, RenderError> {
    let _ = target;
    todo!("issue 3: render")
}

/// `<upstream>-upstream.conf`: the upstream block plus the proxy settings, valid inside
/// `http {}` (nginx conf.d).
pub fn nginx(env: &Environment, backends: &[Backend]) -> Result<Vec<RenderedFile>, RenderError> {
    let _ = (env, backends);
    todo!("issue 3: render")
}
