//! Certificate revocation lists (RFC 5280 §5): full and delta CRLs, CRL numbers, Issuing
//! Distribution Points and partitions.
//!
//! The TBSCertList is encoded here, not with x509-cert's `CrlBuilder`: that builder copies the
//! issuer certificate's AKI instead of the issuer's key identifier, and a million-entry CRL
//! built from owned structs costs hundreds of megabytes. Entries are streamed into one buffer.

use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CRL_NUMBER, ID_CE_DELTA_CRL_INDICATOR,
    ID_CE_FRESHEST_CRL, ID_CE_ISSUING_DISTRIBUTION_POINT,
};
use der::asn1::{BitString, OctetString};
use der::{Encode, Header, Length, Tag, TagNumber};
use time::OffsetDateTime;
use x509_cert::ext::pkix::crl::IssuingDistributionPoint;
use x509_cert::ext::pkix::AuthorityKeyIdentifier;
use x509_cert::ext::Extension;
use x509_cert::name::Name;

use crate::algorithm::SignatureAlgorithm;
use crate::x509::{extension, uri_distribution_points, uri_point, Time5280};

/// Most entries caforge puts in one CRL; partition the CA beyond this.
pub const MAX_CRL_ENTRIES: usize = 5_000_000;

/// One revoked certificate as a CRL lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The serial number's big-endian bytes (positive).
    pub serial: Vec<u8>,
    /// revocationDate (Unix seconds).
    pub revoked_at: i64,
    /// Reason code (RFC 5280 §5.3.1), `None` for unspecified; 8 (removeFromCRL) in deltas.
    pub reason: Option<u8>,
    /// invalidityDate (RFC 5280 §5.3.2), Unix seconds.
    pub invalidity_date: Option<i64>,
}

/// A TBSCertList without its entries: the TBS header, the small fields and the entries'
/// header (`front`), then the extensions (`back`), made for entries of `entries_len` bytes.
#[derive(Clone, Debug)]
pub struct TbsFrame {
    front: Vec<u8>,
    back: Vec<u8>,
    entries_len: usize,
}

/// Everything in a CRL except the signature.
#[derive(Clone, Debug)]
pub struct CrlTemplate<'a> {
    /// The CA's subject name, as in its certificate.
    pub issuer: Name,
    /// The CA's signature algorithm.
    pub signature_algorithm: SignatureAlgorithm,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: OffsetDateTime,
    /// cRLNumber (RFC 5280 §5.2.3).
    pub number: u64,
    /// The CA's key identifier (its SubjectKeyIdentifier), for the AKI.
    pub authority_key_id: Vec<u8>,
    /// For a delta CRL, the number of its base CRL (Delta CRL Indicator, §5.2.4).
    pub delta_base: Option<u64>,
    /// The URL in the Issuing Distribution Point (§5.2.5): the CDP URL of the certificates
    /// this CRL covers. None: no IDP (the CRL covers every certificate of the CA).
    pub idp_url: Option<String>,
    /// Freshest CRL (§5.2.6): where the delta CRLs for this (full) CRL are published.
    pub freshest_url: Option<String>,
    /// The revoked certificates, encoded in the order they are listed.
    pub entries: &'a EntryList,
}

/// Revoked entries DER-encoded as they are pushed, in CRL order: a CRL of a million entries
/// is one buffer of their encodings (~48 bytes each), never a million owned structures.
#[derive(Clone, Debug, Default)]
pub struct EntryList {
    der: Vec<u8>,
    count: usize,
    last_serial: Vec<u8>,
}

impl EntryList {
    /// Appends `entry`, which must come after every entry already pushed (serials strictly
    /// increasing as unsigned integers: RFC 5280 leaves the order open, caforge keeps one and
    /// refuses duplicates).
    ///
    /// # Errors
    /// A duplicate or out-of-order serial, more than [`MAX_CRL_ENTRIES`], encoding errors.
    pub fn push(&mut self, entry: &RevokedEntry) -> Result<(), String> {
        self.push_parts(
            &entry.serial,
            entry.revoked_at,
            entry.reason,
            entry.invalidity_date,
        )
    }

