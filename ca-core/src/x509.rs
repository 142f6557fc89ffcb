//! Encoding pieces shared by certificates, CRLs and OCSP responses, so that issuance and
//! revocation use one copy without importing each other: RFC 5280 times, an extension from
//! any DER value, and distribution points naming one URI (a certificate's CRL distribution
//! points, a CRL's issuing distribution point and freshest CRL). OIDs live in
//! [`crate::algorithm::oid`] and const-oid's constants.

use der::asn1::{GeneralizedTime, Ia5String, OctetString, UtcTime};
use der::Encode;
use time::OffsetDateTime;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::Extension;
use x509_cert::time::Time;

/// `Time` as RFC 5280 §4.1.2.5 wants it: UTCTime through 2049, GeneralizedTime from 2050.
#[derive(Debug, Clone, Copy)]
pub struct Time5280;

impl Time5280 {
    /// Encodes `t` (whole seconds) as an RFC 5280 `Time`.
    ///
    /// # Errors
    /// When the instant is before 1970 or past 9999.
    pub fn encode(t: OffsetDateTime) -> der::Result<Time> {
        let secs = u64::try_from(t.unix_timestamp())
            .map_err(|_| der::Error::from(der::ErrorKind::DateTime))?;
        let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))?;
        Ok(if dt.year() < 2050 {
            Time::UtcTime(UtcTime::from_date_time(dt)?)
        } else {
            Time::GeneralTime(GeneralizedTime::from_date_time(dt))
        })
    }

    /// Decodes an RFC 5280 `Time`.
    ///
    /// # Errors
    /// When the value does not fit an `OffsetDateTime`.
    pub fn decode(t: &Time) -> Result<OffsetDateTime, time::error::ComponentRange> {
        let secs = t.to_unix_duration().as_secs();
        OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

/// A GeneralizedTime from Unix seconds (CRL entry extensions and OCSP use it always).
///
/// # Errors
/// Times before 1970.
pub fn generalized_time(secs: i64) -> der::Result<GeneralizedTime> {
    let secs = u64::try_from(secs).map_err(|_| der::Error::from(der::ErrorKind::DateTime))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
}

/// An extension `oid` whose value is `value`'s DER.
///
/// # Errors
/// DER encoding errors.
pub fn extension(
    oid: const_oid::ObjectIdentifier,
    critical: bool,
    value: &impl Encode,
) -> der::Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// A distribution point name that is one URI.
///
/// # Errors
/// A URL that is not IA5.
pub fn uri_point(url: &str) -> der::Result<DistributionPointName> {
    Ok(DistributionPointName::FullName(vec![
        GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
    ]))
}

/// One distribution point, one URI, no reasons, no CRL issuer: what a certificate's
/// CRLDistributionPoints and a full CRL's FreshestCRL carry.
///
/// # Errors
/// A URL that is not IA5.
pub fn uri_distribution_points(url: &str) -> der::Result<Vec<DistributionPoint>> {
    Ok(vec![DistributionPoint {
        distribution_point: Some(uri_point(url)?),
        reasons: None,
        crl_issuer: None,
    }])
}
