//! Formation (which instances of which types run on a host) and port arithmetic:
//! `PORT = port_base + 100*type_index + (instance-1)`, and the [`ReleaseId`] every host
//! names a release by. Pure: the CPU count and the time are passed in, never read here.

use std::fmt;
use std::str::FromStr;

use crate::config::{Instances, Location, ProcessSetting};
use crate::procfile::ProcessType;

/// Ports between two consecutive Procfile types: type `i` starts at `port_base + 100*i`.
pub const PORT_STRIDE: u32 = 100;

/// Highest instance count per type, for a number and for `"auto"`.
pub const MAX_INSTANCES: u32 = 100;

/// The instances of every Procfile type on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formation {
    pub port_base: u16,
    /// Every Procfile type, in Procfile order (types with 0 instances included).
    pub types: Vec<TypeFormation>,
    /// The CPU count `"auto"` was resolved with, if any type used `"auto"`.
    pub auto_cpus: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeFormation {
    pub name: String,
    pub command: String,
    /// Position in the Procfile (0-based): ports start at `port_base + 100*index`.
    pub index: usize,
    /// 0 = off.
    pub instances: u32,
    /// The count came from `"auto"`.
    pub auto: bool,
}

/// One running process: instance `number` (1-based) of type `type_name` on `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub type_name: String,
    pub number: u32,
    pub port: u16,
}

/// A formation that cannot run: a `[processes]` key naming no Procfile type, or ports that
/// do not fit in 1..=65535.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct FormationError {
    pub location: Option<Location>,
    pub message: String,
}

impl Formation {
    /// Applies `[processes]` to the Procfile types: unlisted types get 1 instance, `"auto"`
    /// becomes `cpus - 1` clamped to 1..=100. Fails on a key that names no type (the message
    /// lists the types) and when the highest port exceeds 65535.
    pub fn resolve(
        types: &[ProcessType],
        settings: &[ProcessSetting],
        port_base: u16,
        cpus: u32,
    ) -> Result<Formation, FormationError> {
        let mut formation = Formation {
            port_base,
            types: types
                .iter()
                .map(|t| TypeFormation {
                    name: t.name.clone(),
                    command: t.command.clone(),
                    index: t.index,
                    instances: 1,
                    auto: false,
                })
                .collect(),
            auto_cpus: None,
        };
        for setting in settings {
            let Some(slot) = formation.types.iter_mut().find(|t| t.name == setting.name) else {
                return Err(unknown_type(setting, types));
            };
            match setting.instances {
                Instances::Count(n) if n > MAX_INSTANCES => {
                    return Err(FormationError {
                        location: Some(setting.location.clone()),
                        message: format!(
                            "processes.{} = {n} is more than {MAX_INSTANCES} instances",
                            setting.name
                        ),
                    });
                }
                Instances::Count(n) => {
                    slot.instances = n;
                    slot.auto = false;
                }
                Instances::Auto => {
                    slot.instances = auto_instances(cpus);
                    slot.auto = true;
                    formation.auto_cpus = Some(cpus);
                }
            }
        }
        for t in &formation.types {
            check_ports(port_base, t)?;
        }
        Ok(formation)
    }

    /// Every instance in start order: types in Procfile order, then instance number.
    pub fn instances(&self) -> Vec<Instance> {
        self.types
            .iter()
            .flat_map(|t| self.instances_of_type(t))
            .collect()
    }

    /// The instances of the type named `type_name` (none when it is off or unknown).
    pub fn instances_of(&self, type_name: &str) -> Vec<Instance> {
        self.types
            .iter()
            .filter(|t| t.name == type_name)
            .flat_map(|t| self.instances_of_type(t))
            .collect()
    }

    /// [`Formation::instances`] with those of `process` (the health-checked type) on `bank`'s
    /// port: what runs when that bank serves (`surge` alternates it; other types stay on
    /// their base PORT).
    pub fn instances_on(&self, bank: Bank, process: &str) -> Vec<Instance> {
        self.instances()
            .into_iter()
            .map(|mut i| {
                if i.type_name == process {
                    i.port = bank.port(i.port).expect("surge ports are checked");
                }
                i
            })
            .collect()
    }

