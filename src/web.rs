//! The network edge: listener, connection limits, slow-client timeouts, and the Prometheus
//! exporter-toolkit web configuration file (`--web.config.file`: TLS, basic auth, headers).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

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
    #[serde(default)]
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
            if !hash.starts_with("$2") {
                return Err(WebConfigError::Invalid(format!(
                    "basic_auth_users.{user}: expected a bcrypt hash ($2a$/$2b$/$2y$...)"
                )));
            }
        }
        Ok(cfg)
    }

    pub fn tls_acceptor(&self) -> Result<Option<TlsAcceptor>, WebConfigError> {
        let Some(tls) = &self.tls_server_config else {
            return Ok(None);
        };
        let pem = |what, path: &PathBuf, e: rustls::pki_types::pem::Error| WebConfigError::Pem {
            what,
            path: path.clone(),
            detail: e.to_string(),
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_file)
            .map_err(|e| pem("certificates", &tls.cert_file, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| pem("certificates", &tls.cert_file, e))?;
        let key = PrivateKeyDer::from_pem_file(&tls.key_file)
            .map_err(|e| pem("private key", &tls.key_file, e))?;
        let versions: &[&'static rustls::SupportedProtocolVersion] =
            match tls.min_version.as_deref() {
                None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
                Some("TLS13") => &[&rustls::version::TLS13],
                Some(v) => {
                    return Err(WebConfigError::Invalid(format!(
                        "tls_server_config.min_version {v:?}: use TLS12 or TLS13"
                    )));
                }
            };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)?;
        let builder = match tls.client_auth_type.as_deref() {
            None | Some("NoClientCert") => builder.with_no_client_auth(),
            Some(kind @ ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven")) => {
                let ca_file = tls.client_ca_file.as_ref().ok_or_else(|| {
                    WebConfigError::Invalid(format!("client_auth_type {kind} needs client_ca_file"))
                })?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca_file)
                    .map_err(|e| pem("client CA", ca_file, e))?
                {
                    roots.add(cert.map_err(|e| pem("client CA", ca_file, e))?)?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                );
                let verifier = if kind == "VerifyClientCertIfGiven" {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| WebConfigError::Invalid(format!("client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
            Some(other) => {
                return Err(WebConfigError::Invalid(format!(
                    "client_auth_type {other:?}: use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                )));
            }
        };
        let mut config = builder.with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(TlsAcceptor::from(Arc::new(config))))
    }
}

/// Basic auth against bcrypt hashes. bcrypt is slow on purpose; successful checks are
/// remembered (as SHA-256 of user and password) so a scrape every few seconds costs nothing.
#[derive(Clone)]
pub struct BasicAuth {
    users: Arc<BTreeMap<String, String>>,
    verified: Arc<Mutex<HashSet<[u8; 32]>>>,
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>) -> BasicAuth {
        BasicAuth {
            users: Arc::new(users),
            verified: Arc::default(),
        }
    }

    fn check(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, pass)) = authorization.and_then(decode_basic) else {
            return false;
        };
        let Some(hash) = self.users.get(&user) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(pass.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        if self.verified.lock().expect("lock").contains(&digest) {
            return true;
        }
        let ok = bcrypt::verify(&pass, hash).unwrap_or(false);
        if ok {
            self.verified.lock().expect("lock").insert(digest);
        }
        ok
    }
}

fn decode_basic(v: &HeaderValue) -> Option<(String, String)> {
    let encoded = v.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Standard base64 (RFC 4648) with padding; enough for Authorization headers.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    Some(out)
}

/// Wraps the router with the web config's auth and headers.
pub fn apply(router: Router, config: &WebConfig) -> Result<Router, WebConfigError> {
    let mut router = router;
    if !config.basic_auth_users.is_empty() {
        let auth = BasicAuth::new(config.basic_auth_users.clone());
        router = router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let auth = auth.clone();
                async move {
                    let header = req.headers().get(header::AUTHORIZATION).cloned();
                    let ok = tokio::task::spawn_blocking(move || auth.check(header.as_ref()))
                        .await
                        .unwrap_or(false);
                    if ok {
                        next.run(req).await
                    } else {
                        (
                            StatusCode::UNAUTHORIZED,
                            [(
                                header::WWW_AUTHENTICATE,
                                "Basic realm=\"mountleak_exporter\"",
                            )],
                            "Unauthorized\n",
                        )
                            .into_response()
                    }
                }
            },
        ));
    }
    if let Some(http) = &config.http_server_config
        && !http.headers.is_empty()
    {
        let mut headers = Vec::new();
        for (k, v) in &http.headers {
            let name = HeaderName::try_from(k.as_str())
                .map_err(|e| WebConfigError::Invalid(format!("header {k:?}: {e}")))?;
            let value = HeaderValue::try_from(v.as_str())
                .map_err(|e| WebConfigError::Invalid(format!("header {k:?}: {e}")))?;
            headers.push((name, value));
        }
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

#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; further ones are closed at accept.
    pub max_connections: usize,
    /// Time a client gets to send its request headers (slowloris).
    pub header_read_timeout: Duration,
    /// Bound on buffered request bytes (headers) per connection.
    pub max_buf_size: usize,
    /// Time a client gets to finish the TLS handshake.
    pub tls_handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            max_buf_size: 16 * 1024,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` until `shutdown` resolves, then waits (bounded) for open requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached; closing");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let limits = limits.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_buf_size);
            let service = TowerToHyperService::new(app);
            let result = match tls {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        limits.tls_handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn).await
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish within 10s of shutdown");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert!(base64_decode("YQ=").is_none());
        assert!(base64_decode("Y!==").is_none());
        assert!(base64_decode("====").is_none());
    }

    #[test]
    fn basic_auth_checks_user_and_password() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("prom".to_string(), hash)]));
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        // prom:secret, prom:wrong, other:secret
        assert!(auth.check(Some(&h("Basic cHJvbTpzZWNyZXQ="))));
        assert!(
            auth.check(Some(&h("Basic cHJvbTpzZWNyZXQ="))),
            "cached path"
        );
        assert!(!auth.check(Some(&h("Basic cHJvbTp3cm9uZw=="))));
        assert!(!auth.check(Some(&h("Basic b3RoZXI6c2VjcmV0"))));
        assert!(!auth.check(Some(&h("Bearer x"))));
        assert!(!auth.check(None));
    }

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
}
