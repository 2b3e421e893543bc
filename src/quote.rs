//! Pure: writes names read from the host (cgroup paths, comm, mount points, container
//! names: anyone may have chosen them) where they go as text an operator reads or runs.
//! HTML, labels and JSON escape at their own edges (http.rs, the exposition, serde).

use std::borrow::Cow;

/// One shell word that a POSIX shell reads back as exactly `s`: bare when `s` holds only
/// characters no shell treats specially, else single-quoted (`'` written `'\''`).
pub fn shell(s: &str) -> Cow<'_, str> {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:@+=,".contains(&b))
    {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("'{}'", s.replace('\'', r"'\''")))
    }
}

/// A mount point in the exporter's display form (see `host::mountinfo::unescape`: every
/// `\` starts an octal escape of a byte that is a backslash, a control character or not
/// UTF-8) as one shell word naming the real path. With no escape it is [`shell`]'s word;
/// with escapes, bash's `$'...'` decodes them back to the original bytes. A quote inside
/// is written `\047`, never `\'`: a shell without `$'...'` (dash) then reads a wrong
/// path, never a closed quote followed by a command.
pub fn shell_path(display: &str) -> Cow<'_, str> {
    if !display.contains('\\') {
        return shell(display);
    }
    Cow::Owned(format!("$'{}'", display.replace('\'', r"\047")))
}

/// `s` for a terminal line: control characters (C0 including newline and ESC, DEL, C1)
/// written as `\ooo` octal escapes of their bytes, so a name cannot move the cursor,
/// recolour the screen or start a line of its own (a forged `fix:`).
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\{b:03o}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `sh -c 'printf %s <word>'` prints: the shell's own reading of each word.
    fn shell_reads(word: &str, shell_bin: &str) -> Vec<u8> {
        let out = std::process::Command::new(shell_bin)
            .arg("-c")
            .arg(format!("printf %s {word}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell_bin} failed on {word}: {out:?}"
        );
        out.stdout
    }

    #[test]
    fn every_word_reads_back_as_itself_in_sh_and_bash() {
        let hostile = [
            "httpd.service",
            "x;id;$(id)`id`.service",
            "a'b",
            "'",
            "",
            "-n",
            "$HOME",
            "a\\x2db.service",
            "two words",
            "*",
            "~root",
            "!x",
            "a\nb",
        ];
        for s in hostile {
            for sh in ["sh", "bash"] {
                assert_eq!(shell_reads(&shell(s), sh), s.as_bytes(), "{sh}: {s:?}");
            }
        }
    }

    #[test]
    fn escaped_paths_read_back_as_their_bytes_in_bash_and_never_run_anything_in_sh() {
        // (display form, the real bytes)
        let cases: [(&str, &[u8]); 4] = [
            (
                "/var/lib/docker/volumes/a\\012b/_data",
                b"/var/lib/docker/volumes/a\nb/_data",
            ),
            ("/x/\\377\\376/merged", b"/x/\xff\xfe/merged"),
            ("/x/a'\\033[2J';id;'/shm", b"/x/a'\x1b[2J';id;'/shm"),
            ("/x/\\134\\0121", b"/x/\\\n1"),
        ];
        for (display, bytes) in cases {
            let word = shell_path(display);
            assert_eq!(shell_reads(&word, "bash"), bytes, "bash: {display}");
            // dash has no $'...' (before 0.5.13): a wrong path, but one word, nothing run.
            let out = shell_reads(&format!("{word}; printf :END"), "sh");
            assert!(out.ends_with(b":END"), "sh ran something: {out:?}");
            assert!(!String::from_utf8_lossy(&out).contains("uid="), "{out:?}");
        }
        assert_eq!(shell_path("/var/lib/docker/x y"), "'/var/lib/docker/x y'");
        assert_eq!(shell_path("/var/lib/docker/x"), "/var/lib/docker/x");
    }

    #[test]
    fn terminal_lines_hold_no_control_characters() {
        assert_eq!(terminal("httpd"), "httpd");
        assert_eq!(terminal("a\nfix: rm -rf /"), "a\\012fix: rm -rf /");
        assert_eq!(terminal("\x1b[2Jx\r"), "\\033[2Jx\\015");
        assert_eq!(terminal("\u{9b}31m"), "\\302\\23331m");
        assert_eq!(terminal("é"), "é");
    }
}
