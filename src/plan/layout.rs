//! Where things live on a host (SPEC §5), as the path strings the scripts use. Every script
//! runs with the SSH user's home directory as its working directory, so `~/shop` becomes the
//! relative path `shop` (a quoted `~` would not expand); absolute paths stay absolute. Pure:
//! string arithmetic only, no I/O.

use crate::release_id::ReleaseId;

/// The remote paths of one `deploy_to`, relative to the home directory unless absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `.` for the home directory itself, else a path with no trailing `/`; a relative one
    /// that starts with `-` gets a `./` so no command reads it as an option.
    base: String,
}

impl Layout {
    /// `deploy_to` as written in deliver.toml: `~` and `~/x` are the home directory and
    /// `x` in it; `/x` is absolute; anything else is relative to the home directory (which is
    /// also how `~user/x` is taken: literally).
    pub fn new(deploy_to: &str) -> Layout {
        let rest = if deploy_to == "~" {
            ""
        } else {
            deploy_to.strip_prefix("~/").unwrap_or(deploy_to)
        };
        let trimmed = rest.trim_end_matches('/');
        let base = if trimmed.is_empty() {
            if rest.starts_with('/') {
                "/".to_owned()
            } else {
                ".".to_owned()
            }
        } else if trimmed.starts_with('-') {
            format!("./{trimmed}")
        } else {
            trimmed.to_owned()
        };
        Layout { base }
    }

    /// The `deploy_to` directory itself (`.` when it is the home directory).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base/rel`, without a leading `./` when the base is the home directory.
    pub fn join(&self, rel: &str) -> String {
        match self.base.as_str() {
            "." => rel.to_owned(),
            "/" => format!("/{rel}"),
            base => format!("{base}/{rel}"),
        }
    }

    /// The bare repository pushes land in.
    pub fn repo(&self) -> String {
        self.join("repo.git")
    }

    pub fn releases(&self) -> String {
        self.join("releases")
    }

    pub fn release(&self, id: &ReleaseId) -> String {
        self.join(&format!("releases/{id}"))
    }

    /// The file holding the release's full commit sha; its presence marks a complete release.
    pub fn revision(&self, id: &ReleaseId) -> String {
        self.join(&format!("releases/{id}/REVISION"))
    }

    /// The symlink to the live release.
    pub fn current(&self) -> String {
        self.join("current")
    }

    /// What `current` holds when it points at `id` (relative to the base).
    pub fn current_target(id: &ReleaseId) -> String {
        format!("releases/{id}")
    }

    pub fn shared(&self) -> String {
        self.join("shared")
    }

    /// A linked dir or file inside `shared/`.
    pub fn shared_path(&self, linked: &str) -> String {
        self.join(&format!("shared/{linked}"))
    }

    /// deliver's own state: lock, log, installed units.
    pub fn state(&self) -> String {
        self.join(".deliver")
    }

    /// The `mkdir` lock directory.
    pub fn lock(&self) -> String {
        self.join(".deliver/lock")
    }

    pub fn lock_holder(&self) -> String {
        self.join(".deliver/lock/holder.json")
    }

    /// One JSON line per deploy or rollback.
    pub fn log(&self) -> String {
        self.join(".deliver/log.jsonl")
    }

    /// The counts `deliver scale` set, over deliver.toml's (`plan::scale`).
    pub fn scale(&self) -> String {
        self.join(".deliver/scale")
    }

    /// The units rendered for the current release, as installed.
    pub fn units(&self) -> String {
        self.join(".deliver/units")
    }

    /// Where `supervisor::stage_units` writes freshly rendered units for
    /// `supervisor::install_units`.
    pub fn units_new(&self) -> String {
        self.join(".deliver/units.new")
    }

    /// The ref in `repo.git` that keeps a release's commit: `refs/releases/<ID>`.
    pub fn release_ref(id: &ReleaseId) -> String {
        format!("refs/releases/{id}")
    }

    /// The base as an absolute path, given the home directory (for units and sudo rules).
    pub fn absolute(&self, home: &str) -> String {
        if self.base.starts_with('/') {
            return self.base.clone();
        }
        let home = home.trim_end_matches('/');
        match self.base.as_str() {
            "." if home.is_empty() => "/".to_owned(),
            "." => home.to_owned(),
            base => format!("{home}/{}", base.strip_prefix("./").unwrap_or(base)),
        }
    }
}

/// A linked dir or file as a clean relative path: `./config//x.yml/` -> `config/x.yml`
/// (config validation already rules out `..`, absolute and empty paths).
pub fn linked_path(linked: &str) -> String {
    linked
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ReleaseId {
        "20240131235959-0a1b2c3".parse().unwrap()
    }

    #[test]
    fn tilde_paths_become_relative_to_the_home_directory() {
        assert_eq!(Layout::new("~/shop").base(), "shop");
        assert_eq!(Layout::new("~/apps/shop/").base(), "apps/shop");
        assert_eq!(Layout::new("~").base(), ".");
        assert_eq!(Layout::new("~/").base(), ".");
        assert_eq!(Layout::new("shop").base(), "shop");
        assert_eq!(Layout::new("~bob/shop").base(), "~bob/shop");
    }

    #[test]
    fn absolute_paths_stay_absolute() {
        assert_eq!(Layout::new("/srv/shop/").base(), "/srv/shop");
        assert_eq!(Layout::new("/").repo(), "/repo.git");
        assert_eq!(Layout::new("/srv/shop").absolute("/home/app"), "/srv/shop");
    }

    #[test]
    fn a_leading_dash_cannot_pass_for_an_option() {
        let layout = Layout::new("~/-rf");
        assert_eq!(layout.current(), "./-rf/current");
        assert_eq!(layout.absolute("/home/app"), "/home/app/-rf");
    }

    #[test]
    fn every_path_of_the_layout() {
        let l = Layout::new("~/shop");
        let id = id();
        assert_eq!(l.repo(), "shop/repo.git");
        assert_eq!(l.releases(), "shop/releases");
        assert_eq!(l.release(&id), "shop/releases/20240131235959-0a1b2c3");
        assert_eq!(
            l.revision(&id),
            "shop/releases/20240131235959-0a1b2c3/REVISION"
        );
        assert_eq!(l.current(), "shop/current");
        assert_eq!(
            Layout::current_target(&id),
            "releases/20240131235959-0a1b2c3"
        );
        assert_eq!(l.shared(), "shop/shared");
        assert_eq!(l.shared_path("log"), "shop/shared/log");
        assert_eq!(l.state(), "shop/.deliver");
        assert_eq!(l.lock(), "shop/.deliver/lock");
        assert_eq!(l.lock_holder(), "shop/.deliver/lock/holder.json");
        assert_eq!(l.log(), "shop/.deliver/log.jsonl");
        assert_eq!(l.units(), "shop/.deliver/units");
        assert_eq!(l.units_new(), "shop/.deliver/units.new");
        assert_eq!(
            Layout::release_ref(&id),
            "refs/releases/20240131235959-0a1b2c3"
        );
        assert_eq!(l.absolute("/home/app/"), "/home/app/shop");
    }

    #[test]
    fn linked_paths_lose_empty_and_dot_parts() {
        assert_eq!(linked_path("./config//x.yml/"), "config/x.yml");
        assert_eq!(linked_path("log"), "log");
    }

    #[test]
    fn the_home_directory_itself_needs_no_prefix() {
        let l = Layout::new("~");
        assert_eq!(l.repo(), "repo.git");
        assert_eq!(l.absolute("/home/app"), "/home/app");
    }
}
