//! Durations as written in deliver.toml (`"500ms"`, `"5s"`, `"2m"`, `"1h"`) and as written
//! into systemd units (`to_systemd`). Pure text conversion: whether a duration may be zero or
//! must stay below another one is for the validators in `resolve.rs` to decide.

use std::fmt::Write as _;
use std::time::Duration;

/// What every parse error ends with, so a user sees the accepted forms at once.
const EXPECTED: &str =
    "expected a whole number followed by ms, s, m or h, like \"500ms\", \"5s\", \"2m\" or \"1h\"";

/// Parses `"<number><unit>"` with unit `ms`, `s`, `m` or `h`. The error says what is wrong.
///
/// The number is a non-negative integer (`"1.5s"` is rejected; write `"1500ms"`). `"0s"` is
/// accepted here; callers that need a positive duration check it themselves.
pub fn parse(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err(format!("empty duration; {EXPECTED}"));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid duration `{text}`: no spaces allowed; {EXPECTED}"
        ));
    }
    if text.starts_with('-') {
        return Err(format!(
            "invalid duration `{text}`: it is negative; {EXPECTED}"
        ));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(format!("invalid duration `{text}`: no number; {EXPECTED}"));
    }
    if unit.starts_with(['.', ',']) {
        return Err(format!(
            "invalid duration `{text}`: only whole numbers are supported (use a smaller unit, \
             like \"1500ms\" for 1.5s); {EXPECTED}"
        ));
    }
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err(format!("invalid duration `{text}`: no unit; {EXPECTED}")),
        other => {
            return Err(format!(
                "invalid duration `{text}`: unknown unit `{other}`; {EXPECTED}"
            ))
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per_unit))
        .map(Duration::from_millis)
        .ok_or_else(|| format!("invalid duration `{text}`: too large"))
}

/// The deliver.toml form of `d`, for messages and generated files (`"500ms"`, `"5s"`,
/// `"2m"`, `"1h"`): the largest unit that divides it exactly. A part below a millisecond
/// is rounded up, so `parse(&format(d)) >= d`.
pub fn format(d: Duration) -> String {
    let millis = d.as_nanos().div_ceil(1_000_000);
    let unit = [("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        .into_iter()
        .find(|&(_, size)| millis != 0 && millis.is_multiple_of(size));
    match unit {
        Some((name, size)) => format!("{}{name}", millis / size),
        None if millis == 0 => "0s".to_owned(),
        None => format!("{millis}ms"),
    }
}

/// Units systemd understands (systemd.time(7)), largest first, in microseconds. Days, weeks,
/// months and years are left out on purpose: `48h` reads better in a unit than `2d`, and
/// systemd's months and years are not whole days.
const SYSTEMD_UNITS: [(&str, u128); 5] = [
    ("h", 3_600_000_000),
    ("min", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
];

/// The shortest exact form systemd also accepts (`30s`, `1500ms`, `2min`, `1h`, `1h1s`).
///
/// Candidates are every single unit that divides `d` exactly and the compound form
/// (`1h1s`, which systemd accepts too); on a tie the larger unit wins (`2min`, not `120s`).
/// systemd counts in microseconds, so a remainder below 1µs is rounded up: a timeout never
/// shrinks to zero. `Duration::ZERO` gives `0`.
pub fn to_systemd(d: Duration) -> String {
    let micros = d.as_nanos().div_ceil(1_000);
    if micros == 0 {
        return "0".to_owned();
    }
    let mut best: Option<String> = None;
    let mut consider = |candidate: String| {
        if best.as_ref().is_none_or(|b| candidate.len() < b.len()) {
            best = Some(candidate);
        }
    };
    for (name, size) in SYSTEMD_UNITS {
        if micros.is_multiple_of(size) {
            consider(format!("{}{name}", micros / size));
        }
    }
    let mut rest = micros;
    let mut compound = String::new();
    for (name, size) in SYSTEMD_UNITS {
        if rest >= size {
            let _ = write!(compound, "{}{name}", rest / size);
            rest %= size;
        }
    }
    consider(compound);
    best.expect("the `us` unit divides every whole number of microseconds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn zero_is_left_to_the_validators() {
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("0ms"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_empty_text() {
        assert_eq!(
            parse(""),
            Err(
                "empty duration; expected a whole number followed by ms, s, m or h, like \
                 \"500ms\", \"5s\", \"2m\" or \"1h\""
                    .to_owned()
            )
        );
    }

    #[test]
    fn rejects_a_number_without_unit() {
        assert_eq!(
            parse("30"),
            Err(
                "invalid duration `30`: no unit; expected a whole number followed by ms, s, m \
                 or h, like \"500ms\", \"5s\", \"2m\" or \"1h\""
                    .to_owned()
            )
        );
    }

    #[test]
    fn rejects_an_unknown_unit() {
        let err = parse("2d").unwrap_err();
        assert!(
            err.starts_with("invalid duration `2d`: unknown unit `d`; expected"),
            "{err}"
        );
        assert!(parse("2min").unwrap_err().contains("unknown unit `min`"));
        assert!(parse("2S").unwrap_err().contains("unknown unit `S`"));
    }

    #[test]
    fn rejects_negative_durations() {
        assert!(parse("-5s").unwrap_err().contains("it is negative"));
    }

    #[test]
    fn rejects_fractions_and_says_integers_only() {
        let err = parse("1.5s").unwrap_err();
        assert!(err.contains("only whole numbers are supported"), "{err}");
    }

    #[test]
    fn rejects_missing_number_and_spaces() {
        assert!(parse("ms").unwrap_err().contains("no number"));
        assert!(parse("5 s").unwrap_err().contains("no spaces allowed"));
        assert!(parse(" 5s").unwrap_err().contains("no spaces allowed"));
        assert!(parse("+5s").unwrap_err().contains("no number"));
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(
            parse("99999999999999999999s"),
            Err("invalid duration `99999999999999999999s`: too large".to_owned())
        );
        assert_eq!(
            parse("18446744073709551615h"),
            Err("invalid duration `18446744073709551615h`: too large".to_owned())
        );
    }

    #[test]
    fn format_uses_the_largest_exact_unit_and_parses_back() {
        let cases = [
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(7200), "2h"),
            (Duration::ZERO, "0s"),
            (Duration::from_micros(1), "1ms"),
        ];
        for (d, want) in cases {
            assert_eq!(format(d), want, "{d:?}");
            assert!(parse(want).unwrap() >= d);
        }
    }

    #[test]
    fn systemd_form_is_the_shortest_exact_one() {
        let cases = [
            (Duration::from_secs(30), "30s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(120), "2min"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(600), "600s"),
            (Duration::from_secs(3601), "1h1s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(48 * 3600), "48h"),
            (Duration::from_micros(1500), "1500us"),
            (Duration::from_nanos(1), "1us"),
            (Duration::ZERO, "0"),
        ];
        for (d, want) in cases {
            assert_eq!(to_systemd(d), want, "{d:?}");
        }
    }
}
