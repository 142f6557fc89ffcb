//! Subject DN rules: which attribute types a profile lets into a subject, how long their
//! values may be, and (for TLS servers) that a common name is one of the SANs.

use const_oid::db::rfc4519;
use const_oid::ObjectIdentifier;
use x509_cert::name::Name;

use super::{PolicyError, SubjectAltName};

/// The attribute types every profile allows unless its configuration lists others: the
/// usual directory attributes, by their short names.
pub const DEFAULT_SUBJECT_ATTRIBUTES: [&str; 10] = [
    "CN",
    "C",
    "O",
    "OU",
    "L",
    "ST",
    "STREET",
    "DC",
    "UID",
    "SERIALNUMBER",
];

/// The most attributes a subject may hold.
pub const MAX_SUBJECT_ATTRIBUTES: usize = 32;

/// Short names caforge resolves in profile configurations, with their OIDs and the upper
/// bound RFC 5280 (Appendix A.1) and RFC 4519 give their values, in characters.
const KNOWN: [(&str, ObjectIdentifier, usize); 10] = [
    ("CN", rfc4519::CN, 64),
    ("C", rfc4519::C, 2),
    ("O", rfc4519::O, 64),
    ("OU", rfc4519::OU, 64),
    ("L", rfc4519::L, 128),
    ("ST", rfc4519::ST, 128),
    ("STREET", rfc4519::STREET, 128),
    ("DC", rfc4519::DC, 63),
    ("UID", rfc4519::UID, 256),
    ("SERIALNUMBER", rfc4519::SERIAL_NUMBER, 64),
];

/// The longest value of an attribute type caforge has no bound for (one a profile
/// allows by OID).
const MAX_OTHER_VALUE: usize = 256;

/// The attribute type `name` stands for: a short name of [`DEFAULT_SUBJECT_ATTRIBUTES`]
/// (any case) or a dotted OID.
///
/// # Errors
/// Anything else, with the names that are known.
pub fn attribute_type(name: &str) -> Result<ObjectIdentifier, String> {
    if let Some((_, oid, _)) = KNOWN.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(name)) {
        return Ok(*oid);
    }
    ObjectIdentifier::new(name).map_err(|_| {
        format!(
            "unknown subject attribute '{name}' (expected one of {} or a dotted OID)",
            DEFAULT_SUBJECT_ATTRIBUTES.join(", ")
        )
    })
}

fn short_name(oid: ObjectIdentifier) -> Option<&'static str> {
    KNOWN.iter().find(|(_, o, _)| *o == oid).map(|(n, _, _)| *n)
}

/// Checks `subject` against `allowed` (the profile's attribute types, named `profile`):
/// every attribute allowed, at most [`MAX_SUBJECT_ATTRIBUTES`], values readable as text
/// and within their bounds (C: two letters).
///
/// # Errors
/// [`PolicyError::Subject`] naming the first attribute refused.
pub fn check_subject(
    subject: &Name,
    allowed: &[ObjectIdentifier],
    profile: &str,
) -> Result<(), PolicyError> {
    let refuse = |why: String| Err(PolicyError::Subject(why));
    let attributes: Vec<_> = subject
        .iter_rdn()
        .flat_map(|rdn| rdn.as_ref().iter())
        .collect();
    if attributes.len() > MAX_SUBJECT_ATTRIBUTES {
        return refuse(format!(
            "{} subject attributes (at most {MAX_SUBJECT_ATTRIBUTES})",
            attributes.len()
        ));
    }
    for atv in attributes {
        let name = short_name(atv.oid).map_or_else(|| atv.oid.to_string(), str::to_owned);
        if !allowed.contains(&atv.oid) {
            return refuse(format!(
                "subject attribute {name} is not allowed by profile {profile} (its subject_attributes in caforge.toml)"
            ));
        }
        let Some(value) = crate::x509::attribute_text(atv) else {
            if short_name(atv.oid).is_some() {
                return refuse(format!(
                    "subject attribute {name} must be a UTF8String, PrintableString or IA5String"
                ));
            }
            // A type the profile allows by OID: its value's encoding is the operator's call.
            if atv.value.value().len() > MAX_OTHER_VALUE {
                return refuse(format!(
                    "subject attribute {name} is longer than {MAX_OTHER_VALUE} bytes"
                ));
            }
            continue;
        };
        let max = KNOWN
            .iter()
            .find(|(_, o, _)| *o == atv.oid)
            .map_or(MAX_OTHER_VALUE, |(_, _, max)| *max);
        let chars = value.chars().count();
        if chars == 0 || chars > max {
            return refuse(format!(
                "subject attribute {name} must be 1 to {max} characters (it has {chars})"
            ));
        }
        if atv.oid == rfc4519::C && !value.chars().all(|c| c.is_ascii_uppercase()) {
            return refuse(format!(
                "subject attribute C must be a two-letter ISO 3166 code such as GB, not '{value}'"
            ));
        }
    }
    Ok(())
}

