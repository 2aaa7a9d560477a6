//! What an OpenSSH client configuration (`ssh_config(5)`) says about one host alias: the keys
//! deliver honours (`HostName`, `User`, `Port`, `IdentityFile`, `ProxyJump`,
//! `UserKnownHostsFile`, `ConnectTimeout`, `ServerAliveInterval`, `ServerAliveCountMax`).
//! Pure: the caller reads `~/.ssh/config` and the files its `Include` lines name.
//!
//! Follows OpenSSH: keywords are case-insensitive; `Key Value` and `Key=Value` both work;
//! values may be quoted; `#` starts a comment at the start of a word; lines before the first
//! `Host` apply to every host; a `Host` line holds several patterns with `*`, `?` and `!`
//! negation, matched case-insensitively against the alias as typed; the first value obtained
//! for a key wins, except `IdentityFile`, which accumulates.
//!
//! Left out on purpose: `Match` blocks are skipped whole (their criteria need the local
//! user, canonical names or command execution), and `%` tokens other than `%h`/`%%` in
//! `HostName`, as well as `~`, are left as written for the caller to expand. A value ssh
//! would reject (a port that is not 1..=65535, a key without a value) is skipped.

/// Settings found for one alias; `None` or empty when the config does not set them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshHost {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// In the order obtained, as written (`~/.ssh/id_ed25519`).
    pub identity_files: Vec<String>,
    /// `None` also when the first `ProxyJump` obtained is `none`.
    pub proxy_jump: Option<String>,
    /// The files of the first `UserKnownHostsFile` obtained; empty for `none`.
    pub user_known_hosts_files: Vec<String>,
    /// `ConnectTimeout` (`none` is `None`).
    pub connect_timeout: Option<Duration>,
    /// `ServerAliveInterval`: zero turns the keepalives off.
    pub server_alive_interval: Option<Duration>,
    pub server_alive_count_max: Option<u32>,
}

use std::time::Duration;

/// OpenSSH's limit on nested `Include` (`READCONF_MAX_DEPTH`).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Looks `alias` up in `text`; `Include` lines are ignored (see [`lookup_with`]).
pub fn lookup(text: &str, alias: &str) -> SshHost {
    lookup_with(text, alias, &mut |_| Vec::new())
}

/// Looks `alias` up in `text`, calling `include` with each path argument of an `Include`
/// line that applies (as written: the caller expands `~` and globs and resolves relative
/// paths against `~/.ssh`). It returns the texts of the matching files, in order. An
/// `Include` inside a `Host` block that does not match is not followed, as in OpenSSH.
pub fn lookup_with(
    text: &str,
    alias: &str,
    include: &mut dyn FnMut(&str) -> Vec<String>,
) -> SshHost {
    let mut reader = Reader {
        alias: alias.to_ascii_lowercase(),
        include,
        found: SshHost::default(),
        proxy_jump_seen: false,
        known_hosts_seen: false,
    };
    reader.read(text, true, 0);
    reader.found
}

struct Reader<'a> {
    alias: String,
    include: &'a mut dyn FnMut(&str) -> Vec<String>,
    found: SshHost,
    // `none` is a value too: it wins over later ones although it leaves the field empty.
    proxy_jump_seen: bool,
    known_hosts_seen: bool,
}

