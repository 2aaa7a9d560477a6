//! Host strings `[user@]host[:port]` (an ~/.ssh/config alias is a bare host).

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
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let _ = s;
        todo!("issue 3: hosts")
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
