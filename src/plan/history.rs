//! `deliver history`: [`read`] prints a host's deploy log (`.deliver/log.jsonl`, written by
//! `log::append`), [`parse`] reads it back and [`merge`] makes one [`Run`] of the lines the
//! hosts of one deploy or rollback wrote (the same release, action, start and person),
//! newest first. Pure: builds a script and reads text; no I/O.

use serde::{Deserialize, Serialize};

use super::layout::Layout;
use super::script::Script;
use crate::shell::quote;

/// Prints the log, or nothing when there is none yet.
pub fn read(layout: &Layout) -> Script {
    let log = quote(&layout.log());
    Script::new("history.read").raw(
        "a test, so that a host never deployed to answers with an empty log",
        format!("if [ -f {log} ]; then cat {log}; fi"),
    )
}

/// One line of a host's log, as `log::entry` wrote it (`ms` since issue 13).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Line {
    pub id: String,
    pub sha: String,
    pub who: String,
    pub when: String,
    pub action: String,
    pub result: String,
    #[serde(default)]
    pub ms: Option<u64>,
}

/// A host's lines, oldest first; how many lines were not deliver's (skipped).
pub fn parse(text: &str) -> (Vec<Line>, usize) {
    let mut lines = Vec::new();
    let mut skipped = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(line) => lines.push(line),
            Err(_) => skipped += 1,
        }
    }
    (lines, skipped)
}

/// One deploy or rollback, as every host it reached logged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// When it started, UTC (`2024-01-31T23:59:59Z`).
    pub when: String,
    pub who: String,
    /// `deploy` or `rollback`.
    pub action: String,
    pub release: String,
    pub sha: String,
    /// The hosts' result when they agree (`done`, `failed`, `reverted`, `revert-failed`),
    /// else `mixed`.
    pub result: String,
    /// The longest a host took; `None` when no host logged it.
    pub ms: Option<u64>,
    pub hosts: Vec<HostRun>,
}

/// How a run ended on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRun {
    pub host: String,
    pub result: String,
    pub ms: Option<u64>,
}

/// The runs of every host's lines (`(host, lines oldest first)`, in host order), newest
/// first; at most `limit`. Runs that started in the same second keep their order in the log
/// of the first host that has both.
pub fn merge(hosts: &[(String, Vec<Line>)], limit: usize) -> Vec<Run> {
    // (run, position in the log of the first host that logged it, that host's index)
    let mut runs: Vec<(Run, usize, usize)> = Vec::new();
    for (h, (host, lines)) in hosts.iter().enumerate() {
        for (pos, line) in lines.iter().enumerate() {
            let this = HostRun {
                host: host.clone(),
                result: line.result.clone(),
                ms: line.ms,
            };
            let same = runs.iter_mut().find(|(r, _, _)| {
                r.release == line.id
                    && r.when == line.when
                    && r.action == line.action
                    && r.who == line.who
                    && !r.hosts.iter().any(|x| x.host == *host)
            });
            match same {
                Some((run, _, _)) => {
                    if run.result != line.result {
                        "mixed".clone_into(&mut run.result);
                    }
                    run.ms = run.ms.max(line.ms);
                    run.hosts.push(this);
                }
                None => runs.push((
                    Run {
                        when: line.when.clone(),
                        who: line.who.clone(),
                        action: line.action.clone(),
                        release: line.id.clone(),
                        sha: line.sha.clone(),
                        result: line.result.clone(),
                        ms: line.ms,
                        hosts: vec![this],
                    },
                    pos,
                    h,
                )),
            }
        }
    }
    runs.sort_by(|(a, pa, ha), (b, pb, hb)| {
        b.when
            .cmp(&a.when)
            .then(if ha == hb { pb.cmp(pa) } else { hb.cmp(ha) })
    });
    runs.into_iter().take(limit).map(|(r, _, _)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::log::{entry, Action, LogResult};
    use crate::plan::sandbox::Sandbox;
    use crate::release_id::ReleaseId;

    fn line(id: &str, when: u64, action: Action, result: LogResult, ms: u64) -> String {
        let id: ReleaseId = id.parse().unwrap();
        entry(&id, "abc1234def", "bob@laptop", when, (action, result), ms)
    }

    #[test]
    fn the_runs_of_every_host_merge_newest_first() {
        let first = line(
            "20261123084400-abc1234",
            100,
            Action::Deploy,
            LogResult::Done,
            900,
        );
        let second = line(
            "20261123084500-abc1234",
            200,
            Action::Deploy,
            LogResult::Done,
            800,
        );
        let back = line(
            "20261123084400-abc1234",
            300,
            Action::Rollback,
            LogResult::Done,
            700,
        );
        let bad_h1 = line(
            "20261123084600-abc1234",
            400,
            Action::Deploy,
            LogResult::Reverted,
            5,
        );
        let bad_h2 = line(
            "20261123084600-abc1234",
            400,
            Action::Deploy,
            LogResult::Failed,
            9,
        );
        let h1 = format!("{first}\n{second}\nnot json\n{back}\n{bad_h1}\n");
        let h2 = format!("{first}\n{second}\n{back}\n{bad_h2}\n");
        let (l1, skipped) = parse(&h1);
        assert_eq!(skipped, 1);
        let hosts = [("h1".to_owned(), l1), ("h2".to_owned(), parse(&h2).0)];
        let runs = merge(&hosts, 10);
        let summary: Vec<String> = runs
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {:?} {}",
                    r.when,
                    r.action,
                    r.result,
                    r.ms,
                    r.hosts.len()
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "1970-01-01T00:06:40Z deploy mixed Some(9) 2",
                "1970-01-01T00:05:00Z rollback done Some(700) 2",
                "1970-01-01T00:03:20Z deploy done Some(800) 2",
                "1970-01-01T00:01:40Z deploy done Some(900) 2",
            ]
        );
        assert_eq!(runs[0].hosts[1].result, "failed");
        assert_eq!(merge(&hosts, 1).len(), 1);
    }

    #[test]
    fn a_line_without_ms_still_reads() {
        let (lines, _) = parse(
            r#"{"id":"20240131235959-0a1b2c3","sha":"0a1b","who":"b@l","when":"2024-02-01T00:00:00Z","action":"deploy","result":"done"}"#,
        );
        assert_eq!(lines[0].ms, None);
    }

    #[test]
    fn read_prints_the_log_or_nothing() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        assert_eq!(sandbox.run(&read(&layout)).ok().stdout, "");
        sandbox.run(&crate::plan::log::append(&layout, "{}")).ok();
        assert_eq!(sandbox.run(&read(&layout)).ok().stdout, "{}\n");
    }
}
