//! Log lines in the formats of the Prometheus ecosystem: logfmt as Prometheus' own
//! components print it (`time=... level=info source=main.rs:42 msg="listening" key=value`)
//! and flat JSON objects (`{"time":...,"level":"info","source":...,"msg":...,"key":...}`).
//! A line carries the event's fields and those of the spans it is in. Every value may hold
//! text an attacker chose (mount points, unit names, addresses): logfmt quotes and escapes it,
//! JSON escapes it, so one event is always one line.

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// A field's value as recorded: JSON keeps numbers and booleans as such.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Num(String),
    Bool(bool),
}

#[derive(Default)]
struct Fields(Vec<(String, Value)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), Value::Str(format!("{value:?}"))));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .push((field.name().to_string(), Value::Str(value.to_string())));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0
            .push((field.name().to_string(), Value::Num(value.to_string())));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0
            .push((field.name().to_string(), Value::Num(value.to_string())));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = if value.is_finite() {
            Value::Num(value.to_string())
        } else {
            Value::Str(value.to_string())
        };
        self.0.push((field.name().to_string(), v));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name().to_string(), Value::Bool(value)));
    }
}

/// The layer writing one line per event to stderr.
pub struct Lines(pub LogFormat);

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Lines {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let msg = match fields.0.iter().position(|(k, _)| k == "message") {
            Some(i) => match fields.0.remove(i).1 {
                Value::Str(s) | Value::Num(s) => s,
                Value::Bool(b) => b.to_string(),
            },
            None => String::new(),
        };
        // Outermost span first, then the event's own fields.
        let mut all = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<Fields>() {
                    all.extend(f.0.iter().cloned());
                }
            }
        }
        all.extend(fields.0);
        // The crate's files by their path under src/ (`runtime/mod.rs`, not `mod.rs`).
        let file = meta.file().unwrap_or("?");
        let file = file.strip_prefix("src/").unwrap_or(file);
        let line = Line {
            time: rfc3339_now(),
            level: meta.level().as_str().to_ascii_lowercase(),
            source: format!("{file}:{}", meta.line().unwrap_or(0)),
            msg,
            fields: all,
        };
        let text = match self.0 {
            LogFormat::Logfmt => line.logfmt(),
            LogFormat::Json => line.json(),
        };
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

struct Line {
    time: String,
    level: String,
    source: String,
    msg: String,
    fields: Vec<(String, Value)>,
}

impl Line {
    fn logfmt(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "time={} level={} source={} msg={}",
            logfmt_value(&self.time),
            logfmt_value(&self.level),
            logfmt_value(&self.source),
            logfmt_value(&self.msg)
        );
        for (k, v) in &self.fields {
            let v = match v {
                Value::Str(s) | Value::Num(s) => logfmt_value(s),
                Value::Bool(b) => b.to_string(),
            };
            let _ = write!(out, " {}={v}", logfmt_key(k));
        }
        out.push('\n');
        out
    }

    fn json(&self) -> String {
        let mut map = serde_json::Map::new();
        for (k, v) in [
            ("time", &self.time),
            ("level", &self.level),
            ("source", &self.source),
            ("msg", &self.msg),
        ] {
            map.insert(k.to_string(), serde_json::Value::String(v.clone()));
        }
        for (k, v) in &self.fields {
            let v = match v {
                Value::Str(s) => serde_json::Value::String(s.clone()),
                Value::Num(n) => {
                    serde_json::from_str(n).unwrap_or(serde_json::Value::String(n.clone()))
                }
                Value::Bool(b) => serde_json::Value::Bool(*b),
            };
            // A field named like a fixed key is kept beside it, not over it.
            let key = if map.contains_key(k) {
                format!("field.{k}")
            } else {
                k.clone()
            };
            map.insert(key, v);
        }
        let mut out = serde_json::Value::Object(map).to_string();
        out.push('\n');
        out
    }
}

/// A logfmt value: bare when it is a plain token, else double-quoted with `"`, `\` and
/// control characters escaped (so a value can neither end the pair nor the line).
fn logfmt_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '"' && c != '=' && c != '\\');
    if plain {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Keys are the code's own field names; anything else in one becomes `_`.
fn logfmt_key(k: &str) -> String {
    k.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Now in UTC as `2026-12-04T00:45:37.123Z`.
fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_millis())
}

fn rfc3339(secs: i64, millis: u32) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's days-from-civil inverse).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for (secs, want) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, "2000-02-29T00:00:00.000Z"),
            (1_796_344_737, "2026-12-04T00:38:57.000Z"),
            (4_107_542_399, "2100-02-28T23:59:59.000Z"),
        ] {
            assert_eq!(rfc3339(secs, 0), want, "{secs}");
        }
    }

    #[test]
    fn logfmt_values_cannot_break_out() {
        let cases = [
            ("listening", "listening"),
            ("", "\"\""),
            ("a b", "\"a b\""),
            ("k=v", "\"k=v\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            (
                "a\nlevel=error msg=forged",
                "\"a\\nlevel=error msg=forged\"",
            ),
            ("back\\slash", "\"back\\\\slash\""),
            ("bell\u{7}", "\"bell\\u{0007}\""),
            ("/var/lib/docker", "/var/lib/docker"),
        ];
        for (v, want) in cases {
            assert_eq!(logfmt_value(v), want, "{v:?}");
        }
        assert_eq!(logfmt_key("a b=c"), "a_b_c");
    }
}
