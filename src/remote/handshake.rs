//! Opening a session: the transport (TCP to each address, or a channel through `ProxyJump`
//! hosts), the handshake, the strict host key check, then authentication.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ssh2::{Channel, ErrorCode, HashType, MethodType, Session};

use super::auth::authenticate;
use super::host_key::HostKey;
use super::io::{poll, Io, Want};
use super::known_hosts::lookup_name;
use super::options::ConnectOptions;
use super::target::{Check, Target};
use super::{HostKeyProblem, RemoteError};

/// libssh2's blocking-call timeout (`LIBSSH2_ERROR_TIMEOUT`).
pub(crate) const TIMED_OUT: i32 = -9;
/// Jump hosts through jump hosts: enough for any real chain, and an end to a loop in configs.
const MAX_JUMPS: usize = 8;
/// Host key algorithms in OpenSSH's default order; those known for the host go first.
const HOST_KEY_TYPES: [&str; 5] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
];

/// A connected transport: what the session reads and writes, and a handle to poll it.
enum Transport {
    Tcp(TcpStream, IpAddr),
    /// One end of a socket pair; a thread pumps the other end through a jump host's channel.
    Jump(UnixStream),
}

/// Transport, handshake, host key check and (when `Strict`) authentication. The session is
/// returned blocking, with the connect timeout set.
pub(crate) fn open(
    target: &Target,
    opts: &ConnectOptions,
    depth: usize,
    check: Check,
) -> Result<(Session, OwnedFd), RemoteError> {
    opened(target, opts, depth, check).map(|o| (o.session, o.fd))
}

/// A session after the handshake (and, when `Strict`, authenticated).
pub(crate) struct Opened {
    pub(crate) session: Session,
    fd: OwnedFd,
    pub(crate) key: HostKey,
    /// What `known_hosts` says about `key` (`None`: it is the known key).
    pub(crate) problem: Option<HostKeyProblem>,
    /// The address connected to (`None` through a jump host).
    pub(crate) ip: Option<IpAddr>,
}

