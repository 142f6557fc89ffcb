//! PEM armour for certificates (RFC 7468).

use der::pem::LineEnding;

/// PEM-encodes a DER certificate.
///
/// # Errors
/// Only if the encoder fails (it does not for valid lengths).
pub fn certificate(der: &[u8]) -> Result<String, der::Error> {
    Ok(der::pem::encode_string("CERTIFICATE", LineEnding::LF, der)?)
}

/// PEM-encodes several certificates, one after the other.
///
/// # Errors
/// As [`certificate`].
pub fn certificates<'a>(ders: impl IntoIterator<Item = &'a [u8]>) -> Result<String, der::Error> {
    let mut out = String::new();
    for d in ders {
        out.push_str(&certificate(d)?);
    }
    Ok(out)
}

/// PEM-encodes a DER CRL (`X509 CRL`, RFC 7468 §5).
///
/// # Errors
/// As [`certificate`].
pub fn crl(der: &[u8]) -> Result<String, der::Error> {
    Ok(der::pem::encode_string("X509 CRL", LineEnding::LF, der)?)
}
