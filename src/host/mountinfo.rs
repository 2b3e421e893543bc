//! Parsing of `/proc/<pid>/mountinfo` text. Pure: no I/O.
//!
//! Line format (proc(5)): `id parent major:minor root mount_point options [optional...] - fstype source super_options`.

use serde::Serialize;

/// Peer-group ties of a mount, from the optional fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Propagation {
    /// `shared:N`: the mount is in peer group N.
    pub shared: Option<u32>,
    /// `master:N`: the mount is a slave of peer group N.
    pub master: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    /// Root of the mount within its filesystem (decoded).
    pub root: String,
    /// Mount point relative to the reading process's root (decoded).
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
    pub propagation: Propagation,
}

impl Mount {
    pub fn device(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed mountinfo line: {reason}")]
pub struct ParseError {
    pub reason: &'static str,
}

fn bad(reason: &'static str) -> ParseError {
    ParseError { reason }
}

/// Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash; any `\NNN`; the procfs crate leaves them encoded) into the exporter's
/// display form of a path: the text itself, except that a backslash, a control character
/// (C0, DEL, C1) or a byte that is not UTF-8 is written as the `\ooo` escape of each of
/// its bytes. Every `\` in the result starts such an escape, so two paths never share a
/// display form (a label, a JSON string), the original bytes can always be recovered (the
/// fix's `$'...'`, see `quote::shell_path`), and no path can break a line of text.
pub fn unescape(field: &[u8]) -> String {
    let plain = |b: &u8| b.is_ascii() && !b.is_ascii_control() && *b != b'\\';
    if field.iter().all(plain) {
        // Valid ASCII with nothing to escape: nearly every mount point.
        return String::from_utf8_lossy(field).into_owned();
    }
    let mut raw = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 3 < field.len() && is_octal_escape(&field[i + 1..i + 4]) {
            let v = (field[i + 1] - b'0') as u32 * 64
                + (field[i + 2] - b'0') as u32 * 8
                + (field[i + 3] - b'0') as u32;
            raw.push(v as u8);
            i += 4;
        } else {
            raw.push(field[i]);
            i += 1;
        }
    }
    display(&raw)
}

/// The display form (see [`unescape`]) of a path's own bytes, as statmount(2) gives them.
pub fn display(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    let escape = |out: &mut String, bytes: &[u8]| {
        for b in bytes {
            out.push_str(&format!("\\{b:03o}"));
        }
    };
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' || c.is_control() {
                escape(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes());
            } else {
                out.push(c);
            }
        }
        escape(&mut out, chunk.invalid());
    }
    out
}

/// The bytes a display form (see [`unescape`]) stands for: each `\ooo` escape is its byte,
/// everything else its UTF-8 text. Exact, since every `\` of a display form starts an
/// escape: what `umount2` needs, where the display form is what the report shows.
pub fn display_bytes(display: &str) -> Vec<u8> {
    let b = display.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1..i + 4).is_some_and(is_octal_escape) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn is_octal_escape(d: &[u8]) -> bool {
    d.len() == 3 && d[0] <= b'3' && d.iter().all(|c| (b'0'..=b'7').contains(c))
}

fn parse_u32(field: &[u8], what: &'static str) -> Result<u32, ParseError> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(bad(what))
}

/// Parses one mountinfo line (without its trailing newline).
pub fn parse_line(line: &[u8]) -> Result<Mount, ParseError> {
    let mut fields = line.split(|&b| b == b' ');
    let mut next = |what| fields.next().ok_or(bad(what));
    let mount_id = parse_u32(next("missing mount id")?, "bad mount id")?;
    let parent_id = parse_u32(next("missing parent id")?, "bad parent id")?;
    let dev = next("missing device")?;
    let colon = dev
        .iter()
        .position(|&b| b == b':')
        .ok_or(bad("bad device"))?;
    let major = parse_u32(&dev[..colon], "bad device major")?;
    let minor = parse_u32(&dev[colon + 1..], "bad device minor")?;
    let root = unescape(next("missing root")?);
    let mount_point = unescape(next("missing mount point")?);
    let _options = next("missing mount options")?;
    let mut propagation = Propagation::default();
    loop {
        let f = next("missing separator")?;
        if f == b"-" {
            break;
        }
        if let Some(n) = f.strip_prefix(b"shared:") {
            propagation.shared = Some(parse_u32(n, "bad shared peer group")?);
        } else if let Some(n) = f.strip_prefix(b"master:") {
            propagation.master = Some(parse_u32(n, "bad master peer group")?);
        }
        // propagate_from:N and unbindable say nothing about ties to the reference.
    }
    let fs_type = unescape(next("missing fs type")?);
    let source = unescape(next("missing source")?);
    let _super_options = next("missing super options")?;
    Ok(Mount {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        fs_type,
        source,
        propagation,
    })
}