    /// Instances of every type together; 0 is a valid formation where nothing runs.
    pub fn total_instances(&self) -> u32 {
        self.types.iter().map(|t| t.instances).sum()
    }

    /// The port of instance `number` (1-based) of `t`.
    ///
    /// # Panics
    /// When it does not fit in a `u16`, which [`Formation::resolve`] rules out.
    pub fn port(&self, t: &TypeFormation, number: u32) -> u16 {
        u16::try_from(port_of(self.port_base, t.index, number))
            .expect("ports are checked by Formation::resolve")
    }

    fn instances_of_type<'a>(
        &'a self,
        t: &'a TypeFormation,
    ) -> impl Iterator<Item = Instance> + 'a {
        (1..=t.instances).map(move |number| Instance {
            type_name: t.name.clone(),
            number,
            port: self.port(t, number),
        })
    }
}

/// How far the surge bank lies above the base ports (SPEC §7): an instance's surge PORT is its
/// base PORT + 50, so at most 50 instances of a type per host in `surge` mode.
pub const SURGE_OFFSET: u16 = 50;

/// Which of an instance's two ports it listens on: its base PORT, or PORT + [`SURGE_OFFSET`]
/// while a `surge` rollout starts the new formation beside the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bank {
    #[default]
    Base,
    Surge,
}

impl Bank {
    /// The port of the instance whose base PORT is `port` on this bank; `None` above 65535.
    pub fn port(self, port: u16) -> Option<u16> {
        match self {
            Bank::Base => Some(port),
            Bank::Surge => port.checked_add(SURGE_OFFSET),
        }
    }

    /// The bank a `surge` rollout starts the new formation on when this one serves.
    #[must_use]
    pub fn other(self) -> Bank {
        match self {
            Bank::Base => Bank::Surge,
            Bank::Surge => Bank::Base,
        }
    }
}

/// `"auto"`: one instance per CPU core minus one, at least 1 and at most [`MAX_INSTANCES`].
pub fn auto_instances(cpus: u32) -> u32 {
    cpus.saturating_sub(1).clamp(1, MAX_INSTANCES)
}

/// The inverse of the port arithmetic: which instance number (1-based) of the type at
/// Procfile `index` listens on `port`, and on which bank; `None` when the port lies outside
/// that type's range.
pub fn instance_number(port_base: u16, index: usize, port: u16) -> Option<(u32, Bank)> {
    let first = port_of(port_base, index, 1);
    let n = u64::from(port).checked_sub(first)?;
    let (n, bank) = if n < u64::from(SURGE_OFFSET) {
        (n, Bank::Base)
    } else {
        (n - u64::from(SURGE_OFFSET), Bank::Surge)
    };
    (n < u64::from(SURGE_OFFSET)).then(|| (u32::try_from(n + 1).expect("below the stride"), bank))
}

fn port_of(port_base: u16, index: usize, number: u32) -> u64 {
    let index = u64::try_from(index).unwrap_or(u64::MAX / 2);
    u64::from(port_base)
        .saturating_add(index.saturating_mul(PORT_STRIDE.into()))
        .saturating_add(u64::from(number).saturating_sub(1))
}

fn check_ports(port_base: u16, t: &TypeFormation) -> Result<(), FormationError> {
    if t.instances == 0 {
        return Ok(());
    }
    let error = |message| FormationError {
        location: None,
        message,
    };
    let lowest = port_of(port_base, t.index, 1);
    if lowest == 0 {
        return Err(error(format!(
            "port_base 0 gives process type `{}` port 0; use a port_base of at least 1",
            t.name
        )));
    }
    let highest = port_of(port_base, t.index, t.instances);
    if highest > u64::from(u16::MAX) {
        return Err(error(format!(
            "process type `{}` would listen on port {highest} (port_base {port_base} + \
             {PORT_STRIDE} x type index {} + {} instances - 1), above 65535; lower port_base \
             or the instance count",
            t.name, t.index, t.instances
        )));
    }
    Ok(())
}

