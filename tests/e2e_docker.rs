//! End-to-end tests against the private dockerd that scripts/test.sh starts.

mod common;

use common::*;
use std::fs;
use std::path::Path;

/// The premise of the leak scenario, checked on the kernel itself: a holder namespace made
/// with `--propagation private` while a container runs keeps untied copies of each of the
/// container's mounts, one made with `--propagation slave` keeps copies tied by `master:N`.
/// If this fails, the environment (not the exporter) is wrong: for example the daemon's
/// roots are not shared mounts (scripts/testenv.sh makes them so).
#[test]
fn holders_copy_the_container_mounts_with_the_expected_propagation() {
    let volume = Volume::create_tmpfs("premise-vol");
    let container = Container::run(
        "premise",
        &[
            "--ipc=shareable",
            "--network=none",
            "-v",
            &format!("{}:/data", volume.name),
        ],
        &["sleep", "1000000"],
    );
    assert_eq!(container.state(), "running");
    let private = Holder::spawn("premise-private", Propagation::Private, 3);
    let slave = Holder::spawn("premise-slave", Propagation::Slave, 3);

    let expected = [
        ("rootfs", container.merged_dir()),
        ("shm", container.shm_mount_point()),
        ("netns", container.sandbox_key()),
        ("volume", volume.mount_point()),
    ];
    let netns_dir = format!("{}/netns/", env().docker_exec_root);
    assert!(
        expected[2].1.starts_with(&netns_dir),
        "SandboxKey {} is not under the exec root's netns/",
        expected[2].1
    );

    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let host = mountinfo_entries(&host);
    let private_mi = mountinfo_entries(&private.mountinfo());
    let slave_mi = mountinfo_entries(&slave.mountinfo());
    for (kind, mount_point) in &expected {
        let tags = |entries: &[(String, Vec<String>)], who: &str| -> Vec<String> {
            entries
                .iter()
                .find(|(mp, _)| mp == mount_point)
                .unwrap_or_else(|| panic!("{who} has no {kind} mount at {mount_point}"))
                .1
                .clone()
        };
        let host_tags = tags(&host, "the host namespace");
        assert!(
            host_tags.iter().any(|t| t.starts_with("shared:")),
            "host's {kind} mount {mount_point} is not shared: {host_tags:?}"
        );
        let private_tags = tags(&private_mi, "the private holder");
        assert!(
            private_tags.is_empty(),
            "private holder's {kind} copy has propagation tags {private_tags:?}"
        );
        let slave_tags = tags(&slave_mi, "the slave holder");
        assert!(
            slave_tags.iter().any(|t| t.starts_with("master:")),
            "slave holder's {kind} copy is not a slave: {slave_tags:?}"
        );
    }

    // The holders sit in their fake units, in every unit hierarchy.
    for holder in [&private, &slave] {
        assert_eq!(holder.pids.len(), 4, "sh + 3 sleeps");
        for pid in &holder.pids {
            let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
            let want = format!("/system.slice/{}", holder.unit);
            let hits = cgroup.lines().filter(|l| l.ends_with(&want)).count();
            assert_eq!(
                hits,
                unit_cgroup_hierarchies().len(),
                "pid {pid} is not in {want} in every unit hierarchy:\n{cgroup}"
            );
        }
    }

    // Dropping a holder kills its processes and removes its cgroups.
    let dirs: Vec<_> = unit_cgroup_hierarchies()
        .into_iter()
        .map(|h| h.join("system.slice").join(&private.unit))
        .collect();
    let pids = private.pids.clone();
    private.kill();
    for dir in &dirs {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
    for pid in pids {
        let alive = fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "holder pid {pid} survived");
    }
    drop(slave);
    drop(container);
    assert!(
        !Path::new(&expected[1].1).exists(),
        "the container's directory survived its removal"
    );
}

#[test]
fn scrape_parser_reads_labels_escapes_and_special_values() {
    let text = "# HELP a_metric Something.\n# TYPE a_metric gauge\n\
                a_metric{unit=\"httpd.service\",path=\"/x\\\\y \\\"q\\\"\\nz\"} 8\n\
                b_total 1.5e3 1764380000000\n\
                c{} NaN\n\
                d{le=\"+Inf\",} +Inf\n";
    let samples = parse_prometheus_text(text).unwrap();
    assert_eq!(samples.len(), 4);
    assert_eq!(samples[0].name, "a_metric");
    assert_eq!(samples[0].label("unit"), "httpd.service");
    assert_eq!(samples[0].label("path"), "/x\\y \"q\"\nz");
    assert_eq!(samples[0].value, 8.0);
    assert_eq!(samples[1].value, 1500.0);
    assert!(samples[2].value.is_nan() && samples[2].labels.is_empty());
    assert_eq!(samples[3].value, f64::INFINITY);
    assert_eq!(
        select(&samples, "a_metric", &[("unit", "httpd.service")]).len(),
        1
    );
    assert!(select(&samples, "a_metric", &[("unit", "other")]).is_empty());

    for bad in [
        "x{a=\"1\"",
        "x{a=1} 2",
        "x{a=\"1\",a=\"2\"} 1",
        "x one",
        "x 1 2 3",
        "1x 2",
    ] {
        assert!(parse_prometheus_text(bad).is_err(), "accepted {bad:?}");
    }
}
