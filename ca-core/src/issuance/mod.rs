//! Issuance building blocks: CSR parsing and proof of possession, serial numbers, the
//! one certificate-building path shared by every algorithm, and the one issuance pipeline
//! every certificate is signed through (`issuance::pipeline`).

mod build;
mod csr;
mod extensions;
pub(crate) mod pipeline;
mod serial;

pub use build::{assemble_certificate, CertificateTemplate};
pub use csr::{build_csr, CsrError, ParsedCsr, MAX_CSR_BYTES};
pub use extensions::{
    authority_info_access, authority_key_identifier, basic_constraints, ca_key_usage,
    crl_distribution_points, extended_key_usage, key_identifier, leaf_key_usage, name_constraints,
    ocsp_responder_extensions, subject_alt_name, subject_key_identifier,
};
pub use serial::SerialNumber;
