//! The kernel escape decoder into the display form. Properties: the result is valid UTF-8
//! (it may become a label) without control characters; it equals an independently written
//! decoder; printable text without a backslash decodes to itself; any bytes escaped the way
//! the kernel escapes decode to their display form, which names those bytes again; the
//! output is at most four bytes per input byte (`\ooo` for a stray byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mountleak_exporter::host::mountinfo::unescape;
use mountleak_exporter_fuzz::{
    assert_linear, display, display_bytes, kernel_escape, measure, reference_unescape,
};

fuzz_target!(|data: &[u8]| {
    let (out, peak) = measure(|| unescape(data));
    assert!(std::str::from_utf8(out.as_bytes()).is_ok());
    assert!(
        !out.chars().any(char::is_control),
        "control character in {out:?}"
    );
    assert!(out.len() <= 4 * data.len(), "output grew more than 4x");
    assert_linear("unescape", peak, data.len(), 8, 4 << 10);
    assert_eq!(
        out,
        reference_unescape(data),
        "differs from the reference decoder"
    );
    if let Ok(text) = std::str::from_utf8(data)
        && !text.contains('\\')
        && !text.chars().any(char::is_control)
    {
        assert_eq!(
            out, text,
            "printable text without escapes must decode to itself"
        );
    }
    assert_eq!(
        unescape(&kernel_escape(data)),
        display(data),
        "escape/unescape round trip"
    );
    assert_eq!(
        display_bytes(&display(data)),
        data,
        "display form loses bytes"
    );
});
