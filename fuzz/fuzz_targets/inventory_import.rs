//! Fuzzes `inventory import`'s reader (PEM bundles, DER certificates): errors, never panics.
#![no_main]

use ca_core::inventory::certificates_in;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certificates_in(data);
});
