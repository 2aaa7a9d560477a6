//! `deliver releases [ENV]`: per host, the release directories (id, commit, date in UTC),
//! which one `current` points at, and which a failed rollout marked failed (and why).

use std::path::Path;

use anyhow::{anyhow, Result};

use super::fleet::{self, Fleet};
use crate::cli::EnvArg;
use crate::outcome::Outcome;
use crate::plan::inspect::{self, ReleaseRow};
use crate::ui::event::Event;
use crate::ui::record::ReleaseEntry;
use crate::ui::Ui;

pub fn run(args: &EnvArg, config_path: &Path, ui: &Ui) -> Result<Outcome> {
    let fleet = Fleet::load(config_path, args.env.as_deref(), ui)?;
    let script = inspect::releases(&fleet.layout);
    let results = fleet.each(|_, _, remote| {
        let out = remote.run(&script, &mut |_, _| {})?;
        if out.status != 0 {
            return Err(anyhow!(
                "listing releases exited {}: {}",
                out.status,
                out.stderr.trim()
            ));
        }
        inspect::parse_releases(&out.stdout).map_err(|e| anyhow!(e))
    })?;
    for r in &results {
        let Ok(rows) = &r.result else { continue };
        if ui.json {
            let releases = rows
                .iter()
                .map(|row| ReleaseEntry {
                    id: row.id.as_str().to_owned(),
                    sha: row.revision.clone(),
                    date: utc_date(row.id.unix_seconds()),
                    current: row.current,
                    failed: row.failed.clone(),
                })
                .collect();
            ui.event(&Event::HostReleases {
                host: r.host.clone(),
                releases,
            });
        } else {
            for line in table(rows) {
                ui.result(&format!("{} | {line}", r.host));
            }
        }
    }
    fleet::failures(ui, "releases", &results)?;
    Ok(Outcome::Done)
}

/// The rows of one host, newest first, under a header; `no releases` when there are none.
fn table(rows: &[ReleaseRow]) -> Vec<String> {
    if rows.is_empty() {
        return vec!["no releases".to_owned()];
    }
    let mut lines = vec![format!(
        "{:<22}  {:<10}  {:<19}  CURRENT  FAILED",
        "RELEASE", "COMMIT", "DATE (UTC)"
    )];
    for row in rows.iter().rev() {
        let commit = row.revision.as_deref().map_or_else(
            || "incomplete".to_owned(),
            |sha| sha[..sha.len().min(7)].to_owned(),
        );
        let failed = row.failed.as_ref().map_or_else(String::new, |m| {
            if m.why.is_empty() {
                "failed".to_owned()
            } else {
                format!("failed: {}", m.why)
            }
        });
        lines.push(
            format!(
                "{:<22}  {commit:<10}  {}  {:<7}  {failed}",
                row.id.as_str(),
                utc_date(row.id.unix_seconds()),
                if row.current { "*" } else { "" }
            )
            .trim_end()
            .to_owned(),
        );
    }
    lines
}

/// `YYYY-mm-dd HH:MM:SS` (UTC) of unix seconds.
pub fn utc_date(unix_seconds: u64) -> String {
    let stamp = crate::release_id::rfc3339_millis(u128::from(unix_seconds) * 1000);
    stamp[..19].replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_read_like_the_release_ids() {
        assert_eq!(utc_date(1_795_423_463), "2026-11-23 08:44:23");
        assert_eq!(utc_date(0), "1970-01-01 00:00:00");
    }

    #[test]
    fn the_table_lists_newest_first_and_marks_current() {
        let row = |id: &str, sha: Option<&str>, current| ReleaseRow {
            id: id.parse().unwrap(),
            revision: sha.map(str::to_owned),
            mtime: None,
            current,
            failed: None,
        };
        let mut failed = row("20261125100000-abc1234", Some("abc1234def"), false);
        failed.failed = Some(crate::plan::failed::Mark::new(
            1_795_600_000,
            "h2: web@5000 not healthy",
            "ann@ci",
        ));
        let rows = [
            row("20261123084423-abc1234", Some("abc1234def"), true),
            row("20261124090000-0123456", None, false),
            failed,
        ];
        insta::assert_snapshot!(table(&rows).join("\n"), @r"
        RELEASE                 COMMIT      DATE (UTC)           CURRENT  FAILED
        20261125100000-abc1234  abc1234     2026-11-25 10:00:00           failed: h2: web@5000 not healthy
        20261124090000-0123456  incomplete  2026-11-24 09:00:00
        20261123084423-abc1234  abc1234     2026-11-23 08:44:23  *
        ");
        assert_eq!(table(&[]), ["no releases"]);
    }
}
