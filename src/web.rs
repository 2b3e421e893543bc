//! The network edge: listener, connection limits, slow-client timeouts, and the Prometheus
//! exporter-toolkit web configuration file (`--web.config.file`: TLS, basic auth, headers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

mod auth;
mod serve;
mod tls;

pub use serve::{EdgeCounters, Limits, serve};

#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("cannot read web config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid web config {path}: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("web config: {0}")]
    Invalid(String),
    #[error("web config: cannot load {what} from {path}: {detail}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("web config: TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// The exporter-toolkit file format (the subset this exporter implements; unknown keys are
/// rejected so a typo does not silently turn security off).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default, deserialize_with = "basic_auth_users")]
    pub basic_auth_users: BTreeMap<String, String>,
    pub http_server_config: Option<HttpServerConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default)]
    pub client_auth_type: Option<String>,
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub min_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Accepted for compatibility; this server speaks HTTP/1.1.
    #[serde(default)]
    pub http2: Option<bool>,
}

/// Reads `basic_auth_users` without ever quoting a value in an error: a value is a password
/// hash, or a plain password put there by mistake, which serde's own message would echo
/// (`invalid type: integer `123456`, expected a string`).
fn basic_auth_users<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    use serde::de::Error;
    use serde_yaml::Value;
    let map = match Value::deserialize(d)? {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Mapping(map) => map,
        _ => {
            return Err(D::Error::custom(
                "basic_auth_users: expected a map of user names to bcrypt hashes (value not shown)",
            ));
        }
    };
    let mut users = BTreeMap::new();
    for (user, hash) in map {
        let Value::String(user) = user else {
            return Err(D::Error::custom(
                "basic_auth_users: a user name is not a string (value not shown)",
            ));
        };
        let Value::String(hash) = hash else {
            return Err(D::Error::custom(format!(
                "basic_auth_users.{user:?}: expected a bcrypt hash as a string (value not shown)"
            )));
        };
        users.insert(user, hash);
    }
    Ok(users)
}

/// The highest bcrypt cost accepted. Each check costs 2^cost rounds (cost 10: 64 ms of one core
/// in a release build here, so cost 12 about a quarter of a second); checks run one at a time, so a higher cost would let a few
/// wrong passwords hold authentication past a scrape's timeout.
pub const MAX_BCRYPT_COST: u32 = 12;
/// bcrypt's own lower bound (the bcrypt crate refuses to hash below it).
const MIN_BCRYPT_COST: u32 = 4;

/// A user's hash, parsed: malformed hashes are refused at load instead of failing every
/// login. Errors never quote the hash.
fn check_hash(user: &str, hash: &str) -> Result<(), WebConfigError> {
    let parts: bcrypt::HashParts = hash.parse().map_err(|e| {
        WebConfigError::Invalid(format!(
            "basic_auth_users.{user:?}: not a bcrypt hash ({e}); make one with `htpasswd -nBC 10 <user>`"
        ))
    })?;
    let cost = parts.get_cost();
    if !(MIN_BCRYPT_COST..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(WebConfigError::Invalid(format!(
            "basic_auth_users.{user:?}: bcrypt cost {cost} is outside {MIN_BCRYPT_COST}..={MAX_BCRYPT_COST}; make the hash again with a cost of at most {MAX_BCRYPT_COST} (`htpasswd -nBC 10 <user>`)"
        )));
    }
    Ok(())
}

/// The response headers a web config may set, and their allowed values where those are a
/// closed set: exporter-toolkit's list (web/handler.go, `extraHTTPHeaders`). Anything else
/// (Content-Length, Transfer-Encoding, Connection, WWW-Authenticate, ...) could break the
/// framing of responses or the authentication.
const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

fn check_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), WebConfigError> {
    let Some((_, values)) = ALLOWED_HEADERS
        .iter()
        .find(|(allowed, _)| allowed.eq_ignore_ascii_case(name))
    else {
        let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
        return Err(WebConfigError::Invalid(format!(
            "http_server_config.headers: {name:?} cannot be configured; allowed: {}",
            names.join(", ")
        )));
    };
    if !values.is_empty() && !values.contains(&value) {
        return Err(WebConfigError::Invalid(format!(
            "http_server_config.headers.{name}: {value:?} is not one of {values:?}"
        )));
    }
    let invalid = |e: &dyn std::fmt::Display| {
        WebConfigError::Invalid(format!("http_server_config.headers.{name}: {e}"))
    };
    Ok((
        HeaderName::try_from(name).map_err(|e| invalid(&e))?,
        HeaderValue::try_from(value).map_err(|e| invalid(&e))?,
    ))
}

impl WebConfig {
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.into(),
            source,
        })?;
        let cfg: WebConfig =
            serde_yaml::from_str(&text).map_err(|source| WebConfigError::Yaml {
                path: path.into(),
                source,
            })?;
        for (user, hash) in &cfg.basic_auth_users {
            check_hash(user, hash)?;
        }
        for (name, value) in cfg.headers() {
            check_header(name, value)?;
        }
        Ok(cfg)
    }

    fn headers(&self) -> impl Iterator<Item = (&String, &String)> {
        self.http_server_config.iter().flat_map(|h| &h.headers)
    }

    /// The TLS acceptor of `tls_server_config`, None without one. The certificate is read
    /// now (a bad one stops startup) and again whenever its files change.
    pub fn tls_acceptor(&self) -> Result<Option<TlsAcceptor>, WebConfigError> {
        self.tls_server_config
            .as_ref()
            .map(tls::acceptor)
            .transpose()
    }
}

