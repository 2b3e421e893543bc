//! Command line and environment, Prometheus-style flag names.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};

/// The completion script for `shell`, from the flags themselves.
pub fn completion(shell: clap_complete::Shell, out: &mut Vec<u8>) {
    use clap::CommandFactory as _;
    let mut cmd = Config::command();
    clap_complete::generate(shell, &mut cmd, "mountleak_exporter", out);
}

/// The manual page (roff, section 1), from the flags themselves.
pub fn man_page() -> Vec<u8> {
    use clap::CommandFactory as _;
    let mut out = Vec::new();
    clap_mangen::Man::new(Config::command().version(env!("CARGO_PKG_VERSION")))
        .render(&mut out)
        .expect("rendering into memory cannot fail");
    out
}

/// `--version`, as Prometheus' own components print it (prometheus/common `version.Print`):
/// name, version and revision, then the build's date, compiler and platform.
pub fn version_text() -> String {
    format!(
        "mountleak_exporter, version {} (revision: {})\n  build date:       {}\n  rust version:     {}\n  platform:         {}/{}\n",
        env!("CARGO_PKG_VERSION"),
        env!("MOUNTLEAK_REVISION"),
        env!("MOUNTLEAK_BUILD_DATE"),
        env!("MOUNTLEAK_RUSTC_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "mountleak_exporter",
    // `--version`/`-V` print version_text(): clap's own says less.
    disable_version_flag = true,
    about = "Prometheus exporter for container mounts leaked into other mount namespaces",
    // A flag given twice (unit file plus drop-in, env plus command line) takes the last value.
    args_override_self = true
)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Print the version, revision, build date, Rust version and platform, and exit.
    #[arg(long = "version", short = 'V', action = ArgAction::SetTrue, global = true)]
    pub version: bool,

    /// Address to listen on for HTTP (`:port` listens on every interface); repeat it to listen on several (the environment variable takes them comma-separated).
    #[arg(
        long = "web.listen-address",
        env = "MOUNTLEAK_WEB_LISTEN_ADDRESS",
        default_value = ":39101",
        action = ArgAction::Append,
        value_delimiter = ',',
        global = true
    )]
    pub listen_address: Vec<String>,

    /// Path under which to expose metrics (not `/`, `/healthz` or `/api/v1/leaks`).
    #[arg(
        long = "web.telemetry-path",
        env = "MOUNTLEAK_WEB_TELEMETRY_PATH",
        default_value = "/metrics",
        value_parser = parse_telemetry_path,
        global = true
    )]
    pub telemetry_path: String,

    /// Exporter-toolkit web configuration file (TLS, basic auth, response headers).
    #[arg(
        long = "web.config.file",
        env = "MOUNTLEAK_WEB_CONFIG_FILE",
        global = true
    )]
    pub web_config_file: Option<PathBuf>,

    /// Connections served at once; more are closed at accept.
    #[arg(
        long = "web.max-connections",
        env = "MOUNTLEAK_WEB_MAX_CONNECTIONS",
        default_value_t = 512,
        global = true
    )]
    pub web_max_connections: usize,

    /// Cap on leak series per scrape (aggregates are kept first); the rest is counted in mountleak_series_dropped.
    #[arg(
        long = "metrics.max-series",
        env = "MOUNTLEAK_METRICS_MAX_SERIES",
        default_value_t = 10_000,
        global = true
    )]
    pub max_series: usize,

    /// procfs mountpoint (the host's /proc, e.g. /host/proc in a container).
    #[arg(
        long = "path.procfs",
        env = "MOUNTLEAK_PATH_PROCFS",
        default_value = "/proc",
        global = true
    )]
    pub procfs: PathBuf,

    /// Watch Docker (`--runtime.docker=false` to turn it off; `auto`: if its socket exists at start-up).
    #[arg(
        long = "runtime.docker",
        env = "MOUNTLEAK_RUNTIME_DOCKER",
        value_enum,
        default_value = "true",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        global = true
    )]
    pub runtime_docker: Toggle,

    /// Watch Podman through its API service (`podman system service`; `auto`: if its socket exists at start-up).
    #[arg(
        long = "runtime.podman",
        env = "MOUNTLEAK_RUNTIME_PODMAN",
        value_enum,
        default_value = "false",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        global = true
    )]
    pub runtime_podman: Toggle,

    /// Podman API service address (unix:// or tcp://).
    #[arg(
        long = "podman.host",
        env = "MOUNTLEAK_PODMAN_HOST",
        default_value = "unix:///run/podman/podman.sock",
        global = true
    )]
    pub podman_host: String,

    /// Podman's storage graph root to recognise before Podman answers (its DockerRootDir is added when it does).
    #[arg(
        long = "podman.root",
        env = "MOUNTLEAK_PODMAN_ROOT",
        default_value = "/var/lib/containers/storage",
        global = true
    )]
    pub podman_root: String,

    /// Watch CRI-O through the Kubernetes CRI API (OpenShift/OKD nodes; `auto`: if its socket exists at start-up).
    #[arg(
        long = "runtime.cri-o",
        env = "MOUNTLEAK_RUNTIME_CRI_O",
        value_enum,
        default_value = "false",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        global = true
    )]
    pub runtime_crio: Toggle,

    /// CRI-O's CRI socket (any CRI runtime's answers the same calls).
    #[arg(
        long = "cri-o.address",
        env = "MOUNTLEAK_CRI_O_ADDRESS",
        default_value = "unix:///var/run/crio/crio.sock",
        global = true
    )]
    pub crio_address: String,

    /// CRI-O's containers/storage run root (sandbox shm under overlay-containers/<id>/userdata).
    #[arg(
        long = "cri-o.run-root",
        env = "MOUNTLEAK_CRI_O_RUN_ROOT",
        default_value = "/run/containers/storage",
        global = true
    )]
    pub crio_run_root: String,

    /// Watch containerd through its gRPC API (Kubernetes nodes; `auto`: if its socket exists at start-up).
    #[arg(
        long = "runtime.containerd",
        env = "MOUNTLEAK_RUNTIME_CONTAINERD",
        value_enum,
        default_value = "false",
        action = ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        global = true
    )]
    pub runtime_containerd: Toggle,

    /// containerd's gRPC socket [default: the first that exists of /run/containerd/containerd.sock, k3s's and RKE2's /run/k3s/containerd/containerd.sock, k0s's /run/k0s/containerd.sock, microk8s's /var/snap/microk8s/common/run/containerd.sock].
    #[arg(
        long = "containerd.address",
        env = "MOUNTLEAK_CONTAINERD_ADDRESS",
        global = true
    )]
    pub containerd_address: Option<String>,

    /// containerd namespaces to watch, comma-separated (k8s.io: kubelet's; moby: Docker's; default: ctr's).
    #[arg(
        long = "containerd.namespaces",
        env = "MOUNTLEAK_CONTAINERD_NAMESPACES",
        default_value = "k8s.io,moby,default",
        value_delimiter = ',',
        global = true
    )]
    pub containerd_namespaces: Vec<String>,

    /// Accepted for compatibility, unused: nothing per-container lives under containerd's
    /// root (the CRI sandbox shm is under its state directory).
    #[arg(
        long = "containerd.root",
        env = "MOUNTLEAK_CONTAINERD_ROOT",
        default_value = "/var/lib/containerd",
        global = true
    )]
    pub containerd_root: String,

    /// containerd's state directory (task rootfs mounts live under it; the socket's directory is added).
    #[arg(
        long = "containerd.state",
        env = "MOUNTLEAK_CONTAINERD_STATE",
        default_value = "/run/containerd",
        global = true
    )]
    pub containerd_state: String,

    /// kubelet's root directory, whose pods/<uid>/volumes hold pod volume mounts (with --runtime.containerd).
    #[arg(
        long = "kubelet.root-dir",
        env = "MOUNTLEAK_KUBELET_ROOT_DIR",
        default_value = "/var/lib/kubelet",
        global = true
    )]
    pub kubelet_root_dir: String,

    /// Docker Engine API address (unix:// or tcp://).
    #[arg(
        long = "docker.host",
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock",
        global = true
    )]
    pub docker_host: String,

    /// Docker data root to recognise before Docker answers (its DockerRootDir is added when it does).
    #[arg(
        long = "docker.root",
        env = "MOUNTLEAK_DOCKER_ROOT",
        default_value = "/var/lib/docker",
        global = true
    )]
    pub docker_root: String,

    /// Docker exec root, where sandbox network namespaces live in netns/ (roots seen in SandboxKey are added).
    #[arg(
        long = "docker.exec-root",
        env = "MOUNTLEAK_DOCKER_EXEC_ROOT",
        default_value = "/run/docker",
        global = true
    )]
    pub docker_exec_root: String,

    /// Timeout of each API call of every runtime [default: 5s] (formerly --docker.timeout).
    #[arg(
        long = "runtime.timeout",
        alias = "docker.timeout",
        env = "MOUNTLEAK_RUNTIME_TIMEOUT",
        value_parser = parse_duration,
        global = true
    )]
    runtime_timeout: Option<Duration>,

    /// The old environment variable of --runtime.timeout, read when neither the flag nor
    /// MOUNTLEAK_RUNTIME_TIMEOUT is given.
    #[arg(
        long = "legacy.docker-timeout",
        value_name = "MOUNTLEAK_DOCKER_TIMEOUT",
        env = "MOUNTLEAK_DOCKER_TIMEOUT",
        value_parser = parse_duration,
        hide = true,
        global = true
    )]
    legacy_docker_timeout: Option<Duration>,

    /// How often to re-list every runtime's containers besides following events
    /// [default: 60s] (formerly --docker.resync-interval).
    #[arg(
        long = "runtime.resync-interval",
        alias = "docker.resync-interval",
        env = "MOUNTLEAK_RUNTIME_RESYNC_INTERVAL",
        value_parser = parse_duration,
        global = true
    )]
    runtime_resync_interval: Option<Duration>,

    /// The old environment variable of --runtime.resync-interval, read when neither the
    /// flag nor MOUNTLEAK_RUNTIME_RESYNC_INTERVAL is given.
    #[arg(
        long = "legacy.docker-resync-interval",
        value_name = "MOUNTLEAK_DOCKER_RESYNC_INTERVAL",
        env = "MOUNTLEAK_DOCKER_RESYNC_INTERVAL",
        value_parser = parse_duration,
        hide = true,
        global = true
    )]
    legacy_docker_resync_interval: Option<Duration>,

    /// Reuse a scan of /proc for scrapes within this interval.
    #[arg(long = "scan.min-interval", env = "MOUNTLEAK_SCAN_MIN_INTERVAL", default_value = "5s", value_parser = parse_duration, global = true)]
    pub scan_min_interval: Duration,

    /// Read the details (comm, unit, container) of at most this many processes per mount
    /// namespace holding container mounts, lowest pids first (0: all). Their per-process
    /// series are the ones exported; the namespace's process count stays exact.
    #[arg(
        long = "scan.max-processes-per-namespace",
        env = "MOUNTLEAK_SCAN_MAX_PROCESSES_PER_NAMESPACE",
        default_value_t = 16,
        global = true
    )]
    pub scan_max_processes_per_namespace: usize,

    /// After start-up (web config read, port bound), drop every capability except
    /// cap_sys_ptrace, the one reading other processes' mount namespaces needs.
    #[arg(
        long = "runtime.drop-capabilities",
        env = "MOUNTLEAK_RUNTIME_DROP_CAPABILITIES",
        global = true
    )]
    pub drop_capabilities: bool,

    /// Only log messages with the given severity or above (error, warn, info, debug, trace).
    #[arg(
        long = "log.level",
        env = "MOUNTLEAK_LOG_LEVEL",
        default_value = "info",
        global = true
    )]
    pub log_level: String,

    /// Output format of log messages.
    #[arg(
        long = "log.format",
        env = "MOUNTLEAK_LOG_FORMAT",
        value_enum,
        default_value = "logfmt",
        global = true
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Scan once and print the leaks. Exit status: 0 none, 1 leaks found, 2 could not scan.
    Scan {
        /// text, json, or oneline: one line of printable ASCII, at most 80 bytes (what
        /// node-problem-detector keeps of a plugin's output).
        #[arg(long, value_enum, default_value = "text")]
        output: ScanOutput,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) for this binary.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from these very flags.
    Man,
    /// Detach leaked copies inside the namespaces holding them (dry run unless --yes).
    /// Exit status: 0 every selected copy released (or none selected), 1 some not, 2 could
    /// not scan, bad arguments or missing privileges.
    Release(ReleaseArgs),
}

