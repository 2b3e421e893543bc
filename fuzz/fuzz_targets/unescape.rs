//! The kernel escape decoder. Properties: the result is valid UTF-8 (it may become a label);
//! it equals an independently written decoder; input without a backslash decodes to itself
//! (lossily, for invalid UTF-8); any text escaped the way the kernel escapes decodes back to
//! itself; the output is at most three bytes per input byte (U+FFFD for a stray byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mountleak_exporter::host::mountinfo::unescape;
use mountleak_exporter_fuzz::{assert_linear, kernel_escape, measure, reference_unescape};

fuzz_target!(|data: &[u8]| {
    let (out, peak) = measure(|| unescape(data));
    assert!(std::str::from_utf8(out.as_bytes()).is_ok());
    assert!(out.len() <= 3 * data.len(), "output grew more than 3x");
    assert_linear("unescape", peak, data.len(), 8, 4 << 10);
    assert_eq!(
        out,
        reference_unescape(data),
        "differs from the reference decoder"
    );
    if !data.contains(&b'\\') {
        assert_eq!(out, String::from_utf8_lossy(data));
        if let Ok(text) = std::str::from_utf8(data) {
            assert_eq!(out, text, "text without escapes must decode to itself");
        }
    }
    let text = String::from_utf8_lossy(data);
    assert_eq!(
        unescape(&kernel_escape(text.as_bytes())),
        text,
        "escape/unescape round trip"
    );
});
