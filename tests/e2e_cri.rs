//! End-to-end against containerd's CRI plugin, as a Kubernetes node runs it (issue 14): a
//! private containerd with CRI on and Debian's CNI plugins (a bridge of its own), the test
//! acting as kubelet over the CRI gRPC API (runtime.v1: RunPodSandbox with a locally
//! imported pause image, CreateContainer, StartContainer, StopPodSandbox, RemovePodSandbox),
//! a holder that copied the pod's mounts, and the real exporter watching namespace k8s.io.
//! The pod's shm (under containerd's state), its CNI netns and its container's rootfs are
//! real; the holder's copies must be reported at risk, named by pod and container, then
//! stale once the sandbox is stopped.

mod common;

use common::runtimes::*;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PREREQUISITES: &[(&str, &str)] = &[
    ("/usr/sbin/runc", "runc"),
    ("/usr/lib/cni/bridge", "containernetworking-plugins"),
    ("/usr/lib/cni/host-local", "containernetworking-plugins"),
    ("/usr/lib/cni/loopback", "containernetworking-plugins"),
    ("/bin/busybox", "busybox-static"),
    ("/usr/sbin/ip", "iproute2"),
];

const PAUSE_IMAGE: &str = "localhost/mountleak-e2e/pause:latest";
/// Marks a state directory as this test's.
const MARKER: &str = ".mountleak-e2e-cri";
/// Where CRI puts every sandbox's and container's cgroup (cgroupfs driver).
const CGROUP_PARENT: &str = "mountleak-e2e-cri";

