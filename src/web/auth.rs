//! Basic auth against bcrypt hashes, bounded so that wrong passwords cannot flood the CPU.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// bcrypt checks run at once. exporter-toolkit runs one at a time (web/authentication/
/// basicauth/basicauth.go, `bcryptMtx`: "CPU intensive"); so does this, leaving the other
/// cores to scrapes.
const CONCURRENT_CHECKS: usize = 1;

/// How long a request may wait for its check, queued behind others, before it is answered
/// 503: authentication ends well inside a scrape's timeout (Prometheus: 10 s by default).
const CHECK_WAIT: Duration = Duration::from_secs(5);

/// Users and their hashes (parsed and cost-checked at load, `WebConfig::load`).
/// Successful checks are remembered (as SHA-256 of user, password and hash) so that a scrape
/// every few seconds costs no bcrypt at all, however many wrong passwords are being tried.
#[derive(Clone)]
pub(super) struct BasicAuth {
    users: Arc<BTreeMap<String, String>>,
    /// Checked for an unknown user, so that it takes as long as a known user's wrong
    /// password (exporter-toolkit does the same with a fixed hash): its cost is the highest
    /// configured, the cost of the slowest known user.
    dummy: Arc<String>,
    verified: Arc<Mutex<HashSet<[u8; 32]>>>,
    checks: Arc<Semaphore>,
}

/// What a request's credentials got.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Allowed,
    Denied,
    /// Its check waited longer than `CHECK_WAIT` for its turn.
    Busy,
}

impl BasicAuth {
    pub(super) fn new(users: BTreeMap<String, String>) -> BasicAuth {
        let cost = users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max()
            .unwrap_or(10);
        // Salt and password need not be secret: what matters is that no password matches
        // often enough to tell, and the result is ignored anyway.
        let dummy = bcrypt::hash_with_salt(b"mountleak_exporter dummy", cost, [0x5a; 16])
            .expect("a cost that passed the load check")
            .format_for_version(bcrypt::Version::TwoB);
        BasicAuth {
            users: Arc::new(users),
            dummy: Arc::new(dummy),
            verified: Arc::default(),
            checks: Arc::new(Semaphore::new(CONCURRENT_CHECKS)),
        }
    }

    async fn check(&self, authorization: Option<&HeaderValue>) -> Verdict {
        let Some((user, pass)) = authorization.and_then(decode_basic) else {
            return Verdict::Denied;
        };
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (self.dummy.to_string(), false),
        };
        let digest: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(pass.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        if known && self.verified.lock().expect("lock").contains(&digest) {
            return Verdict::Allowed;
        }
        let Ok(Ok(permit)) =
            tokio::time::timeout(CHECK_WAIT, self.checks.clone().acquire_owned()).await
        else {
            return Verdict::Busy;
        };
        let verified = self.verified.clone();
        // The permit goes with the check: a request that gives up (its client left, the
        // request timed out) still holds its turn until the CPU is free again.
        let check = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let ok = bcrypt::verify(&pass, &hash).unwrap_or(false) && known;
            if ok {
                verified.lock().expect("lock").insert(digest);
            }
            ok
        });
        match check.await {
            Ok(true) => Verdict::Allowed,
            _ => Verdict::Denied,
        }
    }
}

/// The middleware: the request goes on only with valid credentials.
pub(super) async fn require(auth: BasicAuth, req: Request, next: Next) -> Response {
    match auth.check(req.headers().get(header::AUTHORIZATION)).await {
        Verdict::Allowed => next.run(req).await,
        Verdict::Denied => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"mountleak_exporter\"",
            )],
            "Unauthorized\n",
        )
            .into_response(),
        Verdict::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "Too many password checks at once; retry\n",
        )
            .into_response(),
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

    #[tokio::test]
    async fn basic_auth_checks_user_and_password() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("prom".to_string(), hash)]));
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        let check = async |s: Option<&str>| auth.check(s.map(h).as_ref()).await;
        // prom:secret, prom:wrong, other:secret
        assert_eq!(
            check(Some("Basic cHJvbTpzZWNyZXQ=")).await,
            Verdict::Allowed
        );
        assert_eq!(
            check(Some("Basic cHJvbTpzZWNyZXQ=")).await,
            Verdict::Allowed,
            "remembered"
        );
        assert_eq!(check(Some("Basic cHJvbTp3cm9uZw==")).await, Verdict::Denied);
        assert_eq!(check(Some("Basic b3RoZXI6c2VjcmV0")).await, Verdict::Denied);
        assert_eq!(check(Some("Bearer x")).await, Verdict::Denied);
        assert_eq!(check(None).await, Verdict::Denied);
    }

    #[tokio::test]
    async fn the_dummy_hash_costs_what_the_costliest_user_does_and_matches_nothing() {
        let users = BTreeMap::from([
            ("a".to_string(), bcrypt::hash("x", 4).unwrap()),
            ("b".to_string(), bcrypt::hash("y", 6).unwrap()),
        ]);
        let auth = BasicAuth::new(users);
        let dummy: bcrypt::HashParts = auth.dummy.parse().unwrap();
        assert_eq!(dummy.get_cost(), 6);
        // A user not configured never gets in, even with the dummy's own password.
        let h = HeaderValue::from_str(&format!(
            "Basic {}",
            "bm9ib2R5Om1vdW50bGVha19leHBvcnRlciBkdW1teQ==" // nobody:mountleak_exporter dummy
        ))
        .unwrap();
        assert_eq!(auth.check(Some(&h)).await, Verdict::Denied);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_wait_their_turn_and_give_up_busy() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("prom".to_string(), hash)]));
        // Every permit taken: a check cannot start, and ends Busy after CHECK_WAIT.
        let held = auth
            .checks
            .clone()
            .acquire_many_owned(CONCURRENT_CHECKS as u32)
            .await;
        let h = HeaderValue::from_static("Basic cHJvbTp3cm9uZw==");
        let started = std::time::Instant::now();
        assert_eq!(auth.check(Some(&h)).await, Verdict::Busy);
        assert!(started.elapsed() >= CHECK_WAIT);
        drop(held);
        assert_eq!(auth.check(Some(&h)).await, Verdict::Denied);
    }
}
