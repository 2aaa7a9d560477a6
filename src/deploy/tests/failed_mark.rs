//! A reverted deploy marks its release failed on the host (issue 12), in the revert's own
//! round trip (the swap back), never in one of its own.

use super::*;

/// The scripts that write a mark (the facts only test for one).
fn marks(scripts: &[String]) -> Vec<&String> {
    let write = format!("/{} ||", crate::plan::failed::MARKER);
    scripts.iter().filter(|s| s.contains(&write)).collect()
}

/// The names of `scripts`, for messages.
fn names(scripts: &[String]) -> Vec<&str> {
    scripts.iter().filter_map(|s| s.lines().next()).collect()
}

#[test]
fn a_reverted_deploy_marks_its_release_failed_in_the_swap_back() {
    let req = request("rolling");
    let sick = Behaviour {
        unhealthy: true,
        ..Behaviour::default()
    };
    let (outcome, scripts, logs) =
        scripts_of(&req, [Behaviour::default(), sick], &Events::default());
    assert_eq!(outcome, Outcome::Reverted);
    for (i, host) in scripts.iter().enumerate() {
        let marked = marks(host);
        assert_eq!(marked.len(), 1, "host {i}: {:?}", names(host));
        let mark = marked[0];
        // The swap back: the mark, then `current` to the old release.
        assert!(
            mark.starts_with("# deliver: switch.swap_current\n"),
            "{mark}"
        );
        let dir = format!("shop/releases/{}", req.release);
        assert!(
            mark.contains(&format!("if [ -d {dir} ]; then"))
                && mark.contains(&format!(">{dir}/.deliver-failed")),
            "{mark}"
        );
        assert!(mark.contains(r#""by":"me@laptop""#), "{mark}");
        assert!(
            mark.contains(r#""why":"h2: "#),
            "the rollout's error: {mark}"
        );
        let old = ReleaseId::new(1_793_491_200, OLD_SHA).unwrap();
        assert!(
            mark.find(".deliver-failed").unwrap() < mark.find(old.as_str()).unwrap(),
            "marked before the swap: {mark}"
        );
        // No round trip of its own: the same scripts as before marks existed.
        let log = log_of(&logs, i);
        assert_eq!(
            log.iter().filter(|s| *s == "switch.swap_current").count(),
            2,
            "{log:?}"
        );
        assert!(!log.iter().any(|s| s.contains("mark")), "{log:?}");
    }
}

#[test]
fn a_host_whose_revert_fails_is_marked_too() {
    let mut req = request("rolling");
    req.env.rollout.mode = RolloutMode::AllAtOnce;
    let dying = Behaviour {
        always_unhealthy: true,
        ..Behaviour::default()
    };
    let (outcome, scripts, _) = scripts_of(&req, [Behaviour::default(), dying], &Events::default());
    assert_eq!(outcome, Outcome::RevertFailed);
    assert_eq!(marks(&scripts[1]).len(), 1, "{:?}", names(&scripts[1]));
    assert_eq!(marks(&scripts[0]).len(), 1, "{:?}", names(&scripts[0]));
}

#[test]
fn a_deploy_that_succeeds_or_fails_before_switching_marks_nothing() {
    let req = request("rolling");
    let (outcome, scripts, _) = scripts_of(&req, Default::default(), &Events::default());
    assert_eq!(outcome, Outcome::Done);
    assert!(scripts.iter().all(|s| marks(s).is_empty()));
    // A failed build removes the release dir instead (exit 1): nothing to mark.
    let broken = Behaviour {
        fail: vec![("release.prepare", release_dir::HOOK_FAILED)],
        ..Behaviour::default()
    };
    let (outcome, scripts, _) =
        scripts_of(&req, [Behaviour::default(), broken], &Events::default());
    assert_eq!(outcome, Outcome::FailedBeforeSwitch);
    assert!(scripts.iter().all(|s| marks(s).is_empty()));
}
