//! The only code that talks to a container engine. The classifier sees a plain
//! [`RuntimeView`]; a [`Runtime`] keeps one fresh.

pub mod docker;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::layout::{Layout, normalize_root};

/// What the runtime last told us about one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    /// The engine's state (`running`, `exited`, ...), or `removed` once it stopped listing it.
    pub state: String,
    /// Where its root filesystem is mounted (`GraphDriver.Data.MergedDir`).
    pub merged_dir: Option<String>,
    /// Its network namespace bind mount (`NetworkSettings.SandboxKey`).
    pub sandbox_key: Option<String>,
    /// Named volumes it mounts.
    pub volumes: Vec<String>,
}

pub const STATE_REMOVED: &str = "removed";
pub const STATE_UNKNOWN: &str = "unknown";

/// A snapshot of the runtime's world, with the path indexes the classifier needs.
#[derive(Debug, Clone, Default)]
pub struct RuntimeView {
    /// Whether the last call to the engine succeeded.
    pub up: bool,
    pub data_roots: Vec<String>,
    pub exec_roots: Vec<String>,
    /// Known containers by id, including remembered removed ones.
    pub containers: HashMap<String, ContainerInfo>,
    /// Canonical mount path (merged dir, sandbox key) -> container id.
    pub by_path: HashMap<String, String>,
    /// Volume name -> id of a container that uses it (a live one preferred).
    pub volume_users: HashMap<String, String>,
}

impl RuntimeView {
    pub fn new(
        up: bool,
        data_roots: Vec<String>,
        exec_roots: Vec<String>,
        containers: impl IntoIterator<Item = ContainerInfo>,
    ) -> RuntimeView {
        let mut view = RuntimeView {
            up,
            data_roots,
            exec_roots,
            ..Default::default()
        };
        for c in containers {
            for path in c.merged_dir.iter().chain(&c.sandbox_key) {
                view.by_path.insert(normalize_root(path), c.id.clone());
            }
            if let Some(key) = &c.sandbox_key {
                // <exec-root>/netns/<sandbox>: learn the exec root from the daemon itself.
                if let Some(root) = key.rsplitn(3, '/').nth(2).filter(|r| !r.is_empty()) {
                    view.exec_roots.push(normalize_root(root));
                }
            }
            view.containers.insert(c.id.clone(), c);
        }
        view.exec_roots.sort();
        view.exec_roots.dedup();
        let mut users: Vec<&ContainerInfo> = view.containers.values().collect();
        // Removed containers first, so a live user of the volume overwrites them.
        users.sort_by_key(|c| (c.state != STATE_REMOVED, c.id.clone()));
        for c in users {
            for v in &c.volumes {
                view.volume_users.insert(v.clone(), c.id.clone());
            }
        }
        view
    }

    pub fn layout(&self) -> Layout {
        Layout::new(&self.data_roots, &self.exec_roots)
    }
}

/// A container engine kept warm in the background. `view` must be cheap: it is called on
/// the scrape path and must never wait for the engine.
pub trait Runtime: Send + Sync {
    fn name(&self) -> &'static str;
    fn view(&self) -> Arc<RuntimeView>;
}

/// A runtime that never changes: for tests and for running without any engine.
pub struct StaticRuntime(pub Arc<RuntimeView>);

impl Runtime for StaticRuntime {
    fn name(&self) -> &'static str {
        "static"
    }
    fn view(&self) -> Arc<RuntimeView> {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, state: &str, sandbox: Option<&str>, volumes: &[&str]) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: format!("n-{id}"),
            state: state.into(),
            merged_dir: Some(format!("/var/lib/docker/overlay2/{id}l/merged")),
            sandbox_key: sandbox.map(str::to_string),
            volumes: volumes.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn indexes_paths_exec_roots_and_volume_users() {
        let view = RuntimeView::new(
            true,
            vec!["/var/lib/docker".into()],
            vec!["/run/docker".into()],
            [
                c("a", "running", Some("/var/run/docker/netns/s1"), &["v"]),
                c("b", STATE_REMOVED, Some("/srv/exec/netns/s2"), &["v", "w"]),
            ],
        );
        assert_eq!(view.by_path["/run/docker/netns/s1"], "a");
        assert_eq!(view.by_path["/var/lib/docker/overlay2/bl/merged"], "b");
        assert_eq!(view.exec_roots, vec!["/run/docker", "/srv/exec"]);
        assert_eq!(
            view.volume_users["v"], "a",
            "a live user wins over a removed one"
        );
        assert_eq!(view.volume_users["w"], "b");
    }
}
