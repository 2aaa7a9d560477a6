//! `deliver rollback`: ship a release already on every host (no push, no hooks; only changed
//! units are staged) through [`super::ship`].

use crate::deploy::{Remotes, Request};
use crate::outcome::Outcome;
use crate::plan::log::Action;
use crate::ui::event::Reporter;

/// Rolls `remotes` back to `req.release` (an [`Action::Rollback`]; an [`Action::Restart`]
/// rolls them to the release they run, forced).
pub fn rollback(req: &Request, remotes: Remotes, reporter: &dyn Reporter) -> Outcome {
    debug_assert!(matches!(
        req.action,
        Action::Rollback | Action::Restart | Action::Scale
    ));
    super::ship(req, remotes, reporter)
}
