//! Validity periods: profile caps (the CA/B Forum schedule for TLS servers) and clipping to
//! the issuer's own validity.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::PolicyError;
use crate::profile::{Profile, ProfileName};

/// Longest validity of a CA certificate: 100 years (a root is commonly 20–25).
pub const MAX_CA_DAYS: u32 = 36_525;

/// Maximum validity in days of a TLS server certificate issued at `issued_at`, per the CA/B
/// Forum Baseline Requirements §6.3.2 (ballot SC-081): 398 days before 2026-03-15, 200 days
/// from then, 100 days from 2027-03-15 and 47 days from 2029-03-15.
pub fn tls_server_max_days(issued_at: OffsetDateTime) -> u32 {
    if issued_at >= datetime!(2029-03-15 0:00 UTC) {
        47
    } else if issued_at >= datetime!(2027-03-15 0:00 UTC) {
        100
    } else if issued_at >= datetime!(2026-03-15 0:00 UTC) {
        200
    } else {
        398
    }
}

/// Built-in caps for the other profiles: the CA/B Code Signing BRs §6.3.2 (460 days) and
/// the S/MIME BRs §6.3.2 (825 days); client certificates follow S/MIME's figure.
fn builtin_max_days(profile: ProfileName, issued_at: OffsetDateTime) -> (u32, &'static str) {
    match profile {
        ProfileName::TlsServer => (
            tls_server_max_days(issued_at),
            "CA/B Forum BR §6.3.2 schedule",
        ),
        ProfileName::CodeSigning => (460, "CA/B Forum Code Signing BR §6.3.2"),
        ProfileName::Email => (825, "CA/B Forum S/MIME BR §6.3.2"),
        ProfileName::TlsClient => (825, "caforge default for client certificates"),
    }
}

/// The validity a certificate will get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidityPlan {
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// Set when notAfter was cut back to the issuer's notAfter.
    pub clipped_to_issuer: bool,
}

/// Plans a leaf's validity: `requested_days` (or the profile default), checked against the
/// profile cap, counted inclusively (RFC 5280 §4.1.2.5: notAfter − notBefore + 1 s), then
/// clipped to the issuer's notAfter.
///
/// # Errors
/// [`PolicyError::ValidityTooLong`] / [`PolicyError::ValidityTooShort`] for bad requests;
/// [`PolicyError::IssuerNotValid`] when the issuer is expired or not yet valid.
pub fn leaf_validity(
    profile: &Profile,
    requested_days: Option<u32>,
    now: OffsetDateTime,
    issuer_not_before: OffsetDateTime,
    issuer_not_after: OffsetDateTime,
) -> Result<ValidityPlan, PolicyError> {
    let days = requested_days.unwrap_or(profile.default_days);
    if days == 0 {
        return Err(PolicyError::ValidityTooShort);
    }
    let (max, why) = match profile.max_days_override {
        Some(m) => (m, "configured in caforge.toml"),
        None => builtin_max_days(profile.name, now),
    };
    if days > max {
        return Err(PolicyError::ValidityTooLong {
            requested: days,
            max,
            profile: profile.name.to_string(),
            why: why.to_owned(),
        });
    }
    span(days, now, issuer_not_before, issuer_not_after)
}

/// Plans a CA certificate's validity (at most [`MAX_CA_DAYS`]; clipped to the parent, if
/// any).
///
/// # Errors
/// As [`leaf_validity`].
pub fn ca_validity(
    days: u32,
    now: OffsetDateTime,
    parent: Option<(OffsetDateTime, OffsetDateTime)>,
) -> Result<ValidityPlan, PolicyError> {
    if days == 0 {
        return Err(PolicyError::ValidityTooShort);
    }
    if days > MAX_CA_DAYS {
        return Err(PolicyError::ValidityTooLong {
            requested: days,
            max: MAX_CA_DAYS,
            profile: "CA".into(),
            why: "caforge's cap on CA certificates".into(),
        });
    }
    match parent {
        Some((nb, na)) => span(days, now, nb, na),
        None => Ok(ValidityPlan {
            not_before: now,
            not_after: now + Duration::days(days.into()) - Duration::SECOND,
            clipped_to_issuer: false,
        }),
    }
}