impl Reader<'_> {
    /// Reads one file; `active` says whether its first lines apply (an included file
    /// starts in the state of the block that includes it, and that state is restored
    /// after it).
    fn read(&mut self, text: &str, mut active: bool, depth: usize) {
        for line in text.lines() {
            let Some((keyword, args)) = split_line(line) else {
                continue;
            };
            match keyword.to_ascii_lowercase().as_str() {
                "host" => active = host_matches(&args, &self.alias),
                "match" => active = false,
                "include" if active && depth < MAX_INCLUDE_DEPTH => {
                    for path in &args {
                        for included in (self.include)(path) {
                            self.read(&included, active, depth + 1);
                        }
                    }
                }
                key if active => self.apply(key, &args),
                _ => {}
            }
        }
    }

    fn apply(&mut self, key: &str, args: &[String]) {
        let Some(first) = args.first() else {
            return;
        };
        let found = &mut self.found;
        match key {
            "hostname" if found.hostname.is_none() => {
                found.hostname = Some(expand_host_tokens(first, &self.alias));
            }
            "user" if found.user.is_none() => found.user = Some(first.clone()),
            "port" if found.port.is_none() => {
                found.port = first.parse().ok().filter(|&p: &u16| p != 0);
            }
            "identityfile" => found.identity_files.push(first.clone()),
            "proxyjump" if !self.proxy_jump_seen => {
                self.proxy_jump_seen = true;
                found.proxy_jump = (!first.eq_ignore_ascii_case("none")).then(|| first.clone());
            }
            "connecttimeout" if found.connect_timeout.is_none() => {
                found.connect_timeout = time(first).filter(|d| !d.is_zero());
            }
            "serveraliveinterval" if found.server_alive_interval.is_none() => {
                found.server_alive_interval = time(first);
            }
            "serveralivecountmax" if found.server_alive_count_max.is_none() => {
                found.server_alive_count_max = first.parse().ok();
            }
            "userknownhostsfile" if !self.known_hosts_seen => {
                self.known_hosts_seen = true;
                if !(args.len() == 1 && first.eq_ignore_ascii_case("none")) {
                    found.user_known_hosts_files = args.to_vec();
                }
            }
            _ => {}
        }
    }
}

/// An OpenSSH time value (`convtime`): seconds, or numbers each followed by a unit (`s`, `m`,
/// `h`, `d`, `w`; `1m30s`). `None` when ssh would reject it.
fn time(value: &str) -> Option<Duration> {
    if value.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in value.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    if !number.is_empty() {
        total = total.checked_add(number.parse().ok()?)?;
    }
    Some(Duration::from_secs(total))
}

/// `%h` is the alias being looked up and `%%` a literal `%` (the two tokens `HostName`
/// knows); anything else stays as written.
fn expand_host_tokens(value: &str, alias: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(alias),
            // `%%`, and a lone `%` at the end, give one `%`.
            Some('%') | None => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
        }
    }
    out
}

/// `Keyword args...` or `Keyword=args...`; `None` for blank lines and comments.
fn split_line(line: &str) -> Option<(&str, Vec<String>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    Some((keyword, split_args(rest)))
}

/// Words separated by whitespace; `"..."` and `'...'` quote, a backslash escapes a quote,
/// a backslash or a space; an unquoted `#` at the start of a word starts a comment.
fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None | Some('#') => return args,
            Some(_) => {}
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _)
                    if chars
                        .peek()
                        .is_some_and(|n| matches!(n, '"' | '\'' | '\\' | ' ')) =>
                {
                    word.push(chars.next().expect("peeked"));
                }
                ('"' | '\'', None) => quote = Some(c),
                (c, Some(q)) if c == q => quote = None,
                (c, None) if c.is_whitespace() => break,
                (c, _) => word.push(c),
            }
        }
        args.push(word);
    }
}

/// True when some pattern matches `alias` and no negated one does.
fn host_matches(patterns: &[String], alias: &str) -> bool {
    patterns_match(patterns.iter().map(String::as_str), alias)
}

