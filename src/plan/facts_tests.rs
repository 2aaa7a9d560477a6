//! Tests of `facts`: the script run in a sandbox, and its output parsed.

use super::*;
use crate::plan::sandbox::Sandbox;

fn app() -> AppName {
    AppName("shop".to_owned())
}

#[test]
fn the_script_for_each_supervisor() {
    let layout = Layout::new("~/shop");
    insta::assert_snapshot!(
        "facts_systemd_user",
        gather(&layout, &app(), Supervisor::SystemdUser, Depth::Readiness).render()
    );
    insta::assert_snapshot!(
        "facts_systemd",
        gather(&layout, &app(), Supervisor::Systemd, Depth::Readiness).render()
    );
    insta::assert_snapshot!(
        "facts_upstart",
        gather(&layout, &app(), Supervisor::Upstart, Depth::Readiness).render()
    );
    insta::assert_snapshot!(
        "facts_layout",
        gather(&layout, &app(), Supervisor::SystemdUser, Depth::Layout).render()
    );
}

#[test]
fn the_layout_depth_asks_no_readiness_question() {
    for sup in [
        Supervisor::SystemdUser,
        Supervisor::Systemd,
        Supervisor::Upstart,
    ] {
        let script = gather(&Layout::new("~/shop"), &app(), sup, Depth::Layout).render();
        // The commands, not their comments.
        let text = script
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        for absent in ["systemctl", "sudo", "--version", "sed ", "tr "] {
            assert!(!text.contains(absent), "{sup:?}: {absent:?} in\n{text}");
        }
    }
}

#[test]
fn a_fresh_host_has_no_layout_and_the_script_still_succeeds() {
    let sandbox = Sandbox::new();
    let user = sandbox.sh("id -un");
    let uid: u32 = sandbox.sh("id -u").trim().parse().unwrap();
    for sup in [Supervisor::SystemdUser, Supervisor::Systemd] {
        for depth in [Depth::Layout, Depth::Readiness] {
            let ran = sandbox
                .run(&gather(&Layout::new("~/shop"), &app(), sup, depth))
                .ok();
            let facts = parse(&ran.stdout).unwrap();
            assert_eq!(facts.home, sandbox.home().to_str().unwrap());
            assert_eq!(facts.user, user.trim());
            assert_eq!(facts.uid, Some(uid));
            assert!(facts.cpus.unwrap() >= 1);
            let asked = depth == Depth::Readiness;
            assert_eq!(facts.git.is_some(), asked);
            if asked {
                assert!(facts.git.as_deref().unwrap().starts_with("git version"));
            }
            assert!(!facts.repo);
            assert_eq!(facts.current, None);
            assert!(facts.releases.is_empty() && facts.tips.is_empty() && facts.units.is_empty());
            assert_eq!(facts.lock, None);
            assert_eq!(facts.sudo.is_some(), asked && sup == Supervisor::Systemd);
        }
    }
}

