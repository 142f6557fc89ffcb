//! Row ↔ record mapping: one mapping per record for both databases (the schemas hold the
//! same columns; only their SQL types differ).

use super::sql::Row;
use super::{
    CaRecord, CertificateRecord, CertificateStatus, CrlRecord, IssuerId, NewCrl,
    ScheduledRevocation, StoreError,
};
use crate::issuance::SerialNumber;
use crate::keys::KeyRef;
use crate::revocation::{CaSettings, OcspSigner, RevocationReason};
use crate::tokens::TokenRecord;

pub(super) fn ca_from_row(row: &Row) -> Result<CaRecord, StoreError> {
    let nc: String = row.get("name_constraints")?;
    let path_len: Option<i64> = row.get("path_len")?;
    Ok(CaRecord {
        id: IssuerId(row.get("id")?),
        name: row.get("name")?,
        parent_id: row.get::<Option<i64>>("parent_id")?.map(IssuerId),
        key_type: row
            .get::<String>("key_type")?
            .parse()
            .map_err(|e: crate::algorithm::UnknownKeyType| StoreError::Corrupt(e.to_string()))?,
        key_ref: KeyRef::new(row.get::<String>("key_ref")?),
        sm2_id: row.get("sm2_id")?,
        key_id: row.get("key_id")?,
        subject: row.get("subject")?,
        serial: serial_from(&row.get::<String>("serial")?)?,
        not_before: row.get("not_before")?,
        not_after: row.get("not_after")?,
        path_len: path_len
            .map(|p| u8::try_from(p).map_err(|_| StoreError::Corrupt("path_len".into())))
            .transpose()?,
        name_constraints: serde_json::from_str(&nc)
            .map_err(|e| StoreError::Corrupt(format!("name_constraints: {e}")))?,
        cert_der: row.get("cert_der")?,
        created_at: row.get("created_at")?,
        settings: settings_from_row(row)?,
        generation: u32::try_from(row.get::<i64>("generation")?)
            .map_err(|_| StoreError::Corrupt("generation".into()))?,
        predecessor: row.get::<Option<i64>>("predecessor_ca_id")?.map(IssuerId),
    })
}

pub(super) fn settings_from_row(row: &Row) -> Result<CaSettings, StoreError> {
    let partitions: i64 = row.get("crl_partitions")?;
    let signer: String = row.get("ocsp_signer")?;
    Ok(CaSettings {
        base_url: row.get("base_url")?,
        crl_lifetime: row.get("crl_lifetime")?,
        delta_lifetime: row.get("delta_lifetime")?,
        crl_partitions: u32::try_from(partitions)
            .map_err(|_| StoreError::Corrupt("crl_partitions".into()))?,
        ocsp_signer: signer.parse::<OcspSigner>().map_err(StoreError::Corrupt)?,
        ocsp_lifetime: row.get("ocsp_lifetime")?,
        allow_leaves: row.get::<i64>("allow_leaves")? != 0,
    })
}

/// A stored serial (upper-case hex).
pub(super) fn serial_from(hex: &str) -> Result<SerialNumber, StoreError> {
    hex.parse()
        .map_err(|e| StoreError::Corrupt(format!("serial '{hex}': {e}")))
}

pub(super) fn opt_u32(v: Option<i64>, what: &str) -> Result<Option<u32>, StoreError> {
    v.map(|p| u32::try_from(p).map_err(|_| StoreError::Corrupt(what.into())))
        .transpose()
}

