//! The Docker Engine API (via bollard), spoken by Docker and by Podman's compatible service.
//!
//! A background task keeps a [`RuntimeView`] warm: list + inspect at start, then the
//! container events stream, plus a periodic resync. Every call but the events stream has its
//! own timeout, so a slow, frozen or dead daemon never stalls a scrape; it only turns `up`
//! false. The events stream may stay silent for hours: the pings say whether the daemon lives. Only read-only
//! endpoints are called (`/_ping`, `/version`, `/info`, `/containers/json`,
//! `/containers/<id>/json`, `/events`).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, EventMessage};
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use futures_util::StreamExt;

use super::{ContainerInfo, Runtime, RuntimeKind, RuntimeView, STATE_REMOVED, pod_from_labels};
use crate::layout::{Layout, RootKind, normalize_root};

/// Longest wait between reconnection attempts: a returning daemon is seen within this.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How often to ping between resyncs: an open events stream says nothing when the daemon
/// is frozen, and `docker_up` must not lie for a whole resync interval.
const PING_INTERVAL: Duration = Duration::from_secs(10);

/// bollard's client timeout also bounds the wait for a response's headers, and a daemon (or
/// a proxy in front of it) may hold the events stream's headers back until the first event:
/// under the per-call timeout a quiet host would reconnect in a loop and `up` would flap.
/// The stream gets no deadline of its own; the pings detect a dead or frozen daemon.
const EVENTS_HEADERS_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Container events that change what we know; the rest (exec, attach, Podman's sync, ...)
/// are ignored. Podman's compatible service says `remove` where Docker says `destroy`.
const EVENTS: &[&str] = &[
    "create", "init", "start", "restart", "die", "stop", "pause", "unpause", "rename", "cleanup",
    "destroy", "remove",
];
const REMOVAL_EVENTS: &[&str] = &["destroy", "remove"];

#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// Which engine answers: [`RuntimeKind::Docker`] or [`RuntimeKind::Podman`].
    pub runtime: RuntimeKind,
    pub host: String,
    pub timeout: Duration,
    /// Docker's data root, Podman's graph root (the API's `DockerRootDir` is added).
    pub data_root: String,
    /// Docker's exec root (`<exec-root>/netns/<sandbox>`), Podman's netns directory.
    pub exec_root: String,
    pub resync_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot connect to {host}: {source}")]
    Connect {
        host: String,
        source: bollard::errors::Error,
    },
    #[error("{call} timed out after {timeout:?}")]
    Timeout {
        call: &'static str,
        timeout: Duration,
    },
    #[error("{call}: {source}")]
    Api {
        call: &'static str,
        source: bollard::errors::Error,
    },
}

#[derive(Default)]
struct Known {
    up: bool,
    /// Whether the current outage was logged at warn level (once per outage).
    warned: bool,
    docker_root: Option<String>,
    /// The daemon's pid (SO_PEERCRED on its socket), for its mount namespace.
    daemon_pid: Option<u32>,
    containers: HashMap<String, ContainerInfo>,
    removed: VecDeque<String>,
}

pub struct DockerRuntime {
    config: DockerConfig,
    known: RwLock<Known>,
    view: RwLock<Arc<RuntimeView>>,
}

impl DockerRuntime {
    pub fn new(config: DockerConfig) -> Arc<DockerRuntime> {
        let rt = Arc::new(DockerRuntime {
            config,
            known: RwLock::new(Known::default()),
            view: RwLock::new(Arc::new(RuntimeView::default())),
        });
        rt.publish();
        rt
    }

    /// Connects, negotiates the API version (dockerd 20.10 speaks 1.41, older than
    /// bollard's default; Podman 4 too) and loads every container once.
    pub async fn sync_once(&self) -> Result<Docker, DockerError> {
        let result = async {
            let docker = self.connect().await?;
            self.resync(&docker).await?;
            Ok(docker)
        }
        .await;
        if let Err(e) = &result {
            self.set_down(e);
        }
        result
    }

