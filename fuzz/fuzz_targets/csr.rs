//! Fuzzes the CSR parser (PEM or DER, proof of possession): errors, never panics.
#![no_main]

use ca_core::issuance::ParsedCsr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ParsedCsr::parse(data);
});