pub(super) fn cert_from_row(row: &Row) -> Result<CertificateRecord, StoreError> {
    let sans: String = row.get("sans")?;
    Ok(CertificateRecord {
        id: row.get("id")?,
        issuer_ca_id: IssuerId(row.get("issuer_ca_id")?),
        issuer_name: row.get("issuer_name")?,
        serial: serial_from(&row.get::<String>("serial")?)?,
        subject: row.get("subject")?,
        sans: serde_json::from_str(&sans).map_err(|e| StoreError::Corrupt(format!("sans: {e}")))?,
        profile: row
            .get::<String>("profile")?
            .parse()
            .map_err(StoreError::Corrupt)?,
        key_type: row
            .get::<String>("key_type")?
            .parse()
            .map_err(StoreError::Corrupt)?,
        not_before: row.get("not_before")?,
        not_after: row.get("not_after")?,
        status: CertificateStatus::parse(&row.get::<String>("status")?)?,
        fingerprint: row.get("fingerprint")?,
        der: row.get("der")?,
        created_at: row.get("created_at")?,
        crl_partition: opt_u32(row.get("crl_partition")?, "crl_partition")?,
        crl_url: row.get("crl_url")?,
        revoked_at: row.get("revoked_at")?,
        revocation_reason: row
            .get::<Option<i64>>("revocation_reason")?
            .map(|c| {
                u8::try_from(c)
                    .ok()
                    .and_then(RevocationReason::from_code)
                    .ok_or_else(|| StoreError::Corrupt(format!("revocation reason {c}")))
            })
            .transpose()?,
        invalidity_date: row.get("invalidity_date")?,
        revocation_seq: row.get("revocation_seq")?,
    })
}

pub(super) fn crl_from_row(row: &Row) -> Result<CrlRecord, StoreError> {
    let u = |name: &str| -> Result<u64, StoreError> {
        let v: i64 = row.get(name)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(name.into()))
    };
    Ok(CrlRecord {
        id: row.get("id")?,
        crl: NewCrl {
            ca: IssuerId(row.get("ca_id")?),
            number: u("number")?,
            partition: opt_u32(row.get("partition")?, "partition")?,
            base_number: row
                .get::<Option<i64>>("base_number")?
                .map(|b| u64::try_from(b).map_err(|_| StoreError::Corrupt("base_number".into())))
                .transpose()?,
            revocation_seq: row.get("revocation_seq")?,
            this_update: row.get("this_update")?,
            next_update: row.get("next_update")?,
            entries: u("entries")?,
            der: row.get("der")?,
        },
    })
}

/// serial, status, revoked_at, revocation_reason, invalidity_date, hold_released_at.
pub(super) type RevokedSqlRow = (
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// A CRL row from a [`RevokedSqlRow`]: a revoked certificate, or (for deltas) a released
/// hold as removeFromCRL.
pub(super) fn revoked_row(row: RevokedSqlRow) -> Result<super::RevokedRow, StoreError> {
    let (serial, status, revoked_at, reason, invalidity, released) = row;
    Ok(
        if CertificateStatus::parse(&status)? == CertificateStatus::Revoked {
            super::RevokedRow {
                serial,
                at: revoked_at.ok_or_else(|| StoreError::Corrupt("revoked_at".into()))?,
                reason_code: u8::try_from(reason.unwrap_or(0))
                    .map_err(|_| StoreError::Corrupt("revocation_reason".into()))?,
                invalidity_date: invalidity,
            }
        } else {
            super::RevokedRow {
                serial,
                at: released.ok_or_else(|| StoreError::Corrupt("hold_released_at".into()))?,
                reason_code: crate::revocation::REMOVE_FROM_CRL,
                invalidity_date: None,
            }
        },
    )
}

pub(super) fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} out of range")))
}

pub(super) fn token_from_row(row: &Row) -> Result<TokenRecord, StoreError> {
    let scopes: String = row.get("scopes")?;
    Ok(TokenRecord {
        id: row.get("id")?,
        name: row.get("name")?,
        scopes: serde_json::from_str(&scopes)
            .map_err(|e| StoreError::Corrupt(format!("token scopes: {e}")))?,
        client_key: row.get("client_key")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
        revoked_at: row.get("revoked_at")?,
        token_hash: row.get("token_hash")?,
        quota: match (
            row.get::<Option<i64>>("quota_count")?,
            row.get::<Option<i64>>("quota_window")?,
        ) {
            (Some(count), Some(window_secs)) => Some(crate::tokens::Quota {
                count: u32::try_from(count)
                    .map_err(|_| StoreError::Corrupt("quota_count".into()))?,
                window_secs,
            }),
            _ => None,
        },
    })
}

