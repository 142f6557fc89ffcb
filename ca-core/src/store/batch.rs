//! The writes every issuance makes, written once for both databases: the signing check
//! with serial reservation, the certificate commit, and the audit chain they extend.
//!
//! [`apply_in`] applies a group commit's batch ([`super::group`]) inside one write
//! transaction with set-based statements: one statement per kind of row for the whole
//! batch, so a batch of a hundred issuances costs a handful of round trips on PostgreSQL
//! and a handful of statements on SQLite. The single-certificate paths (CA creation,
//! pairs, successors, cross certificates) use the same [`insert_certificates`],
//! [`mark_serials_used`] and [`append_audits`].

use std::collections::{HashMap, HashSet};

use super::group::{Done, Op};
use super::sql::{param_list, sql, sql_built, values_list, On};
use super::{
    CertificateRecord, CertificateStatus, IssuerId, NewCertificate, SigningIntent, SigningRefusal,
    StoreError,
};
use crate::audit::{chain_hash, AuditEvent, AuditRecord, GENESIS_HASH};

/// Applies `ops` inside the caller's write transaction; answers in the same order. An
/// error means the whole batch must be rolled back.
pub(super) async fn apply_in(mut on: On<'_>, ops: &[Op]) -> Result<Vec<Done>, StoreError> {
    let mut done: Vec<Option<Done>> = ops.iter().map(|_| None).collect();
    let mut audits: Vec<(usize, &AuditEvent)> = Vec::new();

    // 1. Signing checks and serial reservations.
    let signs: Vec<(usize, &SigningIntent)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Sign(intent) => Some((i, intent)),
            Op::Commit { .. } => None,
        })
        .collect();
    if !signs.is_empty() {
        let refusals = signing_refusals(on.again(), signs.iter().map(|(_, s)| *s)).await?;
        let mut allowed = Vec::with_capacity(signs.len());
        for ((i, intent), refusal) in signs.iter().zip(refusals) {
            match refusal {
                Some(r) => done[*i] = Some(Done::Signed(Err(r))),
                None => {
                    allowed.push(*intent);
                    audits.push((*i, &intent.audit));
                    done[*i] = Some(Done::Signed(Ok(())));
                }
            }
        }
        reserve_serials(
            on.again(),
            allowed
                .iter()
                .map(|s| (s.issuer_key_id.as_str(), s.serial.to_hex(), s.at)),
        )
        .await?;
    }

    // 2. Certificate commits.
    let mut commits: Vec<(usize, &NewCertificate, &str)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Op::Commit {
            cert,
            issuer_key_id,
            audit,
        } = op
        {
            audits.push((i, audit));
            commits.push((i, cert, issuer_key_id.as_str()));
        }
    }
    if !commits.is_empty() {
        mark_serials_used(
            on.again(),
            commits.iter().map(|(_, c, k)| (*k, c.serial.to_hex())),
        )
        .await?;
        let certs: Vec<&NewCertificate> = commits.iter().map(|(_, c, _)| *c).collect();
        let records = insert_certificates(on.again(), &certs, None).await?;
        for ((i, _, _), record) in commits.iter().zip(records) {
            done[*i] = Some(Done::Committed(Box::new(record)));
        }
    }

    // 3. The audit entries, chained in operation order.
    audits.sort_by_key(|(i, _)| *i);
    append_audits(on, audits.iter().map(|(_, a)| *a)).await?;
    done.into_iter()
        .map(|d| d.ok_or_else(|| StoreError::Corrupt("an operation was not applied".into())))
        .collect()
}

