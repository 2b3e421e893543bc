//! The mountinfo parser, whole file and line by line. Properties: no panic; `parse` yields
//! exactly one result per non-empty line, equal to `parse_line` of it; a parsed line agrees
//! with the cheap `mount_point_field` pre-read; printing a parsed mount back the way the
//! kernel does and parsing it again gives the same mount; heap use is linear in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mountleak_exporter::host::mountinfo::{Mount, mount_point_field, parse, parse_line, unescape};
use mountleak_exporter_fuzz::{assert_linear, display_bytes, kernel_escape, measure};

/// The line the kernel would print for this mount (options elided).
fn kernel_line(m: &Mount) -> Vec<u8> {
    let mut line = format!("{} {} {}:{} ", m.mount_id, m.parent_id, m.major, m.minor).into_bytes();
    line.extend(kernel_escape(&display_bytes(&m.root)));
    line.push(b' ');
    line.extend(kernel_escape(&display_bytes(&m.mount_point)));
    line.extend_from_slice(b" rw,relatime");
    if let Some(n) = m.propagation.shared {
        line.extend(format!(" shared:{n}").bytes());
    }
    if let Some(n) = m.propagation.master {
        line.extend(format!(" master:{n}").bytes());
    }
    line.extend_from_slice(b" - ");
    line.extend(kernel_escape(&display_bytes(&m.fs_type)));
    line.push(b' ');
    line.extend(kernel_escape(&display_bytes(&m.source)));
    line.extend_from_slice(b" rw");
    line
}

fn check_line(line: &[u8]) {
    let parsed = parse_line(line);
    let Ok(m) = parsed else { return };
    let field = mount_point_field(line).expect("a parsed line has a mount point field");
    assert_eq!(
        unescape(field),
        m.mount_point,
        "pre-read and parse disagree"
    );
    assert_eq!(m.device(), format!("{}:{}", m.major, m.minor));
    let again = kernel_line(&m);
    assert_eq!(
        parse_line(&again).as_ref(),
        Ok(&m),
        "reprinted line {:?} does not parse back",
        String::from_utf8_lossy(&again)
    );
}

fuzz_target!(|data: &[u8]| {
    let ((), peak) = measure(|| {
        let mut lines = data.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        for result in parse(data) {
            let line = lines.next().expect("parse yielded more results than lines");
            assert_eq!(result, parse_line(line), "parse and parse_line disagree");
            check_line(line);
        }
        assert!(lines.next().is_none(), "parse skipped a non-empty line");
    });
    // One line at a time is live: a mount's four decoded fields (at most 3 bytes out per byte
    // in, for U+FFFD), twice, and the reprinted line (4 bytes per byte).
    assert_linear("mountinfo", peak, data.len(), 48, 64 << 10);
});
