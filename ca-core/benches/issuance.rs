//! Issuance core cost per issuer key type: build the TBSCertificate, sign it, assemble the
//! certificate. Compare with `openssl speed` for the same algorithm (see BENCHMARKS.md).

// Invariant for every unwrap below: the inputs are constants and freshly generated keys,
// all valid; a failure is a bug in the bench, never a reaction to input.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::str::FromStr;

use ca_core::algorithm::{KeyType, DEFAULT_SM2_ID};
use ca_core::issuance::{self, assemble_certificate, CertificateTemplate, SerialNumber};
use ca_core::keys::{Signer, SoftwareKey};
use ca_core::policy::SubjectAltName;
use criterion::{criterion_group, criterion_main, Criterion};
use time::{Duration, OffsetDateTime};
use x509_cert::name::Name;

fn template(issuer: &SoftwareKey, subject_key: &SoftwareKey) -> CertificateTemplate {
    let now = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
    let issuer_kid = issuance::key_identifier(issuer.public_key_info());
    let sans = [SubjectAltName::dns("bench.example").unwrap()];
    CertificateTemplate {
        serial: SerialNumber::random().unwrap(),
        issuer: Name::from_str("CN=Bench CA").unwrap(),
        subject: Name::from_str("CN=bench.example").unwrap(),
        not_before: now,
        not_after: now + Duration::days(90),
        spki: subject_key.public_key_info().clone(),
        extensions: vec![
            issuance::basic_constraints(false, None).unwrap(),
            issuance::authority_key_identifier(&issuer_kid).unwrap(),
            issuance::subject_key_identifier(&issuance::key_identifier(
                subject_key.public_key_info(),
            ))
            .unwrap(),
            issuance::subject_alt_name(&sans, false).unwrap(),
        ],
        signature_algorithm: issuer.signature_algorithm(),
    }
}

fn issuance(c: &mut Criterion) {
    let subject_key = SoftwareKey::generate(KeyType::P256, DEFAULT_SM2_ID).unwrap();
    let mut group = c.benchmark_group("issue_build_sign");
    group.sample_size(30);
    group.measurement_time(std::time::Duration::from_secs(3));
    for kt in [
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::P256,
        KeyType::P384,
        KeyType::Ed25519,
        KeyType::Sm2,
    ] {
        let issuer = SoftwareKey::generate(kt, DEFAULT_SM2_ID).unwrap();
        let t = template(&issuer, &subject_key);
        group.bench_function(kt.as_str(), |b| {
            b.iter(|| {
                let tbs = t.to_tbs_der().unwrap();
                let sig = issuer.sign(&tbs).unwrap();
                assemble_certificate(&tbs, t.signature_algorithm, &sig).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, issuance);
criterion_main!(benches);
