//! The landing page `/` in a real browser (headless Chromium) during a leak: the table an
//! operator on a single host opens first. Writes a screenshot for the README.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn chromium(args: &[&str], url: &str) -> std::process::Output {
    require_tool("chromium");
    let profile = tempfile::tempdir().unwrap();
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap()
}

#[test]
fn landing_page_shows_the_leak_in_a_browser() {
    let container = Container::run(
        "landing",
        &["--ipc=shareable", "--network=none"],
        &["sleep", "1000000"],
    );
    let roots = [env().docker_root.as_str(), env().docker_exec_root.as_str()];
    let holder = Holder::spawn_keeping("landing", Propagation::Private, 2, &roots);
    container.stop();
    let exporter = Exporter::start(&[]);
    let shm = container.shm_mount_point();
    poll_until(
        "the stale shm copy in /api/v1/leaks",
        Duration::from_secs(60),
        || {
            let v = exporter.leaks_json();
            let found = v["leaks"].as_array().unwrap().iter().any(|l| {
                l["mount_point"] == shm.as_str()
                    && l["status"] == "stale"
                    && l["holder"]["unit"] == holder.unit.as_str()
            });
            if found { Ok(()) } else { Err(v.to_string()) }
        },
    );

    let url = format!("{}/", exporter.base_url);
    let dom = chromium(&["--dump-dom"], &url);
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "chromium --dump-dom: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let row = html
        .split("<tr")
        .find(|r| r.contains(&holder.unit) && r.contains(&shm))
        .unwrap_or_else(|| panic!("no table row for {} holding {shm}:\n{html}", holder.unit));
    assert!(row.contains("stale"), "{row}");
    assert!(
        row.contains(&format!("{} (exited)", container.name)),
        "{row}"
    );
    assert!(
        row.contains(&format!("systemctl restart {}", holder.unit)),
        "{row}"
    );

    let shot_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let shot: PathBuf = shot_dir.join("landing-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1500,500",
        ],
        &url,
    );
    assert!(
        out.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "not a real screenshot: {} bytes",
        png.len()
    );
    drop(holder);
}
