//! `--json`: every event as one JSON object per line on stdout, with `ts` (RFC 3339, UTC)
//! and the `release` of the run; nothing else is printed on stdout. A remote script is one
//! `host.script` record (`name`, and the whole `script` with exported values masked), only
//! under `-v` or `--dry-run`: a plain `--json` stream stays as small as before.

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::event::{Event, Reporter};
use crate::release_id::rfc3339_millis;

#[derive(Default)]
pub struct JsonReporter {
    release: Mutex<Option<String>>,
}

impl JsonReporter {
    /// The JSON line for `event` at `now` (unix milliseconds), given the run's release:
    /// `ts`, `event`, `release`, then the event's fields in their order.
    pub fn line(event: &Event, release: Option<&str>, now_millis: u128) -> String {
        if !event.stamped() {
            return serde_json::to_string(event).expect("events serialize");
        }
        let mut value = serde_json::to_value(event).expect("events serialize");
        let obj = value.as_object_mut().expect("events are objects");
        let mut out = serde_json::Map::new();
        out.insert("ts".into(), rfc3339_millis(now_millis).into());
        out.insert(
            "event".into(),
            obj.shift_remove("event").unwrap_or_default(),
        );
        if let Some(r) = obj
            .shift_remove("release")
            .and_then(|r| r.as_str().map(str::to_string))
        {
            out.insert("release".into(), r.into());
        } else if let Some(r) = release {
            out.insert("release".into(), r.into());
        }
        out.extend(std::mem::take(obj));
        serde_json::Value::Object(out).to_string()
    }
}

impl Reporter for JsonReporter {
    fn event(&self, event: &Event) {
        let mut release = self.release.lock().expect("reporter lock");
        if let Event::DeployStart { release: r, .. } = event {
            *release = Some(r.clone());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let line = JsonReporter::line(event, release.as_deref(), now);
        // One write per line, under the lock: lines from host threads never interleave.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::event::SummaryRow;

    #[test]
    fn records_carry_ts_and_event_first() {
        let status = Event::HostStatus {
            host: "h1".into(),
            current: None,
            sha: None,
            cpus: 2,
            lock: None,
            bank: "base",
            processes: vec![],
            cores: crate::ui::record::Cores {
                cpus: 2,
                room: 1,
                instances: 0,
                over: false,
                apps: vec![],
            },
        };
        insta::assert_snapshot!(JsonReporter::line(&status, None, 1_795_423_463_120), @r#"{"ts":"2026-11-23T08:44:23.120Z","event":"host.status","host":"h1","current":null,"sha":null,"cpus":2,"lock":null,"bank":"base","processes":[],"cores":{"cpus":2,"room":1,"instances":0,"over":false,"apps":[]}}"#);
    }

    #[test]
    fn command_records_keep_their_fields_and_order() {
        use crate::ui::record::{Check, HostReadiness, LockHolder};
        let check = Event::HostCheck(HostReadiness {
            host: "h".into(),
            ready: false,
            checks: vec![Check::ok("git", "v"), Check::missing("x", "d", "fix")],
        });
        insta::assert_snapshot!(JsonReporter::line(&check, None, 5), @r#"{"ts":"1970-01-01T00:00:00.005Z","event":"host.check","host":"h","ready":false,"checks":[{"name":"git","state":"ok","detail":"v"},{"name":"x","state":"missing","detail":"d","fix":"fix"}]}"#);
        let unlock = Event::HostUnlock {
            host: "h".into(),
            locked: true,
            holder: Some(LockHolder::Text("junk".into())),
        };
        insta::assert_snapshot!(JsonReporter::line(&unlock, None, 5), @r#"{"ts":"1970-01-01T00:00:00.005Z","event":"host.unlock","host":"h","locked":true,"holder":"junk"}"#);
        // These two never carried `ts`.
        let error = Event::Error {
            message: "m".into(),
            causes: vec!["c1".into()],
        };
        insta::assert_snapshot!(JsonReporter::line(&error, Some("r"), 5), @r#"{"event":"error","message":"m","causes":["c1"]}"#);
    }

    #[test]
    fn lines_carry_ts_event_release_and_host_first() {
        let start = Event::DeployStart {
            release: "20261123084423-abcdef1".into(),
            environment: "production".into(),
            action: "deploy".into(),
            sha: "abcdef1234".into(),
            hosts: vec!["h1".into()],
        };
        insta::assert_snapshot!(JsonReporter::line(&start, None, 1_795_423_463_120), @r#"{"ts":"2026-11-23T08:44:23.120Z","event":"deploy.start","release":"20261123084423-abcdef1","environment":"production","action":"deploy","sha":"abcdef1234","hosts":["h1"]}"#);
        let pushed = Event::HostPushed {
            host: "h1".into(),
            objects: 3,
            bytes: 512,
            ms: 40,
        };
        insta::assert_snapshot!(JsonReporter::line(&pushed, Some("20261123084423-abcdef1"), 0), @r#"{"ts":"1970-01-01T00:00:00.000Z","event":"host.pushed","release":"20261123084423-abcdef1","host":"h1","objects":3,"bytes":512,"ms":40}"#);
        let script = Event::HostScript {
            host: "h1".into(),
            name: "inspect.releases".into(),
            script: "# deliver: inspect.releases\nset -eu\nexport K=[redacted]\n".into(),
        };
        insta::assert_snapshot!(JsonReporter::line(&script, None, 0), @r##"{"ts":"1970-01-01T00:00:00.000Z","event":"host.script","host":"h1","name":"inspect.releases","script":"# deliver: inspect.releases\nset -eu\nexport K=[redacted]\n"}"##);
        let done = Event::DeployDone {
            ms: 900,
            summary: vec![SummaryRow {
                host: "h1".into(),
                release: "r".into(),
                ms: 800,
                result: "deployed".into(),
            }],
        };
        let v: serde_json::Value =
            serde_json::from_str(&JsonReporter::line(&done, Some("r"), 0)).unwrap();
        assert_eq!(v["event"], "deploy.done");
        assert_eq!(v["summary"][0]["result"], "deployed");
    }
}
