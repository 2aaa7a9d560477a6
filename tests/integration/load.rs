//! The load generator that the zero-downtime claims are measured with: `connections`
//! keep-alive HTTP/1.1 connections, each sending small POSTs (or GETs) back to back to one address
//! while a closure (a rollout) runs, then stopping. std only.
//!
//! Every attempt ends in exactly one outcome: a 2xx, another status, or a socket error
//! (connect refused or timed out, reset, closed before a full answer, no answer within the
//! timeout, a malformed answer). So `sent == ok + non_2xx() + socket_errors()`, and
//! `failed()` is everything but the 2xx. A connection that fails is dropped and the next
//! attempt opens a new one; so does an answer with `Connection: close` (not an error).
//!
//! One case is sent again, as browsers and curl do: a request written on a reused keep-alive
//! connection that the server closes (or resets) before a single byte of answer. A server
//! closes an idle keep-alive connection without reading what raced it there, so that request
//! was never applied, and RFC 9112 §9.3.1 lets a client resend it, POST or not (nginx does
//! it to every idle client connection of its old workers at each reload). It is sent once
//! more on a new connection, counted in `resent` and shown; a second failure is an error.
//!
//! ```ignore
//! let load = Load::post(front, "/orders").connections(16);
//! let idle = load.run_for(Duration::from_secs(3));
//! let (out, rollout) = load.during(|| app.deliver(&[]));
//! assert_eq!(rollout.failed(), 0, "{rollout}");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to send, where, and how hard. Build with [`Load::post`], run with [`Load::during`]
/// or [`Load::run_for`]; one `Load` may run any number of times.
#[derive(Debug, Clone)]
pub struct Load {
    addr: SocketAddr,
    path: String,
    connections: usize,
    timeout: Duration,
    /// `None`: GETs.
    body: Option<Vec<u8>>,
}

impl Load {
    /// POSTs to `http://addr/path` (the `Host` header is `addr`), 16 connections, a 5 s
    /// timeout per request (connect, write and read each), a 64-byte JSON body.
    pub fn post(addr: SocketAddr, path: &str) -> Load {
        let mut body = br#"{"item":"load","note":"a small body that each POST carries"}"#.to_vec();
        body.resize(64, b' ');
        Load {
            addr,
            path: path.to_owned(),
            connections: 16,
            timeout: Duration::from_secs(5),
            body: Some(body),
        }
    }

    /// [`Load::post`]'s connections sending GETs without a body instead.
    pub fn get(addr: SocketAddr, path: &str) -> Load {
        Load {
            body: None,
            ..Load::post(addr, path)
        }
    }

