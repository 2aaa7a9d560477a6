//! The arguments of `env set`/`unset` checked before any host is contacted: keys are
//! variable names, values can live in `shared/.env` (`plan::env_file::line`), `KEY=-`
//! reads stdin. Every refusal is a usage error (exit 2) that names the key, never the value.

use std::io::Read;

use anyhow::{anyhow, Result};

use super::UsageError;
use crate::config::EnvVarName;
use crate::plan::env_file::{self, Edit};

pub fn key(text: &str) -> Result<EnvVarName> {
    EnvVarName::new(text).ok_or_else(|| {
        anyhow!(UsageError(format!(
            "`{text}` is not a variable name (letters, digits and `_`, not starting with a digit)"
        )))
    })
}

/// The edits of `set KEY=VALUE...`, each value checked (exit 2 naming the key). `KEY=-`
/// takes the value from `stdin` (once), without one trailing newline.
pub fn set_edits(pairs: &[String], stdin: &mut dyn Read) -> Result<Vec<Edit>> {
    let mut read_stdin = false;
    let mut edits = Vec::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            let shown = key(pair).map_or_else(|_| "KEY".to_owned(), |k| k.to_string());
            return Err(anyhow!(UsageError(format!(
                "`env set` takes KEY=VALUE (or {shown}=- to read the value from stdin)"
            ))));
        };
        let name = key(name)?;
        let value = if value == "-" {
            if read_stdin {
                return Err(anyhow!(UsageError(
                    "only one KEY=- can read its value from stdin".to_owned()
                )));
            }
            read_stdin = true;
            let mut text = String::new();
            stdin.read_to_string(&mut text).map_err(|e| {
                anyhow!(UsageError(format!("cannot read `{name}` from stdin: {e}")))
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            text.strip_suffix('\r').unwrap_or(text).to_owned()
        } else {
            value.to_owned()
        };
        env_file::line(&name, &value).map_err(|e| anyhow!(UsageError(e.to_string())))?;
        edits.push(Edit::Set(name, value));
    }
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

    fn edits(pairs: &[&str], stdin: &str) -> Result<Vec<Edit>> {
        let pairs: Vec<String> = pairs.iter().map(|p| (*p).to_owned()).collect();
        set_edits(&pairs, &mut stdin.as_bytes())
    }

    fn set(k: &str, v: &str) -> Edit {
        Edit::Set(EnvVarName::new(k).unwrap(), v.to_owned())
    }

    #[test]
    fn pairs_split_at_the_first_equals_and_dash_reads_stdin() {
        assert_eq!(
            edits(&["A=1=2", "B=", "C=-"], "from stdin\n").unwrap(),
            [set("A", "1=2"), set("B", ""), set("C", "from stdin")]
        );
        assert_eq!(edits(&["C=-"], "x\r\n").unwrap(), [set("C", "x")]);
        let e = edits(&["C=-"], "two\n\n").unwrap_err();
        assert!(e.to_string().contains("`C`"), "{e}");
        assert!(matches!(super::super::outcome_of(&e), Outcome::Usage));
    }

    #[test]
    fn bad_keys_and_values_are_usage_errors_that_show_no_value() {
        for (pairs, says) in [
            (&["1X=v"][..], "`1X` is not a variable name"),
            (&["NOEQUALS"], "NOEQUALS=-"),
            (&["A=-", "B=-"], "only one KEY=-"),
            (&["TOKEN=s3cret\nline"], "`TOKEN` cannot contain a newline"),
        ] {
            let e = edits(pairs, "v").unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
            assert!(matches!(super::super::outcome_of(&e), Outcome::Usage));
        }
    }
}
