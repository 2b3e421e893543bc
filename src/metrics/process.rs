//! The exporter's own process, under the names every Prometheus client library gives it
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), so the usual
//! dashboards and alerts on an exporter's CPU, memory and file descriptors work unchanged.
//! Read from `/proc/self` at every scrape: never part of the report's cached body.

use std::fmt::Write as _;

/// The families in the text format; what cannot be read is left out, never guessed.
pub fn render() -> String {
    let mut out = String::new();
    let Ok(me) = procfs::process::Process::myself() else {
        return out;
    };
    let ticks = procfs::ticks_per_second() as f64;
    if let Ok(stat) = me.stat() {
        let cpu = (stat.utime + stat.stime) as f64 / ticks;
        family(
            &mut out,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time this process has used, in seconds.",
            cpu,
        );
        let rss = stat.rss as f64 * procfs::page_size() as f64;
        family(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident set size of this process, in bytes.",
            rss,
        );
        family(
            &mut out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size of this process, in bytes.",
            stat.vsize as f64,
        );
        if let Ok(boot) = procfs::boot_time_secs() {
            let start = boot as f64 + stat.starttime as f64 / ticks;
            family(
                &mut out,
                "process_start_time_seconds",
                "gauge",
                "When this process started, in seconds since the Unix epoch.",
                start,
            );
        }
    }
    if let Ok(n) = me.fd_count() {
        family(
            &mut out,
            "process_open_fds",
            "gauge",
            "File descriptors this process has open.",
            n as f64,
        );
    }
    if let Ok(limits) = me.limits()
        && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
    {
        family(
            &mut out,
            "process_max_fds",
            "gauge",
            "The most file descriptors this process may open (its soft limit).",
            max as f64,
        );
    }
    out
}

fn family(out: &mut String, name: &str, ty: &str, help: &str, value: f64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {ty}\n{name} {value}\n"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn our_own_process_is_described() {
        let text = super::render();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no {name} in {text}"))
                .parse()
                .unwrap()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "started at {start}, now {now}"
        );
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_cpu_seconds_total") >= 0.0);
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
    }
}
