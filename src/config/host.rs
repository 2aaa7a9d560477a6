//! Host strings `[user@]host[:port]` as written in deliver.toml or `--hosts` (an
//! ~/.ssh/config alias is a bare host; `ssh_config.rs` resolves it). Pure parsing: a host is
//! a name, alias or address, never a shell word, so metacharacters are refused here.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostSpec {
    pub user: Option<String>,
    /// Host name, address or ~/.ssh/config alias. IPv6 literals are written `[::1]:22`.
    pub host: String,
    pub port: Option<u16>,
}

impl FromStr for HostSpec {
    type Err = String;

    /// Parses `[user@]host[:port]`; IPv6 addresses go in brackets (`deploy@[::1]:2222`).
    /// The error names the offending part, without repeating the whole input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("empty host".to_owned());
        }
        if s.chars().any(char::is_whitespace) {
            return Err("contains whitespace".to_owned());
        }
        let (user, rest) = match s.split_once('@') {
            Some((user, rest)) => (Some(user), rest),
            None => (None, s),
        };
        if let Some(user) = user {
            check_user(user)?;
        }
        if rest.contains('@') {
            return Err("more than one `@`".to_owned());
        }
        let (host, port) = split_port(rest)?;
        Ok(HostSpec {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        })
    }
}

/// Splits `host[:port]` or `[v6addr][:port]`, checking both parts.
fn split_port(s: &str) -> Result<(&str, Option<u16>), String> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let (addr, after) = bracketed
            .split_once(']')
            .ok_or_else(|| "missing `]` after the IPv6 address".to_owned())?;
        check_ipv6(addr)?;
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(parse_port(port)?),
                None => return Err(format!("unexpected `{after}` after `]`")),
            },
        };
        return Ok((addr, port));
    }
    match s.matches(':').count() {
        0 => check_host_name(s).map(|()| (s, None)),
        1 => {
            let (host, port) = s.split_once(':').expect("one colon");
            check_host_name(host)?;
            Ok((host, Some(parse_port(port)?)))
        }
        _ => Err("IPv6 addresses must be written in brackets, like `[::1]:22`".to_owned()),
    }
}

fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("empty user name before `@`".to_owned());
    }
    if user.starts_with('-') {
        return Err(format!("user name `{user}` must not start with `-`"));
    }
    // systemd's User= and upstart's setuid read a number as a user id: `0@h` would run the
    // app as root (issue 12).
    if user.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "user name `{user}` is all digits, which the supervisor would read as a user id; \
             name the user"
        ));
    }
    if let Some(bad) = user
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!(
            "user name `{user}` contains `{bad}`; user names may contain only letters, digits, \
             `.`, `-` and `_`"
        ));
    }
    Ok(())
}

fn check_host_name(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("empty host name".to_owned());
    }
    // A leading `-` would reach ssh as an option.
    if host.starts_with('-') {
        return Err(format!("host name `{host}` must not start with `-`"));
    }
    if let Some(bad) = host
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!(
            "host name `{host}` contains `{bad}`; host names and addresses may contain only \
             letters, digits, `.`, `-` and `_`"
        ));
    }
    Ok(())
}

/// Hex digits, colons and dots (IPv4-mapped), plus an optional `%zone` (`fe80::1%eth0`).
fn check_ipv6(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("empty IPv6 address in `[]`".to_owned());
    }
    let (ip, zone) = addr.split_once('%').unwrap_or((addr, ""));
    let ip_ok = ip.contains(':')
        && ip
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
    let zone_ok = !addr.contains('%')
        || (!zone.is_empty()
            && zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    if ip_ok && zone_ok {
        Ok(())
    } else {
        Err(format!("`[{addr}]` is not an IPv6 address"))
    }
}