#[test]
fn a_prepared_layout_reports_releases_tips_units_and_the_lock() {
    let sandbox = Sandbox::new();
    let sha1 = "1111111111111111111111111111111111111111";
    sandbox.sh(&format!(
        "set -e; mkdir -p shop/releases/20240101000000-1111111 \
         shop/releases/20240102000000-2222222 shop/releases/junk shop/.deliver/units \
         shop/.deliver/lock\n\
         echo {sha1} > shop/releases/20240101000000-1111111/REVISION\n\
         ln -s releases/20240101000000-1111111 shop/current\n\
         printf 'x\\nWants=shop-web@7000.service  shop-web@7001.service\\nWants=shop-*.service\\n' > shop/.deliver/units/shop.target\n\
         printf 'y' > shop/.deliver/units/shop-web@.service\n\
         mkdir shop/.deliver/units/not-a-unit\n\
         touch shop-matched.service\n\
         printf '{{\"user\": \"bob\",\\n\"pid\": 1}}' > shop/.deliver/lock/holder.json\n\
         git init -q --bare shop/repo.git\n\
         git init -q src && cd src && git commit -q --allow-empty -m one\n\
         git push -q ../shop/repo.git HEAD:refs/releases/20240101000000-1111111"
    ));
    let head = sandbox.sh("git -C src rev-parse HEAD");
    let facts_at = |depth| {
        let layout = Layout::new("~/shop");
        let ran = sandbox.run(&gather(&layout, &app(), Supervisor::SystemdUser, depth));
        parse(&ran.ok().stdout).unwrap()
    };
    let (facts, full) = (facts_at(Depth::Layout), facts_at(Depth::Readiness));
    assert_eq!(
        Facts {
            git: None,
            systemd: None,
            xdg_runtime_dir: None,
            user_manager: None,
            ..full
        },
        facts,
        "both depths report the same layout"
    );
    assert!(facts.repo);
    assert_eq!(
        facts.current_link.as_deref(),
        Some("releases/20240101000000-1111111")
    );
    let first: ReleaseId = "20240101000000-1111111".parse().unwrap();
    assert_eq!(facts.current.as_ref(), Some(&first));
    assert_eq!(facts.current_revision(), Some(sha1));
    assert_eq!(
        facts
            .releases
            .iter()
            .map(|r| (r.id.as_str(), r.revision.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("20240101000000-1111111", Some(sha1)),
            ("20240102000000-2222222", None)
        ]
    );
    assert_eq!(facts.complete_releases(), [first]);
    assert_eq!(facts.strays, ["junk"]);
    assert_eq!(facts.tip_shas(), [head.trim()]);
    assert_eq!(
        facts.tips[0].refname,
        "refs/releases/20240101000000-1111111"
    );
    assert_eq!(facts.tips_error, None);
    let sha256 = |f: &str| sandbox.sh(&format!("sha256sum < shop/.deliver/units/{f}"));
    assert_eq!(
        facts.units,
        BTreeMap::from([
            (
                "shop.target".to_owned(),
                sha256("shop.target")[..64].to_owned()
            ),
            (
                "shop-web@.service".to_owned(),
                sha256("shop-web@.service")[..64].to_owned()
            ),
        ])
    );
    // The glob in the second Wants= line stays a word.
    assert_eq!(
        facts.wants,
        [
            "shop-web@7000.service",
            "shop-web@7001.service",
            "shop-*.service"
        ]
    );
    assert_eq!(
        facts.lock.unwrap().holder.as_deref(),
        Some("{\"user\": \"bob\",\"pid\": 1}")
    );
}

#[test]
fn a_hostile_deploy_to_stays_literal() {
    let sandbox = Sandbox::new();
    let evil = "x\"; touch pwned #$(touch pwned2)'";
    sandbox.sh(&format!(
        "mkdir -p {}",
        quote(&format!("{evil}/releases/20240101000000-1111111"))
    ));
    let ran = sandbox
        .run(&gather(
            &Layout::new(&format!("~/{evil}")),
            &app(),
            Supervisor::Systemd,
            Depth::Readiness,
        ))
        .ok();
    let facts = parse(&ran.stdout).unwrap();
    assert_eq!(facts.releases.len(), 1);
    assert!(!sandbox.path("pwned").exists() && !sandbox.path("pwned2").exists());
}

#[test]
fn unit_hashes_survive_a_backslash_in_the_deploy_path() {
    let sandbox = Sandbox::new();
    let base = "back\\slash";
    sandbox.sh(&format!(
        "mkdir -p {units} && printf 'x\\n' > {units}/shop.target",
        units = quote(&format!("{base}/.deliver/units"))
    ));
    let ran = sandbox
        .run(&gather(
            &Layout::new(&format!("~/{base}")),
            &app(),
            Supervisor::SystemdUser,
            Depth::Layout,
        ))
        .ok();
    let facts = parse(&ran.stdout).unwrap();
    // sha256 of "x\n".
    assert_eq!(
        facts.units,
        BTreeMap::from([(
            "shop.target".to_owned(),
            "73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac".to_owned()
        )])
    );
}

#[test]
fn parse_rejects_cut_off_and_foreign_output() {
    assert_eq!(parse("").unwrap_err(), "facts: no output");
    assert_eq!(
        parse("hello\n").unwrap_err(),
        "facts: expected `deliver-facts=1` first, got `hello`"
    );
    assert_eq!(
        parse("deliver-facts=1\nhome=/h\n").unwrap_err(),
        "facts: the output stops before `end=ok`"
    );
    assert_eq!(
        parse("deliver-facts=1\nlinger=maybe\nend=ok\n").unwrap_err(),
        "facts: `linger` must be yes or no, got `maybe`"
    );
    assert_eq!(
        parse("deliver-facts=1\ntip=abc\nend=ok\n").unwrap_err(),
        "facts: expected two tab-separated fields: `tip=abc`"
    );
    let facts = parse("deliver-facts=1\nfuture=1\nlock=yes\nend=ok\n").unwrap();
    assert_eq!(facts.lock, Some(LockFact { holder: None }));
}

#[test]
fn a_release_marked_failed_is_reported_so() {
    use crate::plan::failed;
    let sandbox = Sandbox::new();
    let layout = Layout::new("~/shop");
    let (good, bad): (ReleaseId, ReleaseId) = (
        "20240101000000-1111111".parse().unwrap(),
        "20240102000000-2222222".parse().unwrap(),
    );
    sandbox.sh(&format!(
        "mkdir -p shop/releases/{good} shop/releases/{bad} shop/releases/junk\n\
         echo 1 > shop/releases/{good}/REVISION; echo 2 > shop/releases/{bad}/REVISION\n\
         : > shop/releases/junk/{}",
        failed::MARKER
    ));
    let mark = failed::Mark::new(1_704_153_600, "h1: web@5000 never healthy", "me@here");
    sandbox.run(&failed::mark(&layout, &bad, &mark)).ok();
    let ran = sandbox.run(&gather(
        &layout,
        &app(),
        Supervisor::SystemdUser,
        Depth::Layout,
    ));
    let facts = parse(&ran.ok().stdout).unwrap();
    assert_eq!(
        facts
            .releases
            .iter()
            .map(|r| (r.id.as_str(), r.failed))
            .collect::<Vec<_>>(),
        [(good.as_str(), false), (bad.as_str(), true)]
    );
    assert_eq!(facts.failed_releases(), [bad]);
    assert_eq!(facts.strays, ["junk"]);
}