/// A `scheduled_revocations` row: (certificate_id, reason, due_at, requested_at).
pub(super) fn scheduled_from_tuple(
    (certificate_id, reason, due_at, requested_at): (i64, i64, i64, i64),
) -> Result<ScheduledRevocation, StoreError> {
    Ok(ScheduledRevocation {
        certificate_id,
        reason: u8::try_from(reason)
            .ok()
            .and_then(RevocationReason::from_code)
            .ok_or_else(|| StoreError::Corrupt(format!("scheduled revocation reason {reason}")))?,
        due_at,
        requested_at,
    })
}

/// The columns of an inventory row, in [`inventory_from_row`]'s terms.
pub(super) const INVENTORY_COLUMNS: &str = "id, fingerprint, subject, issuer, serial, sans, key_type, not_before, not_after, issuer_ca_id, issuer_inventory_id, source, der, imported_at";

pub(super) fn inventory_from_row(row: &Row) -> Result<super::InventoryRecord, StoreError> {
    let sans: String = row.get("sans")?;
    Ok(super::InventoryRecord {
        id: row.get("id")?,
        fingerprint: row.get("fingerprint")?,
        subject: row.get("subject")?,
        issuer: row.get("issuer")?,
        serial: row.get("serial")?,
        sans: serde_json::from_str(&sans).map_err(|e| StoreError::Corrupt(format!("sans: {e}")))?,
        key_type: row.get("key_type")?,
        not_before: row.get("not_before")?,
        not_after: row.get("not_after")?,
        issuer_ca_id: row.get::<Option<i64>>("issuer_ca_id")?.map(IssuerId),
        issuer_inventory_id: row.get("issuer_inventory_id")?,
        source: row.get("source")?,
        der: row.get("der")?,
        imported_at: row.get("imported_at")?,
    })
}

pub(super) fn notification_from_row(row: &Row) -> Result<super::NotificationRecord, StoreError> {
    let state: String = row.get("state")?;
    Ok(super::NotificationRecord {
        id: row.get("id")?,
        target: row.get("target")?,
        threshold_days: u32::try_from(row.get::<i64>("threshold_days")?)
            .map_err(|_| StoreError::Corrupt("threshold_days".into()))?,
        webhook: row.get("webhook")?,
        state: super::NotificationState::parse(&state)?,
        attempts: u32::try_from(row.get::<i64>("attempts")?)
            .map_err(|_| StoreError::Corrupt("attempts".into()))?,
        next_attempt_at: row.get("next_attempt_at")?,
        last_error: row.get("last_error")?,
        payload: row.get("payload")?,
        created_at: row.get("created_at")?,
        delivered_at: row.get("delivered_at")?,
    })
}

pub(super) fn managed_from_row(row: &Row) -> Result<super::ManagedRecord, StoreError> {
    let state: String = row.get("state")?;
    Ok(super::ManagedRecord {
        id: row.get("id")?,
        certificate_id: row.get("certificate_id")?,
        key_type: row.get("key_type")?,
        sealed_key: row.get("sealed_key")?,
        deploy_dir: row.get("deploy_dir")?,
        deploy_hook: row.get("deploy_hook")?,
        state: super::ManagedState::parse(&state)?,
        attempts: u32::try_from(row.get::<i64>("attempts")?)
            .map_err(|_| StoreError::Corrupt("attempts".into()))?,
        next_attempt_at: row.get("next_attempt_at")?,
        last_error: row.get("last_error")?,
        updated_at: row.get("updated_at")?,
        created_at: row.get("created_at")?,
    })
}
