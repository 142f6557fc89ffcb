//! Name constraints on DNS names (RFC 5280 §4.2.1.10).
//!
//! A constraint `example.com` is satisfied by `example.com` and by any name that adds labels
//! on the left (`www.example.com`); a constraint `.example.com` only by names below it.

use serde::{Deserialize, Serialize};

use super::{PolicyError, SubjectAltName};

/// A CA's DNS name constraints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameConstraintSet {
    /// permittedSubtrees (dNSName); empty means no permitted-subtree restriction.
    pub permitted_dns: Vec<String>,
    /// excludedSubtrees (dNSName).
    pub excluded_dns: Vec<String>,
}

impl NameConstraintSet {
    /// Whether there is nothing to constrain.
    pub fn is_empty(&self) -> bool {
        self.permitted_dns.is_empty() && self.excluded_dns.is_empty()
    }

    /// Validates and normalises constraint names given on the command line.
    ///
    /// # Errors
    /// [`PolicyError::InvalidSan`] for names that are not DNS names.
    pub fn new(permitted: &[String], excluded: &[String]) -> Result<Self, PolicyError> {
        let norm = |list: &[String]| -> Result<Vec<String>, PolicyError> {
            list.iter()
                .map(|d| {
                    let (dot, rest) = match d.strip_prefix('.') {
                        Some(r) => (".", r),
                        None => ("", d.as_str()),
                    };
                    match SubjectAltName::dns(rest)? {
                        SubjectAltName::Dns(n) if !n.starts_with('*') => Ok(format!("{dot}{n}")),
                        _ => Err(PolicyError::InvalidSan {
                            san: d.clone(),
                            reason: "a name constraint is a domain, not a wildcard".into(),
                        }),
                    }
                })
                .collect()
        };
        Ok(NameConstraintSet {
            permitted_dns: norm(permitted)?,
            excluded_dns: norm(excluded)?,
        })
    }
}

fn within(name: &str, constraint: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    if let Some(domain) = constraint.strip_prefix('.') {
        below(name, domain)
    } else {
        name.eq_ignore_ascii_case(constraint) || below(name, constraint)
    }
}

/// Whether DNS name `name` is strictly below `domain` (ASCII case ignored; compared as
/// bytes, so any input is safe): `a.example.com` is below `example.com`,
/// `aexample.com` is not.
#[must_use]
pub fn below(name: &str, domain: &str) -> bool {
    let (n, d) = (name.as_bytes(), domain.as_bytes());
    n.len() > d.len() + 1
        && n[n.len() - d.len() - 1] == b'.'
        && n[n.len() - d.len()..].eq_ignore_ascii_case(d)
}

/// Checks the DNS SANs against the constraints of one CA in the chain, named `ca`.
///
/// # Errors
/// [`PolicyError::NameConstraint`] for the first name that falls outside.
pub fn check_name_constraints(
    sans: &[SubjectAltName],
    constraints: &NameConstraintSet,
    ca: &str,
) -> Result<(), PolicyError> {
    for san in sans {
        let SubjectAltName::Dns(name) = san else {
            continue;
        };
        if let Some(ex) = constraints.excluded_dns.iter().find(|c| within(name, c)) {
            return Err(PolicyError::NameConstraint {
                name: name.clone(),
                ca: ca.to_owned(),
                reason: format!("excluded subtree {ex}"),
            });
        }
        if !constraints.permitted_dns.is_empty()
            && !constraints.permitted_dns.iter().any(|c| within(name, c))
        {
            return Err(PolicyError::NameConstraint {
                name: name.clone(),
                ca: ca.to_owned(),
                reason: format!("not within {}", constraints.permitted_dns.join(", ")),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permitted_and_excluded_subtrees() {
        let nc = NameConstraintSet::new(&["example.com".into()], &["secret.example.com".into()])
            .expect("valid");
        let ok =
            |n: &str| check_name_constraints(&[SubjectAltName::dns(n).expect("dns")], &nc, "ica");
        assert!(ok("example.com").is_ok());
        assert!(ok("www.example.com").is_ok());
        assert!(ok("*.example.com").is_ok());
        assert!(ok("badexample.com").is_err());
        assert!(ok("example.org").is_err());
        assert!(ok("a.secret.example.com").is_err());
        let dot = NameConstraintSet::new(&[".example.com".into()], &[]).expect("valid");
        assert!(check_name_constraints(
            &[SubjectAltName::dns("example.com").expect("dns")],
            &dot,
            "ica"
        )
        .is_err());
    }
}