    pub fn connections(mut self, n: usize) -> Load {
        assert!(n > 0, "a load needs at least one connection");
        self.connections = n;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Load {
        self.timeout = timeout;
        self
    }

    /// Sends the load while `f` runs (on this thread), then stops: each connection finishes
    /// the request it has in flight (bounded by the timeout). Returns `f`'s value and the
    /// figures of the whole run.
    pub fn during<T>(&self, f: impl FnOnce() -> T) -> (T, Figures) {
        let stop = AtomicBool::new(false);
        let start = Instant::now();
        let request = self.request();
        let (value, mut figures) = std::thread::scope(|s| {
            let workers: Vec<_> = (0..self.connections)
                .map(|_| s.spawn(|| self.connection(&request, &stop)))
                .collect();
            let value = f();
            stop.store(true, Ordering::Relaxed);
            let mut all = Figures::default();
            for w in workers {
                all.merge(w.join().expect("a load connection panicked"));
            }
            (value, all)
        });
        figures.wall = start.elapsed();
        figures.latencies.sort_unstable();
        (value, figures)
    }

    /// The same load for `duration` with nothing else going on: the baseline.
    pub fn run_for(&self, duration: Duration) -> Figures {
        self.during(|| std::thread::sleep(duration)).1
    }

    fn request(&self) -> Vec<u8> {
        let Some(body) = &self.body else {
            return format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", self.path, self.addr)
                .into_bytes();
        };
        let mut req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            self.path,
            self.addr,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        req
    }

    /// One connection's loop: request, answer, again; reconnect when needed.
    fn connection(&self, request: &[u8], stop: &AtomicBool) -> Figures {
        let mut figures = Figures::default();
        let mut conn: Option<BufReader<TcpStream>> = None;
        // Answers read on the current connection: more than 0 makes it a reused one.
        let mut conn_answers = 0u64;
        while !stop.load(Ordering::Relaxed) {
            figures.sent += 1;
            let began = Instant::now();
            let c = match conn.take() {
                Some(c) => c,
                None => match self.connect() {
                    Ok(c) => c,
                    Err(e) => {
                        figures.error(e);
                        // Refused is instant: do not spin on an address that is not there.
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                },
            };
            let reused = conn_answers > 0;
            conn = Some(c);
            let c = conn.as_mut().expect("just set");
            let mut answer = exchange(c, request);
            if reused && matches!(answer, Err(Unanswered::Silent(_))) {
                // Closed before any byte of answer on a reused connection: never applied.
                figures.resent += 1;
                answer = self
                    .connect()
                    .map_err(Unanswered::Silent)
                    .and_then(|mut fresh| {
                        let a = exchange(&mut fresh, request);
                        conn = Some(fresh);
                        a
                    });
                conn_answers = 0;
            }
            let answer = answer.map_err(Unanswered::error);
            match answer {
                Ok(resp) => {
                    figures.latencies.push(began.elapsed());
                    figures.answered(resp.status);
                    conn_answers += 1;
                    if resp.close {
                        conn = None;
                        conn_answers = 0;
                    }
                }
                Err(e) => {
                    figures.error(e);
                    conn = None;
                    conn_answers = 0;
                }
            }
        }
        figures
    }

    fn connect(&self) -> Result<BufReader<TcpStream>, SocketError> {
        let s =
            TcpStream::connect_timeout(&self.addr, self.timeout).map_err(|e| match e.kind() {
                ErrorKind::ConnectionRefused => SocketError::ConnectRefused,
                ErrorKind::TimedOut | ErrorKind::WouldBlock => SocketError::ConnectTimeout,
                _ => SocketError::Connect,
            })?;
        let setup = s
            .set_nodelay(true)
            .and_then(|()| s.set_read_timeout(Some(self.timeout)))
            .and_then(|()| s.set_write_timeout(Some(self.timeout)));
        setup.map_err(|_| SocketError::Connect)?;
        Ok(BufReader::new(s))
    }
}

/// Why an exchange got no answer: before any byte of it (`Silent`), or after some.
enum Unanswered {
    Silent(SocketError),
    Partial(SocketError),
}

impl Unanswered {
    fn error(self) -> SocketError {
        match self {
            Unanswered::Silent(e) | Unanswered::Partial(e) => e,
        }
    }
}

/// Writes `request` and reads its answer, telling an answer that never began from one cut.
fn exchange(c: &mut BufReader<TcpStream>, request: &[u8]) -> Result<Response, Unanswered> {
    c.get_mut()
        .write_all(request)
        .map_err(|e| Unanswered::Silent(SocketError::from_io(&e)))?;
    match c.fill_buf() {
        Ok([]) => return Err(Unanswered::Silent(SocketError::Closed)),
        Ok(_) => {}
        Err(e) => {
            let e = SocketError::from_io(&e);
            // A timeout is not the server closing: it may still apply the request.
            return Err(if e == SocketError::Timeout {
                Unanswered::Partial(e)
            } else {
                Unanswered::Silent(e)
            });
        }
    }
    read_response(c).map_err(Unanswered::Partial)
}

/// What a run measured. `Display` prints one line of it.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// Attempts: each ended in a 2xx, another status or a socket error.
    pub sent: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Answers that were not 2xx, by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Attempts that got no (complete, well-formed) answer, by kind.
    pub errors: BTreeMap<SocketError, u64>,
    /// Time from the start of each answered request (connect included, when it had to
    /// connect) to the end of its answer; sorted.
    pub latencies: Vec<Duration>,
    /// From the start of the load until every connection stopped.
    pub wall: Duration,
    /// Requests sent again on a new connection because a reused one closed before a byte
    /// of answer (see the module doc); each is counted once in `sent`, by its outcome.
    pub resent: u64,
}

impl Figures {
    pub fn non_2xx(&self) -> u64 {
        self.statuses.values().sum()
    }

