//! The listener: a bounded number of connections, each bounded in time. A client gets
//! `header_read_timeout` to send each request's headers (slowloris, and the idle time between
//! requests: hyper starts that timer when it waits for a request), `write_timeout` to take
//! each part of a response (nginx's `send_timeout`: a client that reads nothing frees its slot),
//! and `max_connection_age` in all, then `age_grace` to finish the response under way (a
//! client reading a byte now and then).

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; further ones are closed at accept.
    pub max_connections: usize,
    /// Time a client gets to send its request headers (slowloris), or the next request's.
    pub header_read_timeout: Duration,
    /// Bound on buffered request bytes (headers) per connection.
    pub max_buf_size: usize,
    /// Time a client gets to finish the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Time a write of the response may wait for the client to read.
    pub write_timeout: Duration,
    /// Age at which a connection takes no further request.
    pub max_connection_age: Duration,
    /// Time a connection that reached its age gets to finish its response.
    pub age_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            max_buf_size: 16 * 1024,
            tls_handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(60),
            age_grace: Duration::from_secs(30),
        }
    }
}

/// What the server counts, for the metrics.
#[derive(Debug, Default)]
pub struct EdgeCounters {
    connections_rejected: AtomicU64,
}

impl EdgeCounters {
    pub fn connections_rejected(&self) -> u64 {
        self.connections_rejected.load(Ordering::Relaxed)
    }
}

/// A warning for refused connections at most this often, with the count since the last one:
/// a flood must not become a log flood.
const REJECT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Connections closed at accept: counted, and logged at most once per `REJECT_LOG_INTERVAL`.
struct Refusals {
    counters: Arc<EdgeCounters>,
    max_connections: usize,
    unlogged: u64,
    last_log: Option<Instant>,
}

impl Refusals {
    fn new(counters: Arc<EdgeCounters>, max_connections: usize) -> Refusals {
        Refusals {
            counters,
            max_connections,
            unlogged: 0,
            last_log: None,
        }
    }

    fn one(&mut self, peer: std::net::SocketAddr) {
        self.counters
            .connections_rejected
            .fetch_add(1, Ordering::Relaxed);
        self.unlogged += 1;
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= REJECT_LOG_INTERVAL)
        {
            tracing::warn!(
                %peer,
                refused = self.unlogged,
                max_connections = self.max_connections,
                "connection limit reached: refusing connections (--web.max-connections; counted in mountleak_http_connections_rejected_total)"
            );
            self.unlogged = 0;
            self.last_log = Some(Instant::now());
        }
    }
}

/// Serves `app` until `shutdown` resolves, then waits (bounded) for open requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    counters: Arc<EdgeCounters>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut refused = Refusals::new(counters, limits.max_connections);
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
            drop(stream);
            refused.one(peer);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, tls, limits, stopping) =
            (app.clone(), tls.clone(), limits.clone(), stopping.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection(stream, app, tls, &limits, stopping).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: all slots back means all ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(Duration::from_secs(10), slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish within 10s of shutdown");
    }
    Ok(())
}

/// One connection, TLS or not, until it ends, errs, or outlives its age and grace.
async fn connection(
    stream: TcpStream,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: &Limits,
    stopping: watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let born = Instant::now();
    let fd = stream.as_raw_fd();
    let stream = WriteDeadline::new(stream, limits.write_timeout);
    match tls {
        Some(acceptor) => {
            let stream =
                tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream))
                    .await
                    .map_err(|_| "TLS handshake timed out")??;
            drive(TokioIo::new(stream), fd, app, limits, born, stopping).await
        }
        None => drive(TokioIo::new(stream), fd, app, limits, born, stopping).await,
    }
}

/// Makes closing `fd` abortive (SO_LINGER 0: a reset, unsent data discarded). For a
/// connection given up on: else the kernel would go on feeding the slow client everything
/// still in the socket's send buffer (megabytes) after the slot is free.
fn reset_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: fd is the open socket of a connection this task still owns; the option is
    // a plain struct of the size given.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

async fn drive<I>(
    io: TokioIo<I>,
    fd: RawFd,
    app: Router,
    limits: &Limits,
    born: Instant,
    mut stopping: watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_buf_size);
    let conn = builder.serve_connection(io, TowerToHyperService::new(app));
    tokio::pin!(conn);
    let aged = tokio::time::sleep_until((born + limits.max_connection_age).into());
    tokio::select! {
        result = conn.as_mut() => return Ok(result?),
        _ = aged => {}
        _ = stopping.wait_for(|stop| *stop) => {}
    }
    // No further request on this connection; the one under way may finish.
    conn.as_mut().graceful_shutdown();
    match tokio::time::timeout(limits.age_grace, conn.as_mut()).await {
        Ok(result) => Ok(result?),
        Err(_) => {
            reset_on_close(fd);
            Err("reset: the response was not taken within the connection's age".into())
        }
    }
}

/// A stream whose writes must make progress: one that stays pending for `timeout` (the
/// client reads nothing and the socket buffers are full) fails, and the connection with it
/// is reset.
struct WriteDeadline<T> {
    io: T,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T: AsRawFd> WriteDeadline<T> {
    fn new(io: T, timeout: Duration) -> Self {
        WriteDeadline {
            io,
            timeout,
            stalled: None,
        }
    }

    /// Called when a write is pending: Pending until the deadline, then an error.
    fn poll_stall<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                reset_on_close(self.io.as_raw_fd());
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not read the response",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending => self.poll_stall(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + AsRawFd + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + AsRawFd + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.progress(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.progress(cx, polled)
    }

    /// Forwarded: hyper queues a body's chunks for vectored writes instead of copying them
    /// into one buffer when the stream supports it.
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.progress(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.progress(cx, polled)
    }
}
