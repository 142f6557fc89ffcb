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
use super::sql::{param_list, sql_built, values_list, On};
use super::{
    CertificateRecord, CertificateStatus, IssuerId, NewCertificate, SigningIntent, SigningRefusal,
    StoreError,
};
use crate::audit::{entry_hash, AuditEvent, AuditKey, AuditRecord, GENESIS_HASH};
use crate::revocation::RevocationReason;

/// Applies `ops` inside the caller's write transaction; answers in the same order. An
/// error means the whole batch must be rolled back. A batch costs five statements
/// whatever its size: what it must read, the serials, the certificates, the audit entries.
pub(super) async fn apply_in(
    mut on: On<'_>,
    key: Option<&AuditKey>,
    ops: &[Op],
) -> Result<Vec<Done>, StoreError> {
    let mut done: Vec<Option<Done>> = ops.iter().map(|_| None).collect();
    let mut audits: Vec<(usize, &AuditEvent)> = Vec::new();
    let signs: Vec<(usize, &SigningIntent)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Sign(intent) => Some((i, intent)),
            Op::Commit { .. } => None,
        })
        .collect();
    let mut commits: Vec<(usize, &NewCertificate, &str)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Op::Commit {
            cert,
            issuer_key_id,
            audit,
        } = op
        {
            commits.push((i, cert, issuer_key_id.as_str()));
            audits.push((i, audit));
        }
    }

    // 1. Signing checks (and the audit chain's head).
    let (refusals, head) = signing_refusals(on.again(), signs.iter().map(|(_, s)| *s)).await?;
    let mut reserve = Vec::with_capacity(signs.len());
    for ((i, intent), refusal) in signs.iter().zip(refusals) {
        match refusal {
            Some(r) => done[*i] = Some(Done::Signed(Err(r))),
            None => {
                reserve.push((
                    intent.issuer_key_id.as_str(),
                    intent.serial.to_hex(),
                    intent.at,
                ));
                audits.push((*i, &intent.audit));
                done[*i] = Some(Done::Signed(Ok(())));
            }
        }
    }

    // 2. Serials reserved for the intents and marked used by the commits, together.
    let used: Vec<(&str, String)> = commits
        .iter()
        .map(|(_, c, k)| (*k, c.serial.to_hex()))
        .collect();
    settle_serials(on.again(), &reserve, &used).await?;

    // 3. Certificate commits.
    if !commits.is_empty() {
        let certs: Vec<&NewCertificate> = commits.iter().map(|(_, c, _)| *c).collect();
        let records = insert_certificates(on.again(), &certs, None).await?;
        for ((i, _, _), record) in commits.iter().zip(records) {
            done[*i] = Some(Done::Committed(Box::new(record)));
        }
    }

    // 4. The audit entries, chained in operation order after the head read in step 1.
    audits.sort_by_key(|(i, _)| *i);
    append_audits_after(on, key, head, audits.iter().map(|(_, a)| *a)).await?;
    done.into_iter()
        .map(|d| d.ok_or_else(|| StoreError::Corrupt("an operation was not applied".into())))
        .collect()
}

