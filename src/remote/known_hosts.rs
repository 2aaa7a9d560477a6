//! `known_hosts` as OpenSSH reads it, for a strict check of a server's key before anything is
//! sent to it. Plain entries (comma lists with `*`, `?` and `!` patterns, `[host]:port` for
//! ports other than 22) are matched here; hashed `|1|salt|hash` entries through libssh2's
//! HMAC-SHA1 matcher. Only entries of the offered key's type decide, as in OpenSSH: a host
//! known only by an RSA key that now offers ed25519 is unknown, not changed. `@revoked` keys
//! are refused for every host; `@cert-authority` lines are skipped (libssh2 has no host
//! certificates). No file access: the caller passes the texts.

use ssh2::{CheckResult, KnownHostFileKind, Session};

use super::host_key::HostKey;
use super::HostKeyProblem;

/// Entries from any number of `known_hosts` texts, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct KnownHosts {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone)]
struct Entry {
    marker: Option<Marker>,
    /// The host field as written: patterns, or `|1|salt|hash`.
    hosts: String,
    key_type: String,
    /// base64, as written.
    key: String,
}

impl Entry {
    fn hashed(&self) -> bool {
        self.hosts.starts_with("|1|")
    }
}

/// How `known_hosts` names a host reached on `port` (`[host]:port` unless it is 22).
pub(crate) fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

impl KnownHosts {
    /// Adds the entries of one `known_hosts` text; lines it cannot read are skipped, as
    /// OpenSSH skips them.
    pub(crate) fn add_text(&mut self, text: &str) {
        self.entries.extend(text.lines().filter_map(parse_line));
    }

    /// Whether `key` is the key known for the host, which goes by each of `names` (lookup
    /// names: see [`lookup_name`]). Any name with another key of the same type makes it
    /// `Changed`, even when another name matches (OpenSSH's `CheckHostIP`); no entry of that
    /// type for any name makes it `Unknown`.
    pub(crate) fn check(&self, names: &[String], key: &HostKey) -> Result<(), HostKeyProblem> {
        let revoked = self
            .entries
            .iter()
            .any(|e| e.marker == Some(Marker::Revoked) && e.key == key.base64);
        if revoked {
            return Err(HostKeyProblem::Revoked);
        }
        let hashed = self.hashed_results(names, &key.key_type, &key.blob);
        let mut any_match = false;
        for (i, name) in names.iter().enumerate() {
            let mut matched = matches!(hashed.get(i), Some(CheckResult::Match));
            let mut other_key = matches!(hashed.get(i), Some(CheckResult::Mismatch));
            for e in self.plain_entries(&key.key_type, name) {
                if e.key == key.base64 {
                    matched = true;
                } else {
                    other_key = true;
                }
            }
            if other_key && !matched {
                return Err(HostKeyProblem::Changed);
            }
            any_match |= matched;
        }
        if any_match {
            Ok(())
        } else {
            Err(HostKeyProblem::Unknown)
        }
    }