    pub fn socket_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Every attempt that did not end in a 2xx.
    pub fn failed(&self) -> u64 {
        self.non_2xx() + self.socket_errors()
    }

    /// The `q` quantile (0.0..=1.0, nearest rank) of the answered requests' latencies.
    pub fn latency(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    pub fn p50(&self) -> Duration {
        self.latency(0.50)
    }

    pub fn p99(&self) -> Duration {
        self.latency(0.99)
    }

    fn answered(&mut self, status: u16) {
        if (200..300).contains(&status) {
            self.ok += 1;
        } else {
            *self.statuses.entry(status).or_default() += 1;
        }
    }

    fn error(&mut self, e: SocketError) {
        *self.errors.entry(e).or_default() += 1;
    }

    fn merge(&mut self, other: Figures) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (k, n) in other.statuses {
            *self.statuses.entry(k).or_default() += n;
        }
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        self.latencies.extend(other.latencies);
        self.resent += other.resent;
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        #[allow(clippy::cast_precision_loss)]
        let rate = self.sent as f64 / self.wall.as_secs_f64().max(1e-9);
        write!(
            f,
            "sent {}, 2xx {}, non-2xx {}",
            self.sent,
            self.ok,
            self.non_2xx()
        )?;
        if !self.statuses.is_empty() {
            let by: Vec<String> = self
                .statuses
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            write!(f, " ({})", by.join(", "))?;
        }
        write!(f, ", socket errors {}", self.socket_errors())?;
        if !self.errors.is_empty() {
            let by: Vec<String> = self
                .errors
                .iter()
                .map(|(e, n)| format!("{e}: {n}"))
                .collect();
            write!(f, " ({})", by.join(", "))?;
        }
        if self.resent > 0 {
            write!(
                f,
                ", resent {} (a reused keep-alive connection closed before any answer)",
                self.resent
            )?;
        }
        write!(
            f,
            ", p50 {:.1} ms, p99 {:.1} ms, in {:.1} s ({rate:.0}/s)",
            ms(self.p50()),
            ms(self.p99()),
            self.wall.as_secs_f64()
        )
    }
}

/// Why an attempt got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SocketError {
    ConnectRefused,
    ConnectTimeout,
    /// Any other failure to connect (unreachable, no more ports...).
    Connect,
    /// The peer closed before a full answer (nothing, or part of one).
    Closed,
    Reset,
    /// No full answer within the timeout (or a write that could not go out within it).
    Timeout,
    /// Bytes that are not an HTTP/1.x answer.
    Malformed,
}

impl SocketError {
    fn from_io(e: &io::Error) -> SocketError {
        match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => SocketError::Timeout,
            ErrorKind::UnexpectedEof => SocketError::Closed,
            ErrorKind::InvalidData => SocketError::Malformed,
            // A write to a socket the peer closed (EPIPE) is a reset seen from this side.
            _ => SocketError::Reset,
        }
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SocketError::ConnectRefused => "connect refused",
            SocketError::ConnectTimeout => "connect timeout",
            SocketError::Connect => "connect failed",
            SocketError::Closed => "closed before the answer",
            SocketError::Reset => "reset",
            SocketError::Timeout => "timeout",
            SocketError::Malformed => "malformed answer",
        })
    }
}

/// An answer read in full: its status and whether the connection ends with it.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub close: bool,
    pub body_len: usize,
}

