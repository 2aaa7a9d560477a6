//! `remote::` against the test bed's real sshd: one session per host for everything
//! (scripts, uploads, pushes, health probes), strict host keys, keys from memory, `ProxyJump`.
//! Needs root, as the test bed does (the fixture panics and says why otherwise).

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deliver::config::HostSpec;
use deliver::plan::Script;
use deliver::remote::{
    connect, scan, ConnectOptions, HostKeyProblem, Remote, RemoteError, Secret, SshConfigFile,
    SshRemote, Stream,
};

use crate::testbed::Testbed;

/// Options with nothing from this machine: `config` as the ssh config, a `HOME` of its own
/// (no default keys, no `known_hosts`), no agent.
fn options(home: &Path, config: &str) -> ConnectOptions {
    ConnectOptions {
        ssh_config: SshConfigFile::new(config, home.join(".ssh"), Some(home.to_owned())),
        home: Some(home.to_owned()),
        connect_timeout: Duration::from_secs(5),
        ..ConnectOptions::default()
    }
}

fn include(tb: &Testbed) -> String {
    format!("Include {}\n", tb.ssh_config().display())
}

fn spec(host: &str) -> HostSpec {
    host.parse().unwrap()
}

/// The test bed's client key, as its ssh config names it.
fn client_key(tb: &Testbed) -> PathBuf {
    let config = std::fs::read_to_string(tb.ssh_config()).unwrap();
    config
        .lines()
        .find_map(|l| l.trim().strip_prefix("IdentityFile "))
        .map(PathBuf::from)
        .expect("the test bed's ssh config names its key")
}

/// Logins sshd accepted on `host` so far.
fn accepted(tb: &Testbed, host: &str) -> usize {
    let out = tb.exec(host, "journalctl -u ssh --no-pager -o cat");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("Accepted publickey"))
        .count()
}

fn run(remote: &mut SshRemote, text: &str) -> (i32, Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let output = remote
        .run(
            &Script::new("test").raw("test", text),
            &mut |s, l| match s {
                Stream::Stdout => out.push(l.to_owned()),
                Stream::Stderr => err.push(l.to_owned()),
            },
        )
        .unwrap();
    (output.status, out, err)
}