/// Why each intent may not be signed (None: it may): the issuing CA's certificate is
/// revoked, or the subject key is blocked. The one place these refusals are decided; one
/// statement reads both for the whole batch.
async fn signing_refusals<'i>(
    on: On<'_>,
    intents: impl Iterator<Item = &'i SigningIntent> + Clone,
) -> Result<Vec<Option<SigningRefusal>>, StoreError> {
    let mut cas: Vec<(i64, &str)> = Vec::new();
    for intent in intents.clone() {
        let key = (intent.ca_certificate.0 .0, intent.ca_certificate.1.as_str());
        if !cas.contains(&key) {
            cas.push(key);
        }
    }
    let keys: Vec<&str> = intents.clone().map(|i| i.spki_sha256.as_str()).collect();
    if cas.is_empty() {
        return Ok(Vec::new());
    }
    let mut text = String::from(
        "SELECT issuer_ca_id, serial, status, revocation_reason FROM certificates WHERE ",
    );
    for i in 0..cas.len() {
        if i > 0 {
            text.push_str(" OR ");
        }
        text.push_str(&format!(
            "(issuer_ca_id = ${} AND serial = ${})",
            2 * i + 1,
            2 * i + 2
        ));
    }
    text.push_str(&format!(
        " UNION ALL SELECT NULL, spki_sha256, NULL, NULL FROM blocked_keys WHERE spki_sha256 IN ({})",
        param_list(2 * cas.len() + 1, keys.len())
    ));
    let mut q = sql_built(text);
    for (ca, serial) in &cas {
        q = q.bind(*ca).bind(*serial);
    }
    for k in &keys {
        q = q.bind(*k);
    }
    let mut ca_status: HashMap<(i64, String), Option<Option<u8>>> = HashMap::new();
    let mut blocked = HashSet::new();
    for (ca, serial, status, reason) in q
        .all_as::<(Option<i64>, String, Option<String>, Option<i64>)>(on)
        .await?
    {
        match (ca, status) {
            (Some(ca), Some(status)) => {
                let revoked = (CertificateStatus::parse(&status)? == CertificateStatus::Revoked)
                    .then(|| reason.and_then(|r| u8::try_from(r).ok()));
                ca_status.insert((ca, serial), revoked);
            }
            _ => {
                blocked.insert(serial);
            }
        }
    }
    intents
        .map(|intent| {
            let (ca, serial) = (intent.ca_certificate.0 .0, &intent.ca_certificate.1);
            match ca_status.get(&(ca, serial.clone())) {
                None => Err(StoreError::NotFound(format!(
                    "the certificate {serial} of the issuing CA"
                ))),
                Some(Some(reason)) => Ok(Some(SigningRefusal::CaRevoked(*reason))),
                Some(None) if blocked.contains(intent.spki_sha256.as_str()) => {
                    Ok(Some(SigningRefusal::KeyBlocked))
                }
                Some(None) => Ok(None),
            }
        })
        .collect()
}

/// Reserves serials: (issuer key id, serial hex, time) each.
///
/// # Errors
/// [`StoreError::Conflict`] when one was ever reserved before.
pub(super) async fn reserve_serials<'k>(
    on: On<'_>,
    serials: impl ExactSizeIterator<Item = (&'k str, String, i64)>,
) -> Result<(), StoreError> {
    let n = serials.len();
    if n == 0 {
        return Ok(());
    }
    let mut q = sql_built(values_list(
        "INSERT INTO serials (issuer_key_id, serial, state, reserved_at)",
        "(?, ?, 'reserved', ?)",
        n,
        1,
    ));
    for (kid, serial, at) in serials {
        q = q.bind(kid).bind(serial).bind(at);
    }
    q.execute(on).await?;
    Ok(())
}

/// Marks reserved serials used: (issuer key id, serial hex) each.
///
/// # Errors
/// [`StoreError::Conflict`] when one was not reserved or is already used.
pub(super) async fn mark_serials_used<'k>(
    on: On<'_>,
    serials: impl ExactSizeIterator<Item = (&'k str, String)>,
) -> Result<(), StoreError> {
    let n = serials.len();
    let sql_text = values_list(
        "UPDATE serials SET state = 'used' WHERE state = 'reserved' AND (issuer_key_id, serial) IN (SELECT column1, column2 FROM (",
        "(?, ?)",
        n,
        1,
    ) + ") AS v)";
    let mut q = sql_built(sql_text);
    let mut last = String::new();
    for (kid, serial) in serials {
        last.clone_from(&serial);
        q = q.bind(kid).bind(serial);
    }
    let changed = q.execute(on).await?.0;
    if changed != n as u64 {
        return Err(StoreError::Conflict(if n == 1 {
            format!("serial {last} was not reserved or is already used")
        } else {
            "a serial was not reserved or is already used".into()
        }));
    }
    Ok(())
}

