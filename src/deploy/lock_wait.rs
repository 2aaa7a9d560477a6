//! `--lock-wait` (SPEC §9): waiting in line for a lock another run holds, for deploys,
//! rollbacks and `env set|unset` alike. The holder is reported once (again if another takes
//! its place), then the lock is tried every 0.5, 1, 2, 2, ... s until it is ours or the wait
//! is over. SIGINT/SIGTERM ends the wait.

use std::time::{Duration, Instant};

use super::interrupt::interrupted;
use crate::config::duration;

/// Runs `attempt` until `held` says no other run holds the lock (its `holder.json` when one
/// does), `until` has passed (`None`: no waiting) or a signal came; returns the last attempt.
/// `waiting` is told each new holder and the time left, as `--lock-wait` would write it.
/// A lock with no holder yet (taken this instant) is looked at again after 50 ms, unreported.
pub fn wait_in_line<T>(
    until: Option<Instant>,
    mut attempt: impl FnMut() -> T,
    held: impl Fn(&T) -> Option<String>,
    mut waiting: impl FnMut(&str, String),
) -> T {
    let mut shown: Option<String> = None;
    let mut pause = Duration::from_millis(500);
    loop {
        let result = attempt();
        let (Some(json), Some(until)) = (held(&result), until) else {
            return result;
        };
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || interrupted() {
            return result;
        }
        let next = if json.trim().is_empty() {
            Duration::from_millis(50)
        } else {
            if shown.as_ref() != Some(&json) {
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                waiting(&json, duration::format(Duration::from_secs(secs)));
                shown = Some(json);
            }
            let next = pause;
            pause = (pause * 2).min(Duration::from_secs(2));
            next
        };
        let wake = Instant::now() + next.min(left);
        while Instant::now() < wake && !interrupted() {
            std::thread::sleep(Duration::from_millis(50).min(wake - Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_holder_is_reported_once_and_an_empty_one_never() {
        let answers = ["a", "a", "", "b", "b", "free"];
        let mut next = answers.iter();
        let mut told = Vec::new();
        let start = Instant::now();
        let last = wait_in_line(
            Some(start + Duration::from_secs(60)),
            || *next.next().expect("an answer per attempt"),
            |a| (*a != "free").then(|| a.to_string()),
            |json, _| told.push(json.to_owned()),
        );
        assert_eq!(last, "free");
        assert_eq!(told, ["a", "b"]);
        // 0.5 + 1 (a, a), 0.05 (empty), 2 + 2 (b, b): the empty holder costs no backoff step.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(5500), "{took:?}");
        assert!(took < Duration::from_millis(6500), "{took:?}");
    }

    #[test]
    fn without_a_wait_the_first_attempt_is_the_answer() {
        let mut tries = 0;
        let last = wait_in_line(
            None,
            || {
                tries += 1;
                "held"
            },
            |a| Some(a.to_string()),
            |_, _| panic!("nothing to report without a wait"),
        );
        assert_eq!((last, tries), ("held", 1));
    }

    #[test]
    fn the_wait_ends_when_its_time_is_over() {
        let start = Instant::now();
        let mut told = Vec::new();
        wait_in_line(
            Some(start + Duration::from_millis(300)),
            || "held",
            |a| Some(a.to_string()),
            |json, left| told.push(format!("{json} {left}")),
        );
        assert!(start.elapsed() < Duration::from_millis(450));
        assert_eq!(told, ["held 1s"]);
    }
}
