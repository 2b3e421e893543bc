//! `tls_server_config`: rustls with TLS 1.2+ (AEAD suites only, rustls' defaults), optional
//! client certificates, and a server certificate re-read when its files change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use super::{TlsServerConfig, WebConfigError};

pub(super) fn acceptor(tls: &TlsServerConfig) -> Result<TlsAcceptor, WebConfigError> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match tls.min_version.as_deref() {
        None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(v) => {
            return Err(WebConfigError::Invalid(format!(
                "tls_server_config.min_version {v:?}: use TLS12 or TLS13"
            )));
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = client_verifier(tls, provider.clone())?;
    let certificate = CertFiles::load(&tls.cert_file, &tls.key_file, provider.clone())?;
    let builder =
        rustls::ServerConfig::builder_with_provider(provider).with_protocol_versions(versions)?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(certificate));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn pem_error(what: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> WebConfigError {
    WebConfigError::Pem {
        what,
        path: path.into(),
        detail: e.to_string(),
    }
}

/// `client_auth_type` and `client_ca_file`; None: no client certificates asked for.
fn client_verifier(
    tls: &TlsServerConfig,
    provider: Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>, WebConfigError> {
    let kind = match tls.client_auth_type.as_deref() {
        // exporter-toolkit refuses this too (web/tls_config.go, ConfigToTLSConfig): a CA
        // without a policy would silently let clients without a certificate in.
        None | Some("NoClientCert") if tls.client_ca_file.is_some() => {
            return Err(WebConfigError::Invalid(
                "tls_server_config.client_ca_file is set but client_auth_type is not: set client_auth_type to RequireAndVerifyClientCert (or VerifyClientCertIfGiven), or remove client_ca_file".into(),
            ));
        }
        None | Some("NoClientCert") => return Ok(None),
        Some(kind @ ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven")) => kind,
        Some(other) => {
            return Err(WebConfigError::Invalid(format!(
                "client_auth_type {other:?}: use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            )));
        }
    };
    let ca_file = tls.client_ca_file.as_ref().ok_or_else(|| {
        WebConfigError::Invalid(format!("client_auth_type {kind} needs client_ca_file"))
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca_file).map_err(|e| pem_error("client CA", ca_file, e))?
    {
        roots.add(cert.map_err(|e| pem_error("client CA", ca_file, e))?)?;
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let verifier = if kind == "VerifyClientCertIfGiven" {
        verifier.allow_unauthenticated()
    } else {
        verifier
    };
    let verifier = verifier
        .build()
        .map_err(|e| WebConfigError::Invalid(format!("client CA: {e}")))?;
    Ok(Some(verifier))
}

/// What identifies a version of a file: device, inode, size, modification time. A rotation
/// by rename (cert-manager's and kubelet's symlink swap included) changes the inode; an
/// overwrite in place changes the time.
type Stamp = Option<(u64, u64, u64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

/// The server certificate and key, re-read on the first handshake after either file changed,
/// so a rotated certificate needs no restart: exporter-toolkit reads them on every handshake
/// (web/tls_config.go, `GetCertificate`); a stat of each file per handshake is all this costs
/// while they stay the same. A pair that does not load (half written, key and certificate
/// not matching yet) is logged and the previous one served until the files change again.
#[derive(Debug)]
struct CertFiles {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<([Stamp; 2], Arc<CertifiedKey>)>,
}

impl CertFiles {
    fn load(
        cert_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<CertFiles, WebConfigError> {
        let stamps = [stamp(cert_file), stamp(key_file)];
        let key = read_pair(cert_file, key_file, &provider)?;
        Ok(CertFiles {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            provider,
            current: Mutex::new((stamps, Arc::new(key))),
        })
    }
}

fn read_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, WebConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| pem_error("certificates", cert_file, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error("certificates", cert_file, e))?;
    if certs.is_empty() {
        return Err(WebConfigError::Invalid(format!(
            "no certificate in {}",
            cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| pem_error("private key", key_file, e))?;
    // Checks that the key is the certificate's.
    Ok(CertifiedKey::from_der(certs, key, provider)?)
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let stamps = [stamp(&self.cert_file), stamp(&self.key_file)];
        let mut current = self.current.lock().expect("lock");
        if current.0 != stamps {
            current.0 = stamps;
            match read_pair(&self.cert_file, &self.key_file, &self.provider) {
                Ok(key) => {
                    current.1 = Arc::new(key);
                    tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate reloaded");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reload the TLS certificate; serving the previous one until its files change again")
                }
            }
        }
        Some(current.1.clone())
    }
}
