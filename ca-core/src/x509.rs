//! Encoding pieces shared by certificates, CRLs and OCSP responses, so that issuance and
//! revocation use one copy without importing each other: RFC 5280 times, an extension from
//! any DER value, and distribution points naming one URI (a certificate's CRL distribution
//! points, a CRL's issuing distribution point and freshest CRL), and the text of a
//! distinguished name. OIDs live in [`crate::algorithm::oid`] and const-oid's constants.

use const_oid::db::rfc4519;
use const_oid::ObjectIdentifier;
use der::asn1::{
    GeneralizedTime, Ia5String, Ia5StringRef, OctetString, PrintableStringRef, UtcTime,
    Utf8StringRef,
};
use der::{Encode, Tag, Tagged};
use time::OffsetDateTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
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

/// The attribute types a DN names in short form, by constant: the ones caforge's
/// subjects use. Each is the name const-oid's database gives as shortest (a test checks),
/// so [`name_text`] writes exactly what x509-cert's `Display` would, without searching
/// that database for every attribute of every name.
const SHORT_NAMES: [(ObjectIdentifier, &str); 10] = [
    (rfc4519::CN, "CN"),
    (rfc4519::C, "C"),
    (rfc4519::O, "O"),
    (rfc4519::OU, "OU"),
    (rfc4519::L, "L"),
    (rfc4519::ST, "ST"),
    (rfc4519::STREET, "STREET"),
    (rfc4519::DC, "DC"),
    (rfc4519::UID, "UID"),
    (rfc4519::SERIAL_NUMBER, "SERIALNUMBER"),
];

/// The RFC 4514 string of `name` (last RDN first), as x509-cert's `Display` writes it:
/// attribute types in `SHORT_NAMES` are named by constant; any other falls back to
/// x509-cert's own formatting.
#[must_use]
pub fn name_text(name: &Name) -> String {
    let mut out = String::new();
    let rdns: Vec<_> = name.iter_rdn().collect();
    for (i, rdn) in rdns.into_iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.as_ref().iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            push_attribute(&mut out, atv);
        }
    }
    out
}

/// The value of a DN attribute as text, when it is a PrintableString, UTF8String or
/// IA5String (the forms caforge writes and reads).
#[must_use]
pub fn attribute_text(atv: &AttributeTypeAndValue) -> Option<&str> {
    match atv.value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str()),
        Tag::Utf8String => Utf8StringRef::try_from(&atv.value).ok().map(|s| s.as_str()),
        Tag::Ia5String => Ia5StringRef::try_from(&atv.value).ok().map(|s| s.as_str()),
        _ => None,
    }
}

/// Every attribute of `name`, in order, with its value as text. A value caforge cannot
/// read as text (a BMPString, say) comes back as its RFC 4514 hex form, which no pattern
/// but `*` covers.
#[must_use]
pub fn attribute_strings(name: &Name) -> Vec<(ObjectIdentifier, String)> {
    name.iter_rdn()
        .flat_map(|rdn| rdn.as_ref().iter())
        .map(|atv| {
            let text = attribute_text(atv).map_or_else(|| atv.to_string(), str::to_owned);
            (atv.oid, text)
        })
        .collect()
}

/// The subject's common names, in order (see [`attribute_strings`]).
#[must_use]
pub fn common_names(name: &Name) -> Vec<String> {
    attribute_strings(name)
        .into_iter()
        .filter(|(oid, _)| *oid == rfc4519::CN)
        .map(|(_, text)| text)
        .collect()
}

/// `TYPE=value`: the attribute type by its short name when it has one here (`O`), else
/// as a dotted OID; the value as given.
#[must_use]
pub fn attribute_string(oid: ObjectIdentifier, value: &str) -> String {
    match SHORT_NAMES.iter().find(|(o, _)| *o == oid) {
        Some((_, short)) => format!("{short}={value}"),
        None => format!("{oid}={value}"),
    }
}

fn push_attribute(out: &mut String, atv: &AttributeTypeAndValue) {
    let key = SHORT_NAMES
        .iter()
        .find(|(oid, _)| *oid == atv.oid)
        .map(|(_, key)| *key);
    let value = attribute_text(atv);
    let (Some(key), Some(value)) = (key, value) else {
        out.push_str(&atv.to_string());
        return;
    };
    out.push_str(key);
    out.push('=');
    // RFC 4514 §2.4: a leading '#' or space, a trailing space, the special characters and
    // control characters are escaped.
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x00'..='\x1f' | '\x7f' => out.push_str(&format!("\\{:02x}", c as u8)),
            _ => out.push(c),
        }
    }
}

/// Hex SHA-256 of DER: certificate fingerprints.
#[must_use]
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(der))
}

/// Hex SHA-256 of a SubjectPublicKeyInfo's DER: how blocked keys are recognised.
///
/// # Errors
/// When the key does not encode.
pub fn spki_sha256(spki: &spki::SubjectPublicKeyInfoOwned) -> der::Result<String> {
    use sha2::Digest as _;
    Ok(hex::encode(sha2::Sha256::digest(spki.to_der()?)))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn short_names_are_the_databases_shortest() {
        for (oid, key) in SHORT_NAMES {
            // The first of the shortest names, as x509-cert picks it.
            let shortest = const_oid::db::DB
                .find_names_for_oid(oid)
                .fold(None::<&str>, |best, n| match best {
                    Some(b) if b.len() <= n.len() => Some(b),
                    _ => Some(n),
                })
                .map(str::to_ascii_uppercase);
            assert_eq!(shortest.as_deref(), Some(key), "{oid}");
        }
    }

    #[test]
    fn name_text_writes_what_x509_cert_displays() {
        for dn in [
            "CN=leaf.example",
            "CN=caforge Root,O=Example Ltd,C=GB",
            "UID=42+CN=two values,OU=Ops,L=Leeds,ST=West Yorkshire,STREET=1 Road",
            "DC=example,DC=com,SERIALNUMBER=1234",
            r"CN=\#hash\, comma\+plus\;semi\<lt\>gt\\back\ ",
            r"CN=\ leading space,O=quote\22s",
            "CN=名前,O=例",
            "2.5.4.65=#0c0670736575646f,CN=with pseudonym",
        ] {
            let name = Name::from_str(dn).expect(dn);
            assert_eq!(name_text(&name), name.to_string(), "{dn}");
        }
        assert_eq!(name_text(&Name::default()), "");
    }
}