fn unknown_type(setting: &ProcessSetting, types: &[ProcessType]) -> FormationError {
    let names: Vec<String> = types.iter().map(|t| format!("`{}`", t.name)).collect();
    let suggestion = types
        .iter()
        .map(|t| (strsim::levenshtein(&setting.name, &t.name), &t.name))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| format!("; did you mean `{name}`?"))
        .unwrap_or_default();
    FormationError {
        location: Some(setting.location.clone()),
        message: format!(
            "processes.{} names no process type of the Procfile (it has {}){suggestion}",
            setting.name,
            names.join(", ")
        ),
    }
}

/// A release: `YYYYmmddHHMMSS-<sha7>` in UTC (SPEC §5). Chosen once by the client and the
/// same on every host; ids sort in time order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReleaseId(String);

/// A release id or commit that does not have the form of SPEC §5.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReleaseIdError(String);

/// Length of the abbreviated commit in a [`ReleaseId`].
pub const SHORT_SHA_LEN: usize = 7;

/// Seconds in a day, for the civil-date arithmetic.
const DAY: u64 = 86_400;

/// 9999-12-31T23:59:59Z, the last second a 4-digit year can name.
const MAX_UNIX_SECONDS: u64 = 253_402_300_799;

impl ReleaseId {
    /// The id of a release made at `unix_seconds` (UTC) from commit `sha` (full or
    /// abbreviated, at least 7 hex digits; the first 7 are kept, lowercased).
    pub fn new(unix_seconds: u64, sha: &str) -> Result<ReleaseId, ReleaseIdError> {
        if sha.len() < SHORT_SHA_LEN || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReleaseIdError(format!(
                "invalid commit `{sha}`: expected at least {SHORT_SHA_LEN} hex digits"
            )));
        }
        if unix_seconds > MAX_UNIX_SECONDS {
            return Err(ReleaseIdError(format!(
                "time {unix_seconds} is after the year 9999"
            )));
        }
        let days = i64::try_from(unix_seconds / DAY).expect("checked against MAX_UNIX_SECONDS");
        let (year, month, day) = civil_from_days(days);
        let secs = unix_seconds % DAY;
        Ok(ReleaseId(format!(
            "{year:04}{month:02}{day:02}{:02}{:02}{:02}-{}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            sha[..SHORT_SHA_LEN].to_ascii_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The abbreviated commit (7 lowercase hex digits).
    pub fn short_sha(&self) -> &str {
        &self.0[15..]
    }

    /// When the release was made, in seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(&self) -> u64 {
        let t = parse_timestamp(&self.0[..14]).expect("validated on construction");
        let days = u64::try_from(days_from_civil(t.year, t.month, t.day))
            .expect("validated on construction");
        days * DAY + u64::from(t.hour) * 3600 + u64::from(t.minute) * 60 + u64::from(t.second)
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ReleaseId {
    type Err = ReleaseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &str| {
            ReleaseIdError(format!(
                "invalid release id `{s}`: {why} (expected YYYYmmddHHMMSS-<7 hex digits>)"
            ))
        };
        let (stamp, sha) = s.split_once('-').ok_or_else(|| invalid("no `-`"))?;
        if stamp.len() != 14 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the time is not 14 digits"));
        }
        if parse_timestamp(stamp).is_none() {
            return Err(invalid("no such date and time"));
        }
        if sha.len() != SHORT_SHA_LEN
            || !sha
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid("the commit is not 7 lowercase hex digits"));
        }
        Ok(ReleaseId(s.to_owned()))
    }
}

/// A UTC date and time from a release id.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// `YYYYmmddHHMMSS` (14 ASCII digits) when it names a real UTC date and time from 1970 on.
fn parse_timestamp(stamp: &str) -> Option<Civil> {
    let field = |range: std::ops::Range<usize>| stamp.get(range)?.parse::<u32>().ok();
    let t = Civil {
        year: i64::from(field(0..4)?),
        month: field(4..6)?,
        day: field(6..8)?,
        hour: field(8..10)?,
        minute: field(10..12)?,
        second: field(12..14)?,
    };
    let days = days_from_civil(t.year, t.month, t.day);
    let valid = (1..=12).contains(&t.month)
        && t.day >= 1
        && civil_from_days(days) == (t.year, t.month, t.day)
        && days >= 0
        && t.hour < 24
        && t.minute < 60
        && t.second < 60;
    valid.then_some(t)
}

