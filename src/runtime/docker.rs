//! The Docker Engine API (via bollard), spoken by Docker and by Podman's compatible service.
//!
//! Plugs into the watch loop ([`super::watch`]): list + inspect, then the container events
//! stream (replayed from a little before the list), pings. Only read-only endpoints are
//! called (`/_ping`, `/version`, `/info`, `/containers/json`, `/containers/<id>/json`,
//! `/events`).

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, EventMessage};
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::watch::{Connected, Engine, Event, Listed, RuntimeError, bounded, within};
use super::{ContainerInfo, RuntimeKind, pod_from_labels};
use crate::config::Config;
use crate::layout::{Layout, RootKind};

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

/// An engine that speaks the Docker Engine API: Docker, or Podman's service.
#[derive(Debug, Clone)]
pub struct DockerApi {
    /// [`RuntimeKind::Docker`] or [`RuntimeKind::Podman`].
    pub(crate) kind: RuntimeKind,
    pub(crate) host: String,
    pub(crate) timeout: Duration,
    /// Roots known from the flags (Docker's data and exec roots, Podman's graph root and
    /// netns directory); the API's `DockerRootDir` is added when it answers.
    pub(crate) layout: Layout,
}

/// Docker, as the flags describe it.
pub fn from_config(config: &Config) -> DockerApi {
    DockerApi {
        kind: RuntimeKind::Docker,
        host: config.docker_host.clone(),
        timeout: config.runtime_timeout(),
        layout: Layout::default()
            .with(RootKind::DockerData, [&config.docker_root])
            .with(RootKind::DockerExec, [&config.docker_exec_root]),
    }
}

impl DockerApi {
    /// The kind of root the API's `DockerRootDir` is.
    fn data_root_kind(&self) -> RootKind {
        match self.kind {
            RuntimeKind::Podman => RootKind::PodmanGraph,
            _ => RootKind::DockerData,
        }
    }

    async fn call<T>(
        &self,
        call: &'static str,
        fut: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, RuntimeError> {
        // bollard's own timeout covers only response headers: bound the whole call.
        bounded(call, self.timeout, fut).await
    }
}

impl Engine for DockerApi {
    type Client = Docker;

    fn kind(&self) -> RuntimeKind {
        self.kind
    }
    fn address(&self) -> &str {
        &self.host
    }
    fn timeout(&self) -> Duration {
        self.timeout
    }
    fn namespaces(&self) -> Vec<Option<String>> {
        vec![None]
    }
    fn replays_events(&self) -> bool {
        true
    }
    fn layout(&self) -> Layout {
        self.layout.clone()
    }

    /// Connects and negotiates the API version (dockerd 20.10 speaks 1.41, older than
    /// bollard's default; Podman 4 too).
    async fn connect(&self) -> Result<Connected<Docker>, RuntimeError> {
        let host = &self.host;
        let secs = self.timeout.as_secs().max(1);
        let connected = if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, secs, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_http(
                &host.replacen("tcp://", "http://", 1),
                secs,
                bollard::API_DEFAULT_VERSION,
            )
        };
        let docker = connected.map_err(|source| RuntimeError::Connect {
            address: host.clone(),
            source: Box::new(source),
        })?;
        let docker = self
            .call("negotiate version", docker.negotiate_version())
            .await?;
        let info = self.call("info", docker.info()).await?;
        let roots = Layout::default().with(self.data_root_kind(), info.docker_root_dir);
        Ok(Connected {
            client: docker,
            roots,
        })
    }

    async fn ping(&self, docker: &Docker) -> Result<(), RuntimeError> {
        self.call("ping", docker.ping()).await.map(drop)
    }

    async fn list(&self, docker: &Docker, _: Option<&str>) -> Result<Vec<Listed>, RuntimeError> {
        let opts = ListContainersOptionsBuilder::default().all(true).build();
        let listed = self
            .call("list containers", docker.list_containers(Some(opts)))
            .await?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                Some(Listed::Summary {
                    id: c.id?,
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn inspect(
        &self,
        docker: &Docker,
        _: Option<&str>,
        id: &str,
    ) -> Result<Option<ContainerInfo>, RuntimeError> {
        let call = "inspect container";
        match within(call, self.timeout, docker.inspect_container(id, None)).await? {
            Ok(resp) => Ok(Some(container_info(self.kind, id, resp))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(source) => Err(RuntimeError::Api {
                call,
                source: Box::new(source),
            }),
        }
    }

    fn events(
        &self,
        docker: &Docker,
        since: u64,
    ) -> BoxStream<'static, Result<Event, RuntimeError>> {
        let mut filters: HashMap<&str, Vec<&str>> = HashMap::from([("type", vec!["container"])]);
        // Podman's service names some events differently: filter those here, not there.
        if self.kind == RuntimeKind::Docker {
            filters.insert("event", EVENTS.to_vec());
        }
        let opts = EventsOptionsBuilder::default()
            .since(&since.to_string())
            .filters(&filters)
            .build();
        let kind = self.kind;
        docker
            .clone()
            .with_timeout(EVENTS_HEADERS_TIMEOUT)
            .events(Some(opts))
            .filter_map(move |ev| {
                std::future::ready(match ev {
                    Ok(ev) => event(kind, ev).map(Ok),
                    Err(source) => Some(Err(RuntimeError::Api {
                        call: "events",
                        source: Box::new(source),
                    })),
                })
            })
            .boxed()
    }
}

/// What a container event asks for; `None` for the events that change nothing we know.
fn event(kind: RuntimeKind, ev: EventMessage) -> Option<Event> {
    let action = ev.action.as_deref().unwrap_or("");
    let id = ev.actor.and_then(|a| a.id)?;
    if !EVENTS.contains(&action) {
        return None;
    }
    tracing::debug!(runtime = kind.as_str(), action, container = %id, "container event");
    Some(if REMOVAL_EVENTS.contains(&action) {
        Event::Removed {
            namespace: None,
            id,
        }
    } else {
        Event::Changed {
            namespace: None,
            id,
        }
    })
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
    use crate::runtime::Runtime;
    use crate::runtime::watch::Watch;
    use std::sync::Arc;
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
        let api = DockerApi {
            kind: RuntimeKind::Docker,
            host,
            timeout,
            layout: Layout::default(),
        };
        let rt = Watch::new(api, Duration::from_secs(3600));
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