/// Wraps the router with the web config's auth and headers.
pub fn apply(router: Router, config: &WebConfig) -> Result<Router, WebConfigError> {
    let mut router = router;
    if !config.basic_auth_users.is_empty() {
        let auth = auth::BasicAuth::new(config.basic_auth_users.clone());
        router = router.layer(axum::middleware::from_fn(move |req, next| {
            auth::require(auth.clone(), req, next)
        }));
    }
    let headers = config
        .headers()
        .map(|(name, value)| check_header(name, value))
        .collect::<Result<Vec<_>, _>>()?;
    if !headers.is_empty() {
        let headers = Arc::new(headers);
        router = router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let headers = headers.clone();
                async move {
                    let mut resp: Response<Body> = next.run(req).await;
                    for (k, v) in headers.iter() {
                        resp.headers_mut().insert(k.clone(), v.clone());
                    }
                    resp
                }
            },
        ));
    }
    Ok(router)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rejects_typos_and_plain_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(&p, "basic_auth_user:\n  a: b\n").unwrap();
        assert!(
            WebConfig::load(&p)
                .unwrap_err()
                .to_string()
                .contains("unknown field")
        );
        std::fs::write(&p, "basic_auth_users:\n  a: plain\n").unwrap();
        assert!(
            WebConfig::load(&p)
                .unwrap_err()
                .to_string()
                .contains("bcrypt")
        );
        std::fs::write(
            &p,
            "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n",
        )
        .unwrap();
        let cfg = WebConfig::load(&p).unwrap();
        let err = cfg
            .tls_acceptor()
            .err()
            .expect("a missing certificate is an error");
        assert!(err.to_string().contains("/nonexistent.crt"), "{err}");
    }

    fn load_error(yaml: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(&p, yaml).unwrap();
        match WebConfig::load(&p).and_then(|c| c.tls_acceptor().map(|_| c)) {
            Ok(_) => panic!("accepted:\n{yaml}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn wrongly_typed_users_never_echo_the_value() {
        for (yaml, secret) in [
            ("basic_auth_users:\n  prom: 271828182\n", "271828182"),
            (
                "basic_auth_users:\n  prom: hunter2x\n  other: [hunter2x]\n",
                "hunter2x",
            ),
            (
                "basic_auth_users:\n  prom: {password: hunter2x}\n",
                "hunter2x",
            ),
            ("basic_auth_users:\n  prom: !secret hunter2x\n", "hunter2x"),
            ("basic_auth_users: hunter2x\n", "hunter2x"),
            ("basic_auth_users: [prom, hunter2x]\n", "hunter2x"),
            (
                "basic_auth_users:\n  prom: '$2b$garbage-hunter2x'\n",
                "hunter2x",
            ),
        ] {
            let err = load_error(yaml);
            assert!(!err.contains(secret), "{yaml}: {err}");
            assert!(err.contains("basic_auth_users"), "{yaml}: {err}");
        }
    }

    #[test]
    fn hashes_are_parsed_and_their_cost_capped_at_load() {
        let err = load_error("basic_auth_users:\n  prom: $2b$garbage\n");
        assert!(err.contains("not a bcrypt hash"), "{err}");
        // A well-formed hash of cost 13 (the cost is in the text; no need to compute it).
        let cost13 = bcrypt::hash_with_salt("x", 4, [7; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoB)
            .replacen("$04$", "$13$", 1);
        let err = load_error(&format!("basic_auth_users:\n  prom: '{cost13}'\n"));
        assert!(
            err.contains("cost 13") && err.contains("at most 12"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        let ok = bcrypt::hash("x", MAX_BCRYPT_COST).unwrap();
        std::fs::write(&p, format!("basic_auth_users:\n  prom: '{ok}'\n")).unwrap();
        assert_eq!(WebConfig::load(&p).unwrap().basic_auth_users.len(), 1);
    }

    #[test]
    fn only_exporter_toolkits_headers_with_their_values() {
        for (header, value) in [
            ("Content-Length", "0"),
            ("Transfer-Encoding", "chunked"),
            ("WWW-Authenticate", "None"),
            ("Set-Cookie", "a=b"),
        ] {
            let err = load_error(&format!(
                "http_server_config:\n  headers:\n    {header}: '{value}'\n"
            ));
            assert!(err.contains("cannot be configured"), "{header}: {err}");
        }
        let err = load_error("http_server_config:\n  headers:\n    X-Frame-Options: allow\n");
        assert!(err.contains("not one of"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(
            &p,
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n",
        )
        .unwrap();
        assert_eq!(WebConfig::load(&p).unwrap().headers().count(), 2);
    }

    #[test]
    fn a_client_ca_without_a_client_auth_type_is_refused() {
        for auth in ["", "  client_auth_type: NoClientCert\n"] {
            let err = load_error(&format!(
                "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n  client_ca_file: /nonexistent-ca.crt\n{auth}"
            ));
            assert!(err.contains("client_auth_type is not"), "{err}");
        }
    }
}
