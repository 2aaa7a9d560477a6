//! On an app host, how many established TCP connections each of some local ports has: what
//! a drain waits on (`deploy::proxy`) once an instance is out of the proxy's upstream. One
//! round trip for every port ([`established`]) and its parser ([`parse`]). Pure: builds a
//! script and reads its output; no I/O.

use std::fmt::Write as _;

use super::script::Script;
use crate::shell::quote;

/// On an app host: prints `PORT COUNT` per port of `ports`, in that order, the number of
/// established TCP connections whose local port it is (see [`parse`]); one
/// round trip for all of them. With `ss` (the kernel filters by port), else from
/// `/proc/net/tcp` and `/proc/net/tcp6`. The drain waits for 0: once an instance is `down`
/// in the upstream and nginx reloaded, the old workers finish their requests and close their
/// keepalive connections to it.
pub fn established(ports: &[u16]) -> Script {
    let s = Script::new("proxy.connections");
    if ports.is_empty() {
        return s;
    }
    let filter = ports
        .iter()
        .map(|p| format!("sport = :{p}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let decimal = ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    // /proc/net/tcp writes ports as 4 uppercase hex digits, and POSIX awk cannot read hex.
    let mut hex = String::new();
    for port in ports {
        let _ = write!(
            hex,
            "{}{port}:{port:04X}",
            if hex.is_empty() { "" } else { " " }
        );
    }
    s.raw(
        "ss prints `Recv-Q Send-Q LOCAL PEER` (a State column too on some versions, a header \
         line on all but the newest): the local address is the next to last field, its port \
         after the last `:`. A failing ss (missing, no netlink) falls back to /proc, where \
         state 01 is established and the local address is `HEXIP:HEXPORT`",
        format!(
            "if conns=$(ss -tn state established {filter} 2>/dev/null </dev/null); then\n  \
             printf '%s\\n' \"$conns\" | awk -v ports={decimal} {ss_awk}\n\
             else\n  \
             files=/proc/net/tcp\n  \
             if [ -r /proc/net/tcp6 ]; then files=\"$files /proc/net/tcp6\"; fi\n  \
             awk -v ports={hex} {proc_awk} $files\n\
             fi",
            filter = quote(&format!("( {filter} )")),
            decimal = quote(&decimal),
            hex = quote(&hex),
            ss_awk = quote(SS_AWK),
            proc_awk = quote(PROC_AWK),
        ),
    )
}

const SS_AWK: &str = "BEGIN { n = split(ports, p, \" \"); for (i = 1; i <= n; i++) c[p[i]] = 0 }
NF >= 4 { k = $(NF - 1); sub(/.*:/, \"\", k); if (k in c) c[k]++ }
END { for (i = 1; i <= n; i++) print p[i], c[p[i]] }";

const PROC_AWK: &str = "BEGIN {
  n = split(ports, p, \" \")
  for (i = 1; i <= n; i++) { split(p[i], q, \":\"); o[i] = q[1]; h[q[2]] = q[1]; c[q[1]] = 0 }
}
$4 == \"01\" { k = $2; sub(/.*:/, \"\", k); if (k in h) c[h[k]]++ }
END { for (i = 1; i <= n; i++) print o[i], c[o[i]] }";

/// Reads the output of [`established`]: `(port, established connections)` for each of
/// `ports`, in that order. Fails when a port is missing or a line is not `PORT COUNT`.
pub fn parse(stdout: &str, ports: &[u16]) -> Result<Vec<(u16, u32)>, String> {
    let mut counts = Vec::new();
    for line in stdout.lines() {
        let parsed = line.split_once(' ').and_then(|(port, count)| {
            Some((port.parse::<u16>().ok()?, count.parse::<u32>().ok()?))
        });
        counts.push(
            parsed.ok_or_else(|| format!("connections: expected `PORT COUNT`, got `{line}`"))?,
        );
    }
    ports
        .iter()
        .map(|port| {
            counts
                .iter()
                .find(|(p, _)| p == port)
                .copied()
                .ok_or_else(|| format!("connections: no count for port {port}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sandbox::Sandbox;

    #[test]
    fn the_script() {
        insta::assert_snapshot!("established", established(&[5000, 5001, 5050]).render());
        assert_eq!(
            established(&[]).render(),
            "# deliver: proxy.connections\nset -eu\n"
        );
    }

    #[test]
    fn counts_parse_in_the_order_asked() {
        assert_eq!(
            parse("5000 2\n5001 0\n", &[5001, 5000]).unwrap(),
            [(5001, 0), (5000, 2)]
        );
        assert_eq!(parse("", &[]).unwrap(), []);
        assert_eq!(
            parse("5000 2\n", &[5000, 5001]).unwrap_err(),
            "connections: no count for port 5001"
        );
        assert_eq!(
            parse("Recv-Q Send-Q\n", &[5000]).unwrap_err(),
            "connections: expected `PORT COUNT`, got `Recv-Q Send-Q`"
        );
    }

    /// Two established connections to an IPv4 listener, one to an IPv6 one, none to a third
    /// listener; all open while the value lives. Listening sockets must not count.
    struct Sockets {
        ports: Vec<u16>,
        /// Kept open: dropping them would close the connections.
        _open: (Vec<std::net::TcpListener>, Vec<std::net::TcpStream>),
    }

    fn open_connections() -> Sockets {
        use std::net::{TcpListener, TcpStream};
        let (mut ports, mut listeners, mut streams) = (Vec::new(), Vec::new(), Vec::new());
        for (address, clients) in [("127.0.0.1:0", 2), ("[::1]:0", 1), ("127.0.0.1:0", 0)] {
            let listener = TcpListener::bind(address).unwrap();
            let local = listener.local_addr().unwrap();
            ports.push(local.port());
            for _ in 0..clients {
                streams.push(TcpStream::connect(local).unwrap());
                streams.push(listener.accept().unwrap().0);
            }
            listeners.push(listener);
        }
        Sockets {
            ports,
            _open: (listeners, streams),
        }
    }

    #[test]
    fn counts_real_sockets_with_ss() {
        let sockets = open_connections();
        let ports = &sockets.ports;
        let sandbox = Sandbox::new();
        let ss = sandbox.sh("command -v ss");
        // The real ss, noting that it answered (else the /proc fallback could pass for it).
        let bin = sandbox.stub(
            "ss",
            &format!("{} \"$@\" && touch \"$HOME/ss-ran\"", ss.trim()),
        );
        let ran = sandbox.run_with_path(&established(ports), Some(&bin)).ok();
        assert!(sandbox.path("ss-ran").exists());
        assert_eq!(
            parse(&ran.stdout, ports).unwrap(),
            [(ports[0], 2), (ports[1], 1), (ports[2], 0)],
            "{ran:?}"
        );
    }

    #[test]
    fn reads_old_ss_output_with_a_header_and_states() {
        // iproute2 before 4.14 has no -H and may print the State column.
        let sandbox = Sandbox::new();
        let bin = sandbox.stub(
            "ss",
            "cat <<'EOF'\n\
             State      Recv-Q Send-Q        Local Address:Port          Peer Address:Port\n\
             ESTAB      0      0             10.0.0.11:5000             10.0.0.1:41234\n\
             ESTAB      0      0      ::ffff:10.0.0.11:5000      ::ffff:10.0.0.1:41236\n\
             ESTAB      0      0          [fd00::11]:5001        [fd00::1]:5000\n\
             EOF",
        );
        let ran = sandbox
            .run_with_path(&established(&[5000, 5001, 5050]), Some(&bin))
            .ok();
        assert_eq!(ran.stdout, "5000 2\n5001 1\n5050 0\n");
    }

    #[test]
    fn counts_real_sockets_from_proc_without_ss() {
        let sockets = open_connections();
        let ports = &sockets.ports;
        let sandbox = Sandbox::new();
        let bin = sandbox.stub("ss", "exit 127");
        let ran = sandbox.run_with_path(&established(ports), Some(&bin)).ok();
        assert_eq!(
            parse(&ran.stdout, ports).unwrap(),
            [(ports[0], 2), (ports[1], 1), (ports[2], 0)],
            "{ran:?}"
        );
    }
}
