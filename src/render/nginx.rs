//! The nginx upstream (SPEC §6): one `server` line per port of the health-checked process on
//! every host, with `max_fails`/`fail_timeout` and `keepalive`. Two callers: `export`, from
//! the config (every instance of every host), and the deploy pipeline, from each host's real
//! formation ([`managed`]: serving instances, drained ones marked `down`, either port bank).
//! The file is valid inside `http {}` (nginx's conf.d); its header documents the proxy
//! settings that belong in the app's `location` (see the template for why they are not
//! http-level directives).

use serde::Serialize;
use tera::Tera;

use super::{Backend, RenderError, RenderedFile};
use crate::config::{Environment, UpstreamName};
use crate::release::Bank;

pub(super) const UPSTREAM_TEMPLATE: &str = "nginx/upstream.conf";

#[derive(Serialize)]
struct UpstreamFile<'a> {
    app: &'a str,
    environment: &'a str,
    process: &'a str,
    upstream: &'a str,
    /// `export`: the file's name; managed: where deliver writes it (`proxy.config`).
    file_name: &'a str,
    /// Written by a deploy from the hosts' formations, not by `export` from the config.
    managed: bool,
    servers: Vec<Server>,
}

#[derive(Serialize)]
struct Server {
    /// `ADDRESS:PORT`, IPv6 addresses in brackets.
    address: String,
    down: bool,
}

/// What the managed upstream does with one instance of `health.process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Listed: nginx sends it requests.
    Serving,
    /// Listed as `down`: nginx sends it no new requests (it is being drained before it stops).
    Down,
    /// Not listed (stopped, not started yet, or leaving the formation).
    Absent,
}

/// One instance of `health.process` on a host, for the managed upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamServer {
    /// The instance's base PORT (`port_base + 100*type_index + n-1`), whatever its bank.
    pub port: u16,
    /// The bank it listens on: the base PORT, or PORT + 50 during a `surge` rollout.
    pub bank: Bank,
    pub state: ServerState,
}

/// One app host as the proxy sees it: the address nginx reaches it at (`proxy.addresses`,
/// else the address deliver connects to) and its instances of `health.process`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedHost {
    pub address: String,
    pub servers: Vec<UpstreamServer>,
}

pub(super) fn render(
    tera: &Tera,
    env: &Environment,
    backends: &[Backend],
) -> Result<Vec<RenderedFile>, RenderError> {
    let upstream = upstream_name(env);
    let file_name = format!("{upstream}-upstream.conf");
    let error = error_in(&file_name);
    let mut servers = Vec::new();
    for backend in backends {
        let address = address_of(&backend.address, &error)?;
        servers.extend(backend.ports.iter().map(|port| Server {
            address: format!("{address}:{port}"),
            down: false,
        }));
    }
    let contents = render_file(tera, env, &file_name, false, servers)?;
    Ok(vec![RenderedFile {
        name: file_name,
        contents,
    }])
}

/// The file a deploy writes at `proxy.config`: per host in the order given, its instances in
/// the order given, each on its bank's port; `Absent` ones left out, `Down` ones marked.
pub(super) fn render_managed(
    tera: &Tera,
    env: &Environment,
    hosts: &[ProxiedHost],
) -> Result<String, RenderError> {
    let upstream = upstream_name(env);
    let Some(proxy) = &env.proxy else {
        return Err(error_in(&format!("{upstream}-upstream.conf"))(format!(
            "environment `{}` has no [proxy] for deliver to write the upstream of",
            env.name
        )));
    };
    let path = proxy.config.as_str();
    let error = error_in(path);
    if path.chars().any(char::is_control) {
        return Err(error(
            "the path holds a control character, which would end its comment line".to_owned(),
        ));
    }
    let mut servers: Vec<Server> = Vec::new();
    for host in hosts {
        let address = address_of(&host.address, &error)?;
        for server in &host.servers {
            let down = match server.state {
                ServerState::Serving => false,
                ServerState::Down => true,
                ServerState::Absent => continue,
            };
            let port = server.bank.port(server.port).ok_or_else(|| {
                error(format!(
                    "port {} on the surge bank would be above 65535",
                    server.port
                ))
            })?;
            let address = format!("{address}:{port}");
            // nginx would take it (and double its weight): a caller listing an instance twice
            // has lost track of it.
            if servers.iter().any(|s| s.address == address) {
                return Err(error(format!("the server {address} is listed twice")));
            }
            servers.push(Server { address, down });
        }
    }
    render_file(tera, env, path, true, servers)
}

fn upstream_name(env: &Environment) -> &str {
    env.proxy
        .as_ref()
        .map_or(env.app.as_str(), |p| p.upstream.as_str())
}

fn error_in(file: &str) -> impl Fn(String) -> RenderError {
    let file = file.to_owned();
    move |message| RenderError {
        template: file.clone(),
        message,
    }
}

fn address_of(
    address: &str,
    error: &impl Fn(String) -> RenderError,
) -> Result<String, RenderError> {
    server_address(address)
        .ok_or_else(|| error(format!("`{address}` is not a host name or address")))
}

