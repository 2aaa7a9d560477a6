//! Reading the facts script's output ([`parse`]): one `key=value` line per fact, as the
//! format in [`super`] says. Pure text work.

use super::{neighbours, Facts, LockFact, ReleaseFact, Tip, END, HEADER};

/// Reads the output of [`super::gather`].
pub fn parse(stdout: &str) -> Result<Facts, String> {
    let mut lines = stdout.lines();
    match lines.next() {
        Some(HEADER) => {}
        Some(other) => return Err(format!("facts: expected `{HEADER}` first, got `{other}`")),
        None => return Err("facts: no output".to_owned()),
    }
    let mut facts = Facts::default();
    let mut ended = false;
    for line in lines {
        if ended {
            return Err(format!("facts: output after `{END}`: `{line}`"));
        }
        if line == END {
            ended = true;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("facts: not a `key=value` line: `{line}`"));
        };
        let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        match key {
            "home" => value.clone_into(&mut facts.home),
            "user" => value.clone_into(&mut facts.user),
            "uid" => facts.uid = value.parse().ok(),
            "nproc" => facts.cpus = value.parse().ok().filter(|&n| n > 0),
            "git" => facts.git = some(value),
            "systemd" => facts.systemd = some(value),
            "xdg_runtime_dir" => facts.xdg_runtime_dir = some(value),
            "user_manager" => facts.user_manager = some(value),
            "linger" => facts.linger = yes_no(key, value)?,
            "sudo" => facts.sudo = Some(yes_no(key, value)?),
            "repo" => facts.repo = yes_no(key, value)?,
            "current" => {
                facts.current = value
                    .strip_prefix("releases/")
                    .and_then(|id| id.trim_end_matches('/').parse().ok());
                facts.current_link = Some(value.to_owned());
            }
            "release" => {
                let (name, revision) = fields(line, value)?;
                match name.parse() {
                    Ok(id) => facts.releases.push(ReleaseFact {
                        id,
                        revision: some(revision),
                        failed: false,
                    }),
                    Err(_) => facts.strays.push(name.to_owned()),
                }
            }
            // Follows its `release=` line; a name that is no release id was a stray.
            "failed" => {
                if let Some(r) = facts.releases.iter_mut().find(|r| r.id.as_str() == value) {
                    r.failed = true;
                }
            }
            "tip" => {
                let (sha, refname) = fields(line, value)?;
                facts.tips.push(Tip {
                    sha: sha.to_owned(),
                    refname: refname.to_owned(),
                });
            }
            "set_aside" => facts.set_aside = yes_no(key, value)?,
            "tips_error" => facts.tips_error = Some(value.parse().unwrap_or(-1)),
            "unit" => {
                let (sha, name) = fields(line, value)?;
                facts.units.insert(name.to_owned(), sha.to_owned());
            }
            "wants" => facts.wants.push(value.to_owned()),
            "scale" => {
                if let Some((name, n)) = crate::plan::scale::parse_fact(value) {
                    facts.scale.insert(name, n);
                }
            }
            "app" => facts.neighbours.push(neighbours::parse(value)?),
            "lock" if yes_no(key, value)? => {
                facts.lock.get_or_insert(LockFact { holder: None });
            }
            "holder" => {
                facts.lock = Some(LockFact {
                    holder: some(value),
                });
            }
            // A newer script may report more; this client ignores what it does not know.
            _ => {}
        }
    }
    if !ended {
        return Err(format!("facts: the output stops before `{END}`"));
    }
    facts.releases.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(facts)
}

fn yes_no(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("facts: `{key}` must be yes or no, got `{value}`")),
    }
}

/// `a<TAB>b`.
fn fields<'a>(line: &str, value: &'a str) -> Result<(&'a str, &'a str), String> {
    value
        .split_once('\t')
        .ok_or_else(|| format!("facts: expected two tab-separated fields: `{line}`"))
}
