//! The [`ReleaseId`] every host names a release by (`YYYYmmddHHMMSS-<sha7>`, UTC, SPEC §5)
//! and the civil-date arithmetic behind it, which also stamps event and log lines
//! ([`rfc3339_millis`]). Pure: the time is passed in, never read here.

use std::fmt;
use std::str::FromStr;

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
    use super::*;

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
