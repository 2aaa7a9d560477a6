//! Rendered files against the programs that read them: `systemd-analyze verify` (exit 0 and
//! an empty stderr, since verify exits 0 on unknown keys and bad values), systemd's own
//! parser (`systemd --test --user` dumps the loaded units), `/bin/sh` for the upstart exec
//! lines and `nginx -t`. These tests never skip: a missing tool is a failure that says to
//! run `install.sh --test-deps`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use deliver::render::example::{Example, GREETING};
use deliver::render::{self, RenderedFile};

/// uid/gid of `nobody`, which `systemd --test --user` runs as when the tests run as root.
const NOBODY: u32 = 65_534;

/// The path of `name` (PATH, then the sbin and systemd directories); panics when missing.
pub(crate) fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/lib/systemd", "/lib/systemd"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            let ci = if std::env::var_os("CI").is_some() {
                " (CI is set: the test bed must provide it)"
            } else {
                ""
            };
            panic!("`{name}` is not installed{ci}: run `install.sh --test-deps`")
        })
}

fn write(dir: &Path, files: &[RenderedFile]) {
    for file in files {
        fs::write(dir.join(&file.name), &file.contents).unwrap();
    }
}

/// A temporary directory other users can read (for `systemd --test` as nobody).
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn assert_clean(what: &str, output: &Output) {
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{what}: {}\nstderr:\n{}\nstdout:\n{}",
        output.status,
        text(&output.stderr),
        text(&output.stdout)
    );
}

/// The target and one path per instance: verify loads `shop-web@5000.service` from the
/// template `shop-web@.service` in the same directory.
fn verify_args(dir: &Path, example: &Example) -> Vec<PathBuf> {
    let app = &example.env.app;
    std::iter::once(dir.join(render::target_unit(app)))
        .chain(
            example
                .formation
                .instances()
                .iter()
                .map(|i| dir.join(render::instance_unit(app, i))),
        )
        .collect()
}

#[test]
fn system_units_pass_systemd_analyze_verify() {
    for example in [Example::new(), Example::limited()] {
        system_units_verify(&example);
    }
}

fn system_units_verify(example: &Example) {
    let analyze = tool("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &render::systemd(&example.target(), false).unwrap(),
    );
    // `User=app` need not exist and WorkingDirectory need not exist for verify; the
    // executable (/bin/sh) must.
    let output = Command::new(analyze)
        .arg("verify")
        .args(verify_args(dir.path(), example))
        .output()
        .unwrap();
    assert_clean("systemd-analyze verify (system units)", &output);
}

#[test]
fn user_units_pass_systemd_analyze_verify() {
    for example in [Example::new(), Example::limited()] {
        user_units_verify(&example);
    }
}

fn user_units_verify(example: &Example) {
    let analyze = tool("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &render::systemd(&example.target(), true).unwrap(),
    );
    // The user manager needs a runtime directory, which a test machine may not have.
    let runtime = tempfile::tempdir().unwrap();
    let output = Command::new(analyze)
        .args(["--user", "verify"])
        .args(verify_args(dir.path(), example))
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    assert_clean("systemd-analyze --user verify", &output);
}

#[test]
fn verify_reports_a_broken_unit_on_stderr() {
    // Guards the check above: systemd-analyze verify exits 0 here too, only stderr tells.
    let analyze = tool("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("broken.service");
    fs::write(
        &unit,
        "[Service]\nExecStart=/bin/sh -c 'a\\q'\nTimeoutStopSec=soon\n",
    )
    .unwrap();
    let output = Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Ignoring unknown escape sequences"),
        "{stderr}"
    );
    assert!(stderr.contains("Failed to parse"), "{stderr}");
}

/// The lines of `dump` that belong to `-> Unit <name>:`, without their indentation.
fn dump_section<'a>(dump: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("-> Unit {name}:");
    dump.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("-> Unit "))
        .map(str::trim)
        .collect()
}