    /// [`EntryList::push`] from the entry's parts (no owned serial needed).
    ///
    /// # Errors
    /// As [`EntryList::push`].
    pub fn push_parts(
        &mut self,
        serial: &[u8],
        revoked_at: i64,
        reason: Option<u8>,
        invalidity_date: Option<i64>,
    ) -> Result<(), String> {
        if self.count >= MAX_CRL_ENTRIES {
            return Err(format!(
                "more than {MAX_CRL_ENTRIES} revoked entries in one CRL; partition the CA"
            ));
        }
        if self.count > 0
            && (self.last_serial.len(), &self.last_serial[..]) >= (serial.len(), serial)
        {
            return Err(format!(
                "CRL entries are duplicated or out of order at serial {}",
                hex::encode_upper(serial)
            ));
        }
        encode_entry(serial, revoked_at, reason, invalidity_date, &mut self.der)
            .map_err(|e| format!("CRL entry: {e}"))?;
        self.last_serial.clear();
        self.last_serial.extend_from_slice(serial);
        self.count += 1;
        Ok(())
    }

    /// The entries of `entries`, in order.
    ///
    /// # Errors
    /// As [`EntryList::push`].
    pub fn from_entries(entries: &[RevokedEntry]) -> Result<EntryList, String> {
        let mut list = EntryList::default();
        for e in entries {
            list.push(e)?;
        }
        Ok(list)
    }

    /// The TBSCertList of `frame` around these entries, made in the entries' own buffer: the
    /// small parts are moved in around the entries instead of the entries being copied, so
    /// a million-entry CRL is never held twice.
    ///
    /// # Errors
    /// A frame made for other entries.
    pub fn into_tbs_der(self, frame: TbsFrame) -> der::Result<Vec<u8>> {
        if frame.entries_len != self.der.len() {
            return Err(der::ErrorKind::Length { tag: Tag::Sequence }.into());
        }
        let mut tbs = self.der;
        tbs.reserve_exact(frame.front.len() + frame.back.len());
        tbs.splice(0..0, frame.front);
        tbs.extend_from_slice(&frame.back);
        Ok(tbs)
    }

    /// Entries pushed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// No entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Longest serial number an entry takes (RFC 5280 §4.1.2.2 allows 20 octets; caforge reads
/// CRLs of others' CAs too, so some slack).
const MAX_ENTRY_SERIAL: usize = 32;

/// Encodes one `revokedCertificates` entry by hand: every field is short (an entry is at
/// most ~90 bytes, so every length is one octet) and a million of them are encoded per big
/// CRL. The DER is the same as the `der` crate's (tested against it below).
fn encode_entry(
    serial: &[u8],
    revoked_at: i64,
    reason: Option<u8>,
    invalidity_date: Option<i64>,
    buf: &mut Vec<u8>,
) -> der::Result<()> {
    // INTEGER: minimal positive two's complement.
    let first = serial
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(serial.len().saturating_sub(1));
    let serial = serial.get(first..).unwrap_or_default();
    if serial.is_empty() || serial.len() > MAX_ENTRY_SERIAL {
        return Err(der::ErrorKind::Value { tag: Tag::Integer }.into());
    }
    let pad = usize::from(serial[0] & 0x80 != 0);
    let int_len = serial.len() + pad;
    let mut date = [0u8; 17];
    let date_len = time_tlv(revoked_at, false, &mut date)?;
    // Entry extensions: reasonCode (unspecified is left out, RFC 5280 §5.3.1) and
    // invalidityDate (always GeneralizedTime, §5.3.2).
    let reason = reason.filter(|code| *code != 0);
    let mut invalidity = [0u8; 17];
    let invalidity_len = match invalidity_date {
        Some(t) => time_tlv(t, true, &mut invalidity)?,
        None => 0,
    };
    let reason_ext = if reason.is_some() { 12 } else { 0 };
    let invalidity_ext = if invalidity_len > 0 {
        9 + invalidity_len
    } else {
        0
    };
    let exts = reason_ext + invalidity_ext;
    let body = 2 + int_len + date_len + if exts > 0 { 2 + exts } else { 0 };
    // Every length is under 128: short form.
    let short = |n: usize| u8::try_from(n).ok().filter(|n| *n < 0x80);
    let too_long = || der::Error::from(der::ErrorKind::Overlength);
    buf.reserve(body + 2);
    buf.extend_from_slice(&[0x30, short(body).ok_or_else(too_long)?]);
    buf.extend_from_slice(&[0x02, short(int_len).ok_or_else(too_long)?]);
    if pad == 1 {
        buf.push(0);
    }
    buf.extend_from_slice(serial);
    buf.extend_from_slice(&date[..date_len]);
    if exts > 0 {
        buf.extend_from_slice(&[0x30, short(exts).ok_or_else(too_long)?]);
        if let Some(code) = reason {
            // SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED code } }
            buf.extend_from_slice(&[
                0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, code,
            ]);
        }
        if invalidity_len > 0 {
            // SEQUENCE { OID 2.5.29.24, OCTET STRING { GeneralizedTime } }
            let inner = short(invalidity_len).ok_or_else(too_long)?;
            buf.extend_from_slice(&[0x30, inner + 7, 0x06, 0x03, 0x55, 0x1d, 0x18, 0x04, inner]);
            buf.extend_from_slice(&invalidity[..invalidity_len]);
        }
    }
    Ok(())
}

/// Writes the RFC 5280 `Time` TLV of `secs` into `out` and returns its length: UTCTime
/// through 2049, GeneralizedTime from 2050 (or always, with `generalized`).
fn time_tlv(secs: i64, generalized: bool, out: &mut [u8; 17]) -> der::Result<usize> {
    let t = unix(secs)?;
    let year = t.year();
    if !(0..=9999).contains(&year) || secs < 0 {
        return Err(der::ErrorKind::DateTime.into());
    }
    let year = year.unsigned_abs();
    let (tag, digits) = if generalized || year >= 2050 {
        (0x18, 15)
    } else {
        (0x17, 13)
    };
    out[0] = tag;
    out[1] = digits;
    let mut at = 2;
    let mut two = |v: u32| {
        out[at] = b'0' + (v / 10 % 10) as u8;
        out[at + 1] = b'0' + (v % 10) as u8;
        at += 2;
    };
    if digits == 15 {
        two(year / 100);
    }
    two(year % 100);
    two(u32::from(u8::from(t.month())));
    two(u32::from(t.day()));
    two(u32::from(t.hour()));
    two(u32::from(t.minute()));
    two(u32::from(t.second()));
    out[at] = b'Z';
    Ok(usize::from(digits) + 2)
}

fn unix(secs: i64) -> der::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| der::ErrorKind::DateTime.into())
}

