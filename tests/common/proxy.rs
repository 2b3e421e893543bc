//! A Unix-socket forwarder between the exporter and a Docker daemon, for the least-privilege
//! and fault tests: it records the request line of every HTTP request the exporter sends,
//! and it can be shut (every connection cut, new ones refused) to make Docker unreachable
//! to the exporter alone while the tests keep using the daemon directly.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One request as the proxy saw it on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target, query string included (`/v1.41/containers/json?all=true`).
    pub target: String,
    /// Bytes of body the request carried (Content-Length or chunked).
    pub body_len: usize,
    /// When its head was read.
    pub at: Instant,
}

impl Request {
    /// The target without the query string and without an API version prefix (`/v1.41`).
    pub fn path(&self) -> &str {
        let path = self.target.split('?').next().unwrap_or("");
        if let Some(rest) = path.strip_prefix("/v")
            && let Some(slash) = rest.find('/')
            && rest[..slash]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
        {
            return &rest[slash..];
        }
        path
    }

    /// The Engine API endpoint this request asks, as [`endpoint`] names it.
    pub fn endpoint(&self) -> Option<&'static str> {
        endpoint(self.path())
    }

    /// The container a `GET /containers/<id>/json` (inspect) asks about.
    pub fn inspected(&self) -> Option<&str> {
        self.path()
            .strip_prefix("/containers/")?
            .strip_suffix("/json")
            .filter(|id| endpoint(self.path()) == Some(INSPECT) && !id.is_empty())
    }
}

/// The inspect endpoint as [`endpoint`] names it.
pub const INSPECT: &str = "/containers/<id>/json";

/// The read-only Engine API endpoints the exporter may call (README, "Privileges"), by path
/// without the version prefix, with a container id or name shown as `<id>`; None for any
/// other path.
pub fn endpoint(path: &str) -> Option<&'static str> {
    match path {
        "/_ping" => Some("/_ping"),
        "/version" => Some("/version"),
        "/info" => Some("/info"),
        "/containers/json" => Some("/containers/json"),
        "/events" => Some("/events"),
        _ => {
            let id = path.strip_prefix("/containers/")?.strip_suffix("/json")?;
            let ok = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            ok.then_some(INSPECT)
        }
    }
}

/// Requests counted by endpoint (`other` for a path outside the read-only set).
pub fn count_by_endpoint<'a>(
    requests: impl IntoIterator<Item = &'a Request>,
) -> std::collections::BTreeMap<&'static str, usize> {
    let mut out = std::collections::BTreeMap::new();
    for r in requests {
        *out.entry(r.endpoint().unwrap_or("other")).or_default() += 1;
    }
    out
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Request>>,
    /// Lines that could not be parsed as an HTTP/1.x request head: a test must fail on them.
    garbage: Mutex<Vec<String>>,
    closed: AtomicBool,
    stopping: AtomicBool,
    /// Client-side streams of live connections, so `shut` can cut them.
    live: Mutex<Vec<UnixStream>>,
    /// Requests whose path (see [`Request::path`]) is this are held this long before they
    /// are forwarded.
    delay: Mutex<Option<(String, Duration)>>,
}

/// The forwarder; stops (and removes its socket) on Drop.
pub struct DockerProxy {
    /// `unix://<socket>`, for `--docker.host`.
    pub host: String,
    socket: PathBuf,
    shared: Arc<Shared>,
    _dir: tempfile::TempDir,
}

impl DockerProxy {
    /// Listen on a fresh socket and forward to `upstream` (`unix:///path`).
    pub fn start(upstream: &str) -> DockerProxy {
        let upstream = PathBuf::from(
            upstream
                .strip_prefix("unix://")
                .unwrap_or_else(|| panic!("the proxy forwards to unix:// only, not {upstream}")),
        );
        let dir = tempfile::tempdir().expect("tempdir for the proxy socket");
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket)
            .unwrap_or_else(|e| panic!("bind {}: {e}", socket.display()));
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        thread::spawn(move || accept_loop(listener, upstream, s));
        DockerProxy {
            host: format!("unix://{}", socket.display()),
            socket,
            shared,
            _dir: dir,
        }
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Client bytes that did not parse as a request head.
    pub fn garbage(&self) -> Vec<String> {
        self.shared.garbage.lock().unwrap().clone()
    }

    /// Cut every connection and refuse new ones (they are accepted and closed at once, as a
    /// daemon that died would leave them) until [`DockerProxy::open`].
    pub fn shut(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        for s in self.shared.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn open(&self) {
        self.shared.closed.store(false, Ordering::SeqCst);
    }

    /// Hold every later request to `path` (version prefix and query aside) for `d` before
    /// forwarding it: a slow daemon, for one endpoint.
    pub fn delay(&self, path: &str, d: Duration) {
        *self.shared.delay.lock().unwrap() = Some((path.to_string(), d));
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shut();
        // Wake the accept loop so it sees `stopping`.
        let _ = UnixStream::connect(&self.socket);
    }
}

fn accept_loop(listener: UnixListener, upstream: PathBuf, shared: Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if shared.closed.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let shared = shared.clone();
        let upstream = upstream.clone();
        thread::spawn(move || forward(client, &upstream, shared));
    }
}