/// Splits systemd's dump of a command line: bare words, or `"..."` with `\` escapes
/// (`\n`, `\t`, else the next character), as systemd's `shell_maybe_quote` writes them.
fn dump_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {}
            '"' => {
                let mut word = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next().unwrap() {
                            'n' => word.push('\n'),
                            't' => word.push('\t'),
                            e => word.push(e),
                        },
                        c => word.push(c),
                    }
                }
                words.push(word);
            }
            c => {
                let mut word = String::from(c);
                while let Some(c) = chars.next_if(|c| *c != ' ') {
                    word.push(c);
                }
                words.push(word);
            }
        }
    }
    words
}

#[test]
fn systemd_reads_back_every_command_and_variable_as_written() {
    let systemd = tool("systemd");
    let example = Example::new();
    let units = open_tempdir();
    write(
        units.path(),
        &render::systemd(&example.target(), true).unwrap(),
    );
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(systemd);
    command
        .args(["--test", "--user", "--no-pager", "--unit=shop.target"])
        .env_clear()
        .env("SYSTEMD_UNIT_PATH", units.path())
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", home.path());
    // A user manager refuses to run as root (it exits 1 silently): use nobody.
    if fs::metadata("/proc/self").unwrap().uid() == 0 {
        std::os::unix::fs::chown(home.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        std::os::unix::process::CommandExt::uid(&mut command, NOBODY);
        std::os::unix::process::CommandExt::gid(&mut command, NOBODY);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let dump = text(&output.stdout);

    let app = &example.env.app;
    let target = dump_section(&dump, "shop.target");
    let wants: Vec<String> = example
        .formation
        .instances()
        .iter()
        .map(|i| format!("Wants: {} (origin-file)", render::instance_unit(app, i)))
        .collect();
    for want in &wants {
        assert!(target.contains(&want.as_str()), "{want} in {target:#?}");
    }

    for instance in example.formation.instances() {
        let name = render::instance_unit(app, &instance);
        let section = dump_section(&dump, &name);
        assert!(!section.is_empty(), "{name} missing from the dump:\n{dump}");
        let environment: Vec<&str> = section
            .iter()
            .filter_map(|l| l.strip_prefix("Environment: "))
            .collect();
        assert_eq!(
            environment,
            [
                format!("GREETING={GREETING}"),
                "NODE_ENV=production".to_owned(),
                format!("PORT={}", instance.port),
            ],
            "{name}"
        );
        assert!(section.contains(&"WorkingDirectory: /home/app/shop/current"));
        assert!(section.contains(&"EnvironmentFile: -/home/app/shop/shared/.env"));
        assert!(section.contains(&"KillMode: mixed"));
        assert!(section.contains(&"TimeoutStopSec: 30s"));
        let exec = section
            .iter()
            .find_map(|l| l.strip_prefix("Command Line: "))
            .unwrap_or_else(|| panic!("no command line for {name}"));
        let procfile_command = &example
            .formation
            .types
            .iter()
            .find(|t| t.name == instance.type_name)
            .unwrap()
            .command;
        // The dump is taken before the last step, which systemd does when it spawns the
        // process: `$$` becomes `$` (systemd.service(5), "Command lines"; unit-tested in
        // render::escape).
        assert_eq!(
            dump_words(exec),
            [
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                format!("exec {}", procfile_command.replace('$', "$$")),
            ],
            "{name}: {exec}"
        );
    }
}

#[test]
fn upstart_exec_lines_reach_the_shell_as_written() {
    let sh = tool("sh");
    let example = Example::new();
    let files = render::upstart(&example.target()).unwrap();
    let prelude = "if [ -r /home/app/shop/shared/.env ]; then set -a; . \
                   /home/app/shop/shared/.env; set +a; fi; ";
    let mut checked = 0;
    for instance in example.formation.instances() {
        let name = format!("{}.conf", render::upstart_job(&example.env.app, &instance));
        let file = files.iter().find(|f| f.name == name).unwrap();
        let line = file
            .contents
            .lines()
            .find_map(|l| l.strip_prefix("exec "))
            .unwrap();
        // upstart runs `/bin/sh -e -c "exec <line>"` (libnih copies the line verbatim:
        // unit-tested in render::escape). Swap the inner shell for printf to see the script
        // it would get.
        let probe = line.replacen("/bin/sh -c ", "printf %s ", 1);
        assert_ne!(probe, line);
        let output = Command::new(&sh)
            .args(["-e", "-c", &format!("exec {probe}")])
            .output()
            .unwrap();
        assert_clean(&name, &output);
        let command = &example
            .formation
            .types
            .iter()
            .find(|t| t.name == instance.type_name)
            .unwrap()
            .command;
        assert_eq!(text(&output.stdout), format!("{prelude}exec {command}"));
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn nginx_accepts_the_upstream_inside_http_and_the_documented_location() {
    let example = Example::new();
    // nginx resolves host names when it loads the config: keep the example's addresses but
    // swap its DNS name for one this machine resolves.
    let mut backends = example.backends();
    for backend in &mut backends {
        if backend.address == "web2.internal" {
            backend.address = "localhost".to_owned();
        }
    }
    let files = render::nginx(&example.env, &backends).unwrap();
    assert!(files[0]
        .contents
        .contains("server localhost:5001 max_fails=1"));
    nginx_accepts(&files[0]);
}

#[test]
fn nginx_accepts_the_managed_upstream_with_drained_and_surge_servers() {
    use deliver::release::Bank;
    use render::{ProxiedHost, ServerState, UpstreamServer};
    let example = Example::new();
    let server = |port, bank, state| UpstreamServer { port, bank, state };
    let hosts = [
        ProxiedHost {
            address: "127.0.0.1".to_owned(),
            servers: vec![
                server(5000, Bank::Surge, ServerState::Serving),
                server(5000, Bank::Base, ServerState::Down),
                server(5001, Bank::Base, ServerState::Absent),
            ],
        },
        ProxiedHost {
            address: "::1".to_owned(),
            servers: vec![server(5000, Bank::Base, ServerState::Serving)],
        },
    ];
    let contents = render::nginx_managed(&example.env, &hosts).unwrap();
    assert!(contents.contains("server 127.0.0.1:5000 max_fails=1 fail_timeout=2s down;"));
    assert!(contents.contains("server [::1]:5000 max_fails=1"));
    nginx_accepts(&RenderedFile {
        name: "shop-upstream.conf".to_owned(),
        contents,
    });
}

/// `nginx -t` passes, without a warning, with `file` in an included `conf.d/` inside
/// `http {}` and the `location` its header documents, uncommented, in a server.
fn nginx_accepts(file: &RenderedFile) {
    let nginx = tool("nginx");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display();
    let conf_d = dir.path().join("conf.d");
    fs::create_dir(&conf_d).unwrap();
    write(&conf_d, std::slice::from_ref(file));
    // The location block the header documents, uncommented.
    let mut location = String::new();
    for line in file.contents.lines() {
        if let Some(l) = line.strip_prefix("#     ") {
            if l.starts_with(' ') || l.starts_with("location") || l == "}" {
                location.push_str("        ");
                location.push_str(l);
                location.push('\n');
            }
        }
    }
    assert!(location.starts_with("        location / {\n"), "{location}");
    assert!(location.contains("proxy_next_upstream error timeout http_502 http_503 http_504;"));
    let conf = format!(
        "pid {root}/nginx.pid;\n\
         error_log {root}/error.log;\n\
         events {{}}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {root}/body;\n\
         \x20   proxy_temp_path {root}/proxy;\n\
         \x20   fastcgi_temp_path {root}/fastcgi;\n\
         \x20   uwsgi_temp_path {root}/uwsgi;\n\
         \x20   scgi_temp_path {root}/scgi;\n\
         \x20   include {root}/conf.d/*.conf;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:18080;\n\
         {location}\
         \x20   }}\n\
         }}\n"
    );
    fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let output = Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    // nginx -t reports success on stderr; anything else there ([warn], [emerg]) fails.
    assert!(output.status.success(), "nginx -t: {stderr}");
    for line in stderr.lines() {
        assert!(
            line.ends_with("syntax is ok") || line.ends_with("test is successful"),
            "nginx -t: {stderr}"
        );
    }
}
