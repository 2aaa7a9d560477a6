//! `[limits.TYPE]`: what keeps the instances of one Procfile type from leaking for ever
//! (SPEC §10): `max_lifetime` (each instance is recycled after that long, plus a random
//! spread) and `memory_max` (an instance that outgrows it is killed and restarted). An
//! environment's `[environments.NAME.limits.TYPE]` merges key by key over the top level's.
//! Whether TYPE is a Procfile type is checked against the Procfile later
//! (`release::Formation::for_environment`); that upstart has no equivalent is checked here.
//! No I/O.

use std::time::Duration;

use crate::config::raw::{known_entries, string, table, Entry, Field, Problem};
use crate::config::resolve::Locator;
use crate::config::value::{positive_set, Set};
use crate::config::{Location, Supervisor};

const KEYS: [&str; 2] = ["max_lifetime", "memory_max"];

/// Highest `memory_max`: what systemd's `MemoryMax=` takes (`infinity` aside) stays far
/// below; this only keeps the arithmetic in `u64`.
const MAX_BYTES: u64 = 1 << 60;

/// One `[limits.TYPE]` table as written.
#[derive(Debug)]
pub(in crate::config) struct RawLimit {
    pub process: String,
    pub key_at: usize,
    pub max_lifetime: Option<Field<String>>,
    pub memory_max: Option<Field<String>>,
}

/// `[limits]` as written, in file order.
pub(in crate::config) type RawLimits = Vec<RawLimit>;

/// One level's limits of one type, checked.
#[derive(Debug, Clone)]
pub(super) struct LimitSettings {
    process: String,
    location: Location,
    max_lifetime: Option<Set<Duration>>,
    memory_max: Option<Set<u64>>,
}

/// The limits of one Procfile type, merged and resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The Procfile type (`[limits.web]`).
    pub process: String,
    /// Where `[limits.TYPE]` was written: errors about the type point there.
    pub location: Location,
    /// `RuntimeMaxSec=`: recycled after this long (plus a random spread of up to as long).
    pub max_lifetime: Option<Duration>,
    /// `MemoryMax=`, in bytes.
    pub memory_max: Option<u64>,
}

impl Limits {
    /// The random extra lifetime each start draws (`RuntimeRandomizedExtraSec=`): up to the
    /// lifetime itself, so that instances started together (a first deploy) recycle at moments
    /// spread over a whole lifetime, and drift further apart with every recycle. A narrower
    /// spread lets instances that started together be down together on their first recycle.
    pub fn lifetime_spread(&self) -> Option<Duration> {
        self.max_lifetime
    }
}

pub(super) fn read(entry: &Entry) -> Result<RawLimits, Problem> {
    let mut limits = Vec::new();
    for t in table(entry)? {
        let mut raw = RawLimit {
            process: t.key.clone(),
            key_at: t.key_at,
            max_lifetime: None,
            memory_max: None,
        };
        for e in known_entries(t, &KEYS)? {
            match e.key.as_str() {
                "max_lifetime" => raw.max_lifetime = Some(string(e)?),
                _ => raw.memory_max = Some(string(e)?),
            }
        }
        limits.push(raw);
    }
    Ok(limits)
}

pub(super) fn check(raw: &RawLimits, locator: &Locator<'_>) -> Result<Vec<LimitSettings>, Problem> {
    raw.iter()
        .map(|r| {
            Ok(LimitSettings {
                process: r.process.clone(),
                location: locator.location(r.key_at),
                max_lifetime: r.max_lifetime.as_ref().map(positive_set).transpose()?,
                memory_max: r.memory_max.as_ref().map(memory).transpose()?,
            })
        })
        .collect()
}

/// `over`'s tables merge key by key into `base`'s of the same type; new ones go last.
pub(super) fn overlay(
    mut base: Vec<LimitSettings>,
    over: Vec<LimitSettings>,
) -> Vec<LimitSettings> {
    for l in over {
        match base.iter_mut().find(|b| b.process == l.process) {
            Some(slot) => {
                slot.location = l.location;
                slot.max_lifetime = l.max_lifetime.or(slot.max_lifetime.take());
                slot.memory_max = l.memory_max.or(slot.memory_max.take());
            }
            None => base.push(l),
        }
    }
    base
}

/// Resolved limits; upstart has neither a runtime limit nor a memory cgroup, so a limit
/// there is an error naming the key rather than a promise deliver cannot keep.
pub(super) fn finish(limits: Vec<LimitSettings>, sup: Supervisor) -> Result<Vec<Limits>, Problem> {
    limits
        .into_iter()
        .map(|l| {
            if sup == Supervisor::Upstart {
                let set = l
                    .max_lifetime
                    .as_ref()
                    .map(|s| (&s.path, s.at))
                    .or(l.memory_max.as_ref().map(|s| (&s.path, s.at)));
                if let Some((path, at)) = set {
                    return Err(Problem::new(
                        at,
                        format!(
                            "{path} needs systemd (RuntimeMaxSec=, MemoryMax=): upstart has \
                             no equivalent; use supervisor = \"systemd-user\" or \"systemd\", \
                             or remove it"
                        ),
                    ));
                }
            }
            Ok(Limits {
                process: l.process,
                location: l.location,
                max_lifetime: l.max_lifetime.map(|s| s.value),
                memory_max: l.memory_max.map(|s| s.value),
            })
        })
        .collect()
}

