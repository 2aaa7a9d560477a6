//! The nginx upstream (SPEC §6): one `server` line per port of the health-checked process on
//! every host, with `max_fails`/`fail_timeout` and `keepalive`. The file is valid inside
//! `http {}` (nginx's conf.d); its header documents the proxy settings that belong in the
//! app's `location` (see the template for why they are not http-level directives).

use serde::Serialize;
use tera::Tera;

use super::{Backend, RenderError, RenderedFile};
use crate::config::{Environment, UpstreamName};

pub(super) const UPSTREAM_TEMPLATE: &str = "nginx/upstream.conf";

#[derive(Serialize)]
struct UpstreamFile<'a> {
    app: &'a str,
    environment: &'a str,
    process: &'a str,
    upstream: &'a str,
    file_name: &'a str,
    /// `ADDRESS:PORT`, IPv6 addresses in brackets.
    servers: Vec<String>,
}

pub(super) fn render(
    tera: &Tera,
    env: &Environment,
    backends: &[Backend],
) -> Result<Vec<RenderedFile>, RenderError> {
    let upstream = env
        .proxy
        .as_ref()
        .map_or(env.app.as_str(), |p| p.upstream.as_str());
    let file_name = format!("{upstream}-upstream.conf");
    let error = |message: String| RenderError {
        template: file_name.clone(),
        message,
    };
    if !UpstreamName::is_valid(upstream) {
        return Err(error(format!(
            "the upstream name `{upstream}` can only hold letters, digits, `_`, `.` and `-`"
        )));
    }
    let mut servers = Vec::new();
    for backend in backends {
        let address = server_address(&backend.address).ok_or_else(|| {
            error(format!(
                "`{}` is not a host name or address",
                backend.address
            ))
        })?;
        servers.extend(backend.ports.iter().map(|port| format!("{address}:{port}")));
    }
    if servers.is_empty() {
        return Err(error(format!(
            "no `{}` instance on any host: nginx refuses an upstream without servers",
            env.health.process
        )));
    }
    let contents = super::render_template(
        tera,
        UPSTREAM_TEMPLATE,
        &UpstreamFile {
            app: env.app.as_str(),
            environment: &env.name,
            process: &env.health.process,
            upstream,
            file_name: &file_name,
            servers,
        },
    )?;
    Ok(vec![RenderedFile {
        name: file_name,
        contents,
    }])
}

/// `address` as nginx's `server` wants it before `:port`: IPv6 literals in brackets. `None`
/// for anything that is not a plain name or address (nginx syntax characters, spaces).
fn server_address(address: &str) -> Option<String> {
    let bare = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    if bare.is_empty()
        || !bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:%".contains(c))
    {
        return None;
    }
    Some(if bare.contains(':') {
        format!("[{bare}]")
    } else {
        bare.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::super::example::Example;
    use super::super::{nginx as render_nginx, Backend};
    use super::server_address;

    #[test]
    fn upstream() {
        let example = Example::new();
        let files = render_nginx(&example.env, &example.backends()).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "shop-upstream.conf");
        insta::assert_snapshot!(files[0].contents);
    }

    #[test]
    fn upstream_name_defaults_to_the_app() {
        let mut example = Example::new();
        example.env.proxy = None;
        example.env.app = crate::config::AppName("store".to_owned());
        let backends = [Backend {
            address: "10.0.0.1".to_owned(),
            ports: vec![5000],
        }];
        let files = render_nginx(&example.env, &backends).unwrap();
        assert_eq!(files[0].name, "store-upstream.conf");
        assert!(files[0].contents.contains(
            "\nupstream store {\n    server 10.0.0.1:5000 max_fails=1 fail_timeout=2s;\n    \
             keepalive 32;\n}\n"
        ));
    }

    #[test]
    fn no_servers_is_an_error() {
        let example = Example::new();
        let backends = [Backend {
            address: "10.0.0.1".to_owned(),
            ports: vec![],
        }];
        assert_eq!(
            render_nginx(&example.env, &backends)
                .unwrap_err()
                .to_string(),
            "rendering shop-upstream.conf: no `web` instance on any host: nginx refuses an \
             upstream without servers"
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(server_address("10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(server_address("web1.internal").unwrap(), "web1.internal");
        assert_eq!(server_address("fd00::1").unwrap(), "[fd00::1]");
        assert_eq!(server_address("[fd00::1]").unwrap(), "[fd00::1]");
        assert_eq!(server_address("a;b"), None);
        assert_eq!(server_address("a b"), None);
        assert_eq!(server_address(""), None);
        let mut example = Example::new();
        example.env.proxy.as_mut().unwrap().upstream =
            crate::config::UpstreamName::unchecked("a b");
        assert!(render_nginx(&example.env, &example.backends()).is_err());
    }
}
