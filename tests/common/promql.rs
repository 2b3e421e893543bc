//! What the rules, dashboard and docs tests need to read: the metric table of
//! docs/interfaces.md (the contract), the runbook's headings as anchors, and the metric
//! selectors of a PromQL expression.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A path inside the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn read_repo_file(rel: &str) -> String {
    std::fs::read_to_string(repo_path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Metric names in the first column of the table under `## Metrics` in docs/interfaces.md.
pub fn exported_metrics() -> BTreeSet<String> {
    let text = read_repo_file("docs/interfaces.md");
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Metrics\n"))
        .expect("docs/interfaces.md has no `## Metrics` section");
    let names: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("mountleak_"))
        .map(str::to_string)
        .collect();
    assert!(
        names.len() >= 10 && names.contains("mountleak_leak_first_seen_timestamp_seconds"),
        "could not read the metric table of docs/interfaces.md (found {names:?})"
    );
    names
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation other than `-`
/// and `_` dropped.
pub fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Anchors of every `#`..`######` heading of a markdown file (fenced code skipped).
pub fn markdown_anchors(rel: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut out = BTreeSet::new();
    for line in read_repo_file(rel).lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            out.insert(github_anchor(&line[hashes..]));
        }
    }
    out
}

/// One vector selector of an expression: the metric name and the text between its braces
/// (empty without braces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    pub matchers: String,
}

impl Selector {
    /// Whether the selector has the exact matcher `label<op>"value"` (spaces ignored).
    pub fn has_matcher(&self, label: &str, op: &str, value: &str) -> bool {
        let want = format!("{label}{op}\"{value}\"");
        self.matchers
            .split(',')
            .any(|m| m.chars().filter(|c| !c.is_whitespace()).collect::<String>() == want)
    }
}

/// Operators and literals; aggregations too (`count by (x) (...)` has no `(` right after
/// the name).
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
/// Keywords followed by a parenthesised list of label names, not an expression.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The vector selectors of a PromQL expression, in order. A small lexer: enough for the
/// expressions this project ships (it skips strings, label lists, ranges and numbers;
/// an identifier followed by `(` is a function or aggregation).
pub fn selectors(expr: &str) -> Result<Vec<Selector>, String> {
    let b: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_whitespace() {
            i += 1;
        }
        i
    };
    // Index after the closing delimiter matching the opening one at `i`, strings skipped.
    let close = |i: usize, open: char, shut: char| -> Result<usize, String> {
        let mut depth = 0;
        let mut j = i;
        while j < b.len() {
            let c = b[j];
            if c == '"' || c == '\'' || c == '`' {
                j += 1;
                while j < b.len() && b[j] != c {
                    if b[j] == '\\' && c != '`' {
                        j += 1;
                    }
                    j += 1;
                }
            } else if c == open {
                depth += 1;
            } else if c == shut {
                depth -= 1;
                if depth == 0 {
                    return Ok(j + 1);
                }
            }
            j += 1;
        }
        Err(format!("unbalanced {open}{shut} in {expr:?}"))
    };
    while i < b.len() {
        let c = b[i];
        if c == '"' || c == '\'' || c == '`' {
            let mut j = i + 1;
            while j < b.len() && b[j] != c {
                if b[j] == '\\' && c != '`' {
                    j += 1;
                }
                j += 1;
            }
            i = j + 1;
        } else if c == '[' {
            i = close(i, '[', ']')?;
        } else if c == '{' {
            return Err(format!("a selector without a metric name in {expr:?}"));
        } else if c.is_ascii_digit() || (c == '.' && b.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == ':') {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            let next = skip_ws(i);
            let lower = word.to_ascii_lowercase();
            if LABEL_LISTS.contains(&lower.as_str()) {
                if b.get(next) == Some(&'(') {
                    i = close(next, '(', ')')?;
                }
            } else if KEYWORDS.contains(&lower.as_str()) || b.get(next) == Some(&'(') {
                // an operator keyword, or a function / aggregation name
            } else if b.get(next) == Some(&'{') {
                let end = close(next, '{', '}')?;
                out.push(Selector {
                    name: word,
                    matchers: b[next + 1..end - 1].iter().collect(),
                });
                i = end;
            } else {
                out.push(Selector {
                    name: word,
                    matchers: String::new(),
                });
            }
        } else {
            i += 1;
        }
    }
    Ok(out)
}