/// `release`: which leaks, and whether to act. Selectors combine; none selects every
/// `stale` leak.
#[derive(Debug, Clone, clap::Args)]
pub struct ReleaseArgs {
    /// A container's name, id or id prefix.
    #[arg(long)]
    pub container: Option<String>,
    /// The holder: a pid of its namespace, or its systemd unit.
    #[arg(long)]
    pub holder: Option<String>,
    /// A mount point, as the report prints it.
    #[arg(long)]
    pub mount: Option<String>,
    /// A named volume.
    #[arg(long)]
    pub volume: Option<String>,
    /// A Kubernetes pod's uid.
    #[arg(long)]
    pub pod: Option<String>,
    /// Also release `at_risk` copies (of containers that still run).
    #[arg(long)]
    pub include_at_risk: bool,
    /// Act; without it, only print what would be done.
    #[arg(long)]
    pub yes: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Testing: wait between the scan and the act.
    #[arg(long, hide = true, value_parser = parse_duration)]
    pub pause_before_act: Option<Duration>,
}

impl ReleaseArgs {
    pub fn request(&self) -> crate::release::Request {
        crate::release::Request {
            selector: crate::release::Selector {
                container: self.container.clone(),
                holder: self.holder.clone(),
                mount: self.mount.clone(),
                volume: self.volume.clone(),
                pod: self.pod.clone(),
                include_at_risk: self.include_at_risk,
            },
            act: self.yes,
            output: self.output,
            pause_before_act: self.pause_before_act,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// `scan --output`: [`Output`]'s, and one line for node-problem-detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanOutput {
    Text,
    Json,
    Oneline,
}

/// Whether a runtime is watched. `auto` watches it when its API socket exists when the
/// exporter starts, so one set of flags fits hosts with different runtimes (a DaemonSet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Toggle {
    True,
    False,
    Auto,
}

impl Toggle {
    /// Whether to watch the runtime at `address`. `socket_exists` is asked only for `auto`,
    /// and only about a unix socket: another scheme (`tcp://`) cannot be checked without
    /// connecting, so `auto` watches it.
    pub fn wanted(self, address: &str, socket_exists: impl FnOnce(&str) -> bool) -> bool {
        match self {
            Toggle::True => true,
            Toggle::False => false,
            Toggle::Auto => unix_socket_path(address).is_none_or(socket_exists),
        }
    }
}

/// The file of a `unix://` address or of a bare path (containerd's); None for other schemes.
pub fn unix_socket_path(address: &str) -> Option<&str> {
    match address.strip_prefix("unix://") {
        Some(path) => Some(path),
        None if address.contains("://") => None,
        None => Some(address),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Parses `500ms`, `5s`, `2m`, `1h` (and a bare number of seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 5s, 500ms, 2m"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// The paths the server answers besides the telemetry path (http::router).
pub const RESERVED_PATHS: [&str; 3] = ["/", "/healthz", "/api/v1/leaks"];

/// A path the router can serve metrics at: absolute, one literal route (no `{param}` or
/// `*wildcard`, which the router would read as patterns, and no empty segment), and none of
/// the other pages. A bad value is a usage error (exit 2), not a panic at startup.
pub fn parse_telemetry_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!("{s:?} must start with /, e.g. /metrics"));
    }
    if RESERVED_PATHS.contains(&s) {
        return Err(format!(
            "{s:?} is taken by another page ({}): choose another, e.g. /metrics",
            RESERVED_PATHS.join(", ")
        ));
    }
    let literal = |c: char| c.is_ascii_alphanumeric() || "-._~/".contains(c);
    if let Some(c) = s.chars().find(|&c| !literal(c)) {
        return Err(format!(
            "{s:?}: {c:?} is not allowed; use letters, digits and - . _ ~ /"
        ));
    }
    if s[1..].split('/').any(str::is_empty) {
        return Err(format!("{s:?}: empty path segment"));
    }
    Ok(s.to_string())
}

/// `--runtime.timeout` when none is given.
pub const DEFAULT_RUNTIME_TIMEOUT: Duration = Duration::from_secs(5);
/// `--runtime.resync-interval` when none is given.
pub const DEFAULT_RUNTIME_RESYNC_INTERVAL: Duration = Duration::from_secs(60);

impl Config {
    /// Timeout of each runtime API call: the flag (either spelling), else
    /// MOUNTLEAK_RUNTIME_TIMEOUT, else the old MOUNTLEAK_DOCKER_TIMEOUT, else 5 s.
    pub fn runtime_timeout(&self) -> Duration {
        self.runtime_timeout
            .or(self.legacy_docker_timeout)
            .unwrap_or(DEFAULT_RUNTIME_TIMEOUT)
    }

