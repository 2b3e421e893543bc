//! The one watch loop every engine plugs into: connect, list (and inspect what the list
//! leaves out), follow the events, resync periodically, ping while the events are quiet,
//! and reconnect with backoff. An engine ([`Engine`]) only says how to ask its API; what is
//! known about its containers, when it counts as up, and the view built from it live here.
//!
//! Every call but the events stream is bounded by the engine's timeout, so a slow, frozen or
//! dead daemon never stalls a scrape; it only turns `up` false. The events stream may stay
//! silent for hours: the pings say whether the daemon lives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use super::{ContainerInfo, Runtime, RuntimeKind, RuntimeView, STATE_REMOVED, container_key};
use crate::config::unix_socket_path;
use crate::layout::Layout;

/// First wait between reconnection attempts, doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between reconnection attempts: a returning daemon is seen within this.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often to ping between resyncs: an open events stream says nothing when the daemon
/// is frozen, and `up` must not lie for a whole resync interval.
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Events that ask for a relist come in bursts (a containerd task start is several): wait
/// this long for the rest, then list once.
const EVENT_SETTLE: Duration = Duration::from_millis(200);
/// An engine whose events stream cannot replay lists once more this long after subscribing:
/// events between the first listing and the subscription are not seen otherwise.
const RELIST_AFTER_SUBSCRIBING: Duration = Duration::from_secs(1);

/// How many removed containers a runtime remembers, so their leaks keep a name.
pub(crate) const REMEMBER_REMOVED: usize = 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an engine could not be asked. Shared by every engine: the loop only logs it and
/// turns `up` false.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: BoxError },
    #[error("{call} timed out after {timeout:?}")]
    Timeout {
        call: &'static str,
        timeout: Duration,
    },
    #[error("{call}: {source}")]
    Api {
        call: &'static str,
        source: BoxError,
    },
    #[error("events stream ended")]
    EventsEnded,
}

/// Awaits one API call for at most `timeout`. Ok(Err(_)) is the engine's own answer, for an
/// engine that must tell "not found" from a failure.
pub(crate) async fn within<T, E>(
    call: &'static str,
    timeout: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<Result<T, E>, RuntimeError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| RuntimeError::Timeout { call, timeout })
}

/// One API call bounded by `timeout`, its failure an [`RuntimeError::Api`].
pub(crate) async fn bounded<T, E>(
    call: &'static str,
    timeout: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, RuntimeError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    within(call, timeout, fut)
        .await?
        .map_err(|source| RuntimeError::Api {
            call,
            source: Box::new(source),
        })
}

/// A connection to an engine and the roots it reported about itself.
pub struct Connected<C> {
    pub client: C,
    /// Roots learnt from the engine (Docker's `DockerRootDir`), added to [`Engine::layout`].
    pub roots: Layout,
}

/// One container as a listing gives it.
#[derive(Debug, Clone)]
pub enum Listed {
    /// Everything leaks are matched on (containerd's containers and tasks).
    Whole(ContainerInfo),
    /// Only its id and state (Docker's list): inspected when its state is new.
    Summary { id: String, state: String },
}

/// What an engine's events say to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Inspect this container again.
    Changed {
        namespace: Option<String>,
        id: String,
    },
    /// This container is gone.
    Removed {
        namespace: Option<String>,
        id: String,
    },
    /// Something in this namespace changed: list it again.
    Relist(Option<String>),
}

/// How one container engine's API is asked. Every call but [`Engine::events`] must be
/// bounded by the engine's timeout (see [`bounded`]); only read-only calls are allowed.
pub trait Engine: Send + Sync + 'static {
    type Client: Send + Sync + 'static;

    fn kind(&self) -> RuntimeKind;
    /// The API's address, as configured.
    fn address(&self) -> &str;
    /// The per-call timeout.
    fn timeout(&self) -> Duration;
    /// Namespaces listed one by one (containerd's); `[None]` for an engine without them.
    fn namespaces(&self) -> Vec<Option<String>>;
    /// Whether [`Engine::events`] replays events from `since`. If not, the loop lists once
    /// more shortly after subscribing.
    fn replays_events(&self) -> bool;
    /// Roots known from the flags, before the engine answers.
    fn layout(&self) -> Layout;

    /// Connects and checks that the engine answers.
    fn connect(&self)
    -> impl Future<Output = Result<Connected<Self::Client>, RuntimeError>> + Send;
    /// A cheap call that fails when the daemon is dead or frozen.
    fn ping(&self, client: &Self::Client) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Every container of one namespace (`None` for an engine without namespaces).
    fn list(
        &self,
        client: &Self::Client,
        namespace: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Listed>, RuntimeError>> + Send;
    /// One container; `None` when the engine no longer knows it.
    fn inspect(
        &self,
        client: &Self::Client,
        namespace: Option<&str>,
        id: &str,
    ) -> impl Future<Output = Result<Option<ContainerInfo>, RuntimeError>> + Send;
    /// The container events from `since` (Unix seconds), as far as the engine replays them.
    /// Not bounded by the timeout: a quiet host sends nothing for hours.
    fn events(
        &self,
        client: &Self::Client,
        since: u64,
    ) -> BoxStream<'static, Result<Event, RuntimeError>>;
}

