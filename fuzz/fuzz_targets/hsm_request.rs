//! Fuzzes hsm-sim's request decoder (every byte a client sends reaches it): errors, never
//! panics, and whatever decodes re-encodes to the same bytes (the encoding is canonical).
#![no_main]

use hsm_sim::protocol::Request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((id, request)) = Request::decode(data) {
        assert_eq!(request.encode(id), data);
    }
});