fn push_header(buf: &mut Vec<u8>, tag: Tag, len: usize) -> der::Result<()> {
    Header::new(tag, Length::try_from(len)?).encode_to_vec(buf)?;
    Ok(())
}

impl CrlTemplate<'_> {
    /// Checks the CRL before it is signed (RFC 5280 §5): nextUpdate after thisUpdate, a
    /// delta's base older than itself, entries unique and in serial order, CRL number
    /// within 20 octets (it is a u64).
    ///
    /// # Errors
    /// What is wrong.
    pub fn lint(&self) -> Result<(), String> {
        if self.next_update <= self.this_update {
            return Err("nextUpdate is not after thisUpdate (RFC 5280 §5.1.2.5)".into());
        }
        if let Some(base) = self.delta_base {
            if base >= self.number {
                return Err(format!(
                    "delta CRL {} names base {base}, which is not older (RFC 5280 §5.2.4)",
                    self.number
                ));
            }
        }
        // Entry order and uniqueness are kept by `EntryList::push`.
        Ok(())
    }

    /// The CRL extensions, in the order caforge writes them.
    fn extensions(&self) -> der::Result<Vec<Extension>> {
        let mut exts = vec![
            extension(
                ID_CE_AUTHORITY_KEY_IDENTIFIER,
                false,
                &AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(self.authority_key_id.clone())?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
            )?,
            extension(
                ID_CE_CRL_NUMBER,
                false,
                &der::asn1::Uint::new(&self.number.to_be_bytes())?,
            )?,
        ];
        if let Some(base) = self.delta_base {
            exts.push(extension(
                ID_CE_DELTA_CRL_INDICATOR,
                true,
                &der::asn1::Uint::new(&base.to_be_bytes())?,
            )?);
        }
        if let Some(url) = &self.idp_url {
            // x509-cert 0.3 gives IssuingDistributionPoint the wrong OID, so name it here.
            let idp = IssuingDistributionPoint {
                distribution_point: Some(uri_point(url)?),
                only_contains_user_certs: false,
                only_contains_ca_certs: false,
                only_some_reasons: None,
                indirect_crl: false,
                only_contains_attribute_certs: false,
            };
            exts.push(extension(ID_CE_ISSUING_DISTRIBUTION_POINT, true, &idp)?);
        }
        if let (Some(url), None) = (&self.freshest_url, self.delta_base) {
            exts.push(extension(
                ID_CE_FRESHEST_CRL,
                false,
                &uri_distribution_points(url)?,
            )?);
        }
        Ok(exts)
    }

    /// The DER TBSCertList (RFC 5280 §5.1.2) around the already-encoded entries.
    ///
    /// ```text
    /// TBSCertList  ::=  SEQUENCE  {
    ///      version                 Version OPTIONAL, -- if present, MUST be v2
    ///      signature               AlgorithmIdentifier,
    ///      issuer                  Name,
    ///      thisUpdate              Time,
    ///      nextUpdate              Time OPTIONAL,
    ///      revokedCertificates     SEQUENCE OF SEQUENCE { … } OPTIONAL,
    ///      crlExtensions           [0] EXPLICIT Extensions OPTIONAL }
    /// ```
    ///
    /// # Errors
    /// Encoding errors, or more than [`MAX_CRL_ENTRIES`] entries.
    pub fn to_tbs_der(&self) -> der::Result<Vec<u8>> {
        let frame = self.tbs_frame()?;
        let mut tbs =
            Vec::with_capacity(frame.front.len() + self.entries.der.len() + frame.back.len());
        tbs.extend_from_slice(&frame.front);
        tbs.extend_from_slice(&self.entries.der);
        tbs.extend_from_slice(&frame.back);
        Ok(tbs)
    }

    /// What goes before and after the entries' encodings in the TBS (see
    /// [`EntryList::into_tbs_der`]).
    ///
    /// # Errors
    /// As [`CrlTemplate::to_tbs_der`].
    pub fn tbs_frame(&self) -> der::Result<TbsFrame> {
        let mut prefix = Vec::with_capacity(256);
        1u8.encode_to_vec(&mut prefix)?;
        self.signature_algorithm
            .algorithm_identifier()
            .encode_to_vec(&mut prefix)?;
        self.issuer.encode_to_vec(&mut prefix)?;
        Time5280::encode(self.this_update)?.encode_to_vec(&mut prefix)?;
        Time5280::encode(self.next_update)?.encode_to_vec(&mut prefix)?;
        let list = self.entries.der.len();
        if !self.entries.is_empty() {
            push_header(&mut prefix, Tag::Sequence, list)?;
        }
        let mut exts = Vec::new();
        let ext_body = self.extensions()?.to_der()?;
        push_header(
            &mut exts,
            Tag::ContextSpecific {
                constructed: true,
                number: TagNumber(0),
            },
            ext_body.len(),
        )?;
        exts.extend_from_slice(&ext_body);
        let mut front = Vec::with_capacity(prefix.len() + 8);
        push_header(&mut front, Tag::Sequence, prefix.len() + list + exts.len())?;
        front.extend_from_slice(&prefix);
        Ok(TbsFrame {
            front,
            back: exts,
            entries_len: list,
        })
    }
}

