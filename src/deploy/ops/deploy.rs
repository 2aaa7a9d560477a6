//! `deliver deploy`: ship a new commit (pushed and built on every host) through [`super::ship`].

use crate::deploy::{Remotes, Request};
use crate::outcome::Outcome;
use crate::plan::log::Action;
use crate::ui::event::Reporter;

/// Deploys `req` (an [`Action::Deploy`]) to `remotes`, connected and in config order.
pub fn deploy(req: &Request, remotes: Remotes, reporter: &dyn Reporter) -> Outcome {
    debug_assert_eq!(req.action, Action::Deploy);
    super::ship(req, remotes, reporter)
}