/// The CRI messages the test sends, by field number (k8s.io/cri-api
/// pkg/apis/runtime/v1/api.proto); only the fields a minimal kubelet sets.
mod cri {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub uid: String,
        #[prost(string, tag = "3")]
        pub namespace: String,
        #[prost(uint32, tag = "4")]
        pub attempt: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LinuxPodSandboxConfig {
        #[prost(string, tag = "1")]
        pub cgroup_parent: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxConfig {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<PodSandboxMetadata>,
        #[prost(string, tag = "2")]
        pub hostname: String,
        #[prost(map = "string, string", tag = "6")]
        pub labels: HashMap<String, String>,
        #[prost(message, optional, tag = "8")]
        pub linux: Option<LinuxPodSandboxConfig>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RunPodSandboxRequest {
        #[prost(message, optional, tag = "1")]
        pub config: Option<PodSandboxConfig>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RunPodSandboxResponse {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
    }

    /// StopPodSandbox's and RemovePodSandbox's request.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PodSandboxIdRequest {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Empty {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(uint32, tag = "2")]
        pub attempt: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ImageSpec {
        #[prost(string, tag = "1")]
        pub image: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerConfig {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<ContainerMetadata>,
        #[prost(message, optional, tag = "2")]
        pub image: Option<ImageSpec>,
        #[prost(string, repeated, tag = "3")]
        pub command: Vec<String>,
        #[prost(string, repeated, tag = "4")]
        pub args: Vec<String>,
        #[prost(map = "string, string", tag = "9")]
        pub labels: HashMap<String, String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CreateContainerRequest {
        #[prost(string, tag = "1")]
        pub pod_sandbox_id: String,
        #[prost(message, optional, tag = "2")]
        pub config: Option<ContainerConfig>,
        #[prost(message, optional, tag = "3")]
        pub sandbox_config: Option<PodSandboxConfig>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CreateContainerResponse {
        #[prost(string, tag = "1")]
        pub container_id: String,
    }

    /// StartContainer's request.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ContainerIdRequest {
        #[prost(string, tag = "1")]
        pub container_id: String,
    }
}

/// A kubelet's side of the CRI gRPC API, blocking.
struct Kubelet {
    rt: tokio::runtime::Runtime,
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
}

impl Kubelet {
    fn connect(socket: &str) -> Kubelet {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let path = socket.to_string();
        let channel = rt
            .block_on(
                tonic::transport::Endpoint::from_static("http://cri").connect_with_connector(
                    tower::service_fn(move |_: http::Uri| {
                        let path = path.clone();
                        async move {
                            let s = tokio::net::UnixStream::connect(path).await?;
                            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                        }
                    }),
                ),
            )
            .unwrap_or_else(|e| panic!("connect to CRI at {socket}: {e}"));
        Kubelet {
            rt,
            grpc: tonic::client::Grpc::new(channel),
        }
    }

    fn call<Req, Resp>(&self, method: &'static str, message: Req) -> Result<Resp, String>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.grpc.clone();
        let path = http::uri::PathAndQuery::from_static(method);
        self.rt.block_on(async move {
            grpc.ready().await.map_err(|e| e.to_string())?;
            let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
            tokio::time::timeout(
                Duration::from_secs(60),
                grpc.unary(tonic::Request::new(message), path, codec),
            )
            .await
            .map_err(|_| format!("{method} timed out"))?
            .map(tonic::Response::into_inner)
            .map_err(|s| format!("{method}: {s}"))
        })
    }
}

/// A private containerd with its CRI plugin on. Drop (and a start after a killed run)
/// removes sandboxes, tasks, shims, mounts, netns, cgroups and the bridge it left.
struct CriContainerd {
    /// Where `containerd`, `ctr` and `containerd-shim-runc-v2` are.
    bin: PathBuf,
    /// Its CNI bridge on the host, `mlt-cri<net>` (15 characters at most), and subnet
    /// `10.251.<net>.0/24`: each test's own.
    net: u8,
    root: PathBuf,
    state: PathBuf,
    socket: String,
    daemon: Option<Child>,
}

impl CriContainerd {
    /// The containerd of `bin` (`/usr/bin`: Debian 12's; or Debian unstable's, unpacked by
    /// scripts/testenv.sh), its directories named after `label`.
    fn start(bin: &Path, label: &str, net: u8) -> CriContainerd {
        let instance = instance();
        CriContainerd::start_at(
            bin,
            Path::new(&format!("/run/{instance}/{label}")),
            Path::new(&format!("/var/lib/{instance}/{label}")),
            net,
        )
    }

    /// The containerd of `bin` with its state and root where a distribution puts them.
    fn start_at(bin: &Path, state: &Path, root: &Path, net: u8) -> CriContainerd {
        require_files("the CRI test", PREREQUISITES);
        let binaries: Vec<String> = ["containerd", "ctr", "containerd-shim-runc-v2"]
            .iter()
            .map(|b| bin.join(b).to_string_lossy().into_owned())
            .collect();
        let binaries: Vec<(&str, &str)> = binaries
            .iter()
            .map(|p| (p.as_str(), "containerd"))
            .collect();
        require_files("the CRI test", &binaries);
        // Never take over a state directory this test did not make (a real k3s's).
        assert!(
            !state.exists() || state.join(MARKER).exists(),
            "{} exists and is not this test's: a containerd of the host's uses it",
            state.display()
        );
        let mut c = CriContainerd {
            bin: bin.to_path_buf(),
            net,
            root: root.to_path_buf(),
            socket: format!("{}/containerd.sock", state.display()),
            state: state.to_path_buf(),
            daemon: None,
        };
        c.sweep();
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let state = self.state.display().to_string();
        fs::create_dir_all(self.state.join("cni")).unwrap();
        fs::write(self.state.join(MARKER), "").unwrap();
        fs::create_dir_all(&self.root).unwrap();
        // restrict_oom_score_adj: CRI gives sandboxes -998, and lowering a score needs
        // CAP_SYS_RESOURCE, which the test machines' root lacks; kept at containerd's own.
        // A bridge and host-local addresses of the test's own: CRI wants an interface with
        // an address in every pod (containerd internal/cri: "failed to find network info").
        let cni = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": "mountleak-e2e-cri",
            "plugins": [{
                "type": "bridge", "bridge": self.bridge(), "isGateway": false, "ipMasq": false,
                "ipam": {"type": "host-local", "subnet": format!("10.251.{}.0/24", self.net),
                         "dataDir": format!("{state}/ipam")},
            }],
        });
        fs::write(
            self.state.join("cni/10-mountleak.conflist"),
            cni.to_string(),
        )
        .unwrap();
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [debug]\n  address = \"{state}/debug.sock\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"{PAUSE_IMAGE}\"\n\
               stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n\
               disable_apparmor = true\n  restrict_oom_score_adj = true\n\
             [plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/usr/lib/cni\"\n\
               conf_dir = \"{state}/cni\"\n",
            root = self.root.display(),
            sock = self.socket,
        );
        fs::write(self.state.join("config.toml"), config).unwrap();
        let log = fs::File::create(self.state.join("containerd.log")).unwrap();
        let mut cmd = Command::new(self.bin.join("containerd"));
        // The shim is looked up on the PATH: this containerd's own first.
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path)
            .arg("--config")
            .arg(self.state.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl only sets a flag of the child: the daemon dies with the test process.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.daemon = Some(cmd.spawn().expect("spawn containerd"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.try_ctr(&["version"]).is_err() {
            assert!(
                Instant::now() < deadline,
                "containerd did not answer on {} within 30s:\n{}",
                self.socket,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.state.join("containerd.log")).unwrap_or_default()
    }

    fn try_ctr(&self, args: &[&str]) -> Result<String, String> {
        run_for_output(
            Command::new(self.bin.join("ctr"))
                .args(["--address", &self.socket, "--namespace", "k8s.io"])
                .args(args),
            &format!("ctr {}", args.join(" ")),
        )
    }

    fn bridge(&self) -> String {
        format!("mlt-cri{}", self.net)
    }

    /// Network namespaces this containerd made, recorded so a later sweep finds them.
    fn netns_record(&self) -> PathBuf {
        self.state.with_extension("netns")
    }

    fn sweep(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let hierarchies = cgroup_dirs(CGROUP_PARENT);
        for dir in &hierarchies {
            kill_tree(dir);
        }
        for p in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let comm = fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            let cmdline = fs::read(p.path().join("cmdline")).unwrap_or_default();
            let ours = cmdline
                .split(|&b| b == 0)
                .any(|arg| arg == self.socket.as_bytes());
            if comm.starts_with("containerd-shim")
                && ours
                && let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>()
            {
                // SAFETY: kill(2) of a shim serving our private socket.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        for netns in fs::read_to_string(self.netns_record())
            .unwrap_or_default()
            .lines()
        {
            umount(netns);
            let _ = fs::remove_file(netns);
        }
        let _ = fs::remove_file(self.netns_record());
        unmount_and_remove(&[&self.state, &self.root]);
        // Parents made for a distribution's paths (/run/k3s, /var/lib/rancher/...) go when empty.
        for dir in [&self.state, &self.root] {
            for parent in dir.ancestors().skip(1).take(3) {
                let _ = fs::remove_dir(parent);
            }
        }
        for dir in hierarchies {
            remove_tree(&dir);
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for CriContainerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- containerd log ---\n{}--- end ---", self.log());
        }
        self.sweep();
    }
}

/// Kills every process in a cgroup directory and below.
fn kill_tree(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            kill_tree(&entry.path());
        }
    }
    for pid in fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|p| p.trim().parse::<i32>().ok())
    {
        // SAFETY: kill(2) of a process in our own CRI cgroup parent.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Removes a cgroup directory tree, deepest first, once its killed processes are reaped.
fn remove_tree(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (kind, status, pod name, container name) of the holder's leaks.
fn leaks_of(exporter: &Exporter, unit: &str) -> BTreeSet<(String, String, String, String)> {
    exporter.leaks_json()["leaks"]
        .as_array()
        .expect("leaks array")
        .iter()
        .filter(|l| l["holder"]["unit"] == unit)
        .map(|l| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
            (
                s(&l["kind"]),
                s(&l["status"]),
                s(&l["pod"]["name"]),
                s(&l["container"]["name"]),
            )
        })
        .collect()
}

/// Flags naming a containerd's socket.
fn address_flags(containerd: &CriContainerd) -> Vec<String> {
    vec![
        "--runtime.containerd".to_string(),
        format!("--containerd.address=unix://{}", containerd.socket),
        "--containerd.namespaces=k8s.io".to_string(),
    ]
}

#[test]
fn a_pods_copies_are_reported_by_pod_from_at_risk_to_stale_containerd_1_6() {
    let containerd = CriContainerd::start(Path::new("/usr/bin"), "e2e-cri-1-6", 16);
    pod_scenario(&containerd, "1.6.", &address_flags(&containerd));
}

/// k3s's (and RKE2's) containerd: state /run/k3s/containerd with its socket inside, root
/// under /var/lib/rancher (k3s pkg/agent/config); found with no containerd flag at all.
#[test]
fn a_pods_copies_are_found_on_a_containerd_at_k3s_paths_with_no_flags() {
    assert!(
        !Path::new(containerd_known_socket(0)).exists(),
        "{} exists: the exporter would watch that containerd first, not k3s's",
        containerd_known_socket(0)
    );
    let containerd = CriContainerd::start_at(
        Path::new("/usr/bin"),
        Path::new("/run/k3s/containerd"),
        Path::new("/var/lib/rancher/k3s/agent/containerd"),
        33,
    );
    pod_scenario(
        &containerd,
        "1.6.",
        &["--runtime.containerd=auto".to_string()],
    );
}

/// The exporter's list of known containerd sockets, the default first.
fn containerd_known_socket(i: usize) -> &'static str {
    mountleak_exporter::runtime::containerd::KNOWN_SOCKETS[i]
}

#[test]
fn a_pods_copies_are_reported_by_pod_from_at_risk_to_stale_containerd_2_1() {
    let root = std::env::var("MOUNTLEAK_TEST_UNSTABLE_ROOT").expect(
        "MOUNTLEAK_TEST_UNSTABLE_ROOT (scripts/testenv.sh env) names Debian unstable's unpacked packages",
    );
    let bin = Path::new(&root).join("usr/bin");
    let containerd = CriContainerd::start(&bin, "e2e-cri-2-1", 21);
    pod_scenario(&containerd, "2.1.", &address_flags(&containerd));
}

/// The pod's life on `containerd`, whose version starts with `version`, watched by an
/// exporter given `flags`.
fn pod_scenario(containerd: &CriContainerd, version: &str, flags: &[String]) {
    let reported = containerd
        .try_ctr(&["version"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        reported.contains(&format!("Version:  {version}")),
        "containerd {version} expected: {reported}"
    );
    let images = tempfile::tempdir().unwrap();
    let archive = oci_archive(
        images.path(),
        PAUSE_IMAGE,
        serde_json::json!({"Env": ["PATH=/bin"], "Entrypoint": ["/bin/sleep"], "Cmd": ["1000000"]}),
    );
    containerd
        .try_ctr(&["image", "import", &archive.to_string_lossy()])
        .unwrap_or_else(|e| panic!("{e}"));

    let kubelet = Kubelet::connect(&containerd.socket);
    let uid = "5d0c4e1a-7b2f-4c3d-8e9f-0a1b2c3d4e5f";
    // The labels kubelet gives a pod's sandbox (the pod's own plus its identity) and each
    // container (its name plus the pod's identity): kubelet pkg/kubelet/kuberuntime/labels.go.
    let pod_identity = BTreeMap::from([
        ("io.kubernetes.pod.name", "web-0"),
        ("io.kubernetes.pod.namespace", "shop"),
        ("io.kubernetes.pod.uid", uid),
    ]);
    let labels = |extra: &[(&str, &str)]| {
        pod_identity
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    };
    let sandbox_config = cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: "web-0".into(),
            uid: uid.into(),
            namespace: "shop".into(),
            attempt: 0,
        }),
        hostname: "web-0".into(),
        labels: labels(&[("app", "web")]),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: format!("/{CGROUP_PARENT}"),
        }),
    };
    let sandbox: cri::RunPodSandboxResponse = kubelet
        .call(
            "/runtime.v1.RuntimeService/RunPodSandbox",
            cri::RunPodSandboxRequest {
                config: Some(sandbox_config.clone()),
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", containerd.log()));
    let sandbox_id = sandbox.pod_sandbox_id;
    let created: cri::CreateContainerResponse = kubelet
        .call(
            "/runtime.v1.RuntimeService/CreateContainer",
            cri::CreateContainerRequest {
                pod_sandbox_id: sandbox_id.clone(),
                config: Some(cri::ContainerConfig {
                    metadata: Some(cri::ContainerMetadata {
                        name: "app".into(),
                        attempt: 0,
                    }),
                    image: Some(cri::ImageSpec {
                        image: PAUSE_IMAGE.into(),
                    }),
                    command: vec!["sleep".into()],
                    args: vec!["1000000".into()],
                    labels: labels(&[("io.kubernetes.container.name", "app")]),
                }),
                sandbox_config: Some(sandbox_config),
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", containerd.log()));
    let _: cri::Empty = kubelet
        .call(
            "/runtime.v1.RuntimeService/StartContainer",
            cri::ContainerIdRequest {
                container_id: created.container_id.clone(),
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", containerd.log()));

    // What CRI really mounted on the host: the sandbox's shm under the state directory, its
    // netns under /run/netns, the container's rootfs under the task directory.
    let state = containerd.state.to_string_lossy().into_owned();
    let shm = format!("{state}/io.containerd.grpc.v1.cri/sandboxes/{sandbox_id}/shm");
    let rootfs = format!(
        "{state}/io.containerd.runtime.v2.task/k8s.io/{}/rootfs",
        created.container_id
    );
    let host = mountinfo_entries(&fs::read_to_string("/proc/self/mountinfo").unwrap());
    // The sandbox's netns, as its spec names it (`/var/run` is `/run`).
    let info: serde_json::Value = serde_json::from_str(
        &containerd
            .try_ctr(&["containers", "info", &sandbox_id])
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .expect("ctr containers info prints JSON");
    let netns = info["Spec"]["linux"]["namespaces"]
        .as_array()
        .expect("the sandbox spec's namespaces")
        .iter()
        .find(|n| n["type"] == "network")
        .and_then(|n| n["path"].as_str())
        .expect("the sandbox's network namespace path")
        .replacen("/var/run/", "/run/", 1);
    fs::write(containerd.netns_record(), &netns).unwrap();
    assert!(netns.starts_with("/run/netns/cni-"), "CNI netns: {netns}");
    for want in [&shm, &rootfs, &netns] {
        assert!(
            host.iter().any(|(mp, _)| mp == want),
            "CRI did not mount {want} on the host"
        );
    }

    // kubelet mounts the pod's volumes under its root: an emptyDir on tmpfs (medium Memory).
    let kubelet_root = containerd.root.join("kubelet");
    let volume = kubelet_root.join(format!("pods/{uid}/volumes/kubernetes.io~empty-dir/cache"));
    fs::create_dir_all(&volume).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&volume)
        .status()
        .expect("run mount (util-linux)");
    assert!(
        mounted.success(),
        "mount the emptyDir at {}",
        volume.display()
    );

    let netns_dir = "/run/netns".to_string();
    let kubelet_root = kubelet_root.to_string_lossy().into_owned();
    let holder = Holder::spawn_keeping(
        "cri-private",
        Propagation::Private,
        1,
        &[&state, &netns_dir, &kubelet_root],
    );
    let mut flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let kubelet_flag = format!("--kubelet.root-dir={kubelet_root}");
    flags.push(&kubelet_flag);
    let exporter = Exporter::start(&flags);
    let row = |kind: &str, status: &str, container: &str| {
        (
            kind.to_string(),
            status.to_string(),
            "web-0".to_string(),
            container.to_string(),
        )
    };
    // The sandbox's mounts (its netns, shm and the pause container's rootfs) are named by
    // the sandbox container, which CRI names after the pod; the app's rootfs by the app; the
    // emptyDir is the pod's, no container's.
    let running = BTreeSet::from([
        row("netns", "at_risk", "web-0"),
        row("rootfs", "at_risk", "app"),
        row("rootfs", "at_risk", "web-0"),
        row("shm", "at_risk", "web-0"),
        row("volume", "at_risk", ""),
    ]);
    poll_until(
        "the holder's copies of the running pod, at risk, by pod and container",
        Duration::from_secs(30),
        || match leaks_of(&exporter, &holder.unit) {
            got if got == running => Ok(()),
            got => Err(format!("{got:?}")),
        },
    );

    // The CRI client (the `cri-o` runtime, for CRI-O nodes) asks the same socket over the
    // Kubernetes CRI API: the netns copy (under /run/netns, which every runtime's layout
    // has) is named by the pod from the sandbox's verbose status.
    let cri = Exporter::start(&[
        "--runtime.cri-o",
        &format!("--cri-o.address=unix://{}", containerd.socket),
    ]);
    poll_until(
        "the CRI client to name the holder's netns copy by its pod",
        Duration::from_secs(30),
        || {
            let doc = cri.leaks_json();
            let netns: Vec<(String, String, String, String)> = doc["leaks"]
                .as_array()
                .expect("leaks array")
                .iter()
                .filter(|l| l["holder"]["unit"] == holder.unit.as_str() && l["kind"] == "netns")
                .map(|l| {
                    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
                    (
                        s(&l["runtime"]),
                        s(&l["pod"]["name"]),
                        s(&l["container"]["name"]),
                        s(&l["status"]),
                    )
                })
                .collect();
            let want = ("cri-o", "web-0", "web-0", "at_risk");
            match netns.as_slice() {
                [(r, p, c, st)] if (r.as_str(), p.as_str(), c.as_str(), st.as_str()) == want => {
                    Ok(())
                }
                _ => Err(format!("{netns:?}")),
            }
        },
    );
    assert_eq!(runtime_up(&cri.scrape(), "cri-o"), Some(1.0));
    drop(cri);

    // kubelet stops the pod: CRI unmounts its shm (and removes its netns, which detaches
    // every copy); the holder's shm copy now pins a sandbox nothing else has.
    let _: cri::Empty = kubelet
        .call(
            "/runtime.v1.RuntimeService/StopPodSandbox",
            cri::PodSandboxIdRequest {
                pod_sandbox_id: sandbox_id.clone(),
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", containerd.log()));
    poll_until(
        "the holder's copy of the stopped pod's shm, stale",
        Duration::from_secs(30),
        || {
            let got = leaks_of(&exporter, &holder.unit);
            let shm: Vec<_> = got.iter().filter(|r| r.0 == "shm").collect();
            match shm.as_slice() {
                [r] if r.1 == "stale" && r.2 == "web-0" => Ok(()),
                _ => Err(format!("{got:?}")),
            }
        },
    );
    let _: cri::Empty = kubelet
        .call(
            "/runtime.v1.RuntimeService/RemovePodSandbox",
            cri::PodSandboxIdRequest {
                pod_sandbox_id: sandbox_id,
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", containerd.log()));
    drop(holder);
    drop(exporter);
}