/// `"512M"`: a whole number of bytes with `K`, `M`, `G` or `T` (powers of 1024, as systemd
/// reads them), more than 0.
fn memory(field: &Field<String>) -> Result<Set<u64>, Problem> {
    let text = &field.value;
    let fail = |why: &str| {
        Problem::new(
            field.at,
            format!(
                "{}: invalid size `{text}`: {why}; expected a whole number followed by K, M, \
                 G or T, like \"512M\" or \"2G\"",
                field.path
            ),
        )
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(fail("no number"));
    }
    let shift = match unit {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "" => return Err(fail("no unit")),
        _ => return Err(fail(&format!("unknown unit `{unit}`"))),
    };
    let bytes = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&b| b <= MAX_BYTES)
        .ok_or_else(|| fail("too large"))?;
    if bytes == 0 {
        return Err(Problem::new(
            field.at,
            format!("{} must be more than 0", field.path),
        ));
    }
    Ok(Set::at(field, bytes))
}

/// `bytes` in the largest unit of `K`, `M`, `G`, `T` that divides it (`512M`), as systemd
/// reads it; plain bytes otherwise.
pub fn format_size(bytes: u64) -> String {
    [("T", 40), ("G", 30), ("M", 20), ("K", 10)]
        .into_iter()
        .find(|&(_, shift)| bytes != 0 && bytes.trailing_zeros() >= shift)
        .map_or_else(
            || bytes.to_string(),
            |(unit, shift)| format!("{}{unit}", bytes >> shift),
        )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::format_size;
    use crate::config::test_support::*;

    #[test]
    fn limits_merge_key_by_key_per_type() {
        let text = "app = \"shop\"\nhosts = [\"h\"]\n\
                    [limits.web]\nmax_lifetime = \"30m\"\nmemory_max = \"512M\"\n\
                    [environments.small.limits.web]\nmemory_max = \"1G\"\n\
                    [environments.small.limits.worker]\nmax_lifetime = \"1h\"\n";
        let env = env_named(text, "small");
        assert_eq!(env.limits.len(), 2);
        assert_eq!(env.limits[0].process, "web");
        assert_eq!(
            env.limits[0].max_lifetime,
            Some(Duration::from_secs(30 * 60))
        );
        assert_eq!(env.limits[0].memory_max, Some(1 << 30));
        assert_eq!(env.limits[0].location, at(6, 28));
        assert_eq!(
            env.limits[0].lifetime_spread(),
            Some(Duration::from_secs(30 * 60))
        );
        assert_eq!(env.limits[1].process, "worker");
        assert_eq!(env.limits[1].memory_max, None);
        assert!(only_env(BASE).limits.is_empty());
    }

    #[test]
    fn durations_and_sizes_are_parsed_strictly() {
        assert_errors(&[
            (
                "[limits.web]\nmax_lifetime = \"30\"\n",
                "4:16: limits.web.max_lifetime: invalid duration `30`: no unit; expected a \
                     whole number followed by ms, s, m or h, like \"500ms\", \"5s\", \"2m\" or \"1h\"",
            ),
            (
                "[limits.web]\nmax_lifetime = \"0s\"\n",
                "4:16: limits.web.max_lifetime must be longer than 0",
            ),
            (
                "[limits.web]\nmemory_max = \"512MB\"\n",
                "4:14: limits.web.memory_max: invalid size `512MB`: unknown unit `MB`; expected \
                     a whole number followed by K, M, G or T, like \"512M\" or \"2G\"",
            ),
            (
                "[limits.web]\nmemory_max = \"1.5G\"\n",
                "4:14: limits.web.memory_max: invalid size `1.5G`: unknown unit `.5G`; expected \
                     a whole number followed by K, M, G or T, like \"512M\" or \"2G\"",
            ),
            (
                "[limits.web]\nmemory_max = \"512\"\n",
                "4:14: limits.web.memory_max: invalid size `512`: no unit; expected a whole \
                     number followed by K, M, G or T, like \"512M\" or \"2G\"",
            ),
            (
                "[limits.web]\nmemory_max = \"0M\"\n",
                "4:14: limits.web.memory_max must be more than 0",
            ),
            (
                "[limits.web]\nmemory_max = \"99999999999T\"\n",
                "4:14: limits.web.memory_max: invalid size `99999999999T`: too large; expected \
                     a whole number followed by K, M, G or T, like \"512M\" or \"2G\"",
            ),
            (
                "[limits.web]\nmax_lifetim = \"1h\"\n",
                "4:1: unknown key `limits.web.max_lifetim`; did you mean `max_lifetime`?",
            ),
            (
                "[limits]\nweb = 1\n",
                "4:7: limits.web must be a table, found an integer",
            ),
        ]);
    }

    #[test]
    fn upstart_refuses_a_limit_naming_the_key() {
        assert_errors(&[(
            "supervisor = \"upstart\"\n[limits.web]\nmemory_max = \"512M\"\n",
            "5:14: limits.web.memory_max needs systemd (RuntimeMaxSec=, MemoryMax=): upstart \
                 has no equivalent; use supervisor = \"systemd-user\" or \"systemd\", or remove it",
        )]);
    }

    #[test]
    fn sizes_are_written_in_the_largest_exact_unit() {
        assert_eq!(format_size(512 << 20), "512M");
        assert_eq!(format_size(1 << 30), "1G");
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(3 << 10), "3K");
        assert_eq!(format_size(1000), "1000");
    }
}