    /// The key types known for any of `names`, in the order of `preferred` (host key
    /// algorithms to ask the server for first, as OpenSSH orders them).
    pub(crate) fn known_types<'a>(&self, names: &[String], preferred: &[&'a str]) -> Vec<&'a str> {
        preferred
            .iter()
            .copied()
            .filter(|&key_type| {
                names
                    .iter()
                    .any(|n| self.plain_entries(key_type, n).next().is_some())
                    // A key that cannot match: any hashed entry for the name answers Mismatch.
                    || self
                        .hashed_results(names, key_type, b"\0")
                        .iter()
                        .any(|r| !matches!(r, CheckResult::NotFound | CheckResult::Failure))
            })
            .collect()
    }

    fn plain_entries<'s>(
        &'s self,
        key_type: &'s str,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Entry> {
        self.entries.iter().filter(move |e| {
            e.marker.is_none()
                && !e.hashed()
                && e.key_type == key_type
                && host_matches(&e.hosts, name)
        })
    }

    /// libssh2's answer for each name against the hashed entries of `key_type`.
    fn hashed_results(&self, names: &[String], key_type: &str, blob: &[u8]) -> Vec<CheckResult> {
        let lines: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.marker.is_none() && e.hashed() && e.key_type == key_type)
            .map(|e| format!("{} {} {}", e.hosts, e.key_type, e.key))
            .collect();
        if lines.is_empty() {
            return vec![CheckResult::NotFound; names.len()];
        }
        // A session object that never connects: libssh2 ties its known-hosts store to one.
        let Ok(session) = Session::new() else {
            return vec![CheckResult::Failure; names.len()];
        };
        let Ok(mut store) = session.known_hosts() else {
            return vec![CheckResult::Failure; names.len()];
        };
        for line in &lines {
            // An unreadable line is skipped, like any other.
            let _ = store.read_str(line, KnownHostFileKind::OpenSSH);
        }
        names.iter().map(|n| store.check(n, blob)).collect()
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut words = line.split_whitespace();
    let mut first = words.next()?;
    let marker = match first {
        "@revoked" => Some(Marker::Revoked),
        "@cert-authority" => Some(Marker::CertAuthority),
        m if m.starts_with('@') => return None,
        _ => None,
    };
    if marker.is_some() {
        first = words.next()?;
    }
    Some(Entry {
        marker,
        hosts: first.to_owned(),
        key_type: words.next()?.to_owned(),
        key: words.next()?.to_owned(),
    })
}

