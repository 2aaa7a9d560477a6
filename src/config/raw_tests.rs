//! Tests of `raw`: reading deliver.toml as written, with spans.

use super::*;

fn problem(text: &str) -> Problem {
    RawFile::parse(text).unwrap_err()
}

#[test]
fn nearest_suggests_close_keys_only() {
    assert_eq!(
        nearest("keep_relases", &SETTINGS_KEYS),
        Some("keep_releases")
    );
    assert_eq!(nearest("deploy-to", &SETTINGS_KEYS), Some("deploy_to"));
    assert_eq!(nearest("Hosts", &SETTINGS_KEYS), Some("hosts"));
    assert_eq!(nearest("rf", &SETTINGS_KEYS), Some("ref"));
    assert_eq!(nearest("healthcheck", &SETTINGS_KEYS), Some("health"));
    assert_eq!(nearest("zzz", &SETTINGS_KEYS), None);
    assert_eq!(nearest("database", &SETTINGS_KEYS), None);
}

#[test]
fn every_key_gets_its_offset_and_path() {
    let text = "app = \"shop\"\n[environments.production.health]\ndeadline = \"60s\"\n";
    let file = RawFile::parse(text).unwrap();
    let app = file.app.unwrap();
    assert_eq!((app.key_at, app.at, app.value.as_str()), (0, 6, "shop"));
    let envs = file.environments.unwrap().value;
    assert_eq!(envs[0].name, "production");
    let deadline = envs[0].settings.health.deadline.as_ref().unwrap();
    assert_eq!(deadline.path, "environments.production.health.deadline");
    assert_eq!(&text[deadline.at..deadline.at + 5], "\"60s\"");
}

#[test]
fn array_elements_have_indexed_paths() {
    let file = RawFile::parse("hosts = [\"a\", 2]").unwrap_err();
    assert_eq!(
        file,
        Problem::new(14, "hosts[1] must be a string, found an integer")
    );
}

#[test]
fn datetimes_and_arrays_of_tables_are_wrong_types_not_crashes() {
    assert_eq!(
        problem("deploy_to = 1979-05-27\n"),
        Problem::new(12, "deploy_to must be a string, found a datetime")
    );
    assert_eq!(
        problem("[[build]]\nhooks = []\n"),
        Problem::new(0, "build must be a table, found an array")
    );
}

#[test]
fn quoted_keys_are_quoted_in_paths() {
    assert_eq!(
        problem("[health]\n\"odd key\" = 1\n").message,
        "unknown key `health.\"odd key\"`"
    );
}

#[test]
fn top_level_only_keys_are_refused_in_environments() {
    assert_eq!(
        problem("[environments.production]\napp = \"x\"\n"),
        Problem::new(
            26,
            "`environments.production.app` is not allowed here: `app` can only be set at \
             the top level"
        )
    );
}

#[test]
fn env_accepts_integers_and_booleans_as_text() {
    let file = RawFile::parse("[env]\nWORKERS = 4\nDEBUG = false\nX = \"y\"\n").unwrap();
    let env: Vec<(&str, &str)> = file
        .settings
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(env, [("WORKERS", "4"), ("DEBUG", "false"), ("X", "y")]);
    assert_eq!(
        problem("[env]\nX = 1.5\n").message,
        "env.X must be a string, an integer or a boolean, found a float"
    );
}
