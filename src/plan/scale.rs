//! The counts `deliver scale` set on a host (SPEC §9), kept in `.deliver/scale`: one
//! `TYPE=N` line per scaled Procfile type. They apply over deliver.toml's `[processes]` for
//! as long as the current release runs: `env set`'s restart keeps them, and the next deploy
//! or rollback applies deliver.toml again, says which counts that changes, and removes the
//! file. The facts read it back (`scale=TYPE<TAB>N`); `status` shows it. [`parse_args`]
//! reads the command line's `TYPE=N` words. Pure: builds scripts and reads text; no I/O.

use std::collections::BTreeMap;

use super::layout::Layout;
use super::script::Script;
use crate::release::MAX_INSTANCES;
use crate::shell::quote;

/// Instance counts by Procfile type.
pub type Counts = BTreeMap<String, u32>;

/// Writes `counts` as the host's record (replaced atomically: a temporary file moved over
/// it), or removes the record when `counts` is empty. Type names and numbers go through the
/// shell's `printf` builtin as quoted words.
pub fn record(layout: &Layout, counts: &Counts) -> Script {
    let file = layout.scale();
    if counts.is_empty() {
        return forget(layout);
    }
    let lines: Vec<String> = counts
        .iter()
        .map(|(name, n)| quote(&format!("{name}={n}")))
        .collect();
    Script::new("scale.record").raw(
        "the counts `deliver scale` set; a temporary file moved over the record: never half \
         written",
        format!(
            "printf '%s\\n' {lines} >{tmp}\nmv -f {tmp} {file}",
            lines = lines.join(" "),
            tmp = quote(&format!("{file}.tmp")),
            file = quote(&file),
        ),
    )
}

/// Removes the record: deliver.toml's counts apply again.
pub fn forget(layout: &Layout) -> Script {
    Script::new("scale.forget").cmd("rm", ["-f", &layout.scale()])
}

/// The facts lines of the record: `scale=TYPE<TAB>N` per line (`read` is a builtin; a record
/// removed meanwhile is no error).
pub fn facts_lines(layout: &Layout) -> String {
    format!(
        "if [ -f {file} ]; then\n  \
         {{ while IFS='=' read -r t n || [ -n \"$t\" ]; do printf 'scale=%s\\t%s\\n' \"$t\" \"$n\"; done <{file}; }} 2>/dev/null || true\n\
         fi",
        file = quote(&layout.scale())
    )
}

/// One `scale=` facts value (`TYPE<TAB>N`); `None` for a line that is not one (a hand-edited
/// record), which is ignored.
pub fn parse_fact(value: &str) -> Option<(String, u32)> {
    let (name, n) = value.split_once('\t')?;
    let n = n.trim().parse().ok().filter(|n| *n <= MAX_INSTANCES)?;
    let name = name.trim();
    (!name.is_empty()).then(|| (name.to_owned(), n))
}

/// The command line's `TYPE=N` words: every type once, N from 0 to [`MAX_INSTANCES`]. The
/// error names the word at fault.
pub fn parse_args(words: &[String]) -> Result<Counts, String> {
    let mut counts = Counts::new();
    for word in words {
        let Some((name, n)) = word.split_once('=') else {
            return Err(format!("`{word}`: expected TYPE=N, e.g. web=3"));
        };
        if name.is_empty() {
            return Err(format!("`{word}`: no process type before `=`"));
        }
        let n: u32 = n.parse().map_err(|_| {
            format!("`{word}`: the count must be a whole number from 0 to {MAX_INSTANCES}")
        })?;
        if n > MAX_INSTANCES {
            return Err(format!(
                "`{word}`: at most {MAX_INSTANCES} instances of a type per host"
            ));
        }
        if counts.insert(name.to_owned(), n).is_some() {
            return Err(format!("`{name}` is given twice"));
        }
    }
    if counts.is_empty() {
        return Err("no TYPE=N given, e.g. `deliver scale web=3`".to_owned());
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sandbox::Sandbox;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments_are_type_equals_count_each_type_once() {
        let counts = parse_args(&words(&["web=3", "worker=0"])).unwrap();
        assert_eq!(
            counts,
            Counts::from([("web".into(), 3), ("worker".into(), 0)])
        );
        for (bad, says) in [
            (&["web"][..], "expected TYPE=N"),
            (&["=3"], "no process type"),
            (&["web=-1"], "whole number"),
            (&["web=three"], "whole number"),
            (&["web=101"], "at most 100"),
            (&["web=1", "web=2"], "`web` is given twice"),
            (&[], "no TYPE=N given"),
        ] {
            let e = parse_args(&words(bad)).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_record_round_trips_through_the_facts_lines() {
        let sandbox = Sandbox::new();
        let layout = Layout::new("~/shop");
        let read = || -> Counts {
            let lines = Script::new("t").raw("the facts' lines", facts_lines(&layout));
            sandbox
                .run(&lines)
                .ok()
                .stdout
                .lines()
                .filter_map(|l| parse_fact(l.strip_prefix("scale=")?))
                .collect()
        };
        sandbox.sh("mkdir -p shop/.deliver");
        assert_eq!(read(), Counts::new(), "no record");
        let counts = Counts::from([("web".into(), 3), ("worker-2".into(), 0)]);
        sandbox.run(&record(&layout, &counts)).ok();
        assert_eq!(read(), counts);
        sandbox.run(&record(&layout, &Counts::new())).ok();
        assert_eq!(read(), Counts::new(), "an empty record is removed");
        sandbox.run(&forget(&layout)).ok();
    }

    #[test]
    fn a_hand_edited_line_is_ignored() {
        assert_eq!(parse_fact("web\t3"), Some(("web".into(), 3)));
        assert_eq!(parse_fact("web\tlots"), None);
        assert_eq!(parse_fact("web\t1000"), None);
        assert_eq!(parse_fact("\t3"), None);
        assert_eq!(parse_fact("web"), None);
    }
}