/// What the watch knows about its engine.
#[derive(Default)]
struct Known {
    up: bool,
    /// Whether the current outage was logged at warn level (once per outage).
    warned: bool,
    /// Roots the engine reported when it last connected.
    roots: Layout,
    /// The daemon's pid (SO_PEERCRED on its socket), for its mount namespace.
    daemon_pid: Option<u32>,
    /// By [`ContainerInfo::key`], including remembered removed ones.
    containers: HashMap<String, ContainerInfo>,
    /// Keys of removed containers, oldest first.
    removed: VecDeque<String>,
}

impl Known {
    fn insert(&mut self, info: ContainerInfo) {
        let key = info.key();
        // An id used again after removal (ctr allows it) is a live container again.
        if self
            .containers
            .get(&key)
            .is_some_and(|c| c.state == STATE_REMOVED)
        {
            self.removed.retain(|k| *k != key);
        }
        self.containers.insert(key, info);
    }

    /// Marks a known container removed, forgetting the oldest removed ones beyond
    /// [`REMEMBER_REMOVED`].
    fn mark_removed(&mut self, key: &str) {
        if let Some(c) = self.containers.get_mut(key)
            && c.state != STATE_REMOVED
        {
            c.state = STATE_REMOVED.to_string();
            self.removed.push_back(key.to_string());
            while self.removed.len() > REMEMBER_REMOVED {
                if let Some(old) = self.removed.pop_front() {
                    self.containers.remove(&old);
                }
            }
        }
    }

    /// Marks removed the live containers of `namespace` whose key is not in `listed`.
    fn mark_unlisted(&mut self, namespace: Option<&str>, listed: &HashSet<String>) {
        let gone: Vec<String> = self
            .containers
            .iter()
            .filter(|(key, c)| {
                c.namespace.as_deref() == namespace
                    && c.state != STATE_REMOVED
                    && !listed.contains(*key)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            self.mark_removed(&key);
        }
    }
}

/// An engine kept warm in the background: the [`Runtime`] the scanner asks.
pub struct Watch<E: Engine> {
    engine: E,
    resync_interval: Duration,
    known: RwLock<Known>,
    view: RwLock<Arc<RuntimeView>>,
}

impl<E: Engine> Watch<E> {
    pub fn new(engine: E, resync_interval: Duration) -> Arc<Watch<E>> {
        let watch = Arc::new(Watch {
            engine,
            resync_interval,
            known: RwLock::new(Known::default()),
            view: RwLock::new(Arc::new(RuntimeView::default())),
        });
        watch.publish();
        watch
    }

    /// Connects, learns the daemon's pid and roots, and loads every namespace once.
    async fn connect_and_sync(&self) -> Result<E::Client, RuntimeError> {
        let result = async {
            let Connected { client, roots } = self.engine.connect().await?;
            let daemon_pid = match unix_socket_path(self.engine.address()) {
                Some(path) => super::socket_peer_pid(path, self.engine.timeout()).await,
                None => None,
            };
            {
                let mut known = self.known.write().expect("lock");
                known.roots = roots;
                known.daemon_pid = daemon_pid;
            }
            self.sync_all(&client).await?;
            Ok(client)
        }
        .await;
        if let Err(e) = &result {
            self.set_down(e);
        }
        result
    }