    /// How often every runtime is listed again, resolved as [`Config::runtime_timeout`].
    pub fn runtime_resync_interval(&self) -> Duration {
        self.runtime_resync_interval
            .or(self.legacy_docker_resync_interval)
            .unwrap_or(DEFAULT_RUNTIME_RESYNC_INTERVAL)
    }

    /// Each `--web.listen-address`, once; `:port` means every interface, as in other
    /// Prometheus exporters.
    pub fn socket_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.listen_address {
            let a = match a.strip_prefix(':') {
                Some(port) => format!("0.0.0.0:{port}"),
                None => a.clone(),
            };
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn listen_addresses_repeat_and_split() {
        let c = Config::try_parse_from([
            "x",
            "--web.listen-address=127.0.0.1:9100",
            "--web.listen-address",
            "[::1]:9100,:9200",
            "--web.listen-address=127.0.0.1:9100",
        ])
        .unwrap();
        assert_eq!(
            c.socket_addresses(),
            ["127.0.0.1:9100", "[::1]:9100", "0.0.0.0:9200"]
        );
    }

    #[test]
    fn defaults_run_as_is_on_a_docker_host() {
        let c = Config::try_parse_from(["mountleak_exporter"]).unwrap();
        assert_eq!(c.socket_addresses(), ["0.0.0.0:39101"]);
        assert_eq!(c.telemetry_path, "/metrics");
        assert_eq!(c.procfs, PathBuf::from("/proc"));
        assert_eq!(c.scan_min_interval, Duration::from_secs(5));
        assert_eq!(
            c.scan_max_processes_per_namespace,
            crate::host::ScanOptions::default().processes_per_namespace
        );
        assert!(c.command.is_none());
        let c = Config::try_parse_from([
            "x",
            "scan",
            "--output",
            "json",
            "--path.procfs",
            "/host/proc",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Some(Command::Scan {
                output: ScanOutput::Json
            })
        ));
        assert_eq!(c.procfs, PathBuf::from("/host/proc"));
        let c =
            Config::try_parse_from(["x", "--docker.timeout=15s", "--docker.timeout=2s"]).unwrap();
        assert_eq!(
            c.runtime_timeout(),
            Duration::from_secs(2),
            "the last value wins"
        );
    }

    #[test]
    fn runtime_timeout_and_resync_interval_under_either_spelling() {
        let c = Config::try_parse_from(["x"]).unwrap();
        assert_eq!(
            (c.runtime_timeout(), c.runtime_resync_interval()),
            (Duration::from_secs(5), Duration::from_secs(60)),
            "defaults"
        );
        // (arguments, timeout, resync interval)
        let cases: [(&[&str], u64, u64); 5] = [
            (
                &["--runtime.timeout=2s", "--runtime.resync-interval=7s"],
                2,
                7,
            ),
            (
                &["--docker.timeout=3s", "--docker.resync-interval=8s"],
                3,
                8,
            ),
            (
                &[
                    "scan",
                    "--docker.timeout=4s",
                    "--runtime.resync-interval=9s",
                ],
                4,
                9,
            ),
            // One flag under two names: the last one given wins.
            (&["--docker.timeout=1s", "--runtime.timeout=6s"], 6, 60),
            (
                &[
                    "--runtime.resync-interval=1s",
                    "--docker.resync-interval=2s",
                ],
                5,
                2,
            ),
        ];
        for (args, timeout, resync) in cases {
            let c = Config::try_parse_from(std::iter::once(&"x").chain(args)).unwrap();
            assert_eq!(
                (c.runtime_timeout(), c.runtime_resync_interval()),
                (Duration::from_secs(timeout), Duration::from_secs(resync)),
                "{args:?}"
            );
        }
        let err = Config::try_parse_from(["x", "--docker.timeout=5x"]).unwrap_err();
        assert_eq!(err.exit_code(), 2, "a usage error: {err}");
    }

    #[test]
    fn telemetry_path_is_one_literal_path_of_its_own() {
        for ok in ["/metrics", "/custom/metrics", "/x-y_z.~1"] {
            assert_eq!(parse_telemetry_path(ok).unwrap(), ok);
        }
        for (bad, why) in [
            ("metrics", "must start with /"),
            ("", "must start with /"),
            ("/", "taken by another page"),
            ("/healthz", "taken by another page"),
            ("/api/v1/leaks", "taken by another page"),
            ("/{x}", "is not allowed"),
            ("/*rest", "is not allowed"),
            ("/m etrics", "is not allowed"),
            ("/metrics?x", "is not allowed"),
            ("//metrics", "empty path segment"),
            ("/metrics/", "empty path segment"),
        ] {
            let err = parse_telemetry_path(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let err = Config::try_parse_from(["x", "--web.telemetry-path=metrics"]).unwrap_err();
        assert_eq!(err.exit_code(), 2, "a usage error: {err}");
    }

    #[test]
    fn runtimes_are_chosen_by_flags() {
        let c = Config::try_parse_from(["x"]).unwrap();
        assert_eq!(
            (c.runtime_docker, c.runtime_podman),
            (Toggle::True, Toggle::False)
        );
        assert_eq!(c.podman_host, "unix:///run/podman/podman.sock");
        assert_eq!(c.podman_root, "/var/lib/containers/storage");
        let c =
            Config::try_parse_from(["x", "--runtime.podman", "--runtime.docker=false"]).unwrap();
        assert_eq!(
            (c.runtime_docker, c.runtime_podman),
            (Toggle::False, Toggle::True)
        );
        let c = Config::try_parse_from(["x", "scan", "--runtime.podman=true"]).unwrap();
        assert_eq!(
            (c.runtime_docker, c.runtime_podman),
            (Toggle::True, Toggle::True)
        );
        let c = Config::try_parse_from(["x", "--runtime.docker=auto", "--runtime.containerd=auto"])
            .unwrap();
        assert_eq!(
            (c.runtime_docker, c.runtime_containerd),
            (Toggle::Auto, Toggle::Auto)
        );
        assert!(Config::try_parse_from(["x", "--runtime.podman=maybe"]).is_err());
        let c = Config::try_parse_from(["x"]).unwrap();
        assert_eq!(c.runtime_containerd, Toggle::False);
        assert_eq!(c.containerd_address, None);
        assert_eq!(c.containerd_namespaces, ["k8s.io", "moby", "default"]);
        assert_eq!(c.containerd_state, "/run/containerd");
        assert_eq!(c.kubelet_root_dir, "/var/lib/kubelet");
        let c = Config::try_parse_from([
            "x",
            "--runtime.containerd",
            "--containerd.namespaces=k8s.io",
        ])
        .unwrap();
        assert_eq!(c.runtime_containerd, Toggle::True);
        assert_eq!(c.containerd_namespaces, ["k8s.io"]);
    }

    #[test]
    fn auto_watches_a_runtime_whose_socket_exists() {
        let present = |p: &str| p == "/host/run/docker.sock";
        // (toggle, address, watched)
        let cases = [
            (Toggle::Auto, "unix:///host/run/docker.sock", true),
            (Toggle::Auto, "/host/run/docker.sock", true),
            (Toggle::Auto, "unix:///run/docker.sock", false),
            (Toggle::Auto, "/run/containerd/containerd.sock", false),
            // Not a file: only a connection could tell.
            (Toggle::Auto, "tcp://proxy:2375", true),
            (Toggle::True, "unix:///run/docker.sock", true),
            (Toggle::False, "unix:///host/run/docker.sock", false),
        ];
        for (toggle, address, want) in cases {
            assert_eq!(
                toggle.wanted(address, present),
                want,
                "{toggle:?} {address}"
            );
        }
        assert_eq!(unix_socket_path("unix:///a/b.sock"), Some("/a/b.sock"));
        assert_eq!(unix_socket_path("tcp://h:1"), None);
        let asked = std::cell::Cell::new(false);
        Toggle::True.wanted("/x", |_| {
            asked.set(true);
            false
        });
        assert!(!asked.get(), "only auto looks at the file system");
    }
}
