//! `mountleak_exporter scan`: one report to stdout. Exit 0 no leaks, 1 leaks, 2 could not scan.

use std::path::Path;

use crate::config::ScanOutput;
use crate::host::ScanOptions;
use crate::report::{self, Report};
use crate::runtime::Runtime;
use crate::scanner;

pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_LEAKS: u8 = 1;
pub const EXIT_FAILED: u8 = 2;

pub fn scan(
    procfs: &Path,
    runtime: &dyn Runtime,
    options: &ScanOptions,
    output: ScanOutput,
) -> (Report, String, u8) {
    let report = scanner::scan_once(procfs, runtime, options, &mut scanner::Memory::default());
    let text = match output {
        ScanOutput::Json => {
            serde_json::to_string_pretty(&report).expect("report serializes") + "\n"
        }
        ScanOutput::Text => report::render_text(&report),
        ScanOutput::Oneline => report::render_oneline(&report),
    };
    let code = if !report.scan.success {
        EXIT_FAILED
    } else if report.leaks.is_empty() {
        EXIT_CLEAN
    } else {
        EXIT_LEAKS
    };
    (report, text, code)
}
