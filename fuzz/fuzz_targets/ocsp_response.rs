//! Fuzzes the OCSP response parser `caforge probe` feeds with whatever a responder sends:
//! errors, never panics.
#![no_main]

use ca_core::revocation::ocsp::parse_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_response(data);
});