    /// Runs until the process ends: keeps the view warm, reconnecting with backoff.
    pub async fn run(self: Arc<Self>) {
        let mut backoff = MIN_BACKOFF;
        loop {
            // The events stream opens after the list: ask it to replay from before the list,
            // or a container started in between stays unknown (and its leaks say `removed`)
            // until the next resync. An event seen twice costs one more inspect.
            let since = events_since();
            match self.connect_and_sync().await {
                Ok(client) => {
                    backoff = MIN_BACKOFF;
                    if let Err(e) = self.follow(&client, since).await {
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

    /// Lists every namespace; the engine is up once that worked.
    async fn sync_all(&self, client: &E::Client) -> Result<(), RuntimeError> {
        for ns in self.engine.namespaces() {
            self.resync(client, ns.as_deref()).await?;
        }
        self.set_up();
        Ok(())
    }

    /// Lists one namespace; inspects the containers that are new or changed state; the
    /// ones no longer listed are removed.
    async fn resync(&self, client: &E::Client, ns: Option<&str>) -> Result<(), RuntimeError> {
        let listed = self.engine.list(client, ns).await?;
        let kind = self.engine.kind();
        let mut keys = HashSet::new();
        let mut to_inspect = Vec::new();
        {
            let mut known = self.known.write().expect("lock");
            for l in listed {
                match l {
                    Listed::Whole(info) => {
                        keys.insert(info.key());
                        known.insert(info);
                    }
                    Listed::Summary { id, state } => {
                        let key = container_key(kind, ns, &id);
                        if known.containers.get(&key).is_none_or(|c| c.state != state) {
                            to_inspect.push(id);
                        }
                        keys.insert(key);
                    }
                }
            }
        }
        for id in to_inspect {
            self.inspect(client, ns, &id).await?;
        }
        self.known.write().expect("lock").mark_unlisted(ns, &keys);
        self.publish();
        Ok(())
    }

    async fn inspect(
        &self,
        client: &E::Client,
        ns: Option<&str>,
        id: &str,
    ) -> Result<(), RuntimeError> {
        let info = self.engine.inspect(client, ns, id).await?;
        let mut known = self.known.write().expect("lock");
        match info {
            Some(info) => known.insert(info),
            // Removed between list (or event) and inspect.
            None => known.mark_removed(&container_key(self.engine.kind(), ns, id)),
        }
        Ok(())
    }

    /// Follows events; resyncs periodically; pings. Returns on the first failure.
    async fn follow(&self, client: &E::Client, since: u64) -> Result<(), RuntimeError> {
        let mut events = self.engine.events(client, since);
        let first_resync = if self.engine.replays_events() {
            self.resync_interval
        } else {
            RELIST_AFTER_SUBSCRIBING
        };
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + first_resync,
            self.resync_interval,
        );
        let mut ping = tokio::time::interval(PING_INTERVAL.min(self.resync_interval));
        ping.tick().await;
        loop {
            tokio::select! {
                _ = ping.tick() => self.engine.ping(client).await?,
                ev = events.next() => self.on_events(client, ev, &mut events).await?,
                _ = tick.tick() => self.sync_all(client).await?,
            }
        }
    }

    /// Applies an event; one that asks for a relist waits for the rest of its burst.
    async fn on_events(
        &self,
        client: &E::Client,
        first: Option<Result<Event, RuntimeError>>,
        events: &mut BoxStream<'static, Result<Event, RuntimeError>>,
    ) -> Result<(), RuntimeError> {
        let mut relist = Vec::new();
        self.apply(client, first, &mut relist).await?;
        while !relist.is_empty() {
            match tokio::time::timeout(EVENT_SETTLE, events.next()).await {
                Ok(more) => self.apply(client, more, &mut relist).await?,
                Err(_) => break,
            }
        }
        for ns in relist {
            self.resync(client, ns.as_deref()).await?;
        }
        Ok(())
    }

    async fn apply(
        &self,
        client: &E::Client,
        ev: Option<Result<Event, RuntimeError>>,
        relist: &mut Vec<Option<String>>,
    ) -> Result<(), RuntimeError> {
        match ev.ok_or(RuntimeError::EventsEnded)?? {
            Event::Changed { namespace, id } => {
                self.inspect(client, namespace.as_deref(), &id).await?;
                self.publish();
            }
            Event::Removed { namespace, id } => {
                let key = container_key(self.engine.kind(), namespace.as_deref(), &id);
                self.known.write().expect("lock").mark_removed(&key);
                self.publish();
            }
            Event::Relist(ns) => {
                if !relist.contains(&ns) {
                    relist.push(ns);
                }
            }
        }
        Ok(())
    }

    fn set_up(&self) {
        let mut known = self.known.write().expect("lock");
        if !known.up && known.warned {
            let containers = known
                .containers
                .values()
                .filter(|c| c.state != STATE_REMOVED)
                .count();
            tracing::info!(runtime = self.name(), containers, "runtime reachable again");
        }
        known.up = true;
        known.warned = false;
        drop(known);
        self.publish();
    }

    fn set_down(&self, err: &RuntimeError) {
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
        let layout = self.engine.layout().merge(&known.roots);
        let mut view = RuntimeView::build(
            self.engine.kind(),
            known.up,
            layout,
            known.containers.values().cloned(),
        );
        view.daemon_pids
            .extend(known.daemon_pid.map(|p| (self.engine.kind(), p)));
        *self.view.write().expect("lock") = Arc::new(view);
    }
}

/// Unix seconds a little before now, for the events' `since`: the margin covers the
/// sub-second part and a small clock difference with a remote daemon (a larger one is
/// caught by the periodic resync).
fn events_since() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    now.saturating_sub(2)
}

impl<E: Engine> Runtime for Watch<E> {
    fn name(&self) -> &'static str {
        self.engine.kind().as_str()
    }
    fn view(&self) -> Arc<RuntimeView> {
        self.view.read().expect("lock").clone()
    }
}

/// A watch whatever its engine: what `main` starts.
pub trait Watched: Runtime {
    fn kind(&self) -> RuntimeKind;
    /// The engine's API address, as configured.
    fn address(&self) -> &str;
    /// Connects and loads every container once (`scan`).
    fn sync_once(&self) -> BoxFuture<'_, Result<(), RuntimeError>>;
    /// Keeps the view warm in the background until the process ends (`serve`).
    fn spawn(self: Arc<Self>);
}

impl<E: Engine> Watched for Watch<E> {
    fn kind(&self) -> RuntimeKind {
        self.engine.kind()
    }
    fn address(&self) -> &str {
        self.engine.address()
    }
    fn sync_once(&self) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move { self.connect_and_sync().await.map(drop) })
    }
    fn spawn(self: Arc<Self>) {
        drop(tokio::spawn(self.run()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_containers_are_remembered_up_to_the_bound() {
        let mut known = Known::default();
        for i in 0..REMEMBER_REMOVED + 5 {
            known.insert(ContainerInfo::docker(&format!("c{i}"), "n", "running"));
        }
        let key = |i: usize| format!("docker/c{i}");
        known.mark_removed(&key(0));
        known.mark_removed(&key(0));
        known.mark_removed("docker/unknown");
        assert_eq!(
            known.removed.len(),
            1,
            "once per container, unknown keys ignored"
        );
        assert_eq!(known.containers[&key(0)].state, STATE_REMOVED);
        for i in 1..REMEMBER_REMOVED + 5 {
            known.mark_removed(&key(i));
        }
        assert_eq!(known.removed.len(), REMEMBER_REMOVED);
        assert_eq!(
            known.containers.len(),
            REMEMBER_REMOVED,
            "the oldest removed are forgotten"
        );
        assert!(!known.containers.contains_key(&key(4)) && known.containers.contains_key(&key(5)));
    }

    #[test]
    fn an_id_used_again_is_live_and_no_longer_counted_removed() {
        let mut known = Known::default();
        known.insert(ContainerInfo::docker("a", "n", "running"));
        known.mark_removed("docker/a");
        known.insert(ContainerInfo::docker("a", "n", "running"));
        assert!(known.removed.is_empty());
        assert_eq!(known.containers["docker/a"].state, "running");
    }

    #[test]
    fn only_the_listed_namespace_loses_its_unlisted_containers() {
        let in_ns = |id: &str, ns: &str| ContainerInfo {
            runtime: RuntimeKind::Containerd,
            namespace: Some(ns.into()),
            ..ContainerInfo::docker(id, id, "running")
        };
        let mut known = Known::default();
        for c in [
            in_ns("a", "k8s.io"),
            in_ns("b", "k8s.io"),
            in_ns("c", "moby"),
        ] {
            known.insert(c);
        }
        let listed = HashSet::from(["containerd/k8s.io/a".to_string()]);
        known.mark_unlisted(Some("k8s.io"), &listed);
        let state = |k: &str| known.containers[k].state.clone();
        assert_eq!(state("containerd/k8s.io/a"), "running");
        assert_eq!(state("containerd/k8s.io/b"), STATE_REMOVED);
        assert_eq!(state("containerd/moby/c"), "running", "another namespace");
    }
}
