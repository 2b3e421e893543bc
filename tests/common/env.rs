//! The test environment: the private daemons scripts/testenv.sh started, as it exports them.

use super::*;

/// One private daemon of the test environment, as scripts/testenv.sh exports it.
#[derive(Debug)]
pub struct TestEnv {
    /// Its scripts/testenv.sh instance (`mountleak-test`, `mountleak-test-unstable`, ...).
    pub instance: String,
    /// What it runs: `debian12` (docker.io 20.10, overlay2), `unstable` (docker.io 28,
    /// overlay2) or `unstable-containerd` (docker.io 28, the containerd image store).
    pub setup: String,
    /// `unix:///run/mountleak-test/docker.sock`
    pub docker_host: String,
    /// The private daemon's `--data-root` (its DockerRootDir).
    pub docker_root: String,
    /// The private daemon's `--exec-root` (sandbox netns live in `<exec_root>/netns`).
    pub docker_exec_root: String,
    /// The docker client matching the daemon.
    pub docker_cli: String,
    /// A FROM scratch image with busybox (`sh`, `sleep`, ...).
    pub image: String,
}

pub(crate) fn required_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: live tests need the private test daemon. Run them with \
             scripts/test.sh (as root), or bring the daemon up with `scripts/testenv.sh up` \
             and `eval \"$(scripts/testenv.sh env)\"` before `cargo nextest run`"
        ),
    }
}

/// The environment, read once. Panics with what to run when scripts/test.sh did not set it.
pub fn env() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let env = TestEnv {
            instance: required_var("MOUNTLEAK_TEST_INSTANCE"),
            setup: std::env::var("MOUNTLEAK_TEST_SETUP").unwrap_or_else(|_| "debian12".into()),
            docker_host: required_var("MOUNTLEAK_TEST_DOCKER_HOST"),
            docker_root: required_var("MOUNTLEAK_TEST_DOCKER_ROOT"),
            docker_exec_root: required_var("MOUNTLEAK_TEST_DOCKER_EXEC_ROOT"),
            docker_cli: std::env::var("MOUNTLEAK_TEST_DOCKER_CLI")
                .unwrap_or_else(|_| "/usr/bin/docker".to_string()),
            image: required_var("MOUNTLEAK_TEST_IMAGE"),
        };
        assert!(
            is_root(),
            "live tests must run as root (they make mount namespaces and cgroups): use scripts/test.sh"
        );
        env
    })
}

/// The daemon running `setup` (scripts/testenv.sh `up` starts one of each and lists them in
/// MOUNTLEAK_TEST_SETUPS). Panics with what to run when it is not up.
pub fn setup_env(setup: &str) -> &'static TestEnv {
    static SETUPS: OnceLock<Vec<TestEnv>> = OnceLock::new();
    let all = SETUPS.get_or_init(|| {
        let main = env();
        required_var("MOUNTLEAK_TEST_SETUPS")
            .split_whitespace()
            .map(|instance| {
                let vars = testenv_vars(instance).unwrap_or_else(|e| panic!("{e}"));
                let var = |name: &str| {
                    vars.get(name)
                        .cloned()
                        .unwrap_or_else(|| panic!("testenv.sh env of {instance} printed no {name}"))
                };
                TestEnv {
                    instance: instance.to_string(),
                    setup: var("MOUNTLEAK_TEST_SETUP"),
                    docker_host: var("MOUNTLEAK_TEST_DOCKER_HOST"),
                    docker_root: var("MOUNTLEAK_TEST_DOCKER_ROOT"),
                    docker_exec_root: var("MOUNTLEAK_TEST_DOCKER_EXEC_ROOT"),
                    docker_cli: var("MOUNTLEAK_TEST_DOCKER_CLI"),
                    image: var("MOUNTLEAK_TEST_IMAGE"),
                }
            })
            .filter(|e| e.instance != main.instance)
            .collect()
    });
    let main = env();
    if main.setup == setup {
        return main;
    }
    let found = all.iter().find(|e| e.setup == setup).unwrap_or_else(|| {
        panic!(
            "no daemon of setup {setup} among MOUNTLEAK_TEST_SETUPS: scripts/testenv.sh up \
             starts one of each (run the tests with scripts/test.sh)"
        )
    });
    if let Err(e) = found.docker_try(&["version", "--format", "{{.Server.Version}}"]) {
        panic!(
            "the {setup} daemon ({}) does not answer: {e}; scripts/testenv.sh up starts it",
            found.instance
        );
    }
    found
}

/// The `export NAME='value'` lines of `scripts/testenv.sh env` for an instance.
pub fn testenv_vars(instance: &str) -> Result<BTreeMap<String, String>, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testenv.sh");
    let out = Command::new(script)
        .arg("env")
        .env("MOUNTLEAK_TEST_INSTANCE", instance)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "MOUNTLEAK_TEST_INSTANCE={instance} {script} env failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, value) = l.strip_prefix("export ")?.split_once('=')?;
            let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect())
}

impl TestEnv {
    /// Run this daemon's docker client against it; Err carries the command and stderr.
    pub fn docker_try(&self, args: &[&str]) -> Result<String, String> {
        docker_cli_try(&self.docker_cli, &self.docker_host, args)
    }

    /// Like [`TestEnv::docker_try`], panicking on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        self.docker_try(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Whether it keeps images and container filesystems in containerd (the containerd
    /// image store, `"features": {"containerd-snapshotter": true}`).
    pub fn containerd_store(&self) -> bool {
        self.setup == "unstable-containerd"
    }

    /// The flags that point the exporter at this daemon.
    pub fn exporter_flags(&self) -> Vec<String> {
        vec![
            format!("--docker.host={}", self.docker_host),
            format!("--docker.exec-root={}", self.docker_exec_root),
            // A loaded CI machine can make the test daemon slow; tests that want a short
            // timeout pass their own (the last value of a flag wins).
            "--docker.timeout=15s".to_string(),
        ]
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A name unique to this test process and call: `mlt-<pid>-<n>-<label>`. Docker names,
/// volume names and units made by tests carry it, so assertions can filter to their own.
pub fn unique_name(label: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "mlt-{}-{}-{label}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
