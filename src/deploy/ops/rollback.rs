//! `deliver rollback`: ship a release already on every host (no push, no hooks; only changed
//! units are staged) through [`super::ship`].

use crate::deploy::{Remotes, Request};
use crate::outcome::Outcome;
use crate::plan::log::Action;
use crate::ui::event::Reporter;

/// Rolls `remotes` back to `req.release` (an [`Action::Rollback`]).
pub fn rollback(req: &Request, remotes: Remotes, reporter: &dyn Reporter) -> Outcome {
    debug_assert_eq!(req.action, Action::Rollback);
    super::ship(req, remotes, reporter)
}
