//! Fuzzes the OCSP request parser: any bytes give a request or a malformedRequest error,
//! never a panic; a parsed request re-encodes to something that parses the same way.
#![no_main]

use ca_core::revocation::ocsp::{build_request, parse_request, ResponseStatus};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(req) => {
            assert!(!req.cert_ids.is_empty());
            let again = build_request(&req.cert_ids, None).expect("re-encode");
            let reparsed = parse_request(&again).expect("re-parse");
            assert_eq!(reparsed.cert_ids, req.cert_ids);
        }
        Err(e) => assert_eq!(e.status, ResponseStatus::MalformedRequest),
    }
});
