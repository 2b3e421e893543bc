//! The container image of deploy/container, run for real in the private dockerd: made from
//! the binary under test by deploy/container/build-local-image.sh, started as docs/deploy.md
//! says (host PIDs, the host's /proc read-only at /host/proc, the Docker socket, every
//! capability dropped but SYS_PTRACE, read-only root), it must report the same leaks as the
//! binary run on the host, through the leak scenario.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The image, removed on Drop.
struct Image {
    tag: String,
}

impl Image {
    /// deploy/container/build-local-image.sh with the binary under test.
    fn build() -> Image {
        let tag = format!("mountleak_exporter:{}", unique_name("image"));
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/container/build-local-image.sh");
        let out = Command::new(&script)
            .arg(exporter_bin())
            .arg(&tag)
            .env("DOCKER", &env().docker_cli)
            .env("DOCKER_HOST", &env().docker_host)
            .output()
            .expect("run build-local-image.sh");
        assert!(
            out.status.success(),
            "build-local-image.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), tag);
        Image { tag }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker_try(&["rmi", "-f", &self.tag]);
    }
}

/// A container of the exporter image, force-removed on Drop (its log printed on a panic).
struct ExporterContainer {
    id: String,
    /// Its pid on the host, to reach its network namespace.
    pid: String,
    /// Its network namespace's bind mount (`<exec-root>/netns/<sandbox>` as mountinfo says it).
    sandbox_key: String,
}

/// Where the daemon's socket is inside the exporter's container, as in the manifests.
const SOCKET_IN_CONTAINER: &str = "/var/run/docker.sock";

/// `docker run` arguments of docs/deploy.md, with the private daemon's socket. The private
/// daemon has no bridge (`--bridge=none`): the container gets a network namespace with only
/// loopback, which the test enters with nsenter to reach it. Not the host network: that
/// makes dockerd bind-mount `<exec-root>/netns/default` for the daemon's lifetime, a mount
/// every later holder namespace would copy.
fn run_args(detach: bool, name: &str, capabilities: &[&str]) -> Vec<String> {
    let socket = env()
        .docker_host
        .strip_prefix("unix://")
        .expect("the private daemon listens on a unix socket");
    let mut args: Vec<String> = [
        "run",
        if detach { "--detach" } else { "--rm" },
        "--name",
        name,
        "--network=none",
        "--pid=host",
        "--read-only",
        "--user=0:0",
        "--cap-drop=ALL",
        "--security-opt=apparmor=unconfined",
        "--security-opt=no-new-privileges",
        "-v",
        "/proc:/host/proc:ro",
        "-v",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("{socket}:{SOCKET_IN_CONTAINER}:ro"));
    for cap in capabilities {
        args.push(format!("--cap-add={cap}"));
    }
    args
}

/// The flags the manifests pass, plus the private daemon's exec root and no scan reuse.
fn exporter_flags() -> Vec<String> {
    vec![
        "--path.procfs=/host/proc".to_string(),
        format!("--docker.host=unix://{SOCKET_IN_CONTAINER}"),
        format!("--docker.exec-root={}", env().docker_exec_root),
        "--scan.min-interval=0s".to_string(),
    ]
}

impl ExporterContainer {
    fn start(image: &Image) -> ExporterContainer {
        let name = unique_name("exporter");
        let mut args = run_args(true, &name, &["SYS_PTRACE"]);
        args.push(image.tag.clone());
        args.extend(exporter_flags());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = docker(&argv);
        let inspect = |format: &str| docker(&["inspect", "-f", format, &id]);
        let sandbox_key = inspect("{{.NetworkSettings.SandboxKey}}");
        let container = ExporterContainer {
            pid: inspect("{{.State.Pid}}"),
            sandbox_key: match sandbox_key.strip_prefix("/var/run/") {
                Some(rest) => format!("/run/{rest}"),
                None => sandbox_key,
            },
            id,
        };
        poll_until(
            "the exporter container to answer /healthz",
            Duration::from_secs(20),
            || match container.get("/healthz") {
                Ok(_) => Ok(()),
                Err(e) => Err(format!(
                    "{e}; state {}; log:\n{}",
                    container.state(),
                    container.log()
                )),
            },
        );
        container
    }