/// Inserts `certs` with one statement, each under its own issuer (or, for a root being
/// created, under `new_ca`); returns their records in the same order.
///
/// # Errors
/// [`StoreError::Conflict`] for a serial its issuer already used; database errors.
pub(super) async fn insert_certificates(
    on: On<'_>,
    certs: &[&NewCertificate],
    new_ca: Option<IssuerId>,
) -> Result<Vec<CertificateRecord>, StoreError> {
    let issuers = certs
        .iter()
        .map(|c| {
            c.issuer_ca_id
                .or(new_ca)
                .ok_or_else(|| StoreError::Corrupt("certificate without an issuer".into()))
        })
        .collect::<Result<Vec<IssuerId>, StoreError>>()?;
    let mut q = sql_built(values_list(
        "INSERT INTO certificates (issuer_ca_id, serial, subject, sans, profile, key_type, not_before, not_after, status, fingerprint, der, created_at, crl_partition, crl_url, spki_sha256)",
        "(?, ?, ?, ?, ?, ?, ?, ?, 'valid', ?, ?, ?, ?, ?, ?)",
        certs.len(),
        1,
    ) + " RETURNING id, issuer_ca_id, serial, (SELECT name FROM cas WHERE cas.id = certificates.issuer_ca_id)");
    for (cert, issuer) in certs.iter().zip(&issuers) {
        let sans = serde_json::to_string(&cert.sans)
            .map_err(|e| StoreError::Corrupt(format!("SAN encoding: {e}")))?;
        q = q
            .bind(issuer.0)
            .bind(cert.serial.to_hex())
            .bind(cert.subject.as_str())
            .bind(sans)
            .bind(cert.profile.as_str())
            .bind(cert.key_type.to_string())
            .bind(cert.not_before)
            .bind(cert.not_after)
            .bind(cert.fingerprint.as_str())
            .bind(cert.der.as_slice())
            .bind(cert.created_at)
            .bind(cert.crl_partition.map(i64::from))
            .bind(&cert.crl_url)
            .bind(cert.spki_sha256.as_str());
    }
    // RETURNING gives no promise about order: match the rows by (issuer, serial).
    let mut ids: HashMap<(i64, String), (i64, String)> = HashMap::with_capacity(certs.len());
    for (id, issuer, serial, name) in q.all_as::<(i64, i64, String, Option<String>)>(on).await? {
        let name = name.ok_or_else(|| StoreError::Corrupt(format!("no CA with id {issuer}")))?;
        ids.insert((issuer, serial), (id, name));
    }
    certs
        .iter()
        .zip(&issuers)
        .map(|(cert, issuer)| {
            let (id, name) = ids
                .remove(&(issuer.0, cert.serial.to_hex()))
                .ok_or_else(|| StoreError::Corrupt("inserted certificate not returned".into()))?;
            Ok(CertificateRecord {
                id,
                issuer_ca_id: *issuer,
                issuer_name: name,
                serial: cert.serial.clone(),
                subject: cert.subject.clone(),
                sans: cert.sans.clone(),
                profile: cert.profile,
                key_type: cert.key_type,
                not_before: cert.not_before,
                not_after: cert.not_after,
                status: CertificateStatus::Valid,
                fingerprint: cert.fingerprint.clone(),
                der: cert.der.clone(),
                created_at: cert.created_at,
                crl_partition: cert.crl_partition,
                crl_url: cert.crl_url.clone(),
                revoked_at: None,
                revocation_reason: None,
                invalidity_date: None,
                revocation_seq: None,
            })
        })
        .collect()
}

/// Inside a write transaction: marks `cert`'s reserved serial used, inserts it and
/// appends `audit`; returns its record.
pub(super) async fn commit_one(
    mut on: On<'_>,
    cert: &NewCertificate,
    issuer_key_id: &str,
    audit: &AuditEvent,
) -> Result<CertificateRecord, StoreError> {
    mark_serials_used(
        on.again(),
        std::iter::once((issuer_key_id, cert.serial.to_hex())),
    )
    .await?;
    let mut records = insert_certificates(on.again(), &[cert], None).await?;
    append_audits(on, std::iter::once(audit)).await?;
    records
        .pop()
        .ok_or_else(|| StoreError::Corrupt("inserted certificate not returned".into()))
}

/// Appends `events` to the hash chain, in order, with one INSERT; returns each entry's
/// sequence number, previous hash and hash. The one place the chain is extended: the
/// caller holds the write lock, so the head read here is the head the entries follow.
pub(super) async fn append_audits<'a>(
    mut on: On<'_>,
    events: impl ExactSizeIterator<Item = &'a AuditEvent>,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let n = events.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let head: Option<(i64, String)> = sql("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .optional_as(on.again())
        .await?;
    let (mut seq, mut prev) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
    let mut q = sql_built(values_list(
        "INSERT INTO audit (seq, at, action, ca, serial, details, prev_hash, hash)",
        "(?, ?, ?, ?, ?, ?, ?, ?)",
        n,
        1,
    ));
    let mut links = Vec::with_capacity(n);
    for event in events {
        seq += 1;
        let hash = chain_hash(&prev, seq, event);
        let prev_hash = std::mem::replace(&mut prev, hash.clone());
        q = q
            .bind(seq)
            .bind(event.at)
            .bind(event.action.as_str())
            .bind(event.ca.as_deref())
            .bind(event.serial.as_deref())
            .bind(event.details.to_string())
            .bind(prev_hash.clone())
            .bind(hash.clone());
        links.push((seq, prev_hash, hash));
    }
    q.execute(on).await?;
    Ok(links)
}

/// Appends one event (see [`append_audits`]).
pub(super) async fn append_audit(
    on: On<'_>,
    event: &AuditEvent,
) -> Result<AuditRecord, StoreError> {
    let (seq, prev_hash, hash) = append_audits(on, std::iter::once(event))
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("audit entry not appended".into()))?;
    Ok(AuditRecord {
        seq,
        event: event.clone(),
        prev_hash,
        hash,
    })
}