fn forward(client: UnixStream, upstream: &Path, shared: Arc<Shared>) {
    let Ok(server) = UnixStream::connect(upstream) else {
        // The daemon is not there: the exporter sees its connection closed.
        return;
    };
    if let Ok(c) = client.try_clone() {
        shared.live.lock().unwrap().push(c);
    }
    let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up_shared = shared.clone();
    let up = thread::spawn(move || {
        let mut parser = RequestParser::default();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match client_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let before = up_shared.requests.lock().unwrap().len();
                    parser.feed(&buf[..n], &up_shared);
                    let hold = up_shared.delay.lock().unwrap().clone().and_then(|(p, d)| {
                        let requests = up_shared.requests.lock().unwrap();
                        requests[before.min(requests.len())..]
                            .iter()
                            .any(|r| r.path() == p)
                            .then_some(d)
                    });
                    if let Some(d) = hold {
                        thread::sleep(d);
                    }
                    if server_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = server_w.shutdown(Shutdown::Write);
    });
    let (mut server_r, mut client_w) = (server, client);
    let _ = server_r.set_read_timeout(None::<Duration>);
    let _ = std::io::copy(&mut server_r, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// Splits the client's byte stream into HTTP/1.1 requests (keep-alive: many per connection):
/// a head up to the blank line, then a body of Content-Length bytes or chunked.
#[derive(Default)]
struct RequestParser {
    buf: Vec<u8>,
    /// Body bytes still to skip (Content-Length).
    skip: usize,
    /// Inside a chunked body.
    chunked: bool,
    body_len: usize,
    /// Gave up on this connection (unparseable): everything after is recorded as garbage.
    lost: bool,
}

impl RequestParser {
    fn feed(&mut self, data: &[u8], shared: &Shared) {
        if self.lost {
            return;
        }
        self.buf.extend_from_slice(data);
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len());
                self.buf.drain(..n);
                self.skip -= n;
                if self.skip > 0 {
                    return;
                }
            }
            if self.chunked {
                // chunk-size line, data, CRLF; a zero size ends the body (no trailers sent).
                let Some(eol) = find(&self.buf, b"\r\n") else {
                    return;
                };
                let line = String::from_utf8_lossy(&self.buf[..eol]).into_owned();
                let size_text = line.split(';').next().unwrap_or("").trim();
                let Ok(size) = usize::from_str_radix(size_text, 16) else {
                    self.give_up(shared, format!("bad chunk size line {line:?}"));
                    return;
                };
                if size == 0 {
                    if self.buf.len() < eol + 4 {
                        return;
                    }
                    self.buf.drain(..eol + 4);
                    self.chunked = false;
                    self.set_last_body_len(shared);
                    continue;
                }
                if self.buf.len() < eol + 2 + size + 2 {
                    return;
                }
                self.buf.drain(..eol + 2 + size + 2);
                self.body_len += size;
                continue;
            }
            let Some(end) = find(&self.buf, b"\r\n\r\n") else {
                if self.buf.len() > 64 * 1024 {
                    self.give_up(shared, "request head over 64 KiB".into());
                }
                return;
            };
            let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
            self.buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let request_line = lines.next().unwrap_or("");
            let parts: Vec<&str> = request_line.split(' ').collect();
            if parts.len() != 3 || !parts[2].starts_with("HTTP/1.") {
                self.give_up(shared, format!("not a request line: {request_line:?}"));
                return;
            }
            let mut content_length = 0usize;
            let mut chunked = false;
            for h in lines {
                let Some((name, value)) = h.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("transfer-encoding")
                    && value.to_ascii_lowercase().contains("chunked")
                {
                    chunked = true;
                }
            }
            shared.requests.lock().unwrap().push(Request {
                method: parts[0].to_string(),
                target: parts[1].to_string(),
                body_len: content_length,
                at: Instant::now(),
            });
            self.skip = content_length;
            self.chunked = chunked;
            self.body_len = 0;
        }
    }

    fn set_last_body_len(&self, shared: &Shared) {
        if let Some(last) = shared.requests.lock().unwrap().last_mut() {
            last.body_len += self.body_len;
        }
    }

    fn give_up(&mut self, shared: &Shared, why: String) {
        self.lost = true;
        shared.garbage.lock().unwrap().push(why);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Requests and unparseable heads in a client byte stream fed in pieces of `chunk` bytes:
/// the proxy's own parser, exposed so a test can check it on known input.
pub fn parse_requests(wire: &[u8], chunk: usize) -> (Vec<Request>, Vec<String>) {
    let shared = Shared::default();
    let mut p = RequestParser::default();
    for piece in wire.chunks(chunk.max(1)) {
        p.feed(piece, &shared);
    }
    let requests = shared.requests.lock().unwrap().clone();
    let garbage = shared.garbage.lock().unwrap().clone();
    (requests, garbage)
}
