//! From bytes to what people and Prometheus read: a holder's mountinfo, cgroup file and comm
//! go through the exporter's pure pipeline (parse_line, classify, cgroup place, leak
//! classification, report) and out as metrics, JSON, text and HTML. Input: the sections
//! mountinfo, cgroup and comm separated by NUL bytes, then one byte of switches.
//! Properties: no panic anywhere; the metrics are valid Prometheus text in which every leak's
//! mount point, comm and unit come back exactly from their labels; the JSON gives back the
//! same strings; the HTML carries them escaped; the suggested umount command quotes the
//! mount point so that a shell gets it back as one word; heap use is linear in the input.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mountleak_exporter::classify::classify;
use mountleak_exporter::host::cgroup::{CgroupPlace, is_unit_name, place_from_bytes};
use mountleak_exporter::host::mountinfo::parse_line;
use mountleak_exporter::host::{
    ContainerMount, HostSnapshot, MountNamespace, NamespaceKey, ProcessInfo, ScanErrors,
};
use mountleak_exporter::layout::Layout;
use mountleak_exporter::metrics::{RenderOptions, render};
use mountleak_exporter::report::{self, FirstSeen, ScanSummary};
use mountleak_exporter::runtime::RuntimeView;
use mountleak_exporter_fuzz::{Sample, assert_linear, measure, parse_exposition, shell_word};

const HOLDER_PID: u32 = 4242;

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn run(data: &[u8]) {
    let mut sections = data.splitn(4, |&b| b == 0);
    let mountinfo = sections.next().unwrap_or_default();
    let cgroup = sections.next().unwrap_or_default();
    let comm = sections.next().unwrap_or_default();
    let switches = sections
        .next()
        .and_then(|s| s.first().copied())
        .unwrap_or(0);
    let docker_up = switches & 1 != 0;
    // The daemon's namespace holds the same mounts: the copies are at risk (or tied by
    // propagation) instead of stale.
    let reference_holds_them = switches & 2 != 0;

    let view = RuntimeView::docker(
        docker_up,
        vec!["/var/lib/docker".into()],
        vec!["/run/docker".into()],
        Vec::new(),
    );
    let layout: Layout = view.layout();
    let mut errors = ScanErrors::default();
    let mut container_mounts = Vec::new();
    for line in mountinfo.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match parse_line(line) {
            Ok(mount) => {
                if let Some(path) = layout.recognise(&mount.mount_point) {
                    container_mounts.push(ContainerMount::new(mount, path));
                }
            }
            Err(_) => errors.parse += 1,
        }
    }
    let CgroupPlace {
        unit, container, ..
    } = place_from_bytes(cgroup).unwrap_or_default();
    let holder = ProcessInfo {
        pid: HOLDER_PID,
        comm: String::from_utf8_lossy(comm)
            .trim_end_matches('\n')
            .to_string(),
        unit,
        container_id: container.as_ref().map(|c| c.1.clone()),
        container_engine: container.map(|c| c.0),
        start_time: Some(1),
    };
    let key = |inode| NamespaceKey {
        device: 4,
        inode,
        root: "/".into(),
    };
    let reference = MountNamespace {
        key: key(1),
        host: true,
        pids: vec![1],
        processes: Arc::from(Vec::new()),
        container_mounts: if reference_holds_them {
            container_mounts.clone().into()
        } else {
            Arc::from([])
        },
        host_userns: false,
    };
    let foreign = MountNamespace {
        key: key(2),
        host: false,
        pids: vec![HOLDER_PID],
        processes: Arc::from(vec![holder.clone()]),
        container_mounts: container_mounts.into(),
        // Root's namespace: every stale copy is vouched for (classify::verified).
        host_userns: true,
    };
    let snapshot = HostSnapshot {
        namespaces: vec![reference, foreign],
        processes_scanned: 2,
        errors,
        ..Default::default()
    };
    let classified = classify(snapshot, &view, &mut Default::default());
    let scan = ScanSummary {
        timestamp: 1_700_000_000.0,
        success: true,
        docker_up,
        errors,
        processes_scanned: 2,
        mount_namespaces_scanned: 2,
        ..Default::default()
    };
    let report = report::build(scan, classified, &mut FirstSeen::default());

    let text = report::render_text(&report);
    let html = mountleak_exporter::landing::render(&report, "/metrics");
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&report).expect("report serialises"))
            .expect("report JSON parses");
    let metrics = render(Arc::new(report.clone()), RenderOptions::default()).expect("render");
    let samples = parse_exposition(&metrics).unwrap_or_else(|e| panic!("invalid exposition: {e}"));
    if !report.leaks.is_empty() {
        assert!(
            text.contains(report.leaks[0].mount_point()),
            "text report lacks the mount point"
        );
    }

    let first_seen: HashMap<&str, &Sample> = samples
        .iter()
        .filter(|s| s.name == "mountleak_leak_first_seen_timestamp_seconds")
        .filter_map(|s| Some((s.label("mountpoint")?, s)))
        .collect();
    let process_comms: HashSet<&str> = samples
        .iter()
        .filter(|s| s.name == "mountleak_process_leaked_mounts")
        .filter_map(|s| s.label("comm"))
        .collect();
    for (i, leak) in report.leaks.iter().enumerate() {
        let lead = report.holder(leak);
        let fix = report.fix(leak);
        // Searching the whole page for every leak would be quadratic: the first few suffice.
        if i < 16 {
            let _ = report::owner_label(leak);
            assert!(
                html.contains(&html_escape(leak.mount_point())),
                "HTML lacks the escaped mount point"
            );
        }
        let s = first_seen.get(leak.mount_point()).unwrap_or_else(|| {
            panic!(
                "no first_seen series carries mount point {:?}",
                leak.mount_point()
            )
        });
        assert_eq!(s.label("comm"), Some(lead.comm.as_str()));
        assert_eq!(s.label("unit"), Some(lead.unit.as_deref().unwrap_or("")));
        assert!(
            process_comms.contains(holder.comm.as_str()),
            "no process series carries comm {:?}",
            holder.comm
        );

        let j = &json["leaks"][i];
        assert_eq!(j["mount_point"].as_str(), Some(leak.mount_point()));
        assert_eq!(j["holder"]["comm"].as_str(), Some(lead.comm.as_str()));

        if lead.container_id.is_none()
            && !lead
                .unit
                .as_deref()
                .is_some_and(|u| u.ends_with(".service") && is_unit_name(u))
        {
            let word = fix
                .strip_prefix(&format!("nsenter -t {HOLDER_PID} -m umount -l "))
                .unwrap_or_else(|| panic!("unexpected fix {fix:?}"));
            assert_eq!(
                shell_word(word).as_deref(),
                Some(leak.mount_point()),
                "fix {fix:?} does not quote the mount point as one shell word"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let ((), peak) = measure(|| run(data));
    // The registry, encoders and page templates cost a fixed amount; each leak a few copies
    // of its strings in each output.
    assert_linear("report", peak, data.len(), 256, 4 << 20);
});