    /// Runs until the process ends: keeps the view warm, reconnecting with backoff.
    pub async fn run(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(500);
        loop {
            // The events stream opens after the list: ask it to replay from before the list,
            // or a container started in between stays unknown (and its leaks say `removed`)
            // until the next resync. An event seen twice costs one more inspect.
            let since = events_since();
            match self.sync_once().await {
                Ok(docker) => {
                    backoff = Duration::from_millis(500);
                    if let Err(e) = self.follow(&docker, &since).await {
                        self.set_down(&e);
                    }
                }
                Err(e) => {
                    tracing::debug!(runtime = self.name(), error = %e, retry_in = ?backoff, "runtime unavailable");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            tokio::time::sleep(backoff).await;
        }
    }

    async fn connect(&self) -> Result<Docker, DockerError> {
        let host = &self.config.host;
        let secs = self.config.timeout.as_secs().max(1);
        let connected = if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, secs, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_http(
                &host.replacen("tcp://", "http://", 1),
                secs,
                bollard::API_DEFAULT_VERSION,
            )
        };
        let docker = connected.map_err(|source| DockerError::Connect {
            host: host.clone(),
            source,
        })?;
        let docker = self
            .call("negotiate version", docker.negotiate_version())
            .await?;
        let info = self.call("info", docker.info()).await?;
        let daemon_pid = match host.strip_prefix("unix://") {
            Some(path) => super::socket_peer_pid(path, self.config.timeout).await,
            None => None,
        };
        let mut known = self.known.write().expect("lock");
        known.docker_root = info.docker_root_dir;
        known.daemon_pid = daemon_pid;
        Ok(docker)
    }

    async fn call<T>(
        &self,
        call: &'static str,
        fut: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, DockerError> {
        // bollard's own timeout covers only response headers: bound the whole call.
        match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(r) => r.map_err(|source| DockerError::Api { call, source }),
            Err(_) => Err(DockerError::Timeout {
                call,
                timeout: self.config.timeout,
            }),
        }
    }

    /// Lists every container; inspects the ones that are new or changed state.
    async fn resync(&self, docker: &Docker) -> Result<(), DockerError> {
        let opts = ListContainersOptionsBuilder::default().all(true).build();
        let listed = self
            .call("list containers", docker.list_containers(Some(opts)))
            .await?;
        let mut to_inspect = Vec::new();
        let mut listed_ids = Vec::new();
        {
            let known = self.known.read().expect("lock");
            for c in &listed {
                let Some(id) = &c.id else { continue };
                listed_ids.push(id.clone());
                let state = c.state.map(|s| s.to_string()).unwrap_or_default();
                match known.containers.get(id) {
                    Some(k) if k.state == state => {}
                    _ => to_inspect.push(id.clone()),
                }
            }
        }
        for id in to_inspect {
            self.inspect(docker, &id).await?;
        }
        {
            let mut known = self.known.write().expect("lock");
            let gone: Vec<String> = known
                .containers
                .iter()
                .filter(|(id, c)| c.state != STATE_REMOVED && !listed_ids.contains(id))
                .map(|(id, _)| id.clone())
                .collect();
            for id in gone {
                known.mark_removed(&id);
            }
            if !known.up && known.warned {
                tracing::info!(
                    runtime = self.name(),
                    containers = listed_ids.len(),
                    "runtime reachable again"
                );
            }
            known.up = true;
            known.warned = false;
        }
        self.publish();
        Ok(())
    }

    async fn inspect(&self, docker: &Docker, id: &str) -> Result<(), DockerError> {
        match self
            .call("inspect container", docker.inspect_container(id, None))
            .await
        {
            Ok(resp) => {
                let info = container_info(self.config.runtime, id, resp);
                self.known
                    .write()
                    .expect("lock")
                    .containers
                    .insert(id.to_string(), info);
                Ok(())
            }
            // Removed between list (or event) and inspect.
            Err(DockerError::Api {
                source:
                    bollard::errors::Error::DockerResponseServerError {
                        status_code: 404, ..
                    },
                ..
            }) => {
                self.known.write().expect("lock").mark_removed(id);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Follows container events; resyncs periodically. Returns on the first failure.
    async fn follow(&self, docker: &Docker, since: &str) -> Result<(), DockerError> {
        let mut filters: HashMap<&str, Vec<&str>> = HashMap::from([("type", vec!["container"])]);
        // Podman's service names some events differently: filter those here, not there.
        if self.config.runtime == RuntimeKind::Docker {
            filters.insert("event", EVENTS.to_vec());
        }
        let opts = EventsOptionsBuilder::default()
            .since(since)
            .filters(&filters)
            .build();
        let mut events = docker
            .clone()
            .with_timeout(EVENTS_HEADERS_TIMEOUT)
            .events(Some(opts));
        let mut tick = tokio::time::interval(self.config.resync_interval);
        tick.tick().await;
        let mut ping = tokio::time::interval(PING_INTERVAL.min(self.config.resync_interval));
        ping.tick().await;
        loop {
            tokio::select! {
                _ = ping.tick() => {
                    self.call("ping", docker.ping()).await?;
                }
                ev = events.next() => match ev {
                    Some(Ok(ev)) => self.on_event(docker, ev).await?,
                    Some(Err(source)) => return Err(DockerError::Api { call: "events", source }),
                    None => return Err(DockerError::Api {
                        call: "events",
                        source: bollard::errors::Error::IOError { err: std::io::Error::other("stream ended") },
                    }),
                },
                _ = tick.tick() => self.resync(docker).await?,
            }
        }
    }

    async fn on_event(&self, docker: &Docker, ev: EventMessage) -> Result<(), DockerError> {
        let action = ev.action.as_deref().unwrap_or("");
        let Some(id) = ev.actor.and_then(|a| a.id) else {
            return Ok(());
        };
        if !EVENTS.contains(&action) {
            return Ok(());
        }
        tracing::debug!(runtime = self.name(), action, container = %id, "container event");
        if REMOVAL_EVENTS.contains(&action) {
            self.known.write().expect("lock").mark_removed(&id);
        } else {
            self.inspect(docker, &id).await?;
        }
        self.publish();
        Ok(())
    }

    fn set_down(&self, err: &DockerError) {
        let first = {
            let mut known = self.known.write().expect("lock");
            known.up = false;
            !std::mem::replace(&mut known.warned, true)
        };
        if first {
            tracing::warn!(runtime = self.name(), error = %err, "runtime unreachable; its container states are unknown until it answers");
        } else {
            tracing::debug!(runtime = self.name(), error = %err, "runtime still unreachable");
        }
        self.publish();
    }

    /// Rebuilds the shared view from what is known.
    fn publish(&self) {
        let known = self.known.read().expect("lock");
        let mut data_roots = vec![normalize_root(&self.config.data_root)];
        data_roots.extend(known.docker_root.as_deref().map(normalize_root));
        let (data_kind, exec_kind) = match self.config.runtime {
            RuntimeKind::Podman => (RootKind::PodmanGraph, RootKind::NetnsDir),
            _ => (RootKind::DockerData, RootKind::DockerExec),
        };
        let layout = Layout::default()
            .with(data_kind, data_roots)
            .with(exec_kind, [&self.config.exec_root]);
        let mut view = RuntimeView::build(
            self.config.runtime,
            known.up,
            layout,
            known.containers.values().cloned(),
        );
        view.daemon_pids.extend(known.daemon_pid);
        *self.view.write().expect("lock") = Arc::new(view);
    }
}

/// Unix seconds a little before now, for the events' `since`: the margin covers the
/// sub-second part and a small clock difference with a remote daemon (a larger one is
/// caught by the periodic resync).
fn events_since() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    now.saturating_sub(2).to_string()
}

impl Known {
    fn mark_removed(&mut self, id: &str) {
        super::mark_removed(&mut self.containers, &mut self.removed, id);
    }
}

impl Runtime for DockerRuntime {
    fn name(&self) -> &'static str {
        self.config.runtime.as_str()
    }
    fn view(&self) -> Arc<RuntimeView> {
        self.view.read().expect("lock").clone()
    }
}

/// Keeps only what leaks are matched on. Environment, labels (but kubelet's pod labels) and
/// the rest of the inspect output (which carries secrets) are dropped here and never logged.
fn container_info(runtime: RuntimeKind, id: &str, resp: ContainerInspectResponse) -> ContainerInfo {
    let state = resp
        .state
        .and_then(|s| s.status)
        .map(|s| s.to_string())
        .unwrap_or_else(|| "unknown".into());
    let name = resp
        .name
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    let merged_dir = resp
        .graph_driver
        .and_then(|g| g.data.get("MergedDir").cloned())
        .filter(|d| !d.is_empty());
    let sandbox_key = resp
        .network_settings
        .and_then(|n| n.sandbox_key)
        .filter(|k| !k.is_empty());
    let pod = resp
        .config
        .and_then(|c| c.labels)
        .and_then(|l| pod_from_labels(&l));
    let volumes = resp
        .mounts
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| m.name)
        .collect();
    ContainerInfo {
        runtime,
        namespace: None,
        id: id.to_string(),
        name,
        state,
        merged_dir,
        sandbox_key,
        volumes,
        pod,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use axum::body::{Body, Bytes};
    use axum::http::Uri;

    /// What a fake daemon was asked.
    #[derive(Default)]
    struct Calls {
        info: AtomicUsize,
        events: AtomicUsize,
        ping: AtomicUsize,
    }

    /// A Docker Engine API with no containers on a Unix socket. Its events stream sends its
    /// headers after `headers_after` (None: at once) and then no event at all, as a quiet
    /// host does.
    async fn fake_daemon(
        dir: &std::path::Path,
        headers_after: Option<Duration>,
    ) -> (String, Arc<Calls>) {
        let sock = dir.join("docker.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let calls = Arc::new(Calls::default());
        let c = calls.clone();
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let c = c.clone();
            async move {
                let path = uri.path();
                let json = |s: &'static str| {
                    axum::response::Response::builder()
                        .header("content-type", "application/json")
                        .body(Body::from(s))
                        .unwrap()
                };
                if path.ends_with("/_ping") {
                    c.ping.fetch_add(1, Ordering::SeqCst);
                    axum::response::Response::new(Body::from("OK"))
                } else if path.ends_with("/version") {
                    json(r#"{"ApiVersion":"1.41","Version":"20.10.24"}"#)
                } else if path.ends_with("/info") {
                    c.info.fetch_add(1, Ordering::SeqCst);
                    json(r#"{"DockerRootDir":"/var/lib/docker"}"#)
                } else if path.ends_with("/containers/json") {
                    json("[]")
                } else if path.ends_with("/events") {
                    c.events.fetch_add(1, Ordering::SeqCst);
                    if let Some(d) = headers_after {
                        tokio::time::sleep(d).await;
                    }
                    let silent = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
                    axum::response::Response::new(Body::from_stream(silent))
                } else {
                    axum::response::Response::builder()
                        .status(404)
                        .body(Body::from("{}"))
                        .unwrap()
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("unix://{}", sock.display()), calls)
    }

    /// Runs the runtime against the daemon for `watch`; returns how long `up` was false
    /// after it first turned true.
    async fn down_time(host: String, timeout: Duration, watch: Duration) -> Duration {
        let rt = DockerRuntime::new(DockerConfig {
            runtime: RuntimeKind::Docker,
            host,
            timeout,
            data_root: "/var/lib/docker".into(),
            exec_root: "/run/docker".into(),
            resync_interval: Duration::from_secs(3600),
        });
        let task = tokio::spawn(rt.clone().run());
        let start = Instant::now();
        while !rt.view().is_up(RuntimeKind::Docker) {
            assert!(start.elapsed() < watch, "the fake daemon never came up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let start = Instant::now();
        let mut down = Duration::ZERO;
        while start.elapsed() < watch {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if !rt.view().is_up(RuntimeKind::Docker) {
                down += Duration::from_millis(20);
            }
        }
        task.abort();
        down
    }

    /// An events stream that says nothing for longer than the per-call timeout is a quiet
    /// host, not a dead daemon: the runtime stays up and keeps its one connection, whether
    /// the daemon sends the stream's headers at once (dockerd) or only with the first event.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_events_stream_is_not_an_outage() {
        let timeout = Duration::from_secs(1);
        let watch = Duration::from_millis(3500);
        let dir = tempfile::tempdir().unwrap();
        for (case, headers_after) in [
            ("headers at once", None),
            (
                "headers with the first event",
                Some(Duration::from_secs(3600)),
            ),
        ] {
            let sub = dir.path().join(case.replace(' ', "-"));
            std::fs::create_dir(&sub).unwrap();
            let (host, calls) = fake_daemon(&sub, headers_after).await;
            let down = down_time(host, timeout, watch).await;
            let connects = calls.info.load(Ordering::SeqCst);
            let streams = calls.events.load(Ordering::SeqCst);
            assert_eq!(
                (down, connects, streams),
                (Duration::ZERO, 1, 1),
                "{case}: with a {timeout:?} timeout and {watch:?} without events, the runtime \
                 was down for (down, connects, events requests) {:?}",
                (down, connects, streams)
            );
        }
    }
}