/// For TLS servers (CA/B BRs §7.1.4.3): every common name in `subject` must be one of
/// `sans` (a DNS name, any case, or an IP address as text).
///
/// # Errors
/// [`PolicyError::Subject`] naming the common name.
pub fn check_common_names_in_sans(
    subject: &Name,
    sans: &[SubjectAltName],
) -> Result<(), PolicyError> {
    for cn in crate::x509::common_names(subject) {
        let listed = sans.iter().any(|san| match san {
            SubjectAltName::Dns(d) => d.eq_ignore_ascii_case(&cn),
            SubjectAltName::Ip(ip) => cn.parse::<std::net::IpAddr>().is_ok_and(|c| c == *ip),
            _ => false,
        });
        if !listed {
            return Err(PolicyError::Subject(format!(
                "the common name '{cn}' of a TLS server certificate must be one of its SANs (add dns:{cn}, or leave the CN out)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn defaults() -> Vec<ObjectIdentifier> {
        DEFAULT_SUBJECT_ATTRIBUTES
            .iter()
            .map(|n| attribute_type(n).expect("known"))
            .collect()
    }

    #[test]
    fn attributes_outside_the_allow_list_are_refused() {
        let ok = Name::from_str("CN=www.example.com,O=Example Ltd,C=GB").expect("dn");
        assert!(check_subject(&ok, &defaults(), "tls-server").is_ok());
        for (dn, says) in [
            ("2.5.4.65=#0c0670736575646f,CN=x", "2.5.4.65 is not allowed"),
            ("C=gb", "two-letter"),
            ("C=GBR", "1 to 2 characters"),
            (&format!("CN={}", "a".repeat(65)), "1 to 64 characters"),
        ] {
            let name = Name::from_str(dn).expect("dn");
            let e = check_subject(&name, &defaults(), "tls-server").expect_err(dn);
            assert!(e.to_string().contains(says), "{dn}: {e}");
        }
        // A raw OID the profile lists is let in.
        let mut allowed = defaults();
        allowed.push(attribute_type("2.5.4.65").expect("oid"));
        let pseudonym = Name::from_str("2.5.4.65=#0c0670736575646f,CN=x").expect("dn");
        assert!(check_subject(&pseudonym, &allowed, "email").is_ok());
        assert!(attribute_type("cn").is_ok());
        assert!(attribute_type("commonName!").is_err());
        let many = (0..33)
            .map(|i| format!("OU=u{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(check_subject(&Name::from_str(&many).expect("dn"), &defaults(), "x").is_err());
    }

    #[test]
    fn a_tls_server_common_name_must_be_a_san() {
        let sans: Vec<SubjectAltName> = ["dns:www.example.com", "ip:192.0.2.1"]
            .iter()
            .map(|s| s.parse().expect("san"))
            .collect();
        for ok in ["CN=WWW.example.com", "CN=192.0.2.1", "O=Example Ltd"] {
            let name = Name::from_str(ok).expect("dn");
            assert!(check_common_names_in_sans(&name, &sans).is_ok(), "{ok}");
        }
        let admin = Name::from_str("CN=admin,O=system:masters").expect("dn");
        let e = check_common_names_in_sans(&admin, &sans).expect_err("admin");
        assert!(e.to_string().contains("'admin'"), "{e}");
    }
}
