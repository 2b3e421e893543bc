//! Docker: the client against a private daemon, and guards for its containers and volumes.

use super::*;

/// Run the docker client against the private daemon; Err carries the command and stderr.
pub fn docker_try(args: &[&str]) -> Result<String, String> {
    env().docker_try(args)
}

/// Run docker client `cli` against daemon `host`; Err carries the command and stderr.
pub fn docker_cli_try(cli: &str, host: &str, args: &[&str]) -> Result<String, String> {
    run_for_output(
        Command::new(cli)
            .args(args)
            .env("DOCKER_HOST", host)
            .env_remove("DOCKER_CONTEXT"),
        &format!("{cli} {}", args.join(" ")),
    )
}

/// Like [`docker_try`], panicking on failure.
pub fn docker(args: &[&str]) -> String {
    docker_try(args).unwrap_or_else(|e| panic!("{e}"))
}

/// `docker` arguments that create volume `name` backed by tmpfs.
pub fn create_tmpfs_volume(name: &str) -> [&str; 7] {
    [
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        name,
    ]
}

/// A named local volume backed by tmpfs (`--opt type=tmpfs --opt device=tmpfs`): Docker
/// mounts it at `<root>/volumes/<name>/_data` while a container uses it. Removed on Drop.
/// Declare it before the containers that use it so they are dropped (removed) first.
pub struct Volume {
    pub name: String,
    daemon: &'static TestEnv,
    removed: bool,
}

impl Volume {
    pub fn create_tmpfs(label: &str) -> Volume {
        Volume::create_tmpfs_on(env(), label)
    }

    /// [`Volume::create_tmpfs`] on another of the test daemons.
    pub fn create_tmpfs_on(daemon: &'static TestEnv, label: &str) -> Volume {
        let name = unique_name(label);
        daemon.docker(&create_tmpfs_volume(&name));
        Volume {
            name,
            daemon,
            removed: false,
        }
    }

    /// `<docker root>/volumes/<name>/_data`
    pub fn mount_point(&self) -> String {
        format!("{}/volumes/{}/_data", self.daemon.docker_root, self.name)
    }

    /// `docker volume rm`, asserting it succeeds.
    pub fn remove(&mut self) {
        self.daemon.docker(&["volume", "rm", &self.name]);
        self.removed = true;
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.daemon.docker_try(&["volume", "rm", "-f", &self.name]);
        }
    }
}

/// A container on the private daemon, force-removed (with its anonymous volumes) on Drop.
pub struct Container {
    pub id: String,
    pub name: String,
    daemon: &'static TestEnv,
    removed: bool,
}

impl Container {
    /// `docker run -d --name <unique> <run_args> <image> <cmd>`.
    pub fn run(label: &str, run_args: &[&str], cmd: &[&str]) -> Container {
        Container::run_on(env(), label, run_args, cmd)
    }

    /// [`Container::run`] on another of the test daemons.
    pub fn run_on(
        daemon: &'static TestEnv,
        label: &str,
        run_args: &[&str],
        cmd: &[&str],
    ) -> Container {
        let name = unique_name(label);
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(run_args);
        args.push(&daemon.image);
        args.extend_from_slice(cmd);
        let id = daemon.docker(&args);
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "docker run printed {id:?}, not a container id"
        );
        Container {
            id,
            name,
            daemon,
            removed: false,
        }
    }

    /// `docker inspect -f <format>`.
    pub fn inspect(&self, format: &str) -> String {
        self.daemon.docker(&["inspect", "-f", format, &self.id])
    }

    /// `GraphDriver.Data.MergedDir`: the rootfs mount point.
    pub fn merged_dir(&self) -> String {
        self.inspect("{{.GraphDriver.Data.MergedDir}}")
    }

    /// Where the engine mounts the container's rootfs: inspect's `GraphDriver.Data.MergedDir`
    /// for a graph driver; under the containerd image store, which has no MergedDir (asserted),
    /// `<root>/rootfs/<snapshotter>/<id>` (moby daemon/snapshotter/mount.go), the snapshotter
    /// being containerd's `overlayfs`, which inspect's `GraphDriver.Name` says.
    pub fn rootfs_mount_point(&self) -> String {
        if !self.daemon.containerd_store() {
            return self.merged_dir();
        }
        let graph = self.inspect("{{json .GraphDriver}}");
        let graph: serde_json::Value = serde_json::from_str(&graph)
            .unwrap_or_else(|e| panic!("GraphDriver {graph:?} is not JSON: {e}"));
        assert!(
            graph["Data"].get("MergedDir").is_none(),
            "the containerd image store gave a MergedDir: {graph}"
        );
        assert_eq!(graph["Name"], "overlayfs", "the snapshotter: {graph}");
        format!("{}/rootfs/overlayfs/{}", self.daemon.docker_root, self.id)
    }

    /// `NetworkSettings.SandboxKey` with `/var/run` spelt `/run`, as mountinfo shows it.
    pub fn sandbox_key(&self) -> String {
        let key = self.inspect("{{.NetworkSettings.SandboxKey}}");
        match key.strip_prefix("/var/run/") {
            Some(rest) => format!("/run/{rest}"),
            None => key,
        }
    }

    /// `<docker root>/containers/<id>/mounts/shm` (Docker 18+ with shareable IPC).
    pub fn shm_mount_point(&self) -> String {
        format!(
            "{}/containers/{}/mounts/shm",
            self.daemon.docker_root, self.id
        )
    }

    pub fn state(&self) -> String {
        self.inspect("{{.State.Status}}")
    }

    pub fn stop(&self) {
        self.daemon.docker(&["stop", "-t", "1", &self.id]);
    }

    /// `docker rm` (not forced: the container must be stopped).
    pub fn remove(&mut self) {
        self.daemon.docker(&["rm", &self.id]);
        self.removed = true;
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.daemon.docker_try(&["rm", "-f", "-v", &self.id]);
        }
    }
}