/// Reads one HTTP/1.x answer: status line, headers, then the body by `Content-Length`,
/// chunks, or (neither) up to the end of the connection. `1xx` answers are skipped.
pub fn read_response(r: &mut impl BufRead) -> Result<Response, SocketError> {
    loop {
        let resp = read_one(r).map_err(|e| SocketError::from_io(&e))?;
        if !(100..200).contains(&resp.status) {
            return Ok(resp);
        }
    }
}

fn read_one(r: &mut impl BufRead) -> io::Result<Response> {
    let status_line = line(r)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| malformed(&status_line))?;
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(malformed(&status_line)),
    };
    let (mut length, mut chunked, mut close, mut keep_alive) = (None, false, http10, false);
    loop {
        let header = line(r)?;
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').ok_or_else(|| malformed(&header))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| malformed(&header))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().ends_with("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            close |= value.split(',').any(|t| t.trim() == "close");
            keep_alive |= value.split(',').any(|t| t.trim() == "keep-alive");
        }
    }
    if http10 && keep_alive {
        close = false;
    }
    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
    let body_len = if no_body {
        0
    } else if chunked {
        chunked_body(r)?
    } else if let Some(n) = length {
        io::copy(&mut r.by_ref().take(n as u64), &mut io::sink()).and_then(|got| {
            if got == n as u64 {
                Ok(n)
            } else {
                Err(ErrorKind::UnexpectedEof.into())
            }
        })?
    } else {
        close = true;
        usize::try_from(io::copy(r, &mut io::sink())?).unwrap_or(usize::MAX)
    };
    Ok(Response {
        status,
        close,
        body_len,
    })
}

fn chunked_body(r: &mut impl BufRead) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let size_line = line(r)?;
        let size = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| malformed(&size_line))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !line(r)?.is_empty() {}
            return Ok(total);
        }
        let got = io::copy(&mut r.by_ref().take(size as u64), &mut io::sink())?;
        if got != size as u64 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        total += size;
        if !line(r)?.is_empty() {
            return Err(malformed("chunk not followed by CRLF"));
        }
    }
}

