//! `git push` without git's transport: libgit2 builds a pack of the objects of `commit` that
//! the host's commits (`remote_tips`) do not reach, and the pack goes to the host's bare repo
//! on an exec channel of the same session, followed by `update-ref`.
//!
//! Like `git receive-pack` (`transfer.unpackLimit`, 100): fewer than 100 objects are unpacked
//! into loose objects (`unpack-objects`), more are kept as a pack (`index-pack --stdin
//! --fix-thin`), so an incremental deploy adds a few loose objects instead of one more pack
//! file, and the first one does not write thousands of files. Both check the pack's trailing
//! checksum, so a pack cut short by a lost connection is refused, and `update-ref` runs only
//! after it was stored.

use std::path::Path;
use std::time::Instant;

use git2::{Oid, Repository};

use super::exec::{exec_until, home_relative};
use super::io::Io;
use super::{PushStats, RemoteError, Stream};
use crate::shell::quote;

/// Objects at and above this count travel as a kept pack (git's `transfer.unpackLimit`).
const UNPACK_LIMIT: usize = 100;

pub(crate) fn push(
    io: &Io,
    repo: &Path,
    commit: &str,
    git_dir: &str,
    refname: &str,
    remote_tips: &[String],
) -> Result<PushStats, RemoteError> {
    let fail = |message: String| RemoteError::Push {
        host: io.host.clone(),
        message,
    };
    let (sha, pack, objects) = build_pack(repo, commit, refname, remote_tips).map_err(fail)?;
    let git = |args: &str| format!("git --git-dir={} {args}", quote(home_relative(git_dir)));
    let update = git(&format!("update-ref {} {sha}", quote(refname)));
    let inner = match objects {
        0 => update,
        n if n < UNPACK_LIMIT => format!("{} && {update}", git("unpack-objects -q")),
        _ => format!(
            "{} >/dev/null && {update}",
            git("index-pack --stdin --fix-thin")
        ),
    };
    let mut stderr = Vec::new();
    let started = Instant::now();
    // Given up at once on SIGINT/SIGTERM: a host that takes the pack keeps talking (window
    // adjustments), so the silence rule of `Io::check` would let a long push run to its end.
    // A pack cut short is refused by the host, and `update-ref` never runs.
    let status = exec_until(
        io,
        &format!("sh -c {}", quote(&inner)),
        &pack,
        None,
        &|| io.interrupted(),
        "push",
        &mut |s, b| {
            if s == Stream::Stderr {
                stderr.extend_from_slice(b);
            }
        },
    )?;
    if status != 0 {
        let text = String::from_utf8_lossy(&stderr).trim().to_owned();
        return Err(fail(format!(
            "{git_dir}: exit status {status} after {}ms{}{text}",
            started.elapsed().as_millis(),
            if text.is_empty() { "" } else { ": " }
        )));
    }
    Ok(PushStats {
        objects,
        bytes: pack.len() as u64,
    })
}

/// The full sha of `commit`, a pack of what the tips lack, and its object count.
fn build_pack(
    repo: &Path,
    commit: &str,
    refname: &str,
    remote_tips: &[String],
) -> Result<(String, Vec<u8>, usize), String> {
    let local = |e: git2::Error| format!("{}: {}", repo.display(), e.message());
    if !refname.starts_with("refs/") || !git2::Reference::is_valid_name(refname) {
        return Err(format!("`{refname}` is not a full ref name (refs/...)"));
    }
    let repository = Repository::open(repo).map_err(local)?;
    let oid = repository
        .revparse_single(commit)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| {
            format!(
                "{}: `{commit}` is not a commit: {}",
                repo.display(),
                e.message()
            )
        })?
        .id();
    let mut walk = repository.revwalk().map_err(local)?;
    walk.push(oid).map_err(local)?;
    for tip in remote_tips {
        // A tip this repository does not have cannot be used (the host has history we lack).
        if let Ok(tip) = Oid::from_str(tip) {
            if repository.find_commit(tip).is_ok() {
                walk.hide(tip).map_err(local)?;
            }
        }
    }
    let mut builder = repository.packbuilder().map_err(local)?;
    builder.set_threads(0);
    builder.insert_walk(&mut walk).map_err(local)?;
    let objects = builder.object_count();
    let mut pack = Vec::new();
    if objects > 0 {
        let mut buf = git2::Buf::new();
        builder.write_buf(&mut buf).map_err(local)?;
        pack = buf.to_vec();
    }
    Ok((oid.to_string(), pack, objects))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

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

    #[test]
    fn packs_only_what_the_tips_lack() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::create_dir(d.join("src")).unwrap();
        for i in 0..10 {
            std::fs::write(
                d.join(format!("src/f{i}.txt")),
                format!("file {i}\n").repeat(50),
            )
            .unwrap();
        }
        git(d, &["add", "."]);
        git(d, &["commit", "-qm", "one"]);
        let first = git(d, &["rev-parse", "HEAD"]);
        std::fs::write(d.join("src/f3.txt"), "changed\n").unwrap();
        git(d, &["commit", "-qam", "two"]);
        let second = git(d, &["rev-parse", "HEAD"]);

        let (sha, pack, objects) = build_pack(d, "HEAD~1", "refs/heads/main", &[]).unwrap();
        assert_eq!((sha.as_str(), objects), (first.as_str(), 13));
        assert!(pack.starts_with(b"PACK"));
        // commit, root tree, src tree, one blob.
        let unknown = "0123456789012345678901234567890123456789".to_owned();
        let (sha, pack2, objects) = build_pack(
            d,
            "main",
            "refs/heads/main",
            &[first.clone(), unknown, "junk".to_owned()],
        )
        .unwrap();
        assert_eq!((sha, objects), (second.clone(), 4));
        assert!(pack2.len() < pack.len());
        let (_, pack3, objects) =
            build_pack(d, &second, "refs/heads/main", std::slice::from_ref(&second)).unwrap();
        assert_eq!((objects, pack3.len()), (0, 0));
    }

    #[test]
    fn refuses_bad_refs_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        assert!(build_pack(dir.path(), "HEAD", "main", &[])
            .unwrap_err()
            .contains("refs/..."));
        let err = build_pack(dir.path(), "nope", "refs/heads/main", &[]).unwrap_err();
        assert!(err.contains("`nope` is not a commit"), "{err}");
    }
}