/// Attaches `signature` to `tbs_der` in `tbs_der`'s own buffer and returns the CRL DER
/// (the same bytes as `assemble_crl`, without a second copy of a large CRL).
///
/// # Errors
/// DER errors.
pub fn assemble_crl_owned(
    tbs_der: Vec<u8>,
    algorithm: SignatureAlgorithm,
    signature: &[u8],
) -> der::Result<Vec<u8>> {
    let algorithm = algorithm.algorithm_identifier().to_der()?;
    let signature = BitString::from_bytes(signature)?.to_der()?;
    let mut header = Vec::with_capacity(8);
    push_header(
        &mut header,
        Tag::Sequence,
        tbs_der.len() + algorithm.len() + signature.len(),
    )?;
    let mut crl = tbs_der;
    crl.reserve_exact(header.len() + algorithm.len() + signature.len());
    crl.splice(0..0, header);
    crl.extend_from_slice(&algorithm);
    crl.extend_from_slice(&signature);
    Ok(crl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use const_oid::db::rfc5280::{ID_CE_CRL_REASONS, ID_CE_INVALIDITY_DATE};
    use der::{AnyRef, Decode, Sequence};
    use std::str::FromStr;
    use x509_cert::crl::CertificateList;

    /// `CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }`.
    #[derive(Sequence)]
    struct SignedCrl<'a> {
        tbs: AnyRef<'a>,
        signature_algorithm: spki::AlgorithmIdentifierOwned,
        signature: BitString,
    }

    /// The CRL as the `der` crate assembles it (what [`assemble_crl_owned`] must match).
    fn assemble_crl(
        tbs_der: &[u8],
        algorithm: SignatureAlgorithm,
        signature: &[u8],
    ) -> der::Result<Vec<u8>> {
        SignedCrl {
            tbs: AnyRef::from_der(tbs_der)?,
            signature_algorithm: algorithm.algorithm_identifier(),
            signature: BitString::from_bytes(signature)?,
        }
        .to_der()
    }

    fn template(entries: &EntryList) -> CrlTemplate<'_> {
        CrlTemplate {
            issuer: Name::from_str("CN=Test CA").expect("name"),
            signature_algorithm: crate::algorithm::KeyType::P256.signature_algorithm(),
            this_update: OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("t"),
            next_update: OffsetDateTime::from_unix_timestamp(1_800_604_800).expect("t"),
            number: 7,
            authority_key_id: vec![1; 20],
            delta_base: Some(5),
            idp_url: Some("http://127.0.0.1/crl/x.crl".into()),
            freshest_url: None,
            entries,
        }
    }

    #[test]
    fn tbs_parses_with_x509_cert_and_keeps_entries() {
        let entries = vec![
            RevokedEntry {
                serial: vec![0x40, 1, 2, 3],
                revoked_at: 1_799_000_000,
                reason: Some(1),
                invalidity_date: Some(1_798_000_000),
            },
            RevokedEntry {
                serial: vec![0x7f; 16],
                revoked_at: 1_799_000_001,
                reason: Some(0),
                invalidity_date: None,
            },
        ];
        let list = EntryList::from_entries(&entries).expect("in order");
        let t = template(&list);
        let tbs = t.to_tbs_der().expect("tbs");
        let crl_der = assemble_crl(&tbs, t.signature_algorithm, &[0x30, 0x00]).expect("crl");
        let crl: CertificateList = CertificateList::from_der(&crl_der).expect("parses");
        let revoked = crl.tbs_cert_list.revoked_certificates.expect("entries");
        assert_eq!(revoked.len(), 2);
        assert_eq!(revoked[0].serial_number.as_bytes(), &[0x40, 1, 2, 3]);
        // Reason 1 and the invalidity date are entry extensions; unspecified is left out.
        assert_eq!(
            revoked[0].crl_entry_extensions.as_ref().map(Vec::len),
            Some(2)
        );
        assert!(revoked[1].crl_entry_extensions.is_none());
        let exts = crl.tbs_cert_list.crl_extensions.expect("extensions");
        let oids: Vec<_> = exts.iter().map(|e| e.extn_id).collect();
        assert!(oids.contains(&ID_CE_DELTA_CRL_INDICATOR));
        assert!(oids.contains(&ID_CE_ISSUING_DISTRIBUTION_POINT));
    }

    #[test]
    fn in_place_tbs_and_assembly_match_the_copying_ones() {
        let entries: Vec<RevokedEntry> = (1u32..300)
            .map(|i| RevokedEntry {
                serial: i.to_be_bytes().to_vec(),
                revoked_at: 1_799_000_000 + i64::from(i),
                reason: Some((i % 6) as u8),
                invalidity_date: (i % 3 == 0).then_some(1_798_000_000),
            })
            .collect();
        for list in [
            EntryList::from_entries(&entries).expect("in order"),
            EntryList::default(),
        ] {
            let t = template(&list);
            let copied = t.to_tbs_der().expect("tbs");
            let frame = t.tbs_frame().expect("frame");
            let in_place = list.clone().into_tbs_der(frame.clone()).expect("in place");
            assert_eq!(in_place, copied);
            let signature = [0x30, 0x03, 0x02, 0x01, 0x05];
            assert_eq!(
                assemble_crl_owned(in_place, t.signature_algorithm, &signature).expect("owned"),
                assemble_crl(&copied, t.signature_algorithm, &signature).expect("copied")
            );
            // A frame made for other entries is refused.
            let mut other = list.clone();
            other
                .push(&RevokedEntry {
                    serial: vec![0x7f; 8],
                    revoked_at: 1_799_000_000,
                    reason: None,
                    invalidity_date: None,
                })
                .expect("push");
            assert!(other.into_tbs_der(frame).is_err());
        }
    }

    #[test]
    fn empty_crl_has_no_revoked_certificates_field() {
        let empty = EntryList::default();
        let t = template(&empty);
        let tbs = t.to_tbs_der().expect("tbs");
        let crl_der = assemble_crl(&tbs, t.signature_algorithm, &[0x30, 0x00]).expect("crl");
        let crl: CertificateList = CertificateList::from_der(&crl_der).expect("parses");
        assert!(crl.tbs_cert_list.revoked_certificates.is_none());
    }

    /// `revokedCertificates` entry (RFC 5280 §5.1).
    ///
    /// ```text
    /// SEQUENCE { userCertificate CertificateSerialNumber, revocationDate Time,
    ///            crlEntryExtensions Extensions OPTIONAL }
    /// ```
    #[derive(Sequence)]
    struct EntryAsn<'a> {
        serial: der::asn1::UintRef<'a>,
        revocation_date: x509_cert::time::Time,
        extensions: Option<Vec<Extension>>,
    }

    /// The entry as the `der` crate encodes it (what the hand-written encoder must match).
    fn reference_entry(e: &RevokedEntry) -> Vec<u8> {
        let mut exts = Vec::new();
        if let Some(code) = e.reason.filter(|c| *c != 0) {
            exts.push(Extension {
                extn_id: ID_CE_CRL_REASONS,
                critical: false,
                extn_value: OctetString::new([0x0a, 0x01, code]).expect("reason"),
            });
        }
        if let Some(t) = e.invalidity_date {
            exts.push(
                extension(
                    ID_CE_INVALIDITY_DATE,
                    false,
                    &crate::x509::generalized_time(t).expect("time"),
                )
                .expect("ext"),
            );
        }
        EntryAsn {
            serial: der::asn1::UintRef::new(&e.serial).expect("serial"),
            revocation_date: Time5280::encode(unix(e.revoked_at).expect("t")).expect("time"),
            extensions: (!exts.is_empty()).then_some(exts),
        }
        .to_der()
        .expect("entry")
    }

    proptest::proptest! {
        #[test]
        fn hand_encoded_entries_match_the_der_crate(
            serial in proptest::collection::vec(proptest::num::u8::ANY, 1..=21),
            // 1970 .. 2200: both sides of the UTCTime/GeneralizedTime switch in 2050.
            revoked_at in 0i64..7_258_118_400,
            reason in proptest::option::of(0u8..=10),
            invalidity in proptest::option::of(0i64..7_258_118_400),
        ) {
            let e = RevokedEntry { serial, revoked_at, reason, invalidity_date: invalidity };
            let mut mine = Vec::new();
            encode_entry(&e.serial, e.revoked_at, e.reason, e.invalidity_date, &mut mine)
                .expect("encodes");
            proptest::prop_assert_eq!(mine, reference_entry(&e));
        }
    }

    #[test]
    fn entries_out_of_range_are_refused() {
        let mut buf = Vec::new();
        assert!(
            encode_entry(&[1], -1, None, None, &mut buf).is_err(),
            "before 1970"
        );
        assert!(
            encode_entry(&[1], 253_402_300_800, None, None, &mut buf).is_err(),
            "year 10000"
        );
        assert!(
            encode_entry(&[], 0, None, None, &mut buf).is_err(),
            "no serial"
        );
        assert!(
            encode_entry(&[1; 33], 0, None, None, &mut buf).is_err(),
            "serial too long"
        );
        assert!(buf.is_empty(), "nothing written for a refused entry");
    }

    #[test]
    fn entries_must_come_in_serial_order_without_duplicates() {
        let e = |serial: Vec<u8>| RevokedEntry {
            serial,
            revoked_at: 1_799_000_000,
            reason: None,
            invalidity_date: None,
        };
        let mut list = EntryList::default();
        list.push(&e(vec![0x40, 2])).expect("first");
        list.push(&e(vec![0x40, 3])).expect("greater");
        list.push(&e(vec![1, 0, 0])).expect("longer is greater");
        assert!(list.push(&e(vec![1, 0, 0])).is_err(), "duplicate");
        assert!(list.push(&e(vec![0x7f, 0])).is_err(), "smaller");
        assert_eq!(list.len(), 3);
    }
}
