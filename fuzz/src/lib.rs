//! Helpers shared by the fuzz targets: an allocation meter (the "bounded allocation"
//! property), reference encoders/decoders written independently of the exporter's, and a
//! strict reader of the Prometheus text format (to check what reaches a label).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Counts live bytes of every Rust allocation and the high-water mark, so a target can assert
/// that what one input makes the code allocate stays linear in the input's size.
/// (libFuzzer's -malloc_limit_mb catches single huge mallocs; this catches the sum.)
pub struct Metered;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static METERED: Metered = Metered;

/// Runs `f` and returns its result with the peak of extra live heap bytes while it ran.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let r = f();
    (r, PEAK.load(Relaxed).saturating_sub(base))
}

/// Fails the input when the peak heap use was not linear in its length.
pub fn assert_linear(what: &str, peak: usize, input_len: usize, per_byte: usize, fixed: usize) {
    let bound = per_byte.saturating_mul(input_len).saturating_add(fixed);
    assert!(
        peak <= bound,
        "{what}: peak heap {peak} B for a {input_len} B input (bound {per_byte} B/byte + {fixed} B)"
    );
}

/// The kernel's escaping of a path in mountinfo (fs/proc_namespace.c: mangle " \t\n\\").
pub fn kernel_escape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for &b in raw {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\\') {
            out.extend_from_slice(&[
                b'\\',
                b'0' + (b >> 6),
                b'0' + ((b >> 3) & 7),
                b'0' + (b & 7),
            ]);
        } else {
            out.push(b);
        }
    }
    out
}

/// Reference decoder: `\` and three octal digits (first 0-3, so the value fits a byte) is a
/// byte; anything else is itself. Then the display form (docs/interfaces.md): a backslash,
/// a control character or a byte that is not UTF-8 becomes `\ooo` per byte.
pub fn reference_unescape(field: &[u8]) -> String {
    let mut out = Vec::new();
    let mut rest = field;
    while let Some((&first, tail)) = rest.split_first() {
        match rest {
            [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] => {
                out.push(((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0'));
                rest = &rest[4..];
            }
            _ => {
                out.push(first);
                rest = tail;
            }
        }
    }
    display(&out)
}

/// The display form of raw path bytes, written independently of the exporter's.
pub fn display(raw: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < raw.len() {
        // The longest valid UTF-8 prefix at i (at most 4 bytes a char).
        let ch = (1..=4.min(raw.len() - i)).rev().find_map(|n| {
            std::str::from_utf8(&raw[i..i + n])
                .ok()
                .filter(|s| s.chars().count() == 1)
        });
        match ch {
            Some(c) if c != "\\" && !c.chars().next().unwrap().is_control() => {
                out.push_str(c);
                i += c.len();
            }
            Some(c) => {
                for b in c.bytes() {
                    out.push_str(&format!("\\{b:03o}"));
                }
                i += c.len();
            }
            None => {
                out.push_str(&format!("\\{:03o}", raw[i]));
                i += 1;
            }
        }
    }
    out
}

/// The raw bytes a display form names: each `\ooo` is a byte.
pub fn display_bytes(display: &str) -> Vec<u8> {
    let b = display.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            out.push(u8::from_str_radix(&display[i + 1..i + 4], 8).expect("display escape"));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// One sample line of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// Reads exposition text strictly (format 0.0.4): every line must be a HELP, a TYPE or a
/// sample, label values may only use the escapes `\\`, `\"` and `\n`.
pub fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            if !is_name(name) {
                return Err(format!("bad HELP line {line:?}"));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            match rest.split_once(' ') {
                Some((name, "gauge" | "counter" | "untyped" | "histogram" | "summary"))
                    if is_name(name) => {}
                _ => return Err(format!("bad TYPE line {line:?}")),
            }
        } else if line.starts_with('#') || line.is_empty() {
            return Err(format!("unexpected line {line:?}"));
        } else {
            out.push(parse_sample(line)?);
        }
    }
    Ok(out)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let err = |why: &str| format!("{why} in sample line {line:?}");
    let name_end = line.find(['{', ' ']).ok_or_else(|| err("no value"))?;
    let name = &line[..name_end];
    if !is_name(name) {
        return Err(err("bad metric name"));
    }
    let mut labels = Vec::new();
    let mut chars = line[name_end..].char_indices().peekable();
    let mut rest_at = name_end;
    if line[name_end..].starts_with('{') {
        chars.next();
        loop {
            let mut key = String::new();
            loop {
                match chars.next() {
                    Some((_, '=')) => break,
                    Some((_, '}')) if key.is_empty() => break,
                    Some((_, c)) => key.push(c),
                    None => return Err(err("unterminated label set")),
                }
            }
            if key.is_empty() {
                // `{}` or a trailing comma: the label set is closed.
                rest_at = name_end + chars.peek().map_or(line.len() - name_end, |&(i, _)| i);
                break;
            }
            if !is_name(&key) {
                return Err(err("bad label name"));
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(err("label value without quotes"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        _ => return Err(err("bad escape in label value")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err(err("unterminated label value")),
                }
            }
            labels.push((key, value));
            match chars.next() {
                Some((_, ',')) => continue,
                Some((i, '}')) => {
                    rest_at = name_end + i + 1;
                    break;
                }
                _ => return Err(err("label not followed by , or }")),
            }
        }
    }
    let value = line[rest_at..]
        .strip_prefix(' ')
        .ok_or_else(|| err("no space before value"))?;
    let value = value.split(' ').next().unwrap_or_default();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| err("bad value"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What a POSIX shell makes of one word that is bare, single-quoted with `'\''` for
/// embedded quotes, or bash's `$'...'` holding display-form escapes (the exporter's
/// quoting); for the last, the display form it decodes to. `None` when it would not be one
/// word.
pub fn shell_word(word: &str) -> Option<String> {
    if let Some(inner) = word.strip_prefix("$'").and_then(|w| w.strip_suffix('\'')) {
        return (!inner.contains('\'')).then(|| inner.replace("\\047", "'"));
    }
    if !word.starts_with('\'') {
        let plain = !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-:@+=,".contains(&b));
        return plain.then(|| word.to_string());
    }
    let mut out = String::new();
    let mut rest = word;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'')?;
            out.push_str(&r[..end]);
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = r;
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_helpers_agree_with_the_format() {
        assert_eq!(kernel_escape(b"a b\\"), b"a\\040b\\134".to_vec());
        assert_eq!(reference_unescape(br"a\040b\134\9"), r"a b\134\1349");
        assert_eq!(display(b"a\xff\n\\\xc3\xa9"), "a\\377\\012\\134\u{e9}");
        assert_eq!(display_bytes(r"a\377\012"), b"a\xff\n".to_vec());
        assert_eq!(shell_word(r"$'a\047b\012'").as_deref(), Some(r"a'b\012"));
        let s = parse_exposition(
            "# HELP x_y h\n# TYPE x_y gauge\nx_y{a=\"q\\\"\\n\\\\\",b=\"\"} 1\nz 2\n",
        )
        .unwrap();
        assert_eq!(s[0].label("a"), Some("q\"\n\\"));
        assert_eq!(s[1].value, 2.0);
        assert!(parse_exposition("x{a=\"\n\"} 1\n").is_err());
        assert_eq!(shell_word("'it'\\''s'").as_deref(), Some("it's"));
        assert_eq!(shell_word("a b"), None);
    }
}