/// Why each intent may not be signed (None: it may): the issuing CA's certificate is
/// revoked, or the subject key is blocked. The one place these refusals are decided. One
/// statement reads both for the whole batch, and with them the audit chain's head (the
/// batch holds the write lock, so the head cannot move before its entries are appended).
async fn signing_refusals<'i>(
    on: On<'_>,
    intents: impl Iterator<Item = &'i SigningIntent> + Clone,
) -> Result<(Vec<Option<SigningRefusal>>, AuditHead), StoreError> {
    let mut cas: Vec<(i64, &str)> = Vec::new();
    for (id, serial) in intents.clone().filter_map(|i| i.ca_certificate.as_ref()) {
        let key = (id.0, serial.as_str());
        if !cas.contains(&key) {
            cas.push(key);
        }
    }
    let keys: Vec<&str> = intents.clone().map(|i| i.spki_sha256.as_str()).collect();
    let mut text = String::from(AUDIT_HEAD_ROW);
    if !cas.is_empty() {
        text.push_str(
            " UNION ALL SELECT 'ca', issuer_ca_id, serial, status, revocation_reason FROM certificates WHERE ",
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
    }
    if !keys.is_empty() {
        text.push_str(&format!(
            " UNION ALL SELECT 'key', NULL, spki_sha256, NULL, NULL FROM blocked_keys WHERE spki_sha256 IN ({})",
            param_list(2 * cas.len() + 1, keys.len())
        ));
    }
    let mut q = sql_built(text);
    for (ca, serial) in &cas {
        q = q.bind(*ca).bind(*serial);
    }
    for k in &keys {
        q = q.bind(*k);
    }
    let mut ca_status: HashMap<(i64, String), Option<Option<RevocationReason>>> = HashMap::new();
    let mut blocked = HashSet::new();
    let mut head = (0, GENESIS_HASH.to_owned(), false);
    for (kind, number, text, status, reason) in q
        .all_as::<(String, Option<i64>, String, Option<String>, Option<i64>)>(on)
        .await?
    {
        match (kind.as_str(), number, status) {
            ("head", Some(seq), _) => head = (seq, text, reason == Some(1)),
            ("ca", Some(ca), Some(status)) => {
                let revoked = (CertificateStatus::parse(&status)? == CertificateStatus::Revoked)
                    .then(|| {
                        reason
                            .and_then(|r| u8::try_from(r).ok())
                            .and_then(RevocationReason::from_code)
                    });
                ca_status.insert((ca, text), revoked);
            }
            ("key", _, _) => {
                blocked.insert(text);
            }
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "a '{kind}' row of the batch read"
                )))
            }
        }
    }
    let refusals = intents
        .map(|intent| {
            let status = match &intent.ca_certificate {
                // A certificate that signs itself has no issuing CA to check.
                None => Some(&None),
                Some((ca, serial)) => ca_status.get(&(ca.0, serial.clone())),
            };
            match status {
                None => Err(StoreError::NotFound(format!(
                    "the certificate {} of the issuing CA",
                    intent
                        .ca_certificate
                        .as_ref()
                        .map_or("", |(_, s)| s.as_str())
                ))),
                Some(Some(reason)) => Ok(Some(SigningRefusal::CaRevoked(*reason))),
                Some(None) if blocked.contains(intent.spki_sha256.as_str()) => {
                    Ok(Some(SigningRefusal::KeyBlocked))
                }
                Some(None) => Ok(None),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok((refusals, head))
}

/// The audit chain's last entry: its sequence number, hash and whether it is keyed (0, the
/// genesis hash and unkeyed before the first).
type AuditHead = (i64, String, bool);

/// The row of the audit chain's head, as the batch read and [`append_audits`] select it
/// (`keyed` in the last column).
const AUDIT_HEAD_ROW: &str = "SELECT 'head', seq, hash, NULL, keyed FROM (SELECT seq, hash, keyed FROM audit ORDER BY seq DESC LIMIT 1) AS h";

/// The audit log's head: (sequence, hash, keyed), None while it is empty. The one query
/// for it (the batch read above carries the same row as part of its own).
pub(super) async fn audit_head(on: On<'_>) -> Result<Option<(i64, String, bool)>, StoreError> {
    Ok(sql_built(AUDIT_HEAD_ROW.to_owned())
        .optional_as::<(String, i64, String, Option<String>, Option<i64>)>(on)
        .await?
        .map(|(_, seq, hash, _, keyed)| (seq, hash, keyed == Some(1))))
}

/// Reserves serials: (issuer key id, serial hex, time) each.
///
/// # Errors
/// [`StoreError::Conflict`] when one was ever reserved before.
pub(super) async fn reserve_serials(
    on: On<'_>,
    serials: &[(&str, String, i64)],
) -> Result<(), StoreError> {
    settle_serials(on, serials, &[]).await
}

/// Marks reserved serials used: (issuer key id, serial hex) each. Inside a transaction,
/// which an error leaves to be rolled back.
///
/// # Errors
/// [`StoreError::Conflict`] when one was not reserved or is already used.
pub(super) async fn mark_serials_used(
    on: On<'_>,
    serials: &[(&str, String)],
) -> Result<(), StoreError> {
    settle_serials(on, &[], serials).await
}

/// `reserved_at` of a row a use would insert for a serial never reserved: such a row is
/// an error, and the transaction holding it is rolled back.
const NOT_RESERVED: i64 = -1;

/// The serial rules, in one statement: each serial in `reserve` (issuer key id, serial
/// hex, time) is reserved unless it ever was before; each in `used` (issuer key id,
/// serial hex) goes from reserved to used. An upsert does both: a new row is a
/// reservation, a row already reserved becomes used, and `RETURNING` shows what happened
/// to each.
///
/// # Errors
/// [`StoreError::Conflict`] when a serial to reserve was reserved before, or one to use
/// was not reserved or is already used (a use inside a transaction, which must then be
/// rolled back).
async fn settle_serials(
    on: On<'_>,
    reserve: &[(&str, String, i64)],
    used: &[(&str, String)],
) -> Result<(), StoreError> {
    let n = reserve.len() + used.len();
    if n == 0 {
        return Ok(());
    }
    let mut q = sql_built(
        values_list(
            "INSERT INTO serials (issuer_key_id, serial, state, reserved_at)",
            "(?, ?, ?, ?)",
            n,
            1,
        ) + " ON CONFLICT (issuer_key_id, serial) DO UPDATE SET state = 'used' \
              WHERE serials.state = 'reserved' AND excluded.state = 'used' \
              RETURNING issuer_key_id, serial, state, reserved_at",
    );
    for (kid, serial, at) in reserve {
        q = q
            .bind(*kid)
            .bind(serial.as_str())
            .bind("reserved")
            .bind(*at);
    }
    for (kid, serial) in used {
        q = q
            .bind(*kid)
            .bind(serial.as_str())
            .bind("used")
            .bind(NOT_RESERVED);
    }
    let mut done: HashMap<(String, String), (String, i64)> = HashMap::with_capacity(n);
    for (kid, serial, state, at) in q.all_as::<(String, String, String, i64)>(on).await? {
        done.insert((kid, serial), (state, at));
    }
    for (kid, serial, _) in reserve {
        match done.get(&((*kid).to_owned(), serial.clone())) {
            Some((state, _)) if state == "reserved" => {}
            _ => {
                return Err(StoreError::Conflict(format!(
                    "serial {serial} was reserved before"
                )))
            }
        }
    }
    for (kid, serial) in used {
        match done.get(&((*kid).to_owned(), serial.clone())) {
            Some((_, NOT_RESERVED)) => {
                return Err(StoreError::Conflict(format!(
                    "serial {serial} was not reserved"
                )))
            }
            Some((state, _)) if state == "used" => {}
            _ => {
                return Err(StoreError::Conflict(format!(
                    "serial {serial} is already used"
                )))
            }
        }
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
    key: Option<&AuditKey>,
    cert: &NewCertificate,
    issuer_key_id: &str,
    audit: &AuditEvent,
) -> Result<CertificateRecord, StoreError> {
    mark_serials_used(on.again(), &[(issuer_key_id, cert.serial.to_hex())]).await?;
    let mut records = insert_certificates(on.again(), &[cert], None).await?;
    append_audits(on, key, std::iter::once(audit)).await?;
    records
        .pop()
        .ok_or_else(|| StoreError::Corrupt("inserted certificate not returned".into()))
}

/// Appends `events` to the hash chain, in order, with one INSERT; returns each entry's
/// sequence number, previous hash and hash. The one place the chain is extended: the
/// caller holds the write lock, so the head read here is the head the entries follow.
pub(super) async fn append_audits<'a>(
    mut on: On<'_>,
    key: Option<&AuditKey>,
    events: impl ExactSizeIterator<Item = &'a AuditEvent>,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    if events.len() == 0 {
        return Ok(Vec::new());
    }
    let head = audit_head(on.again())
        .await?
        .unwrap_or_else(|| (0, GENESIS_HASH.to_owned(), false));
    append_audits_after(on, key, head, events).await
}

/// [`append_audits`] after `head`, read in the caller's write transaction.
async fn append_audits_after<'a>(
    on: On<'_>,
    key: Option<&AuditKey>,
    head: AuditHead,
    events: impl ExactSizeIterator<Item = &'a AuditEvent>,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let n = events.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let (mut seq, mut prev, head_keyed) = head;
    if head_keyed && key.is_none() {
        // An unkeyed entry after keyed ones would break the chain for good.
        return Err(StoreError::Internal(
            "the audit log is keyed and this store was opened without the audit key".into(),
        ));
    }
    let events: Vec<&AuditEvent> = events.collect();
    if let Some(e) = events.iter().find(|e| e.principal.is_none()) {
        return Err(StoreError::Internal(format!(
            "audit entry {} names no principal (a bug)",
            e.action
        )));
    }
    let mut q = sql_built(values_list(
        "INSERT INTO audit (seq, at, action, ca, serial, details, principal, prev_hash, hash, keyed)",
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        n,
        1,
    ));
    let mut links = Vec::with_capacity(n);
    for event in events {
        seq += 1;
        let hash = entry_hash(key, &prev, seq, event);
        let prev_hash = std::mem::replace(&mut prev, hash.clone());
        q = q
            .bind(seq)
            .bind(event.at)
            .bind(event.action.as_str())
            .bind(event.ca.as_deref())
            .bind(event.serial.as_deref())
            .bind(event.details.to_string())
            .bind(event.principal.as_deref())
            .bind(prev_hash.clone())
            .bind(hash.clone())
            .bind(i64::from(key.is_some()));
        links.push((seq, prev_hash, hash));
    }
    q.execute(on).await?;
    Ok(links)
}

/// Appends one event (see [`append_audits`]).
pub(super) async fn append_audit(
    on: On<'_>,
    key: Option<&AuditKey>,
    event: &AuditEvent,
) -> Result<AuditRecord, StoreError> {
    let (seq, prev_hash, hash) = append_audits(on, key, std::iter::once(event))
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("audit entry not appended".into()))?;
    Ok(AuditRecord {
        seq,
        event: event.clone(),
        prev_hash,
        hash,
        keyed: key.is_some(),
    })
}