    /// GET a path on the exporter's default address, from inside its network namespace.
    fn get(&self, path: &str) -> Result<String, String> {
        let out = Command::new("nsenter")
            .args(["--target", &self.pid, "--net", "--"])
            .args([
                "curl",
                "--silent",
                "--show-error",
                "--fail",
                "--max-time",
                "30",
            ])
            .arg(format!("http://127.0.0.1:39101{path}"))
            .output()
            .map_err(|e| format!("cannot run nsenter/curl (util-linux, curl): {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "curl {path}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn state(&self) -> String {
        docker_try(&["inspect", "-f", "{{.State.Status}}", &self.id]).unwrap_or_else(|e| e)
    }

    fn log(&self) -> String {
        let out = Command::new(&env().docker_cli)
            .args(["logs", &self.id])
            .env("DOCKER_HOST", &env().docker_host)
            .output();
        match out {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => e.to_string(),
        }
    }

    fn leaks_json(&self) -> Value {
        let body = self.get("/api/v1/leaks").unwrap_or_else(|e| {
            panic!("GET /api/v1/leaks from the container: {e}\n{}", self.log())
        });
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }
}

impl Drop for ExporterContainer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- exporter container log ---\n{}--- end ---", self.log());
        }
        let _ = docker_try(&["rm", "-f", &self.id]);
        // Leave no mount behind for the next test's holders to copy: wait (briefly) for the
        // daemon to remove the container's netns bind mount.
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        let needle = format!(" {} ", self.sandbox_key);
        while std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| m.contains(&needle)) {
            if std::time::Instant::now() > deadline {
                eprintln!("{} is still mounted 90s after docker rm", self.sandbox_key);
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Which leaks a test looks at: those its holder holds of its own container and volume
/// (other tests' or a developer's leftovers on the machine stay out of the comparison).
struct Scope {
    unit: String,
    container_id: String,
    volume: String,
}

impl Scope {
    fn wants(&self, leak: &Value) -> bool {
        leak["holder"]["unit"] == self.unit.as_str()
            && (leak["container"]["id"] == self.container_id.as_str()
                || leak["volume"] == self.volume.as_str())
    }
}

/// The leaks in scope, reduced to what both exporters must agree on (everything but
/// first_seen, which is when each exporter happened to look).
fn leaks_of(report: &Value, scope: &Scope) -> BTreeSet<String> {
    report["leaks"]
        .as_array()
        .unwrap_or_else(|| panic!("no leaks array in {report}"))
        .iter()
        .filter(|leak| scope.wants(leak))
        .map(|leak| {
            let mut leak = leak.clone();
            leak.as_object_mut().unwrap().remove("first_seen");
            leak.to_string()
        })
        .collect()
}

fn show_set(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        return "  (none)\n".to_string();
    }
    set.iter().map(|s| format!("  {s}\n")).collect()
}

/// Poll until the host's exporter shows what `expect` wants and the container reports exactly
/// the same leaks in between two looks of the host's (the state may still be moving: the
/// daemon deletes a removed container's netns file up to a minute later). Returns them.
fn agree(
    step: &str,
    host: &Exporter,
    container: &ExporterContainer,
    scope: &Scope,
    expect: impl Fn(&[Value]) -> Result<(), String>,
) -> Vec<Value> {
    let started = std::time::Instant::now();
    let parse = |set: &BTreeSet<String>| -> Vec<Value> {
        set.iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect()
    };
    let agreed = poll_until(
        &format!("{step}: the container to report the host binary's leaks"),
        Duration::from_secs(90),
        || {
            let before = leaks_of(&host.leaks_json(), scope);
            expect(&parse(&before)).map_err(|e| format!("host: {e}\n{}", show_set(&before)))?;
            let from_container = leaks_of(&container.leaks_json(), scope);
            let after = leaks_of(&host.leaks_json(), scope);
            if from_container == before && before == after {
                Ok(before)
            } else {
                Err(format!(
                    "container:\n{}host before:\n{}host after:\n{}",
                    show_set(&from_container),
                    show_set(&before),
                    show_set(&after)
                ))
            }
        },
    );
    eprintln!(
        "{step}: {} leaks agreed after {:.1?}",
        agreed.len(),
        started.elapsed()
    );
    parse(&agreed)
}

fn kinds(leaks: &[Value], status: &str) -> BTreeSet<String> {
    leaks
        .iter()
        .filter(|l| l["status"] == status)
        .map(|l| l["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_local_image_reports_the_same_leaks_as_the_host_binary() {
    let image = Image::build();
    let config = docker(&["image", "inspect", "-f", "{{json .Config}}", &image.tag]);
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/mountleak_exporter"])
    );
    assert_eq!(config["User"], "0:0");
    assert!(
        config["ExposedPorts"].get("39101/tcp").is_some(),
        "{config}"
    );

    let mut volume = Volume::create_tmpfs("image-vol");
    let mut app = Container::run(
        "image-app",
        &[
            "--ipc=shareable",
            "--network=none",
            "-v",
            &format!("{}:/data", volume.name),
        ],
        &["sleep", "1000000"],
    );
    let holder = Holder::spawn("image-holder", Propagation::Private, 2);
    let scope = Scope {
        unit: holder.unit.clone(),
        container_id: app.id.clone(),
        volume: volume.name.clone(),
    };

    let host = Exporter::start(&[]);
    let container = ExporterContainer::start(&image);

    // 1. The container runs: every copy the holder made is at risk.
    let leaks = agree("running", &host, &container, &scope, |leaks| {
        let at_risk = kinds(leaks, "at_risk");
        for kind in ["rootfs", "shm", "netns", "volume"] {
            if !at_risk.contains(kind) {
                return Err(format!("no at_risk {kind} leak yet"));
            }
        }
        Ok(())
    });
    assert!(
        leaks
            .iter()
            .all(|l| l["container"]["name"] == app.name.as_str() || l["kind"] == "volume"),
        "every leak is the app container's: {leaks:#?}"
    );
    assert!(
        leaks
            .iter()
            .all(|l| holder.pids.iter().any(|p| l["holder"]["pid"] == *p)),
        "the holder is one of the holder's processes"
    );

    // 2. Stopped: the kernel detached the rootfs copy; shm, netns and the volume are stale.
    // The daemon deletes a stopped container's netns file on a cleanup pass 20-60 s after
    // the stop (which detaches that copy too): on a slow machine it may already be gone.
    let sandbox_key = app.sandbox_key();
    app.stop();
    agree("stopped", &host, &container, &scope, |leaks| {
        let stale = kinds(leaks, "stale");
        let netns_ok = stale.contains("netns") || !Path::new(&sandbox_key).exists();
        if !(stale.contains("shm") && netns_ok && stale.contains("volume")) {
            return Err("shm, netns and volume are not all stale yet".into());
        }
        if !kinds(leaks, "at_risk").is_empty() {
            return Err("some copy is still at_risk".into());
        }
        Ok(())
    });

    // 3. Removed: the leaks that remain keep the container's name, in state "removed".
    let name = app.name.clone();
    app.remove();
    let leaks = agree("removed", &host, &container, &scope, |leaks| {
        if !kinds(leaks, "stale").contains("volume") {
            return Err("the volume copy is gone".into());
        }
        let named: Vec<_> = leaks.iter().filter(|l| !l["container"].is_null()).collect();
        if named.is_empty() || named.iter().any(|l| l["container"]["state"] != "removed") {
            return Err("no leak of the removed container, or not in state removed".into());
        }
        Ok(())
    });
    assert!(
        leaks
            .iter()
            .filter(|l| !l["container"].is_null())
            .all(|l| l["container"]["name"] == name.as_str()),
        "the removed container keeps its name"
    );

    // 4. The holder gone: neither reports anything of it.
    holder.kill();
    volume.remove();
    agree("holder killed", &host, &container, &scope, |leaks| {
        if leaks.is_empty() {
            Ok(())
        } else {
            Err("leaks remain".into())
        }
    });
}

/// The privilege table's claim, checked: without CAP_SYS_PTRACE the image cannot read other
/// processes' mount namespaces, so the holder's leaks go unseen and are counted as
/// permission_denied.
#[test]
fn without_sys_ptrace_the_image_cannot_see_the_holder() {
    let image = Image::build();
    let app = Container::run(
        "noptrace-app",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let holder = Holder::spawn("noptrace-holder", Propagation::Private, 1);
    let scope = Scope {
        unit: holder.unit.clone(),
        container_id: app.id.clone(),
        volume: String::new(),
    };

    let scan = |capabilities: &[&str]| -> Value {
        let name = unique_name("scan");
        let mut args = run_args(false, &name, capabilities);
        args.push(image.tag.clone());
        args.extend(["scan".to_string(), "--output=json".to_string()]);
        args.extend(exporter_flags());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = Command::new(&env().docker_cli)
            .args(&argv)
            .env("DOCKER_HOST", &env().docker_host)
            .output()
            .expect("docker run scan");
        // Exit 1 means leaks were found: both answers carry a report.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "scan in the container exited {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    };

    let with = scan(&["SYS_PTRACE"]);
    assert!(
        !leaks_of(&with, &scope).is_empty(),
        "with SYS_PTRACE the holder's leaks are seen: {with}"
    );
    let without = scan(&[]);
    assert!(
        leaks_of(&without, &scope).is_empty(),
        "without SYS_PTRACE nothing of the holder is seen: {without}"
    );
    let denied = |r: &Value| r["scan"]["errors"]["permission_denied"].as_u64().unwrap();
    assert!(
        denied(&without) > denied(&with),
        "permission_denied without SYS_PTRACE ({}) exceeds with it ({})",
        denied(&without),
        denied(&with)
    );
    drop(holder);
    drop(app);
}
