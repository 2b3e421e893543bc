//! The exporter: its binary, a guard for a running one, and HTTP.

use super::*;

/// Path of the binary under test.
pub fn exporter_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mountleak_exporter")
}

/// The flags that point the exporter at the private test daemon.
pub fn docker_flags() -> Vec<String> {
    env().exporter_flags()
}

/// A Command for the exporter binary with a clean environment (no DOCKER_HOST or
/// MOUNTLEAK_* leaking in from the caller).
pub fn exporter_command() -> Command {
    let mut cmd = Command::new(exporter_bin());
    for (key, _) in std::env::vars_os() {
        let key_s = key.to_string_lossy();
        if key_s.starts_with("MOUNTLEAK_") || key_s.starts_with("DOCKER_") {
            cmd.env_remove(&key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// `mountleak_exporter scan <args> <docker flags>`: the one-shot report.
pub fn run_scan(args: &[&str]) -> Output {
    run_scan_on(env(), args)
}

/// [`run_scan`] against another of the test daemons.
pub fn run_scan_on(daemon: &TestEnv, args: &[&str]) -> Output {
    exporter_command()
        .arg("scan")
        .args(args)
        .args(daemon.exporter_flags())
        .output()
        .expect("run mountleak_exporter scan")
}

/// A running exporter on a free loopback port, killed on Drop.
pub struct Exporter {
    pub base_url: String,
    child: Child,
    log_path: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Exporter {
    /// Start with [`docker_flags`], `--scan.min-interval 0s` (every scrape rescans) and
    /// `extra` flags; wait for `/healthz` to answer 200.
    pub fn start(extra: &[&str]) -> Exporter {
        Exporter::start_with_docker(&docker_flags(), extra)
    }

    /// Like [`Exporter::start`] with `docker` in place of [`docker_flags`] (another daemon, a
    /// proxy, or no Docker at all).
    pub fn start_with_docker(docker: &[String], extra: &[&str]) -> Exporter {
        let mut last_err = String::new();
        // A port picked free can be taken before the exporter binds it: retry on that.
        for _ in 0..3 {
            match Exporter::try_start(docker, extra) {
                Ok(e) => return e,
                Err(e) => last_err = e,
            }
        }
        panic!("the exporter did not come up: {last_err}");
    }

    fn try_start(docker: &[String], extra: &[&str]) -> Result<Exporter, String> {
        let port = free_port();
        let log_dir = tempfile::tempdir().expect("tempdir for the exporter's log");
        let log_path = log_dir.path().join("exporter.log");
        let log = fs::File::create(&log_path).expect("create exporter log");
        let child = exporter_command()
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--scan.min-interval=0s")
            .args(docker)
            .args(extra)
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", exporter_bin()))?;
        let mut exporter = Exporter {
            base_url: format!("http://127.0.0.1:{port}"),
            child,
            log_path,
            _log_dir: log_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = exporter.child.try_wait() {
                return Err(format!("it exited with {status}; log:\n{}", exporter.log()));
            }
            if let Ok((200, _)) = http_get(&format!("{}/healthz", exporter.base_url)) {
                return Ok(exporter);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "/healthz did not answer 200 within 20s; log:\n{}",
                    exporter.log()
                ));
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// The exporter's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the exporter has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// GET a path; panics unless the answer is 200.
    pub fn get(&self, path: &str) -> String {
        match http_get(&format!("{}{path}", self.base_url)) {
            Ok((200, body)) => body,
            Ok((status, body)) => panic!("GET {path}: status {status}: {body}"),
            Err(e) => panic!("GET {path}: {e}; exporter log:\n{}", self.log()),
        }
    }

    /// Scrape `/metrics` and parse it.
    pub fn scrape(&self) -> Vec<Sample> {
        parse_prometheus_text(&self.get("/metrics"))
            .unwrap_or_else(|e| panic!("/metrics is not valid text format: {e}"))
    }

    /// `GET /api/v1/leaks` as JSON.
    pub fn leaks_json(&self) -> serde_json::Value {
        let body = self.get("/api/v1/leaks");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/api/v1/leaks is not JSON ({e}): {body}"))
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- exporter log ---\n{}--- end ---", self.log());
        }
    }
}

/// A TCP port free on 127.0.0.1 when asked (another process may take it before it is used).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// GET a URL: (status, body). Non-2xx statuses are answers, not errors.
pub fn http_get(url: &str) -> Result<(u16, String), String> {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    let agent = AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    });
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let mut body = String::new();
    resp.body_mut()
        .as_reader()
        .read_to_string(&mut body)
        .map_err(|e| e.to_string())?;
    Ok((status, body))
}