/// As [`open`], with the host key, what `known_hosts` says about it, and the address.
pub(crate) fn opened(
    target: &Target,
    opts: &ConnectOptions,
    depth: usize,
    check: Check,
) -> Result<Opened, RemoteError> {
    let transport = if target.jumps.is_empty() {
        tcp(target, opts.connect_timeout)?
    } else {
        through_jumps(target, opts, depth)?
    };
    let ip = match &transport {
        Transport::Tcp(_, ip) => Some(*ip),
        Transport::Jump(_) => None,
    };
    let names = target.names(ip);
    let mut session = Session::new().map_err(|e| target.connect_error(e.to_string()))?;
    session.set_timeout(millis(opts.connect_timeout));
    let known = target.known_hosts.known_types(&names, &HOST_KEY_TYPES);
    let _ = session.method_pref(MethodType::HostKey, &host_key_prefs(&known));
    let fd = match transport {
        Transport::Tcp(stream, _) => {
            let fd = stream.try_clone().map(OwnedFd::from);
            session.set_tcp_stream(stream);
            fd
        }
        Transport::Jump(stream) => {
            let fd = stream.try_clone().map(OwnedFd::from);
            session.set_tcp_stream(stream);
            fd
        }
    }
    .map_err(|e| target.connect_error(format!("socket: {e}")))?;
    session.handshake().map_err(|e| {
        if e.code() == ErrorCode::Session(TIMED_OUT) {
            RemoteError::Timeout {
                host: target.display.clone(),
                what: format!(
                    "SSH handshake with {}",
                    lookup_name(&target.hostname, target.port)
                ),
                after: opts.connect_timeout,
            }
        } else {
            target.connect_error(format!(
                "SSH handshake with {} failed: {}",
                lookup_name(&target.hostname, target.port),
                e.message()
            ))
        }
    })?;
    let key = match (session.host_key(), session.host_key_hash(HashType::Sha256)) {
        (Some((blob, _)), Some(sha256)) => HostKey::new(blob, sha256),
        _ => return Err(target.connect_error("the server sent no host key".to_owned())),
    };
    let problem = target.known_hosts.check(&names, &key).err();
    if check == Check::Scan {
        return Ok(Opened {
            session,
            fd,
            key,
            problem,
            ip,
        });
    }
    if let Some(problem) = problem {
        return Err(RemoteError::HostKey {
            host: target.alias.clone(),
            port: target.port,
            key_type: key.key_type,
            fingerprint: key.fingerprint,
            problem,
        });
    }
    authenticate(&session, target, opts)?;
    Ok(Opened {
        session,
        fd,
        key,
        problem: None,
        ip,
    })
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// libssh2's host key method list: the known types first, each RSA type as its algorithms.
fn host_key_prefs(known: &[&str]) -> String {
    let ordered = known
        .iter()
        .chain(HOST_KEY_TYPES.iter().filter(|t| !known.contains(t)));
    ordered
        .map(|&t| {
            if t == "ssh-rsa" {
                "rsa-sha2-512,rsa-sha2-256,ssh-rsa"
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// TCP to each address of the host in turn, each within `timeout`.
fn tcp(target: &Target, timeout: Duration) -> Result<Transport, RemoteError> {
    let addrs: Vec<_> = (target.hostname.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| target.connect_error(format!("cannot resolve {}: {e}", target.hostname)))?
        .collect();
    let mut failures = Vec::new();
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(Transport::Tcp(stream, addr.ip()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => failures.push(format!(
                "{addr}: no answer within {}",
                crate::config::duration::format(timeout)
            )),
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    if failures.is_empty() {
        failures.push(format!("{} has no address", target.hostname));
    }
    Err(target.connect_error(failures.join("; ")))
}

/// Connects to the last hop (through the hops before it, else through its own
/// `ProxyJump`), opens a direct-tcpip channel to the target there, and pumps it to one end
/// of a socket pair in a thread; the other end carries the target's session.
fn through_jumps(
    target: &Target,
    opts: &ConnectOptions,
    depth: usize,
) -> Result<Transport, RemoteError> {
    if depth >= MAX_JUMPS {
        return Err(target.connect_error(format!(
            "more than {MAX_JUMPS} ProxyJump hops (a loop in the ssh config?)"
        )));
    }
    let (last, before) = target.jumps.split_last().expect("called with hops");
    // A jump host's own errors keep their variant (an unknown host key stays `HostKey`,
    // naming the jump host); a failed connection says which way it went.
    let via = |e: RemoteError| match e {
        RemoteError::Connect { host, message } => {
            target.connect_error(format!("through ProxyJump {host}: {message}"))
        }
        other => other,
    };
    let mut hop = Target::resolve(last, opts).map_err(via)?;
    if !before.is_empty() {
        hop.jumps = before.to_vec();
    }
    let (session, fd) = open(&hop, opts, depth + 1, Check::Strict).map_err(via)?;
    let channel = session
        .channel_direct_tcpip(&target.hostname, target.port, None)
        .map_err(|e| {
            target.connect_error(format!(
                "{last} cannot reach {}: {}",
                lookup_name(&target.hostname, target.port),
                e.message()
            ))
        })?;
    let (ours, theirs) = UnixStream::pair().map_err(|e| target.connect_error(e.to_string()))?;
    theirs
        .set_nonblocking(true)
        .map_err(|e| target.connect_error(e.to_string()))?;
    let io = Io::new(session, fd, last.to_string(), opts.keepalive_interval);
    std::thread::Builder::new()
        .name(format!("deliver-jump-{last}"))
        .spawn(move || pump(&io, channel, &theirs))
        .map_err(|e| target.connect_error(format!("cannot start the ProxyJump thread: {e}")))?;
    Ok(Transport::Jump(ours))
}

/// Copies bytes both ways between the jump host's channel and the local socket until either
/// side ends, then closes the channel and the jump session.
fn pump(io: &Io, mut channel: Channel, local: &UnixStream) {
    let mut buf = vec![0u8; 32 * 1024];
    // Bytes read and not yet written, each way. A partial channel write is resumed with the
    // same buffer, as libssh2 requires.
    let (mut up, mut up_at) = (Vec::new(), 0);
    let (mut down, mut down_at) = (Vec::new(), 0);
    let mut remote_eof = false;
    loop {
        let mut progress = false;
        let mut want = Want::default();
        let mut local_out = false;
        if down_at == down.len() && !remote_eof {
            match channel.read(&mut buf) {
                Ok(0) => remote_eof = true,
                Ok(n) => {
                    down.clear();
                    down.extend_from_slice(&buf[..n]);
                    down_at = 0;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => want |= io.want(),
                Err(_) => break,
            }
        }
        if down_at < down.len() {
            match (&*local).write(&down[down_at..]) {
                Ok(n) => {
                    down_at += n;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => local_out = true,
                Err(_) => break,
            }
        }
        if remote_eof && down_at == down.len() {
            // The target's sshd went away: the session over the pair sees the end.
            break;
        }
        if up_at == up.len() {
            match (&*local).read(&mut buf) {
                // The target session was dropped.
                Ok(0) => break,
                Ok(n) => {
                    up.clear();
                    up.extend_from_slice(&buf[..n]);
                    up_at = 0;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if up_at < up.len() {
            match channel.write(&up[up_at..]) {
                Ok(n) => {
                    up_at += n;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => want |= io.want(),
                Err(_) => break,
            }
        }
        if !progress {
            if !want.write {
                let _ = io.session.keepalive_send();
            }
            poll(
                &mut [(io.fd.as_fd(), want.write), (local.as_fd(), local_out)],
                None,
            );
        }
    }
    let _ = local.shutdown(std::net::Shutdown::Both);
    let deadline = Some(Instant::now() + Duration::from_secs(1));
    let _ = io.retry(deadline, || channel.close());
    io.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_key_preferences_put_known_types_first() {
        assert_eq!(
            host_key_prefs(&["ssh-rsa"]),
            "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-ed25519,ecdsa-sha2-nistp256,\
             ecdsa-sha2-nistp384,ecdsa-sha2-nistp521"
        );
        assert!(host_key_prefs(&[]).starts_with("ssh-ed25519,"));
    }
}
