//! Issue 12, item 7: whatever `--log.level` says, the exporter's log never carries a
//! container's environment. bollard logs every decoded API response at debug (`Decoded into
//! string: ...`, bollard 0.21 src/docker.rs), inspect's `Config.Env` among it, so a directive
//! naming it (`bollard::docker=debug`, more specific than any blanket `bollard=info`) used
//! to print the secrets of every container inspected. Real dockerd, real binary.

mod common;

use common::{Container, Exporter, poll_until};
use std::time::Duration;

#[test]
fn no_log_level_prints_a_containers_environment() {
    for level in [
        "info,bollard::docker=debug",
        "debug",
        "trace",
        "bollard=trace",
        "info,hyper=trace,hyper_util=trace,h2=trace,tonic=trace",
    ] {
        // Our own debug lines say when the events were handled: the positive control that
        // the inspect whose response would carry the secret did happen.
        let e = Exporter::start(&[&format!("--log.level={level},mountleak_exporter=debug")]);
        let secret = format!("mlt-secret-{}-{}", std::process::id(), level.len());
        let with_secret = Container::run(
            "env-secret",
            &["-e", &format!("MOUNTLEAK_TEST_TOKEN={secret}")],
            &["sleep", "300"],
        );
        // Events are handled in order: once the second container's is logged, the first
        // one's inspect is done.
        let marker = Container::run("env-marker", &[], &["sleep", "300"]);
        poll_until(
            "the exporter to handle both containers' events",
            Duration::from_secs(30),
            || {
                let log = e.log();
                (log.contains(&with_secret.id) && log.contains(&marker.id))
                    .then_some(())
                    .ok_or_else(|| log.lines().rev().take(20).collect::<Vec<_>>().join("\n"))
            },
        );
        let log = e.log();
        assert!(
            !log.contains(&secret),
            "--log.level={level}: the log carries a container's environment:\n{}",
            log.lines()
                .filter(|l| l.contains(&secret))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