/// One line without its CRLF (or LF); the end of the stream before it ends is `UnexpectedEof`.
fn line(r: &mut impl BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    r.by_ref().take(8192).read_until(b'\n', &mut buf)?;
    if buf.last() != Some(&b'\n') {
        return Err(if buf.len() >= 8192 {
            malformed("a line longer than 8 KiB")
        } else {
            ErrorKind::UnexpectedEof.into()
        });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| malformed("not UTF-8"))
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn parse(text: &str) -> Result<Response, SocketError> {
        read_response(&mut text.as_bytes())
    }

    fn resp(status: u16, close: bool, body_len: usize) -> Response {
        Response {
            status,
            close,
            body_len,
        }
    }

    #[test]
    fn answers_are_read_by_length_chunks_or_to_the_end() {
        let cases = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", Ok(resp(200, false, 5))),
            (
                "HTTP/1.1 201 Created\r\ncontent-length:2\r\nConnection: close\r\n\r\nok",
                Ok(resp(201, true, 2)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
                Ok(resp(200, false, 5)),
            ),
            ("HTTP/1.1 204 No Content\r\n\r\n", Ok(resp(204, false, 0))),
            ("HTTP/1.0 502 Bad Gateway\r\n\r\nno length", Ok(resp(502, true, 9))),
            (
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                Ok(resp(200, false, 0)),
            ),
            (
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\nContent-Length: 1\n\nx",
                Ok(resp(503, false, 1)),
            ),
            ("", Err(SocketError::Closed)),
            ("HTTP/1.1 200 OK\r\nContent-Le", Err(SocketError::Closed)),
            ("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", Err(SocketError::Closed)),
            ("SSH-2.0-OpenSSH_9.2\r\n", Err(SocketError::Malformed)),
            ("HTTP/1.1 20x OK\r\n\r\n", Err(SocketError::Malformed)),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Err(SocketError::Malformed)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn latency_quantiles_are_nearest_rank() {
        let mut f = Figures::default();
        assert_eq!(f.p99(), Duration::ZERO);
        f.latencies = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(f.p50(), Duration::from_millis(100));
        assert_eq!(f.p99(), Duration::from_millis(198));
        assert_eq!(f.latency(1.0), Duration::from_millis(200));
        assert_eq!(f.latency(0.0), Duration::from_millis(1));
    }

    /// A server on 127.0.0.1 that reads one request at a time and answers the first of
    /// each connection with a 200, the second with a 503, the third with a 200 and
    /// `Connection: close`, then closes.
    fn serve(listener: &TcpListener) {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut w = stream;
                for n in 1.. {
                    let mut length = 0;
                    loop {
                        let Ok(l) = line(&mut r) else { return };
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l.strip_prefix("Content-Length: ") {
                            length = v.parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let close = n == 3;
                    let status = if n == 2 { "503 Busy" } else { "200 OK" };
                    let head = if close { "Connection: close\r\n" } else { "" };
                    let answer = format!("HTTP/1.1 {status}\r\n{head}Content-Length: 2\r\n\r\nok");
                    if w.write_all(answer.as_bytes()).is_err() || close {
                        return;
                    }
                }
            });
        }
    }

    #[test]
    fn load_counts_answers_and_reconnects_after_connection_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || serve(&listener));
        let figures = Load::post(addr, "/x")
            .connections(4)
            .run_for(Duration::from_millis(200));
        assert!(figures.ok > 100, "{figures}");
        assert!(figures.statuses[&503] >= figures.ok / 2 - 4, "{figures}");
        assert_eq!(figures.socket_errors(), 0, "{figures}");
        assert_eq!(figures.sent, figures.ok + figures.failed(), "{figures}");
        assert_eq!(
            figures.latencies.len() as u64,
            figures.ok + figures.non_2xx()
        );

        // Nothing listens there any more: every attempt is a refused connection.
        let figures = Load::post(free_addr(), "/x")
            .connections(2)
            .timeout(Duration::from_secs(1))
            .run_for(Duration::from_millis(100));
        assert!(figures.sent > 0, "{figures}");
        assert_eq!(
            figures.errors.get(&SocketError::ConnectRefused),
            Some(&figures.sent),
            "{figures}"
        );
    }

    fn free_addr() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    /// Serves each connection `answers` requests with keep-alive, then reads one more
    /// request and closes without a word: what an nginx worker that exits does to an idle
    /// keep-alive connection a request raced into.
    fn serve_then_close_silently(listener: &TcpListener, answers: usize) {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut w = stream;
                for n in 0..=answers {
                    let mut line = String::new();
                    let mut length = 0;
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    r.read_exact(&mut body).unwrap();
                    if n == answers {
                        return; // read, never answered: dropped
                    }
                    let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if w.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    }

    #[test]
    fn a_request_cut_off_silently_on_a_reused_connection_is_resent_once_and_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || serve_then_close_silently(&listener, 1));
        let figures = Load::post(addr, "/x")
            .connections(2)
            .run_for(Duration::from_millis(200));
        // Every second request meets a silent close on a reused connection: resent, then
        // answered on the new one.
        assert!(figures.resent > 10, "{figures}");
        assert_eq!(figures.failed(), 0, "{figures}");
        assert!(figures.to_string().contains("resent"), "{figures}");
    }

    #[test]
    fn a_silent_close_on_a_fresh_connection_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // No answer at all: each request is the first on its connection, so it may have
        // been applied; it is never resent.
        std::thread::spawn(move || serve_then_close_silently(&listener, 0));
        let figures = Load::post(addr, "/x")
            .connections(1)
            .run_for(Duration::from_millis(100));
        assert!(figures.sent > 0, "{figures}");
        assert_eq!(figures.resent, 0, "{figures}");
        assert_eq!(
            figures.errors.get(&SocketError::Closed),
            Some(&figures.sent)
        );
    }
}
