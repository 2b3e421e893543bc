//! Stamps the revision, build date and compiler into `mountleak_build_info` and `--version`.
use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    // A source tree without .git (a container build's context) is given its revision by the
    // builder: `--build-arg REVISION=...` in deploy/container/Dockerfile sets this.
    let rev = std::env::var("MOUNTLEAK_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| output("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    // Reproducible builds set SOURCE_DATE_EPOCH; Prometheus' components print this format.
    let date = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => output(
            "date",
            &["-u", "-d", &format!("@{epoch}"), "+%Y%m%d-%H:%M:%S"],
        ),
        Err(_) => output("date", &["-u", "+%Y%m%d-%H:%M:%S"]),
    }
    .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MOUNTLEAK_REVISION={rev}");
    println!("cargo:rustc-env=MOUNTLEAK_RUSTC_VERSION={version}");
    println!("cargo:rustc-env=MOUNTLEAK_BUILD_DATE={date}");
    println!("cargo:rerun-if-env-changed=MOUNTLEAK_REVISION");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