fn render_file(
    tera: &Tera,
    env: &Environment,
    file_name: &str,
    managed: bool,
    servers: Vec<Server>,
) -> Result<String, RenderError> {
    let upstream = upstream_name(env);
    let error = error_in(file_name);
    if !UpstreamName::is_valid(upstream) {
        return Err(error(format!(
            "the upstream name `{upstream}` can only hold letters, digits, `_`, `.` and `-`"
        )));
    }
    if servers.is_empty() {
        return Err(error(format!(
            "no `{}` instance on any host: nginx refuses an upstream without servers",
            env.health.process
        )));
    }
    super::render_template(
        tera,
        UPSTREAM_TEMPLATE,
        &UpstreamFile {
            app: env.app.as_str(),
            environment: &env.name,
            process: &env.health.process,
            upstream,
            file_name,
            managed,
            servers,
        },
    )
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
    use super::{server_address, ProxiedHost, ServerState, UpstreamServer};
    use crate::release::Bank;

    fn server(port: u16, bank: Bank, state: ServerState) -> UpstreamServer {
        UpstreamServer { port, bank, state }
    }

    /// Mid-rollout: web1 serves on its new surge bank with the old bank draining, web2 (more
    /// cores, three instances) has its second instance drained in a rolling restart and its
    /// third stopped, an IPv6 host serves its base bank.
    fn mid_rollout() -> Vec<ProxiedHost> {
        use Bank::{Base, Surge};
        use ServerState::{Absent, Down, Serving};
        vec![
            ProxiedHost {
                address: "10.0.0.11".to_owned(),
                servers: vec![
                    server(5000, Surge, Serving),
                    server(5001, Surge, Serving),
                    server(5000, Base, Down),
                    server(5001, Base, Down),
                ],
            },
            ProxiedHost {
                address: "web2.internal".to_owned(),
                servers: vec![
                    server(5000, Base, Serving),
                    server(5001, Base, Down),
                    server(5002, Base, Absent),
                ],
            },
            ProxiedHost {
                address: "fd00::13".to_owned(),
                servers: vec![server(5000, Base, Serving)],
            },
        ]
    }

    #[test]
    fn managed_upstream() {
        let example = Example::new();
        let contents = crate::render::nginx_managed(&example.env, &mid_rollout()).unwrap();
        insta::assert_snapshot!(contents);
    }

    #[test]
    fn managed_upstream_has_the_exports_settings_and_servers() {
        // Every instance serving on its base bank: the export's upstream block, same header
        // below the first paragraph.
        let example = Example::new();
        let hosts: Vec<ProxiedHost> = example
            .backends()
            .into_iter()
            .map(|b| ProxiedHost {
                address: b.address,
                servers: b
                    .ports
                    .into_iter()
                    .map(|p| server(p, Bank::Base, ServerState::Serving))
                    .collect(),
            })
            .collect();
        let managed = crate::render::nginx_managed(&example.env, &hosts).unwrap();
        let exported = render_nginx(&example.env, &example.backends()).unwrap();
        let from = |t: &str, line: &str| t[t.find(line).unwrap()..].to_owned();
        let tail = "# (proxy_http_version and proxy_next_upstream";
        assert_eq!(from(&managed, tail), from(&exported[0].contents, tail));
        assert!(managed.contains("\n#     /etc/nginx/conf.d/shop-upstream.conf\n"));
    }

    #[test]
    fn managed_upstream_refusals() {
        let example = Example::new();
        let err = |hosts: &[ProxiedHost]| {
            crate::render::nginx_managed(&example.env, hosts)
                .unwrap_err()
                .to_string()
        };
        let one = |address: &str, servers: Vec<UpstreamServer>| ProxiedHost {
            address: address.to_owned(),
            servers,
        };
        assert_eq!(
            err(&[one(
                "10.0.0.1",
                vec![server(5000, Bank::Base, ServerState::Absent)]
            )]),
            "rendering /etc/nginx/conf.d/shop-upstream.conf: no `web` instance on any host: \
             nginx refuses an upstream without servers"
        );
        assert_eq!(
            err(&[one(
                "10.0.0.1",
                vec![server(65_500, Bank::Surge, ServerState::Serving)]
            )]),
            "rendering /etc/nginx/conf.d/shop-upstream.conf: port 65500 on the surge bank \
             would be above 65535"
        );
        assert_eq!(
            err(&[
                one(
                    "10.0.0.1",
                    vec![server(5000, Bank::Base, ServerState::Serving)]
                ),
                one(
                    "10.0.0.1",
                    vec![server(5000, Bank::Base, ServerState::Down)]
                ),
            ]),
            "rendering /etc/nginx/conf.d/shop-upstream.conf: the server 10.0.0.1:5000 is \
             listed twice"
        );
        assert_eq!(
            err(&[one("10.0.0.1;", vec![])]),
            "rendering /etc/nginx/conf.d/shop-upstream.conf: `10.0.0.1;` is not a host name or \
             address"
        );
        let mut evil = example.clone();
        evil.env.proxy.as_mut().unwrap().config = "/etc/x\n}\nserver {".to_owned();
        assert!(crate::render::nginx_managed(&evil.env, &mid_rollout()).is_err());
        let mut no_proxy = example.clone();
        no_proxy.env.proxy = None;
        assert_eq!(
            crate::render::nginx_managed(&no_proxy.env, &mid_rollout())
                .unwrap_err()
                .to_string(),
            "rendering shop-upstream.conf: environment `production` has no [proxy] for deliver \
             to write the upstream of"
        );
        // Every server down is a valid upstream (nginx answers 502): the caller's decision.
        let all_down = [one(
            "10.0.0.1",
            vec![server(5000, Bank::Base, ServerState::Down)],
        )];
        assert!(crate::render::nginx_managed(&example.env, &all_down)
            .unwrap()
            .contains("    server 10.0.0.1:5000 max_fails=1 fail_timeout=2s down;\n"));
    }

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