fn stdout(remote: &mut SshRemote, text: &str) -> String {
    let (status, out, err) = run(remote, text);
    assert_eq!(status, 0, "{text}: {err:?}");
    out.join("\n")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// The port `START_PROBE` serves on.
const PROBE_PORT: u16 = 8123;
/// A python HTTP server on the host's 127.0.0.1:8123 as `app`, in a transient system unit,
/// started as root inside the host (not over SSH: the test counts SSH logins).
const START_PROBE: &str = "systemd-run -q --unit=probe -p User=app \
    python3 -m http.server 8123 --bind 127.0.0.1 --directory /tmp && \
    timeout 10 sh -c 'until ss -ltnH | grep -q 127.0.0.1:8123; do sleep 0.05; done'";

#[test]
fn one_session_per_host_runs_scripts_uploads_pushes_and_probes() {
    let tb = Testbed::up(3);
    let home = tempfile::tempdir().unwrap();
    let opts = options(home.path(), &include(&tb));
    let repo = tempfile::tempdir().unwrap();
    let (first_sha, second_sha) = two_commits(repo.path());
    for host in tb.hosts() {
        let out = tb.exec(&host, START_PROBE);
        assert!(
            out.status.success(),
            "{host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let before = accepted(&tb, &host);
        let mut remote = connect(&spec(&host), &opts).unwrap();
        assert_eq!((remote.host(), remote.user()), (host.as_str(), "app"));

        scripts_stream_lines_in_order_and_return_the_status(&mut remote, &host);
        upload_is_atomic_with_the_mode(&mut remote);
        push_sends_only_missing_objects(&mut remote, repo.path(), &first_sha, &second_sha);
        http_get_returns_the_status_or_an_error(&mut remote);
        drop(remote);

        let after = accepted(&tb, &host);
        assert_eq!(
            after,
            before + 1,
            "{host}: SSH logins for connect+run+upload+push+http_get"
        );
    }
}

fn scripts_stream_lines_in_order_and_return_the_status(remote: &mut SshRemote, host: &str) {
    let (status, out, err) = run(
        remote,
        "hostname; for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf partial; exit 3",
    );
    assert_eq!(status, 3);
    assert_eq!(out, [host, "out1", "out2", "out3", "partial"]);
    assert_eq!(err, ["err1", "err2", "err3"]);

    // Lines arrive while the script runs, not at its end.
    let started = Instant::now();
    let mut first_at = None;
    let output = remote
        .run(
            &Script::new("slow").raw("a pause", "echo early; sleep 0.6; echo late"),
            &mut |_, l| {
                if l == "early" {
                    first_at = Some(started.elapsed());
                }
            },
        )
        .unwrap();
    assert_eq!(
        (output.status, output.stdout.as_str()),
        (0, "early\nlate\n")
    );
    assert!(
        first_at.unwrap() < Duration::from_millis(400),
        "{first_at:?}"
    );

    // Megabytes on both streams at once do not stall either side.
    let output = remote
        .run(
            &Script::new("big").raw("output", "seq 1 200000; seq 1 200000 >&2; seq 1 10"),
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(output.stdout.lines().count(), 200_010);
    assert_eq!(output.stderr.lines().last(), Some("200000"));

    // A command that reads stdin gets /dev/null, not the rest of the script.
    assert_eq!(stdout(remote, "cat; echo after"), "after");
    // A run past its timeout is stopped; the session goes on.
    remote.set_run_timeout(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let err = remote
        .run(
            &Script::new("hang").raw("a long one", "echo started; sleep 10"),
            &mut |_, _| {},
        )
        .unwrap_err();
    assert!(
        matches!(&err, RemoteError::Timeout { what, .. } if what == "hang"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    remote.set_run_timeout(None);
    // Many channels over one session: each is closed (sshd allows 10 open at once).
    for i in 0..15 {
        assert_eq!(stdout(remote, &format!("echo {i}")), i.to_string());
    }
}

fn upload_is_atomic_with_the_mode(remote: &mut SshRemote) {
    let contents: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    stdout(remote, "mkdir -p up");
    remote.upload("up/secret.env", b"old", 0o644).unwrap();
    remote.upload("up/secret.env", &contents, 0o600).unwrap();
    let shown = stdout(
        remote,
        "stat -c %a up/secret.env; sha256sum <up/secret.env; ls -a up",
    );
    assert_eq!(
        shown,
        format!("600\n{}  -\n.\n..\nsecret.env", sha256(&contents))
    );
    remote.upload("~/up/plain.txt", b"hello\n", 0o644).unwrap();
    assert_eq!(
        stdout(remote, "stat -c %a up/plain.txt; cat up/plain.txt"),
        "644\nhello"
    );
    let err = remote.upload("no/such/dir/x", b"x", 0o600).unwrap_err();
    assert!(matches!(err, RemoteError::Upload { .. }), "{err}");
}

/// A repository with 120 files (so the first push is a kept pack, more than 100 objects),
/// then a one-line change.
fn two_commits(dir: &Path) -> (String, String) {
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::create_dir(dir.join("lib")).unwrap();
    // Text that compresses about as well as code does not: pseudo-random hex.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..120 {
        let mut text = String::new();
        for l in 0..40 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let _ = writeln!(text, "line {l} {seed:016x}{:016x}", seed.rotate_left(29));
        }
        std::fs::write(dir.join(format!("lib/f{i}.txt")), text).unwrap();
    }
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "first"]);
    let first = git(dir, &["rev-parse", "HEAD"]);
    let f7 = dir.join("lib/f7.txt");
    let text = std::fs::read_to_string(&f7)
        .unwrap()
        .replacen("line 3 ", "line three ", 1);
    std::fs::write(f7, text).unwrap();
    git(dir, &["commit", "-qam", "second"]);
    (first, git(dir, &["rev-parse", "HEAD"]))
}

/// The first push sends every object; after a one-line change, only the commit, the two
/// trees on the path and the blob.
fn push_sends_only_missing_objects(remote: &mut SshRemote, repo: &Path, first: &str, second: &str) {
    stdout(remote, "git init -q --bare -b main shop/repo.git");
    let git_dir = "~/shop/repo.git";
    let head = "refs/heads/main";
    let one = remote.push(repo, first, git_dir, head, &[]).unwrap();
    assert_eq!(one.objects, 123, "{one:?}");
    let two = remote
        .push(
            repo,
            "main",
            git_dir,
            head,
            &[first.to_owned(), "f".repeat(40)],
        )
        .unwrap();
    assert!(two.objects <= 5, "{two:?}");
    assert!(two.bytes * 20 < one.bytes, "{one:?} {two:?}");
    let shown = stdout(
        remote,
        "git --git-dir=shop/repo.git rev-parse refs/heads/main && \
         git --git-dir=shop/repo.git fsck --no-dangling --no-progress",
    );
    assert_eq!(shown, second);
    let none = remote
        .push(repo, second, git_dir, head, &[second.to_owned()])
        .unwrap();
    assert_eq!(none.objects, 0);
    let err = remote
        .push(repo, second, "~/missing.git", head, &[])
        .unwrap_err();
    assert!(matches!(err, RemoteError::Push { .. }), "{err}");
}

fn http_get_returns_the_status_or_an_error(remote: &mut SshRemote) {
    let timeout = Duration::from_secs(2);
    assert_eq!(remote.http_get(PROBE_PORT, "/", timeout).unwrap(), 200);
    assert_eq!(
        remote.http_get(PROBE_PORT, "/missing", timeout).unwrap(),
        404
    );
    let err = remote.http_get(PROBE_PORT + 1, "/", timeout).unwrap_err();
    assert!(
        matches!(&err, RemoteError::Http { port, .. } if *port == PROBE_PORT + 1),
        "{err}"
    );
    // The session is still good after a refused probe.
    assert_eq!(remote.http_get(PROBE_PORT, "/", timeout).unwrap(), 200);
}

#[test]
fn host_keys_are_checked_before_authentication() {
    let tb = Testbed::up(1);
    let home = tempfile::tempdir().unwrap();
    let out = tb.exec("h1", "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
    let keygen = String::from_utf8_lossy(&out.stdout).into_owned();
    let fingerprint = keygen.split(' ').nth(1).unwrap().to_owned();
    assert!(fingerprint.starts_with("SHA256:"), "{keygen}");

    // known_hosts files of this test, named before the test bed's config is included.
    let with_known_hosts = |text: &str| {
        let file = home.path().join(format!("known_hosts.{}", unique()));
        std::fs::write(&file, text).unwrap();
        let config = format!(
            "Host *\n  UserKnownHostsFile {}\n{}",
            file.display(),
            include(&tb)
        );
        options(home.path(), &config)
    };
    let before = accepted(&tb, "h1");

    let err = connect(&spec("h1"), &with_known_hosts("")).unwrap_err();
    match &err {
        RemoteError::HostKey {
            host,
            port,
            key_type,
            fingerprint: offered,
            problem,
        } => {
            assert_eq!(
                (host.as_str(), *port, key_type.as_str(), *problem),
                ("h1", 22, "ssh-ed25519", HostKeyProblem::Unknown)
            );
            assert_eq!(offered, &fingerprint);
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&fingerprint), "{err}");

    let other_key = home.path().join("other");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let other = std::fs::read_to_string(other_key.with_extension("pub")).unwrap();
    let other: Vec<&str> = other.split(' ').take(2).collect();
    let changed = format!("h1,{} {} {}\n", tb.addr("h1"), other[0], other[1]);
    let err = connect(&spec("h1"), &with_known_hosts(&changed)).unwrap_err();
    assert!(
        matches!(&err, RemoteError::HostKey { problem: HostKeyProblem::Changed, fingerprint: f, .. } if *f == fingerprint),
        "{err}"
    );
    // Neither got as far as logging in, although the key would have been accepted.
    assert_eq!(accepted(&tb, "h1"), before);

    // `deliver trust`: the scanned line is the test bed's own, and trusting it works, also as
    // DELIVER_KNOWN_HOSTS text, and hashed.
    let scanned = scan(&spec("h1"), &with_known_hosts("")).unwrap();
    assert_eq!(scanned.fingerprint, fingerprint);
    assert_eq!(scanned.problem, Some(HostKeyProblem::Unknown));
    let testbed_line = std::fs::read_to_string(tb.known_hosts()).unwrap();
    assert_eq!(format!("{}\n", scanned.known_hosts_line), testbed_line);
    let mut opts = with_known_hosts("");
    opts.known_hosts_text = scanned.known_hosts_line.clone();
    drop(connect(&spec("h1"), &opts).unwrap());
    let hashed = home.path().join("hashed");
    std::fs::write(&hashed, &testbed_line).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-Hf")
        .arg(&hashed)
        .output()
        .unwrap();
    assert!(out.status.success());
    let hashed_text = std::fs::read_to_string(&hashed).unwrap();
    assert!(hashed_text.starts_with("|1|"), "{hashed_text}");
    let mut remote = connect(&spec("h1"), &with_known_hosts(&hashed_text)).unwrap();
    assert_eq!(stdout(&mut remote, "hostname"), "h1");
    drop(remote);
    assert_eq!(accepted(&tb, "h1"), before + 2);

    // An address where nothing answers fails within the timeout, naming host and port: the
    // ssh config's `ConnectTimeout` for it (1 s) wins over deliver's own (here 5 s), as in
    // OpenSSH (the test bed's config says 5 for every host, after this block).
    let opts = options(
        home.path(),
        &format!(
            "Host 10.79.0.9\n  ConnectTimeout 1\nHost *\n{}",
            include(&tb)
        ),
    );
    let started = Instant::now();
    let err = connect(&spec("app@10.79.0.9"), &opts).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1800), "{took:?}");
    let text = err.to_string();
    assert!(matches!(err, RemoteError::Connect { .. }), "{text}");
    assert!(text.contains("10.79.0.9:22"), "{text}");
}

/// A file name part no other call of this test uses.
fn unique() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

#[test]
fn a_key_from_memory_and_a_proxy_jump_each_take_one_login() {
    let tb = Testbed::up(2);
    let home = tempfile::tempdir().unwrap();
    let key = client_key(&tb);
    let known = tb.known_hosts();
    // h1 without any IdentityFile: only DELIVER_SSH_KEY can log in.
    let bare = format!(
        "Host h1\n  HostName {}\n  User app\n  UserKnownHostsFile {}\n",
        tb.addr("h1"),
        known.display()
    );
    let err = connect(&spec("h1"), &options(home.path(), &bare)).unwrap_err();
    assert!(
        matches!(&err, RemoteError::Auth { user, .. } if user == "app"),
        "{err}"
    );
    let mut opts = options(home.path(), &bare);
    let secret = std::fs::read_to_string(&key).unwrap();
    opts.key = Some(Secret::new(secret.clone()));
    let before = accepted(&tb, "h1");
    let mut remote = connect(&spec("h1"), &opts).unwrap();
    assert_eq!(stdout(&mut remote, "hostname"), "h1");
    drop(remote);
    assert_eq!(accepted(&tb, "h1"), before + 1);
    assert!(!format!("{opts:?}").contains(secret.trim()));

    // h2 reached through h1.
    let jump = format!(
        "{}Host h2-via-h1\n  HostName {}\n  ProxyJump h1\n  User app\n  IdentityFile {}\n  \
         UserKnownHostsFile {}\n",
        include(&tb),
        tb.addr("h2"),
        key.display(),
        known.display(),
    );
    let before = (accepted(&tb, "h1"), accepted(&tb, "h2"));
    let mut remote = connect(&spec("h2-via-h1"), &options(home.path(), &jump)).unwrap();
    assert_eq!(
        stdout(
            &mut remote,
            "hostname; echo $SSH_CONNECTION | cut -d' ' -f1"
        ),
        format!("h2\n{}", tb.addr("h1"))
    );
    let big = stdout(&mut remote, "seq 1 100000 | tail -n 1");
    assert_eq!(big, "100000");
    remote.upload("via.txt", b"through h1", 0o600).unwrap();
    assert_eq!(stdout(&mut remote, "cat via.txt"), "through h1");
    drop(remote);
    assert_eq!(
        (accepted(&tb, "h1"), accepted(&tb, "h2")),
        (before.0 + 1, before.1 + 1)
    );
}
