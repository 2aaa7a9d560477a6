//! Secrets stay secret (SPEC §7, issue 12): a value in the hosts' `shared/.env` and the key
//! given as `DELIVER_SSH_KEY` appear in no output (`-v`, `--json`), no deploy log, and no
//! command line that `ps` shows on the hosts while a deploy runs; the app still gets the
//! value in its environment.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{on, shown, text, App};
use crate::testbed::Testbed;

const SECRET: &str = "s3cr3t-value-7f1c9a";

#[test]
fn shared_env_values_and_the_ssh_key_appear_in_no_output_log_or_command_line() {
    let tb = Testbed::up(2);
    let hosts = ["h1", "h2"];
    let app = App::new(&tb, &hosts);
    app.ok(&[], 0);
    for host in hosts {
        let out = tb.ssh(
            host,
            &format!("umask 077 && printf 'API_TOKEN=%s\\n' {SECRET} >node-app/shared/.env"),
        );
        assert!(out.status.success(), "{host}: {}", shown(&out));
    }
    let key = std::fs::read_to_string("/var/lib/deliver-testbed/id_ed25519").unwrap();
    // The key's base64 lines: none may show anywhere.
    let key_lines: Vec<&str> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .collect();
    assert!(!key_lines.is_empty());
    app.commit("deploy with a secret on the hosts");

    // Every command line on the hosts, sampled while the deploy runs.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sampler = {
        let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
        let tb_hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let exec = |host: &str| {
            Command::new("tests/testbed/testbed.sh")
                .current_dir(crate::support::repo_root())
                .args(["exec", host, "ps", "-eo", "args", "--no-headers"])
                .stdin(Stdio::null())
                .output()
                .map(|o| text(&o.stdout))
                .unwrap_or_default()
        };
        std::thread::spawn(move || {
            let mut samples = 0;
            while !stop.load(Ordering::SeqCst) {
                for h in &tb_hosts {
                    seen.lock().unwrap().push(exec(h));
                }
                samples += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            samples
        })
    };
    let out = app
        .command(&["-v", "--json", "deploy"])
        .env("DELIVER_SSH_KEY", &key)
        .output()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    let rounds = sampler.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(rounds >= 3, "ps sampled {rounds} times during the deploy");
    assert!(
        seen.lock().unwrap().iter().any(|ps| ps.contains("sh -s")),
        "the samples caught deliver's remote shells at work"
    );

    let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let mut places: Vec<(String, String)> = vec![("deliver's output".into(), printed)];
    for host in hosts {
        places.push((
            format!("{host}'s deploy log"),
            on(&tb, host, "cat node-app/.deliver/log.jsonl"),
        ));
    }
    places.push((
        "the hosts' command lines".into(),
        seen.lock().unwrap().join("\n"),
    ));
    for (place, content) in &places {
        assert!(!content.contains(SECRET), "the secret shows in {place}");
        for line in &key_lines {
            assert!(!content.contains(line), "DELIVER_SSH_KEY shows in {place}");
        }
    }
    // It did reach the app: in the environment of a web process.
    for host in hosts {
        let environ = tb.exec(
            host,
            "pid=$(pgrep -u app -f 'node server.js' | head -n 1); tr '\\0' '\\n' </proc/$pid/environ",
        );
        assert!(
            text(&environ.stdout)
                .lines()
                .any(|l| l == format!("API_TOKEN={SECRET}")),
            "{host}: the web process has API_TOKEN"
        );
    }
}
