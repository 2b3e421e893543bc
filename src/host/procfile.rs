//! Pure parsers of one-record /proc files: `stat` (comm, start time) and namespace links.

/// The comm in `/proc/<pid>/stat`: between the first `(` and the last `)` (it may hold
/// either itself).
pub(super) fn stat_comm(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// Field 22 of `/proc/<pid>/stat`, counted after the parenthesised comm (which may hold
/// spaces and parentheses itself).
pub(super) fn start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // Fields 3.. follow the comm: starttime (22) is the 20th of them.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `mnt:[4026531840]` -> 4026531840
pub(super) fn parse_ns_link(link: &str) -> Option<u64> {
    link.strip_prefix("mnt:[")?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_between_the_first_open_and_the_last_close_parenthesis() {
        let cases = [
            ("1 (systemd) S 0", Some("systemd")),
            ("2 (my (odd) comm) S 1", Some("my (odd) comm")),
            ("3 ()) S 1", Some(")")),
            ("4 () S 1", Some("")),
            ("5 x S 1", None),
            ("", None),
        ];
        for (stat, want) in cases {
            assert_eq!(stat_comm(stat), want, "{stat}");
        }
    }

    #[test]
    fn start_time_is_field_22_after_any_comm() {
        let stat = |comm: &str| {
            format!(
                "4242 ({comm}) S 1 4242 4242 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 1 0 987654 1024 100 18446744073709551615"
            )
        };
        assert_eq!(start_time(&stat("httpd")), Some(987654));
        assert_eq!(start_time(&stat("a (b) c")), Some(987654));
        assert_eq!(start_time(&stat(")) 1 2 3")), Some(987654));
        assert_eq!(start_time("4242 (x) S 1"), None);
        assert_eq!(start_time(""), None);
    }

    #[test]
    fn ns_link_parsing() {
        assert_eq!(parse_ns_link("mnt:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link("net:[4026531840]"), None);
        assert_eq!(parse_ns_link("mnt:[x]"), None);
        assert_eq!(parse_ns_link(""), None);
    }
}
