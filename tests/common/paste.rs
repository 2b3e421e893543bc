//! What a printed command does when an operator pastes it into a root shell: it runs in
//! `bash` or `sh` with the tools it may name (nsenter, systemctl, docker, podman, crictl,
//! mountleak_exporter) replaced by functions that record their arguments, and with an empty
//! PATH, so that any other command a hostile name smuggled in fails loudly instead of
//! running.

use std::process::Command;

/// One recorded call: the tool and its arguments, as the shell passed them.
pub type Call = Vec<Vec<u8>>;

/// Runs `line` in `shell`; returns the calls it made and whatever else it printed (stderr,
/// and stdout that is not a record): a safe line makes exactly one call and prints nothing.
pub fn paste(line: &str, shell: &str) -> (Vec<Call>, String) {
    let empty = tempfile::tempdir().unwrap();
    let script = format!(
        "rec() {{ printf '%s\\0' \"$@\"; printf '\\036'; }}\n\
         for t in nsenter systemctl docker podman crictl mountleak_exporter; do eval \"$t() {{ rec $t \\\"\\$@\\\"; }}\"; done\n\
         {line}\n"
    );
    let shell_path = ["/usr/bin", "/bin"]
        .iter()
        .map(|d| format!("{d}/{shell}"))
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| panic!("{shell} is missing: the paste test needs it"));
    let out = Command::new(shell_path)
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let mut calls = Vec::new();
    let mut other = String::from_utf8_lossy(&out.stderr).into_owned();
    for record in out.stdout.split(|&b| b == 0x1e) {
        if record.is_empty() {
            continue;
        }
        if !record.ends_with(b"\0") {
            other.push_str(&String::from_utf8_lossy(record));
            continue;
        }
        let args = record[..record.len() - 1]
            .split(|&b| b == 0)
            .map(<[u8]>::to_vec)
            .collect();
        calls.push(args);
    }
    if !out.status.success() {
        other.push_str(&format!("exit status {}", out.status));
    }
    (calls, other)
}

/// The bytes a display-form path names (`host::mountinfo::unescape`: `\ooo` escapes).
pub fn path_bytes(display: &str) -> Vec<u8> {
    let b = display.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let v = u8::from_str_radix(&display[i + 1..i + 4], 8).expect("octal escape");
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}
