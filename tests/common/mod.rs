//! Helpers shared by the live tests: the private test daemon started by scripts/test.sh,
//! Drop guards for everything a test makes (containers, volumes, holder namespaces in fake
//! systemd units, the exporter itself), a scrape parser and a poll-until helper.
//!
//! Every guard cleans up on Drop, so a failing assertion (a panic) still leaves the machine
//! clean; scripts/testenv.sh down sweeps up after a test process that was killed outright.
//!
//! `env` (the private daemons), `docker` (client, containers, volumes), `holder` (namespaces
//! in fake units, mount tables), `exporter` (the binary, a running one, HTTP), `exposition`
//! (scrape parser); here: one command runner and the waiting helpers. All re-exported.
#![allow(dead_code)] // each test binary uses its own subset

pub mod paste;
pub mod promql;
pub mod runtimes;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub mod daemon;
pub mod proxy;
pub mod scraper;

mod docker;
pub(crate) mod env;
mod exporter;
mod exposition;
mod holder;
pub use docker::*;
pub use env::*;
pub use exporter::*;
pub use exposition::*;
pub use holder::*;

/// Runs `cmd` (stdin closed) to completion: its stdout, trimmed; or an error saying `what`
/// was run, its exit status and its stderr.
pub fn run_for_output(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Waiting

/// Call `check` every 250 ms until it returns Ok or `timeout` passes; on timeout panic with
/// `what` and the last thing `check` reported (so a failure says what was seen instead).
pub fn poll_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => {
                if start.elapsed() > timeout {
                    panic!(
                        "timed out after {:.0?} waiting for {what}; last seen:\n{last}",
                        start.elapsed()
                    );
                }
            }
        }
        sleep(Duration::from_millis(250));
    }
}

/// Fails the test with what to install when a command-line tool it drives is missing.
pub fn require_tool(cmd: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .expect("run sh");
    assert!(
        found.status.success(),
        "{cmd} is needed for this test: scripts/test.sh installs it (scripts/testenv.sh APT_PACKAGES)"
    );
}

/// Runs `promtool ARGS` in `dir`, failing the test with its output unless it succeeds;
/// returns what it printed.
pub fn promtool(args: &[&str], dir: &Path) -> String {
    require_tool("promtool");
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {} failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    text
}

/// The scene most live tests start from: a tmpfs volume, a container using it with shareable
/// IPC and its own netns (`--network=none`), and a private holder (one sleeper) in a fake
/// systemd unit that copied the container's mounts, keeping only the daemon's roots.
/// Bind the tuple in this order so the holder is dropped first, then container, then volume.
pub fn leak_scene(label: &str) -> (Volume, Container, Holder) {
    let env = env();
    let volume = Volume::create_tmpfs(&format!("{label}-vol"));
    let container = Container::run(
        label,
        &[
            "--ipc=shareable",
            "--network=none",
            "-v",
            &format!("{}:/data", volume.name),
        ],
        &["sleep", "1000000"],
    );
    let roots = [env.docker_root.as_str(), env.docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping(label, Propagation::Private, 1, &roots);
    (volume, container, holder)
}