/// The raw (escaped) mount point field of a line, without parsing the rest; `None` when
/// the line has fewer than five fields.
pub fn mount_point_field(line: &[u8]) -> Option<&[u8]> {
    line.split(|&b| b == b' ').nth(4)
}

/// Splits `id parent rest...` into the mount id and what every copy of the mount shares
/// (`rest`, which still holds the optional propagation fields). `None` on a malformed line,
/// which the full parse then reports.
pub(crate) fn split_ids(line: &[u8]) -> Option<(u32, &[u8])> {
    let first = memchr::memchr(b' ', line)?;
    let second = first + 1 + memchr::memchr(b' ', &line[first + 1..])?;
    let id = std::str::from_utf8(&line[..first]).ok()?.parse().ok()?;
    std::str::from_utf8(&line[first + 1..second])
        .ok()?
        .parse::<u32>()
        .ok()?;
    Some((id, &line[second + 1..]))
}

/// Iterates over the lines of a whole mountinfo file, yielding each parse result.
pub fn parse(text: &[u8]) -> impl Iterator<Item = Result<Mount, ParseError>> + '_ {
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(parse_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INCIDENT: &str = "596 340 0:57 / /var/lib/docker/containers/ca74eaa1b342c64a7f6c558299bedf74a5b7016c194e885bf290281161605d58/shm rw,nosuid,nodev,noexec,relatime shared:111 - tmpfs shm rw,size=65536k";

    #[test]
    fn display_forms_turn_back_into_the_kernel_bytes() {
        let cases: &[(&str, &[u8])] = &[
            (
                "/var/lib/docker/containers/ab/shm",
                b"/var/lib/docker/containers/ab/shm",
            ),
            ("/a b/\\134x", b"/a b/\\x"),
            ("/tab\\011and\\012nl", b"/tab\tand\nnl"),
            ("/bad\\377utf8", b"/bad\xffutf8"),
            ("/caf\u{e9}", "/caf\u{e9}".as_bytes()),
            ("/c1\\302\\205", "/c1\u{85}".as_bytes()),
            ("", b""),
        ];
        for (display, bytes) in cases {
            assert_eq!(display_bytes(display), *bytes, "{display}");
        }
        // Round trip through the kernel's escaping: whatever the bytes, the display form
        // gives them back.
        for raw in [&b"/x\\040y"[..], b"/\\134\\011\\377", b"/plain"] {
            let kernel_bytes: Vec<u8> = display_bytes(&unescape(raw));
            assert_eq!(unescape(&kernel_bytes), unescape(raw));
        }
        assert_eq!(display_bytes(&unescape(b"/x\\040y\\377")), b"/x y\xff");
    }

    #[test]
    fn parses_the_incident_line() {
        let m = parse_line(INCIDENT.as_bytes()).unwrap();
        assert_eq!(m.mount_id, 596);
        assert_eq!(m.parent_id, 340);
        assert_eq!(m.device(), "0:57");
        assert_eq!(m.root, "/");
        assert!(m.mount_point.ends_with("/shm"));
        assert_eq!(m.fs_type, "tmpfs");
        assert_eq!(m.source, "shm");
        assert_eq!(
            m.propagation,
            Propagation {
                shared: Some(111),
                master: None
            }
        );
    }

    #[test]
    fn optional_fields_table() {
        let cases: &[(&str, Propagation)] = &[
            ("", Propagation::default()),
            (
                "shared:7",
                Propagation {
                    shared: Some(7),
                    master: None,
                },
            ),
            (
                "master:9",
                Propagation {
                    shared: None,
                    master: Some(9),
                },
            ),
            (
                "shared:3 master:4",
                Propagation {
                    shared: Some(3),
                    master: Some(4),
                },
            ),
            (
                "master:4 propagate_from:2",
                Propagation {
                    shared: None,
                    master: Some(4),
                },
            ),
            ("unbindable", Propagation::default()),
        ];
        for (opt, want) in cases {
            let sep = if opt.is_empty() { "" } else { " " };
            let line = format!(
                "36 35 98:0 /mnt1 /mnt2 rw,noatime{sep}{opt} - ext3 /dev/root rw,errors=continue"
            );
            let m = parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(m.propagation, *want, "{line}");
            assert_eq!(m.mount_point, "/mnt2");
        }
    }

    #[test]
    fn unescape_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"/plain", "/plain"),
            (br"/with\040space", "/with space"),
            (br"/tab\011here", r"/tab\011here"),
            (br"/nl\012x", r"/nl\012x"),
            (br"/back\134slash", r"/back\134slash"),
            // Not escapes: the backslash itself is kept, in its own escape.
            (br"/trailing\04", r"/trailing\13404"),
            (br"/not\999octal", r"/not\134999octal"),
            (br"/end\", r"/end\134"),
            (b"/bad\xffutf8", r"/bad\377utf8"),
            (br"/high\377", r"/high\377"),
        ];
        for (raw, want) in cases {
            assert_eq!(unescape(raw), *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn escaped_mount_point_is_decoded() {
        let line = br"600 340 0:60 / /var/lib/docker/volumes/my\040vol/_data rw - tmpfs tmpfs rw";
        let m = parse_line(line).unwrap();
        assert_eq!(m.mount_point, "/var/lib/docker/volumes/my vol/_data");
    }

    #[test]
    fn split_ids_separates_the_per_copy_ids_from_the_shared_rest() {
        type Case<'a> = (&'a [u8], Option<(u32, &'a [u8])>);
        let cases: &[Case] = &[
            (
                b"596 340 0:57 / /a rw - tmpfs shm rw",
                Some((596, b"0:57 / /a rw - tmpfs shm rw")),
            ),
            (b"1 0 rest", Some((1, b"rest"))),
            (b"1 0 ", Some((1, b""))),
            (b"x 0 rest", None),
            (b"1 x rest", None),
            (b"1 0", None),
            (b"", None),
        ];
        for (line, want) in cases {
            assert_eq!(split_ids(line), *want, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn display_form_escapes_what_could_merge_or_break_a_line() {
        // Issue 12: two non-UTF-8 names merged into one U+FFFD series, and a newline in a
        // mount point could forge a line of the text report.
        let cases: &[(&[u8], &str)] = &[
            (b"/a/b", "/a/b"),
            (br"/a\040b", "/a b"),
            (br"/a\012fix:\040x", r"/a\012fix: x"),
            (br"/a\134b", r"/a\134b"),
            (b"/a\\b", r"/a\134b"),
            (b"/x\xff", r"/x\377"),
            (b"/x\xfe", r"/x\376"),
            (b"/x\x1b[2J", r"/x\033[2J"),
            ("/caf\u{e9}/\u{9b}".as_bytes(), "/caf\u{e9}/\\302\\233"),
        ];
        for (raw, want) in cases {
            assert_eq!(unescape(raw), *want, "{}", String::from_utf8_lossy(raw));
        }
        assert_ne!(unescape(b"/x\xff"), unescape(b"/x\xfe"));
        assert_ne!(unescape(b"/x\xff"), unescape(br"/x\134377"));
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        let cases: &[&[u8]] = &[
            b"",
            b"596",
            b"596 340",
            b"x 340 0:57 / /a rw - tmpfs shm rw",
            b"596 340 057 / /a rw - tmpfs shm rw",
            b"596 340 0:57 / /a rw shared:x - tmpfs shm rw",
            b"596 340 0:57 / /a rw shared:1",
            b"596 340 0:57 / /a rw - tmpfs",
            b"596 340 0:57 / /a rw - tmpfs shm",
        ];
        for c in cases {
            assert!(
                parse_line(c).is_err(),
                "{:?} should not parse",
                String::from_utf8_lossy(c)
            );
        }
    }

    #[test]
    fn whole_file_skips_blank_lines_and_reports_each_bad_one() {
        let text = format!("{INCIDENT}\n\ngarbage\n{INCIDENT}\n");
        let results: Vec<_> = parse(text.as_bytes()).collect();
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    }
}
