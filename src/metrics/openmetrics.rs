//! The OpenMetrics text format (1.0.0), for scrapers that ask for it: Prometheus sends
//! `Accept: application/openmetrics-text;version=1.0.0,...` first. It differs from the
//! Prometheus text format in what this exporter writes only in three ways (OpenMetrics
//! specification, "Text format"): a counter's family is named without the `_total` its
//! samples keep; HELP escapes `"` (the text format escapes only `\` and newlines); and the
//! exposition ends with `# EOF`. Timestamps are never written, labels escape alike.

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics (any quality: the text format is what
/// the exporter speaks otherwise, and every OpenMetrics scraper lists it first).
pub fn wanted(accept: &str) -> bool {
    accept.split(',').any(|m| {
        m.trim()
            .to_ascii_lowercase()
            .starts_with("application/openmetrics-text")
    })
}

/// The same families, from the Prometheus text format this exporter renders.
pub fn from_text(text: &str) -> String {
    let counters: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(_, ty)| *ty == "counter")
        .map(|(name, _)| name)
        .collect();
    let family = |name: &str| -> String {
        match name.strip_suffix("_total") {
            Some(base) if counters.contains(name) => base.to_string(),
            _ => name.to_string(),
        }
    };
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        if let Some((name, help)) = line.strip_prefix("# HELP ").and_then(|r| r.split_once(' ')) {
            let help = help.replace('"', "\\\"");
            out.push_str(&format!("# HELP {} {help}\n", family(name)));
        } else if let Some((name, ty)) =
            line.strip_prefix("# TYPE ").and_then(|r| r.split_once(' '))
        {
            let ty = if ty == "untyped" { "unknown" } else { ty };
            out.push_str(&format!("# TYPE {} {ty}\n", family(name)));
        } else if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_help_and_the_end() {
        let text = "# HELP a_total Things \"done\", with a \\\\ backslash.\n# TYPE a_total counter\n\
                    a_total 3\n# HELP b Gauge b_total.\n# TYPE b gauge\nb{x=\"q\\\"z\"} 1\n\
                    # HELP c_total A gauge that ends in _total.\n# TYPE c_total gauge\nc_total 2\n";
        let want = "# HELP a Things \\\"done\\\", with a \\\\ backslash.\n# TYPE a counter\na_total 3\n\
                    # HELP b Gauge b_total.\n# TYPE b gauge\nb{x=\"q\\\"z\"} 1\n\
                    # HELP c_total A gauge that ends in _total.\n# TYPE c_total gauge\nc_total 2\n# EOF\n";
        assert_eq!(from_text(text), want);
        assert_eq!(from_text(""), "# EOF\n");
    }

    #[test]
    fn what_prometheus_sends_asks_for_openmetrics() {
        // Prometheus 2.x's default scrape Accept header.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                          version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wanted(prometheus));
        assert!(!wanted("text/plain;version=0.0.4"));
        assert!(!wanted("*/*"));
        assert!(!wanted(""));
    }
}
