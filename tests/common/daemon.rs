//! A child instance of the private test daemon (scripts/testenv.sh child-up), for tests that
//! stop or freeze dockerd: the shared instance serves tests running in parallel and must not
//! be disturbed. The child is registered with the parent instance, so `testenv.sh down` of
//! the parent tears it down even when the test process was killed.

use std::path::PathBuf;
use std::process::Command;

use super::env::required_var;

pub struct ChildDaemon {
    /// The child's instance name (`<parent>-<name>`).
    pub instance: String,
    child_name: String,
    pub docker_host: String,
    pub docker_root: String,
    pub docker_exec_root: String,
    pub docker_cli: String,
    pub image: String,
    dockerd_pidfile: PathBuf,
}

fn testenv(instance: &str, args: &[&str]) -> Result<String, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testenv.sh");
    super::run_for_output(
        Command::new(script)
            .args(args)
            .env("MOUNTLEAK_TEST_INSTANCE", instance),
        &format!(
            "MOUNTLEAK_TEST_INSTANCE={instance} {script} {}",
            args.join(" ")
        ),
    )
}

impl ChildDaemon {
    /// Start `<parent>-<label>-<test pid>`: its own containerd, dockerd, roots and test image.
    pub fn up(label: &str) -> ChildDaemon {
        super::env(); // the parent must be up; this also checks we are root
        let parent = required_var("MOUNTLEAK_TEST_INSTANCE");
        let child_name = format!("{label}-{}", std::process::id());
        testenv(&parent, &["child-up", &child_name]).unwrap_or_else(|e| panic!("{e}"));
        let instance = format!("{parent}-{child_name}");
        let env = testenv(&instance, &["env"]).unwrap_or_else(|e| panic!("{e}"));
        let var = |name: &str| -> String {
            env.lines()
                .find_map(|l| {
                    l.strip_prefix(&format!("export {name}='"))?
                        .strip_suffix('\'')
                        .map(str::to_string)
                })
                .unwrap_or_else(|| panic!("testenv.sh env printed no {name}:\n{env}"))
        };
        ChildDaemon {
            docker_host: var("MOUNTLEAK_TEST_DOCKER_HOST"),
            docker_root: var("MOUNTLEAK_TEST_DOCKER_ROOT"),
            docker_exec_root: var("MOUNTLEAK_TEST_DOCKER_EXEC_ROOT"),
            docker_cli: var("MOUNTLEAK_TEST_DOCKER_CLI"),
            image: var("MOUNTLEAK_TEST_IMAGE"),
            dockerd_pidfile: PathBuf::from(var("MOUNTLEAK_TEST_DOCKERD_PIDFILE")),
            instance,
            child_name,
        }
    }

    /// The docker client against this daemon; Err carries the command and stderr.
    pub fn docker_try(&self, args: &[&str]) -> Result<String, String> {
        super::docker_cli_try(&self.docker_cli, &self.docker_host, args)
    }

    pub fn docker(&self, args: &[&str]) -> String {
        self.docker_try(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `--docker.host` and `--docker.exec-root` for an exporter talking to this daemon.
    pub fn exporter_flags(&self) -> Vec<String> {
        vec![
            format!("--docker.host={}", self.docker_host),
            format!("--docker.exec-root={}", self.docker_exec_root),
        ]
    }

    /// The running dockerd's pid (from its pidfile).
    pub fn dockerd_pid(&self) -> u32 {
        let text = std::fs::read_to_string(&self.dockerd_pidfile)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.dockerd_pidfile.display()));
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("pidfile {text:?}: {e}"))
    }

    /// Stop dockerd (SIGTERM, as a service manager would); containerd and the roots stay.
    pub fn stop_dockerd(&self) {
        testenv(&self.instance, &["dockerd-stop"]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Start dockerd again on the same roots and socket; returns once it answers.
    pub fn start_dockerd(&self) {
        testenv(&self.instance, &["dockerd-start"]).unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for ChildDaemon {
    fn drop(&mut self) {
        let parent = required_var("MOUNTLEAK_TEST_INSTANCE");
        if let Err(e) = testenv(&parent, &["child-down", &self.child_name]) {
            eprintln!("{e}");
        }
    }
}