/// OpenSSH host patterns (`match_hostname`, for `Host` lines and `known_hosts` entries):
/// true when some pattern matches `name` and no negated (`!`) one does; `*` and `?` glob;
/// case-insensitive.
pub(crate) fn patterns_match<'a>(patterns: impl IntoIterator<Item = &'a str>, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let mut matched = false;
    for pattern in patterns {
        let pattern = pattern.to_ascii_lowercase();
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `*` matches any run of bytes, `?` one byte (as OpenSSH's `match_pattern`).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((&c, rest)) => text.first() == Some(&c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTBED: &str = "Host h1 10.77.0.2\n  HostName 10.77.0.2\nHost h? 10.77.0.*\n  \
                           User app\n  IdentityFile /x/id\n  Port 22\n";

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn testbed_alias_collects_keys_from_every_matching_block() {
        assert_eq!(
            lookup(TESTBED, "h1"),
            SshHost {
                hostname: Some("10.77.0.2".to_owned()),
                user: Some("app".to_owned()),
                port: Some(22),
                identity_files: strings(&["/x/id"]),
                ..SshHost::default()
            }
        );
    }

    #[test]
    fn testbed_patterns_match_addresses_and_single_characters() {
        let by_address = lookup(TESTBED, "10.77.0.3");
        assert_eq!(by_address.hostname, None);
        assert_eq!(by_address.user.as_deref(), Some("app"));
        assert_eq!(lookup(TESTBED, "h2").user.as_deref(), Some("app"));
        assert_eq!(lookup(TESTBED, "h10"), SshHost::default());
        assert_eq!(lookup(TESTBED, "web1"), SshHost::default());
    }

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let text = "Host web*\n User first\n IdentityFile ~/.ssh/a\n\
                    Host *\n User second\n Port 2222\n IdentityFile ~/.ssh/b\n";
        let host = lookup(text, "web1");
        assert_eq!(host.user.as_deref(), Some("first"));
        assert_eq!(host.port, Some(2222));
        assert_eq!(host.identity_files, strings(&["~/.ssh/a", "~/.ssh/b"]));
    }

    #[test]
    fn lines_before_any_host_apply_to_every_host() {
        let text = "User global\nHost web1\n User ignored\n";
        assert_eq!(lookup(text, "web1").user.as_deref(), Some("global"));
        assert_eq!(lookup(text, "other").user.as_deref(), Some("global"));
    }

    #[test]
    fn negated_patterns_exclude_a_host() {
        let text = "Host *.example.com !bastion.example.com\n ProxyJump bastion.example.com\n";
        assert_eq!(
            lookup(text, "web1.example.com").proxy_jump.as_deref(),
            Some("bastion.example.com")
        );
        assert_eq!(lookup(text, "bastion.example.com").proxy_jump, None);
        assert_eq!(lookup("Host !web1\n User x\n", "web2").user, None);
    }

    #[test]
    fn keywords_are_case_insensitive_and_accept_equals() {
        let text = "HOST Web1\n  hostname=10.0.0.5\n  USER = deploy\n  port=2200\n";
        let host = lookup(text, "WEB1");
        assert_eq!(host.hostname.as_deref(), Some("10.0.0.5"));
        assert_eq!(host.user.as_deref(), Some("deploy"));
        assert_eq!(host.port, Some(2200));
    }

    #[test]
    fn quoted_values_and_comments() {
        let text = "# a comment\n\nHost \"web1\" # trailing\n  \
                    IdentityFile \"/keys/my key\" # the key\n  \
                    UserKnownHostsFile /a/known_hosts '/b/known hosts'\n  \
                    User a\\ b\n";
        let host = lookup(text, "web1");
        assert_eq!(host.identity_files, strings(&["/keys/my key"]));
        assert_eq!(
            host.user_known_hosts_files,
            strings(&["/a/known_hosts", "/b/known hosts"])
        );
        assert_eq!(host.user.as_deref(), Some("a b"));
    }

    #[test]
    fn none_wins_like_any_first_value() {
        let text = "Host web1\n ProxyJump none\n UserKnownHostsFile none\n\
                    Host *\n ProxyJump jump\n UserKnownHostsFile /k\n";
        let host = lookup(text, "web1");
        assert_eq!(host.proxy_jump, None);
        assert!(host.user_known_hosts_files.is_empty());
        assert_eq!(lookup(text, "web2").proxy_jump.as_deref(), Some("jump"));
    }

    #[test]
    fn match_blocks_are_skipped_until_the_next_host() {
        let text = "Match host web1 exec \"true\"\n User from-match\n\
                    Host web1\n User from-host\n";
        assert_eq!(lookup(text, "web1").user.as_deref(), Some("from-host"));
    }

    #[test]
    fn hostname_expands_the_alias_token() {
        let text = "Host *\n HostName %h.internal.example.com\n";
        assert_eq!(
            lookup(text, "web1").hostname.as_deref(),
            Some("web1.internal.example.com")
        );
        assert_eq!(expand_host_tokens("a%%b%x%", "h"), "a%b%x%");
    }

    #[test]
    fn invalid_values_are_skipped() {
        let text = "Host web1\n Port zero\n Port 0\n User\nHost *\n Port 2222\n User app\n";
        let host = lookup(text, "web1");
        assert_eq!(host.port, Some(2222));
        assert_eq!(host.user.as_deref(), Some("app"));
    }

    #[test]
    fn include_reads_texts_from_the_closure_in_place() {
        let text = "Include config.d/*\nHost web1\n User outer\n";
        let mut asked = Vec::new();
        let host = lookup_with(text, "web1", &mut |path| {
            asked.push(path.to_owned());
            vec!["Host web1\n User inner\n".to_owned()]
        });
        assert_eq!(asked, strings(&["config.d/*"]));
        assert_eq!(host.user.as_deref(), Some("inner"));
        assert_eq!(lookup(text, "web1").user.as_deref(), Some("outer"));
    }

    #[test]
    fn include_in_a_non_matching_block_is_not_followed() {
        let text = "Host other\n Include other.conf\nHost web1\n Include web.conf a.conf\n";
        let mut asked = Vec::new();
        let host = lookup_with(text, "web1", &mut |path| {
            asked.push(path.to_owned());
            vec![format!("Port {}\n", 1000 + asked.len())]
        });
        assert_eq!(asked, strings(&["web.conf", "a.conf"]));
        assert_eq!(host.port, Some(1001));
    }

    #[test]
    fn included_host_lines_do_not_leak_into_the_including_block() {
        let text = "Host web1\n Include extra.conf\n User after-include\n";
        let host = lookup_with(text, "web1", &mut |_| {
            vec!["Host nothing-matches\n IdentityFile /never\n".to_owned()]
        });
        assert_eq!(host.user.as_deref(), Some("after-include"));
        assert!(host.identity_files.is_empty());
    }

    #[test]
    fn recursive_includes_stop_at_the_openssh_depth_limit() {
        let mut calls = 0;
        let host = lookup_with("Include self\n", "web1", &mut |_| {
            calls += 1;
            vec!["IdentityFile /k\nInclude self\n".to_owned()]
        });
        assert_eq!(calls, MAX_INCLUDE_DEPTH);
        assert_eq!(host.identity_files.len(), MAX_INCLUDE_DEPTH);
    }

    #[test]
    fn glob_handles_stars_and_question_marks() {
        assert!(glob(b"*", b""));
        assert!(glob(b"w*1", b"web1"));
        assert!(glob(b"10.77.0.*", b"10.77.0.25"));
        assert!(!glob(b"h?", b"h"));
        assert!(glob(b"*.*.com", b"a.b.com"));
        assert!(!glob(b"web", b"web1"));
    }

    #[test]
    fn timeouts_and_keepalives_are_read_with_openssh_time_values() {
        let config = "Host slow\n ConnectTimeout 30\n ServerAliveInterval 1m30s\n \
                      ServerAliveCountMax 5\nHost *\n ServerAliveInterval 0\n \
                      ConnectTimeout nonsense\n";
        let slow = lookup(config, "slow");
        assert_eq!(slow.connect_timeout, Some(Duration::from_secs(30)));
        assert_eq!(slow.server_alive_interval, Some(Duration::from_secs(90)));
        assert_eq!(slow.server_alive_count_max, Some(5));
        let other = lookup(config, "other");
        assert_eq!(other.server_alive_interval, Some(Duration::ZERO));
        assert_eq!(
            other.connect_timeout, None,
            "a value ssh rejects is skipped"
        );
        assert_eq!(other.server_alive_count_max, None);
        assert_eq!(time("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(time("10x"), None);
        assert_eq!(time(""), None);
    }
}
