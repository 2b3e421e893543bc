//! The cgroup parser as the exporter uses it: `host::cgroup::place_from_bytes` (procfs's
//! `ProcessCGroups::from_read` on the lossily decoded file, feeding `place`), and
//! `place_from_path` on the raw text. Properties: no panic; a file procfs reads as it is
//! gives the same place; a unit
//! is a valid unit name, one component of the path it came from (or `user@<uid>.service/<unit>`,
//! two); a container id is 64 lowercase hex digits spelled in that path; climbing
//! out of a cgroup namespace (`/..` prefix) or doubled/trailing slashes change nothing; heap
//! use is linear in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mountleak_exporter::host::cgroup::{
    CgroupPlace, is_container_id, is_unit_name, place, place_from_bytes, place_from_path,
};
use mountleak_exporter_fuzz::{assert_linear, measure};
use procfs::{FromRead, ProcessCGroups};

fn check(o: &CgroupPlace, path: &str) {
    // Empty components (`//`) and `..` (climbing out of a cgroup namespace) name nothing.
    let components: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != "..")
        .collect();
    if let Some(unit) = &o.unit {
        let parts: Vec<&str> = unit.split('/').collect();
        assert!(parts.len() <= 2, "unit {unit:?} has more than two parts");
        if parts.len() == 2 {
            assert!(
                parts[0].starts_with("user@"),
                "{unit:?} is not a user manager's"
            );
        }
        for p in parts {
            assert!(is_unit_name(p), "unit {unit:?} is not a unit name");
            assert!(
                components
                    .iter()
                    .any(|c| c.strip_prefix('_').unwrap_or(c) == p),
                "unit {unit:?} is not in {path:?}"
            );
        }
    }
    if let Some((_, id)) = &o.container {
        assert!(
            is_container_id(id),
            "container id {id:?} is not 64 lowercase hex"
        );
        assert!(id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        assert!(
            components.iter().any(|c| c.contains(id.as_str())),
            "container id {id:?} is not spelled in {path:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let ((), peak) = measure(|| {
        let text = String::from_utf8_lossy(data);
        let lossy = place_from_bytes(data).ok();
        if let Ok(groups) = ProcessCGroups::from_read(data) {
            assert_eq!(
                lossy.as_ref(),
                Some(&place(&groups.0)),
                "place_from_bytes disagrees with procfs on a file it reads"
            );
        }
        if let Ok(groups) = ProcessCGroups::from_read(text.as_bytes()) {
            let o = place(&groups.0);
            assert_eq!(lossy.as_ref(), Some(&o));
            if o != CgroupPlace::default() {
                // It came from one of the lines.
                let from = groups.0.iter().find(|g| place_from_path(&g.pathname) == o);
                let g = from.expect("place() answered for no line's path");
                check(&o, &g.pathname);
            }
        }
        let path = text;
        let o = place_from_path(&path);
        check(&o, &path);
        assert_eq!(
            place_from_path(&format!("/../../{path}")),
            o,
            "a /.. prefix changed the place"
        );
        assert_eq!(
            place_from_path(&format!("{path}/")),
            o,
            "a trailing slash changed the place"
        );
        assert_eq!(
            place_from_path(&path.replace('/', "//")),
            o,
            "doubled slashes changed the place"
        );
    });
    assert_linear("cgroup", peak, data.len(), 64, 64 << 10);
});
