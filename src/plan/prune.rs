//! Pruning old releases: the pure choice of which to delete ([`to_prune`]) and the script that
//! deletes them with their refs ([`prune`]). No I/O here.

use super::layout::Layout;
use super::release_dir;
use super::script::Script;
use crate::release_id::ReleaseId;

/// The releases to delete, oldest first: all but the newest `keep`, never `current`, and
/// never the release just before `current` (what a rollback goes back to). As
/// [`to_prune_marked`] with no release marked failed.
pub fn to_prune(releases: &[ReleaseId], current: Option<&ReleaseId>, keep: u32) -> Vec<ReleaseId> {
    to_prune_marked(releases, current, keep, &[])
}

/// The releases to delete, oldest first: all but the newest `keep`, never `current`, and
/// never the newest release before `current` that is not `failed` (what a rollback goes back
/// to). Releases a failed rollout marked (`failed`, see `plan::failed`) go first: a failed
/// release is never worth keeping over a good one, so the count is made up by deleting them
/// before any good one.
pub fn to_prune_marked(
    releases: &[ReleaseId],
    current: Option<&ReleaseId>,
    keep: u32,
    failed: &[ReleaseId],
) -> Vec<ReleaseId> {
    let mut sorted: Vec<&ReleaseId> = releases.iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let is_failed = |r: &ReleaseId| failed.contains(r);
    let previous = current.and_then(|c| {
        sorted
            .iter()
            .copied()
            .filter(|r| *r < c && !is_failed(r))
            .max()
    });
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    let excess = sorted.len().saturating_sub(keep);
    // Deletion order: failed ones (oldest first), then good ones (oldest first).
    let (bad, good): (Vec<&ReleaseId>, Vec<&ReleaseId>) = sorted.iter().partition(|r| is_failed(r));
    let mut doomed: Vec<ReleaseId> = bad
        .into_iter()
        .chain(good)
        .take(excess)
        .filter(|r| Some(*r) != current && Some(*r) != previous)
        .cloned()
        .collect();
    doomed.sort_unstable();
    doomed
}

/// Takes each release out with its ref, as `release_dir::set_aside` does (which refuses
/// `current`); `release_dir::sweep` deletes their files later, once the lock is released.
pub fn prune(layout: &Layout, ids: &[ReleaseId]) -> Script {
    ids.iter().fold(Script::new("prune"), |s, id| {
        s.then(release_dir::set_aside(layout, id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sandbox::Sandbox;

    fn ids(n: u32) -> Vec<ReleaseId> {
        (1..=n)
            .map(|day| format!("202401{day:02}000000-{day:07}").parse().unwrap())
            .collect()
    }

    fn days(ids: &[ReleaseId]) -> Vec<u32> {
        ids.iter()
            .map(|id| id.as_str()[6..8].parse().unwrap())
            .collect()
    }

    #[test]
    fn keeps_the_newest_then_current_and_the_one_before_it() {
        let all = ids(6);
        assert_eq!(days(&to_prune(&all, Some(&all[5]), 3)), [1, 2, 3]);
        assert_eq!(days(&to_prune(&all, Some(&all[5]), 1)), [1, 2, 3, 4]);
        // After a rollback to day 3: days 3 and 2 stay, whatever `keep` says.
        assert_eq!(days(&to_prune(&all, Some(&all[2]), 1)), [1, 4, 5]);
        assert_eq!(days(&to_prune(&all, Some(&all[0]), 1)), [2, 3, 4, 5]);
        assert_eq!(days(&to_prune(&all, None, 2)), [1, 2, 3, 4]);
        assert!(to_prune(&all, Some(&all[5]), 10).is_empty());
        assert!(to_prune(&[], None, 1).is_empty());
    }

    #[test]
    fn failed_releases_go_first_and_are_never_the_one_kept_for_a_rollback() {
        let all = ids(6);
        // Day 5 failed (reverted), day 6 is the new current: day 4 is what a rollback picks.
        let failed = [all[4].clone()];
        assert_eq!(
            days(&to_prune_marked(&all, Some(&all[5]), 3, &failed)),
            [1, 2, 5]
        );
        assert_eq!(
            days(&to_prune_marked(&all, Some(&all[5]), 1, &failed)),
            [1, 2, 3, 5]
        );
        // Room for all but one: the failed one goes, not the oldest good one.
        assert_eq!(days(&to_prune_marked(&all, Some(&all[5]), 5, &failed)), [5]);
        assert!(to_prune_marked(&all, Some(&all[5]), 6, &failed).is_empty());
        // A failed current (a revert that failed) stays, and so does the good one before it.
        let failed = [all[5].clone(), all[4].clone()];
        assert_eq!(
            days(&to_prune_marked(&all, Some(&all[5]), 2, &failed)),
            [1, 2, 5]
        );
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let mut all = ids(5);
        all.reverse();
        assert_eq!(days(&to_prune(&all, Some(&all[0]), 2)), [1, 2, 3]);
    }

    #[test]
    fn the_script() {
        let all = ids(2);
        insta::assert_snapshot!("prune", prune(&Layout::new("~/shop"), &all).render());
    }

    #[test]
    fn prune_keeps_current_and_previous_on_disk() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let all = ids(5);
        for id in &all {
            sandbox.commit("shop", id.as_str(), &[("f", id.as_str())]);
            sandbox.sh(&format!(
                "mkdir -p shop/releases/{id} && echo x > shop/releases/{id}/REVISION"
            ));
        }
        sandbox.sh(&format!("ln -s releases/{} shop/current", all[2]));
        let doomed = to_prune(&all, Some(&all[2]), 1);
        sandbox.run(&prune(&layout, &doomed)).ok();
        assert_eq!(
            sandbox.sh("ls shop/releases"),
            format!("{}\n{}\n{}\n", all[1], all[2], all[4])
        );
        assert_eq!(
            sandbox.sh("git --git-dir=shop/repo.git for-each-ref --format='%(refname)'"),
            format!(
                "refs/releases/{}\nrefs/releases/{}\nrefs/releases/{}\n",
                all[1], all[2], all[4]
            )
        );
    }
}