fn span(
    days: u32,
    now: OffsetDateTime,
    issuer_not_before: OffsetDateTime,
    issuer_not_after: OffsetDateTime,
) -> Result<ValidityPlan, PolicyError> {
    if now >= issuer_not_after {
        return Err(PolicyError::IssuerNotValid(format!(
            "the issuing CA expired at {issuer_not_after}"
        )));
    }
    if now < issuer_not_before {
        return Err(PolicyError::IssuerNotValid(format!(
            "the issuing CA is not valid before {issuer_not_before}"
        )));
    }
    let wanted = now + Duration::days(days.into()) - Duration::SECOND;
    Ok(if wanted > issuer_not_after {
        ValidityPlan {
            not_before: now,
            not_after: issuer_not_after,
            clipped_to_issuer: true,
        }
    } else {
        ValidityPlan {
            not_before: now,
            not_after: wanted,
            clipped_to_issuer: false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ProfileConfig;

    #[test]
    fn schedule_follows_ballot_sc081() {
        assert_eq!(tls_server_max_days(datetime!(2026-03-14 23:59:59 UTC)), 398);
        assert_eq!(tls_server_max_days(datetime!(2026-03-15 0:00 UTC)), 200);
        assert_eq!(tls_server_max_days(datetime!(2027-03-15 0:00 UTC)), 100);
        assert_eq!(tls_server_max_days(datetime!(2029-03-15 0:00 UTC)), 47);
    }

    #[test]
    fn ca_validity_is_capped_rather_than_overflowing() {
        let now = datetime!(2026-11-28 12:00 UTC);
        assert!(ca_validity(MAX_CA_DAYS, now, None).is_ok());
        for days in [MAX_CA_DAYS + 1, u32::MAX] {
            assert!(matches!(
                ca_validity(days, now, None),
                Err(PolicyError::ValidityTooLong { .. })
            ));
        }
    }

    #[test]
    fn validity_is_counted_inclusively_and_capped() {
        let now = datetime!(2026-11-28 12:00 UTC);
        let issuer = (now - Duration::days(1), now + Duration::days(3650));
        let p = Profile::builtin(ProfileName::TlsServer);
        let plan = leaf_validity(&p, Some(200), now, issuer.0, issuer.1).expect("200 ok");
        assert_eq!(
            plan.not_after - plan.not_before + Duration::SECOND,
            Duration::days(200)
        );
        assert!(matches!(
            leaf_validity(&p, Some(201), now, issuer.0, issuer.1),
            Err(PolicyError::ValidityTooLong { max: 200, .. })
        ));
        let later = datetime!(2027-03-15 0:00 UTC);
        assert!(leaf_validity(&p, Some(101), later, issuer.0, issuer.1).is_err());
        assert_eq!(
            leaf_validity(&p, None, now, issuer.0, issuer.1)
                .expect("default")
                .not_after,
            now + Duration::days(90) - Duration::SECOND
        );
        assert_eq!(
            leaf_validity(&p, Some(0), now, issuer.0, issuer.1),
            Err(PolicyError::ValidityTooShort)
        );
    }

    #[test]
    fn private_deployment_override_replaces_the_schedule() {
        let now = datetime!(2026-11-28 12:00 UTC);
        let p = Profile::with_config(
            ProfileName::TlsServer,
            &ProfileConfig {
                default_days: None,
                max_days: Some(500),
                ..ProfileConfig::default()
            },
            &crate::certpolicy::PolicyCatalog::default(),
        )
        .expect("cfg");
        assert!(leaf_validity(&p, Some(500), now, now, now + Duration::days(1000)).is_ok());
    }

    #[test]
    fn leaf_is_clipped_to_its_issuer() {
        let now = datetime!(2026-11-28 12:00 UTC);
        let issuer_end = now + Duration::days(10);
        let p = Profile::builtin(ProfileName::TlsServer);
        let plan = leaf_validity(&p, Some(90), now, now, issuer_end).expect("clip");
        assert!(plan.clipped_to_issuer);
        assert_eq!(plan.not_after, issuer_end);
        assert!(matches!(
            leaf_validity(&p, Some(1), issuer_end, now, issuer_end),
            Err(PolicyError::IssuerNotValid(_))
        ));
    }
}