/// A comma list of patterns matches `name` when one pattern does and no negated one does
/// (OpenSSH `match_hostname`); case-insensitive.
fn host_matches(patterns: &str, name: &str) -> bool {
    crate::config::ssh_config::patterns_match(patterns.split(','), name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::host_key::base64;

    /// An ed25519 blob whose key bytes are all `fill`.
    fn key(fill: u8) -> HostKey {
        let mut blob = vec![0, 0, 0, 11];
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        blob.extend_from_slice(&[fill; 32]);
        HostKey::new(&blob, &[fill; 32])
    }

    fn rsa_line(hosts: &str) -> String {
        let mut blob = vec![0, 0, 0, 7];
        blob.extend_from_slice(b"ssh-rsa");
        blob.extend_from_slice(&[1; 40]);
        format!("{hosts} ssh-rsa {}", base64(&blob, true))
    }

    fn line(hosts: &str, fill: u8) -> String {
        format!("{hosts} ssh-ed25519 {} comment", key(fill).base64)
    }

    fn db(lines: &[String]) -> KnownHosts {
        let mut db = KnownHosts::default();
        db.add_text(&lines.join("\n"));
        db
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    /// The start of a hashed entry (`|1|salt|`, as `ssh-keygen -H` writes it), salt 00..13.
    const HASHED_H1: &str = "|1|AAECAwQFBgcICQoLDA0ODxAREhM=|";

    #[test]
    fn plain_entries_match_by_any_name_in_the_list() {
        let db = db(&[line("h1,10.79.0.2", 1)]);
        assert_eq!(db.check(&names(&["10.79.0.2", "h1"]), &key(1)), Ok(()));
        assert_eq!(db.check(&names(&["h1"]), &key(1)), Ok(()));
        assert_eq!(
            db.check(&names(&["h2"]), &key(1)),
            Err(HostKeyProblem::Unknown)
        );
        assert_eq!(db.check(&names(&["H1"]), &key(1)), Ok(()));
    }

    #[test]
    fn another_key_of_the_same_type_is_a_change() {
        let one = db(&[line("h1,10.79.0.2", 2)]);
        assert_eq!(
            one.check(&names(&["h1"]), &key(1)),
            Err(HostKeyProblem::Changed)
        );
        // Any name with another key refuses, even if the other name matches (CheckHostIP).
        let two = db(&[line("h1", 1), line("10.79.0.2", 2)]);
        assert_eq!(
            two.check(&names(&["10.79.0.2", "h1"]), &key(1)),
            Err(HostKeyProblem::Changed)
        );
    }

    #[test]
    fn several_keys_for_a_host_accept_any_of_them() {
        let db = db(&[line("h1", 2), line("h1", 1)]);
        assert_eq!(db.check(&names(&["h1"]), &key(1)), Ok(()));
    }

    #[test]
    fn a_key_of_another_type_leaves_the_host_unknown() {
        let db = db(&[rsa_line("h1")]);
        assert_eq!(
            db.check(&names(&["h1"]), &key(1)),
            Err(HostKeyProblem::Unknown)
        );
        assert_eq!(
            db.known_types(&names(&["h1"]), &["ssh-ed25519", "ssh-rsa"]),
            ["ssh-rsa"]
        );
    }

    #[test]
    fn ports_other_than_22_use_bracketed_names() {
        let db = db(&[line("[h1]:2222", 1), line("h2", 1)]);
        assert_eq!(lookup_name("h1", 2222), "[h1]:2222");
        assert_eq!(lookup_name("h1", 22), "h1");
        assert_eq!(db.check(&[lookup_name("h1", 2222)], &key(1)), Ok(()));
        assert_eq!(
            db.check(&[lookup_name("h1", 22)], &key(1)),
            Err(HostKeyProblem::Unknown)
        );
        // A plain entry does not vouch for another port (libssh2's checkp would).
        assert_eq!(
            db.check(&[lookup_name("h2", 2222)], &key(1)),
            Err(HostKeyProblem::Unknown)
        );
    }

    #[test]
    fn wildcards_and_negations_follow_openssh() {
        let db = db(&[line("*.example.com,!bad.example.com", 1)]);
        assert_eq!(db.check(&names(&["web.example.com"]), &key(1)), Ok(()));
        assert_eq!(
            db.check(&names(&["bad.example.com"]), &key(1)),
            Err(HostKeyProblem::Unknown)
        );
        assert!(host_matches("h?", "h1"));
        assert!(!host_matches("h?", "h10"));
    }

    #[test]
    fn hashed_entries_match_through_libssh2() {
        // HMAC-SHA1 of "h1" under the salt 00 01 .. 13, from
        // `printf h1 | openssl dgst -sha1 -mac HMAC -macopt hexkey:000102..13 -binary | base64`.
        let hashed = format!("{HASHED_H1}{}", "1uE/MeVplm9qdKRIXNZUCBzy1/I=");
        let db = db(&[line(&hashed, 1)]);
        assert_eq!(db.check(&names(&["h1"]), &key(1)), Ok(()));
        assert_eq!(
            db.check(&names(&["h2"]), &key(1)),
            Err(HostKeyProblem::Unknown)
        );
        assert_eq!(
            db.check(&names(&["h1"]), &key(2)),
            Err(HostKeyProblem::Changed)
        );
        assert_eq!(
            db.known_types(&names(&["h1"]), &["ssh-ed25519"]),
            ["ssh-ed25519"]
        );
        assert!(db.known_types(&names(&["h2"]), &["ssh-ed25519"]).is_empty());
    }

    #[test]
    fn revoked_keys_are_refused_for_every_host_and_markers_are_not_entries() {
        let db = db(&[
            line("h1", 1),
            format!("@revoked * ssh-ed25519 {}", key(1).base64),
            format!("@cert-authority h2 ssh-ed25519 {}", key(2).base64),
            "@unknown-marker h2 x y".to_owned(),
            "# comment".to_owned(),
            "garbage".to_owned(),
        ]);
        assert_eq!(
            db.check(&names(&["h1"]), &key(1)),
            Err(HostKeyProblem::Revoked)
        );
        assert_eq!(
            db.check(&names(&["h2"]), &key(2)),
            Err(HostKeyProblem::Unknown)
        );
    }
}