/// `unix_millis` as an RFC 3339 UTC timestamp with milliseconds (`2026-11-23T08:44:23.120Z`),
/// for event and log lines. Pure: the caller reads the clock.
pub fn rfc3339_millis(unix_millis: u128) -> String {
    let secs = u64::try_from(unix_millis / 1000)
        .unwrap_or(MAX_UNIX_SECONDS)
        .min(MAX_UNIX_SECONDS);
    let days = i64::try_from(secs / DAY).expect("checked against MAX_UNIX_SECONDS");
    let (year, month, day) = civil_from_days(days);
    let s = secs % DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        unix_millis % 1000
    )
}

// Proleptic Gregorian calendar <-> days since 1970-01-01, after Howard Hinnant's
// "chrono-Compatible Low-Level Date Algorithms" (days_from_civil / civil_from_days).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * month_from_march + 2) / 5 + 1)
        .expect("1..=31 by construction");
    let month = u32::try_from(if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    })
    .expect("1..=12 by construction");
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::procfile;

    fn types() -> Vec<ProcessType> {
        procfile::parse("web: node server.js\nworker: node worker.js\nclock: bin/clock\n").unwrap()
    }

    #[test]
    fn the_surge_bank_is_fifty_ports_up() {
        assert_eq!(Bank::Base.port(5000), Some(5000));
        assert_eq!(Bank::Surge.port(5000), Some(5050));
        assert_eq!(Bank::Surge.port(65_486), None);
        assert_eq!(Bank::Base.other(), Bank::Surge);
        assert_eq!(Bank::Surge.other(), Bank::Base);
    }

    fn setting(name: &str, instances: Instances, line: usize) -> ProcessSetting {
        ProcessSetting {
            name: name.to_owned(),
            instances,
            location: Location {
                file: PathBuf::from("deliver.toml"),
                line,
                column: 1,
            },
        }
    }

    fn ports(formation: &Formation) -> Vec<(String, u32, u16)> {
        formation
            .instances()
            .into_iter()
            .map(|i| (i.type_name, i.number, i.port))
            .collect()
    }

    #[test]
    fn unlisted_types_get_one_instance_each() {
        let formation = Formation::resolve(&types(), &[], 5000, 4).unwrap();
        assert_eq!(formation.auto_cpus, None);
        assert_eq!(
            ports(&formation),
            vec![
                ("web".into(), 1, 5000),
                ("worker".into(), 1, 5100),
                ("clock".into(), 1, 5200),
            ]
        );
    }

    #[test]
    fn counts_set_instances_and_zero_turns_a_type_off() {
        let settings = [
            setting("web", Instances::Count(3), 10),
            setting("worker", Instances::Count(0), 11),
        ];
        let formation = Formation::resolve(&types(), &settings, 5000, 4).unwrap();
        assert_eq!(
            ports(&formation),
            vec![
                ("web".into(), 1, 5000),
                ("web".into(), 2, 5001),
                ("web".into(), 3, 5002),
                ("clock".into(), 1, 5200),
            ]
        );
        assert_eq!(formation.types[1].instances, 0);
        assert_eq!(formation.total_instances(), 4);
        assert_eq!(formation.instances_of("worker"), vec![]);
        assert_eq!(
            formation
                .instances_of("web")
                .iter()
                .map(|i| i.port)
                .collect::<Vec<_>>(),
            vec![5000, 5001, 5002]
        );
    }

    #[test]
    fn instance_numbers_invert_the_port_arithmetic() {
        assert_eq!(instance_number(5000, 0, 5000), Some((1, Bank::Base)));
        assert_eq!(instance_number(5000, 1, 5101), Some((2, Bank::Base)));
        assert_eq!(instance_number(5000, 1, 5151), Some((2, Bank::Surge)));
        assert_eq!(instance_number(5000, 1, 5099), None);
        assert_eq!(instance_number(5000, 1, 5200), None);
    }

    #[test]
    fn auto_is_cpus_minus_one_clamped_to_1_through_100() {
        assert_eq!(auto_instances(0), 1);
        assert_eq!(auto_instances(1), 1);
        assert_eq!(auto_instances(2), 1);
        assert_eq!(auto_instances(8), 7);
        assert_eq!(auto_instances(101), 100);
        assert_eq!(auto_instances(512), 100);

        let settings = [setting("web", Instances::Auto, 3)];
        let formation = Formation::resolve(&types(), &settings, 5000, 8).unwrap();
        assert_eq!(formation.auto_cpus, Some(8));
        assert_eq!(formation.types[0].instances, 7);
        assert!(formation.types[0].auto);
        assert!(!formation.types[1].auto);
    }

    #[test]
    fn a_formation_with_nothing_running_is_allowed() {
        let settings = [
            setting("web", Instances::Count(0), 1),
            setting("worker", Instances::Count(0), 2),
            setting("clock", Instances::Count(0), 3),
        ];
        let formation = Formation::resolve(&types(), &settings, 5000, 2).unwrap();
        assert_eq!(formation.total_instances(), 0);
        assert_eq!(formation.instances(), vec![]);
        assert_eq!(formation.types.len(), 3);
    }

    #[test]
    fn unknown_setting_names_the_key_suggests_and_lists_the_types() {
        let settings = [setting("wrker", Instances::Count(2), 7)];
        let err = Formation::resolve(&types(), &settings, 5000, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deliver.toml:7:1: processes.wrker names no process type of the Procfile (it has \
             `web`, `worker`, `clock`); did you mean `worker`?"
        );
        let settings = [setting("database", Instances::Auto, 2)];
        let err = Formation::resolve(&types(), &settings, 5000, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deliver.toml:2:1: processes.database names no process type of the Procfile (it \
             has `web`, `worker`, `clock`)"
        );
    }

    #[test]
    fn more_than_100_instances_is_an_error() {
        let settings = [setting("web", Instances::Count(101), 4)];
        let err = Formation::resolve(&types(), &settings, 5000, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "deliver.toml:4:1: processes.web = 101 is more than 100 instances"
        );
    }

    #[test]
    fn highest_port_may_be_65535_but_not_more() {
        // clock (index 2) starts at 65335; 100 instances end exactly at 65434.
        let ok = [setting("clock", Instances::Count(100), 1)];
        let formation = Formation::resolve(&types(), &ok, 65_335 - 200, 2).unwrap();
        assert_eq!(formation.instances().last().unwrap().port, 65_434);

        let edge = [setting("web", Instances::Count(36), 1)];
        let formation = Formation::resolve(&types(), &edge, 65_500, 2);
        assert!(formation.is_err(), "worker would start at 65600");

        let types = procfile::parse("web: a").unwrap();
        let top = [setting("web", Instances::Count(36), 1)];
        let formation = Formation::resolve(&types, &top, 65_500, 2).unwrap();
        assert_eq!(formation.instances().last().unwrap().port, 65_535);

        let over = [setting("web", Instances::Count(37), 1)];
        let err = Formation::resolve(&types, &over, 65_500, 2).unwrap_err();
        assert_eq!(err.location, None);
        assert_eq!(
            err.to_string(),
            "process type `web` would listen on port 65536 (port_base 65500 + 100 x type index \
             0 + 37 instances - 1), above 65535; lower port_base or the instance count"
        );
    }

    #[test]
    fn types_that_are_off_need_no_ports() {
        let settings = [setting("clock", Instances::Count(0), 1)];
        let formation = Formation::resolve(&types(), &settings, 65_400, 2).unwrap();
        assert_eq!(
            ports(&formation),
            vec![("web".into(), 1, 65_400), ("worker".into(), 1, 65_500)]
        );
    }

    #[test]
    fn port_zero_is_an_error() {
        let err = Formation::resolve(&types(), &[], 0, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "port_base 0 gives process type `web` port 0; use a port_base of at least 1"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_795_423_463_120),
            "2026-11-23T08:44:23.120Z"
        );
        assert_eq!(rfc3339_millis(951_782_400_007), "2000-02-29T00:00:00.007Z");
    }

    #[test]
    fn release_id_is_utc_time_and_short_sha() {
        let sha = "0123456789ABCDEF0123456789abcdef01234567";
        let id = ReleaseId::new(0, sha).unwrap();
        assert_eq!(id.as_str(), "19700101000000-0123456");
        // 2024-02-29T13:05:09Z: a leap day.
        let id = ReleaseId::new(1_709_211_909, "abcdef1").unwrap();
        assert_eq!(id.to_string(), "20240229130509-abcdef1");
        assert_eq!(id.short_sha(), "abcdef1");
        assert_eq!(id.unix_seconds(), 1_709_211_909);
        let id = ReleaseId::new(MAX_UNIX_SECONDS, "ABCDEF12").unwrap();
        assert_eq!(id.as_str(), "99991231235959-abcdef1");
    }

    #[test]
    fn release_id_round_trips_through_civil_dates() {
        // Every day boundary from 1970 to 2101 (covers 2000 and 2100 leap rules), plus odd
        // seconds.
        for day in 0..48_000_u64 {
            let secs = day * DAY + (day * 7919) % DAY;
            let id = ReleaseId::new(secs, "abcdef0").unwrap();
            assert_eq!(id.unix_seconds(), secs, "{id}");
            assert_eq!(id.as_str().parse::<ReleaseId>().unwrap(), id);
        }
        assert_eq!(
            ReleaseId::new(951_782_400, "abcdef0").unwrap().as_str(),
            "20000229000000-abcdef0"
        );
        assert_eq!(
            ReleaseId::new(4_107_542_400, "abcdef0").unwrap().as_str(),
            "21000301000000-abcdef0"
        );
    }

    #[test]
    fn release_id_rejects_bad_commits_and_times() {
        assert_eq!(
            ReleaseId::new(0, "abc").unwrap_err().to_string(),
            "invalid commit `abc`: expected at least 7 hex digits"
        );
        assert!(ReleaseId::new(0, "abcdefg").is_err());
        assert!(ReleaseId::new(MAX_UNIX_SECONDS + 1, "abcdef0").is_err());
    }

    #[test]
    fn release_id_parsing_validates_every_field() {
        let id: ReleaseId = "20240131235959-0a1b2c3".parse().unwrap();
        assert_eq!(id.as_str(), "20240131235959-0a1b2c3");
        assert!(id < "20240201000000-0000000".parse().unwrap());
        for bad in [
            "",
            "20240131235959",
            "20240131235959-0a1b2c",
            "20240131235959-0a1b2c3d",
            "20240131235959-0A1B2C3",
            "20240131235959-0a1b2cg",
            "2024013123595-0a1b2c3",
            "2024013123595x-0a1b2c3",
            "20241301000000-0a1b2c3",
            "20240001000000-0a1b2c3",
            "20240100000000-0a1b2c3",
            "20230229000000-0a1b2c3",
            "21000229000000-0a1b2c3",
            "20240230000000-0a1b2c3",
            "20240131240000-0a1b2c3",
            "20240131236000-0a1b2c3",
            "20240131235960-0a1b2c3",
            "19691231235959-0a1b2c3",
            "+2024013123595-0a1b2c3",
        ] {
            assert!(bad.parse::<ReleaseId>().is_err(), "{bad:?} parsed");
        }
        assert!("20000229000000-0a1b2c3".parse::<ReleaseId>().is_ok());
        assert_eq!(
            "2024-01-31".parse::<ReleaseId>().unwrap_err().to_string(),
            "invalid release id `2024-01-31`: the time is not 14 digits (expected \
             YYYYmmddHHMMSS-<7 hex digits>)"
        );
    }
}