fn parse_port(port: &str) -> Result<u16, String> {
    if port.is_empty() {
        return Err("empty port after `:`".to_owned());
    }
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 is not allowed; expected 1 to 65535".to_owned()),
        Ok(p) if port.chars().all(|c| c.is_ascii_digit()) => Ok(p),
        _ => Err(format!("invalid port `{port}`; expected 1 to 65535")),
    }
}

impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(user: Option<&str>, host: &str, port: Option<u16>) -> HostSpec {
        HostSpec {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn parses_every_form() {
        let cases = [
            ("web1", spec(None, "web1", None)),
            ("web1.example.com", spec(None, "web1.example.com", None)),
            (
                "deploy@web2.example.com:2222",
                spec(Some("deploy"), "web2.example.com", Some(2222)),
            ),
            ("app@10.77.0.2", spec(Some("app"), "10.77.0.2", None)),
            ("10.77.0.2:22", spec(None, "10.77.0.2", Some(22))),
            ("[::1]:2222", spec(None, "::1", Some(2222))),
            ("[::1]", spec(None, "::1", None)),
            (
                "root@[fe80::1%eth0]:22",
                spec(Some("root"), "fe80::1%eth0", Some(22)),
            ),
            ("[::ffff:10.0.0.1]", spec(None, "::ffff:10.0.0.1", None)),
            ("my_alias", spec(None, "my_alias", None)),
            (
                "first.last@h:65535",
                spec(Some("first.last"), "h", Some(65535)),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<HostSpec>(), Ok(want), "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "web1",
            "deploy@web2:2222",
            "[::1]:2222",
            "u@[::1]",
            "10.0.0.1:22",
        ] {
            let parsed: HostSpec = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn rejects_bad_hosts_with_a_reason() {
        let cases = [
            ("", "empty host"),
            ("@web1", "empty user name before `@`"),
            ("deploy@", "empty host name"),
            (":22", "empty host name"),
            ("web1:", "empty port after `:`"),
            ("web1:ssh", "invalid port `ssh`; expected 1 to 65535"),
            ("web1:70000", "invalid port `70000`; expected 1 to 65535"),
            ("web1:+22", "invalid port `+22`; expected 1 to 65535"),
            ("web1:0", "port 0 is not allowed; expected 1 to 65535"),
            ("web 1", "contains whitespace"),
            ("web1\n", "contains whitespace"),
            ("a@b@c", "more than one `@`"),
            (
                "::1",
                "IPv6 addresses must be written in brackets, like `[::1]:22`",
            ),
            ("[::1", "missing `]` after the IPv6 address"),
            ("[::1]2222", "unexpected `2222` after `]`"),
            ("[]", "empty IPv6 address in `[]`"),
            ("[web1]", "`[web1]` is not an IPv6 address"),
            ("[::1%]", "`[::1%]` is not an IPv6 address"),
            (
                "-oProxyCommand=x",
                "host name `-oProxyCommand=x` must not start with `-`",
            ),
            ("-l@h", "user name `-l` must not start with `-`"),
            (
                "0@h",
                "user name `0` is all digits, which the supervisor would read as a user id; name \
                 the user",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<HostSpec>(), Err(want.to_owned()), "{text:?}");
        }
    }

    #[test]
    fn rejects_shell_metacharacters_in_names() {
        assert_eq!(
            "web1;reboot".parse::<HostSpec>(),
            Err(
                "host name `web1;reboot` contains `;`; host names and addresses may contain \
                 only letters, digits, `.`, `-` and `_`"
                    .to_owned()
            )
        );
        for text in [
            "$(id)", "a|b", "a`b`", "h&", "h>x", "'h'", "\"h\"", "h*", "x/y",
        ] {
            let err = text.parse::<HostSpec>().unwrap_err();
            assert!(err.starts_with("host name `"), "{text}: {err}");
        }
        let err = "a$b@host".parse::<HostSpec>().unwrap_err();
        assert!(err.starts_with("user name `a$b` contains `$`"), "{err}");
    }
}
