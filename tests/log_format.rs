//! `--log.format=logfmt|json` as the Prometheus ecosystem reads them (issue 18, part 6): every
//! line of the real binary's stderr parses, carries time, level, source and msg first (logfmt)
//! or as keys of one flat object (JSON), and a value an attacker chose (here the Docker socket
//! path, echoed in an error) comes back exactly, never splitting or forging a line.

mod common;

use common::*;
use std::collections::BTreeMap;

/// A path with a space, quotes, `=`, a backslash, a newline and a forged pair.
const HOSTILE: &str = "/tmp/mlt a\"b=c\\d\nlevel=error msg=forged";

fn stderr_of(format: &str) -> String {
    let out = exporter_command()
        .arg("scan")
        .arg(format!("--log.format={format}"))
        .arg(format!("--docker.host=unix://{HOSTILE}"))
        .output()
        .expect("run the exporter");
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "scan exited {:?}",
        out.status
    );
    String::from_utf8(out.stderr).expect("UTF-8 logs")
}

/// One logfmt line: `key=value` pairs, values bare or double-quoted with `\"`, `\\`, `\n`,
/// `\r`, `\t` and `\u{...}` escapes. Err on anything else.
fn parse_logfmt(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ' ')).collect();
        if chars.next() != Some('=') || key.is_empty() {
            return Err(format!("no key=value at {key:?}"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next().ok_or("unterminated quote")? {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")? {
                        'n' => value.push('\n'),
                        'r' => value.push('\r'),
                        't' => value.push('\t'),
                        '"' => value.push('"'),
                        '\\' => value.push('\\'),
                        'u' => {
                            let hex: String =
                                chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                            let c = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                            value.push(char::from_u32(c).ok_or("bad code point")?);
                        }
                        other => return Err(format!("unknown escape \\{other}")),
                    },
                    c => value.push(c),
                }
            }
            if chars.peek().is_some_and(|c| *c != ' ') {
                return Err("text right after a closing quote".into());
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ' ')).collect();
            if value.contains(['"', '=']) {
                return Err(format!("bare value {value:?} holds a quote or ="));
            }
        }
        out.push((key, value));
    }
}

fn is_rfc3339_utc(t: &str) -> bool {
    t.len() == 24
        && t.ends_with('Z')
        && t.as_bytes()[10] == b'T'
        && t[..4].bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn logfmt_lines_parse_and_carry_a_hostile_value_exactly() {
    let text = stderr_of("logfmt");
    assert!(!text.is_empty(), "the unreachable socket is logged");
    let mut saw = false;
    for line in text.lines() {
        let pairs = parse_logfmt(line).unwrap_or_else(|e| panic!("not logfmt ({e}): {line}"));
        let keys: Vec<&str> = pairs.iter().take(4).map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["time", "level", "source", "msg"], "{line}");
        assert!(is_rfc3339_utc(&pairs[0].1), "time {}", pairs[0].1);
        assert!(
            ["debug", "info", "warn", "error"].contains(&pairs[1].1.as_str()),
            "{line}"
        );
        assert!(pairs[2].1.contains(".rs:"), "source file:line: {line}");
        assert_ne!(pairs[1].1, "error", "no forged error line: {line}");
        saw |= pairs
            .iter()
            .any(|(k, v)| k == "error" && v.contains(HOSTILE));
    }
    assert!(
        saw,
        "the socket path comes back exactly from some line's error:\n{text}"
    );
}

#[test]
fn json_lines_are_flat_objects_and_carry_a_hostile_value_exactly() {
    let text = stderr_of("json");
    let mut saw = false;
    for line in text.lines() {
        let v: BTreeMap<String, serde_json::Value> = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        for key in ["time", "level", "source", "msg"] {
            assert!(v.get(key).is_some_and(|x| x.is_string()), "{key} in {line}");
        }
        assert!(is_rfc3339_utc(v["time"].as_str().unwrap()), "{line}");
        assert!(
            v.values().all(|x| !x.is_object() && !x.is_array()),
            "flat, no nested fields: {line}"
        );
        saw |= v
            .get("error")
            .and_then(|e| e.as_str())
            .is_some_and(|e| e.contains(HOSTILE));
    }
    assert!(saw, "the socket path comes back exactly:\n{text}");
}
