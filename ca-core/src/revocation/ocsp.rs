//! OCSP (RFC 6960): request parsing, CertID matching and response encoding. Pure functions
//! over bytes; the responder service decides statuses from the revocation records and signs.
//!
//! The RFC 6960 types are defined here with der 0.8 derives (x509-ocsp sits on the older
//! der 0.7 stack). Sizes are bounded before anything is decoded.

use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, AnyRef, BitString, GeneralizedTime, Int, Null, OctetString};
use der::{Choice, Decode, Encode, Enumerated, Sequence, Tag, Tagged};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::Extension;
use x509_cert::name::Name;

use super::RevocationReason;
use crate::algorithm::oid::{ID_PKIX_OCSP_BASIC, ID_PKIX_OCSP_NONCE, ID_SM3};
use crate::algorithm::SignatureAlgorithm;
use crate::x509::generalized_time;

/// Largest OCSP request accepted (RFC 6960 requests are a few hundred bytes).
pub const MAX_OCSP_REQUEST_BYTES: usize = 16 * 1024;
/// Most CertIDs answered in one request; larger requests are malformedRequest.
pub const MAX_CERT_IDS: usize = 64;
/// Longest nonce accepted (RFC 8954 §2.1: 1 to 32 octets).
pub const MAX_NONCE_BYTES: usize = 32;

/// OCSPResponseStatus (RFC 6960 §4.2.1).
///
/// ```text
/// OCSPResponseStatus ::= ENUMERATED { successful (0), malformedRequest (1),
///     internalError (2), tryLater (3), -- (4) is not used
///     sigRequired (5), unauthorized (6) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[repr(u8)]
pub enum ResponseStatus {
    /// Response has valid confirmations.
    Successful = 0,
    /// Illegal confirmation request.
    MalformedRequest = 1,
    /// Internal error in issuer.
    InternalError = 2,
    /// Try again later.
    TryLater = 3,
    /// Must sign the request.
    SigRequired = 5,
    /// Request unauthorized (here: no CertID names a CA of ours).
    Unauthorized = 6,
}

impl ResponseStatus {
    /// The RFC 6960 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::Successful => "successful",
            ResponseStatus::MalformedRequest => "malformedRequest",
            ResponseStatus::InternalError => "internalError",
            ResponseStatus::TryLater => "tryLater",
            ResponseStatus::SigRequired => "sigRequired",
            ResponseStatus::Unauthorized => "unauthorized",
        }
    }
}

/// A hash algorithm a CertID may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertIdHash {
    /// SHA-1 (what most clients still send).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SM3.
    Sm3,
}

impl CertIdHash {
    /// The algorithm for `oid`, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<CertIdHash> {
        [
            (ID_SHA_1, CertIdHash::Sha1),
            (ID_SHA_256, CertIdHash::Sha256),
            (ID_SHA_384, CertIdHash::Sha384),
            (ID_SHA_512, CertIdHash::Sha512),
            (ID_SM3, CertIdHash::Sm3),
        ]
        .into_iter()
        .find(|(o, _)| o == oid)
        .map(|(_, h)| h)
    }

    /// Short name (`sha1`, `sha256`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CertIdHash::Sha1 => "sha1",
            CertIdHash::Sha256 => "sha256",
            CertIdHash::Sha384 => "sha384",
            CertIdHash::Sha512 => "sha512",
            CertIdHash::Sm3 => "sm3",
        }
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            CertIdHash::Sha1 => Sha1::digest(data).to_vec(),
            CertIdHash::Sha256 => Sha256::digest(data).to_vec(),
            CertIdHash::Sha384 => Sha384::digest(data).to_vec(),
            CertIdHash::Sha512 => Sha512::digest(data).to_vec(),
            CertIdHash::Sm3 => sm3::Sm3::digest(data).to_vec(),
        }
    }
}

/// CertID (RFC 6960 §4.1.1).
///
/// ```text
/// CertID ::= SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertIdAsn {
    hash_algorithm: AlgorithmIdentifierOwned,
    issuer_name_hash: OctetString,
    issuer_key_hash: OctetString,
    serial_number: Int,
}

/// `Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }`
#[derive(Clone, Debug, Sequence)]
struct RequestAsn {
    req_cert: CertIdAsn,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Vec<Extension>>,
}

/// ```text
/// TBSRequest ::= SEQUENCE {
///     version             [0] EXPLICIT Version DEFAULT v1,
///     requestorName       [1] EXPLICIT GeneralName OPTIONAL,
///     requestList             SEQUENCE OF Request,
///     requestExtensions   [2] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
struct TbsRequestAsn {
    #[asn1(
        context_specific = "0",
        tag_mode = "EXPLICIT",
        default = "Default::default"
    )]
    version: u8,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    requestor_name: Option<GeneralName>,
    request_list: Vec<RequestAsn>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Vec<Extension>>,
}

/// `OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }`
#[derive(Clone, Debug, Sequence)]
struct OcspRequestAsn {
    tbs_request: TbsRequestAsn,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    optional_signature: Option<Any>,
}

/// One certificate asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertId {
    /// The hash algorithm of the issuer hashes.
    pub hash: CertIdHash,
    /// Upper-case hex of the serial's magnitude (as caforge stores serials).
    pub serial_hex: String,
    asn: CertIdAsn,
}

impl CertId {
    /// Whether this CertID names the issuer with subject `issuer_name_der` (DER of the Name
    /// in its certificate) and public key bits `issuer_key` (subjectPublicKey contents).
    pub fn names_issuer(&self, issuer_name_der: &[u8], issuer_key: &[u8]) -> bool {
        self.asn.issuer_name_hash.as_bytes() == self.hash.digest(issuer_name_der).as_slice()
            && self.asn.issuer_key_hash.as_bytes() == self.hash.digest(issuer_key).as_slice()
    }

    /// Whether this CertID's issuer hashes are `name_hash` and `key_hash` (made with
    /// [`CertId::hash`] from an issuer's name and key beforehand, so that a responder does
    /// not hash its issuers again for every request).
    pub fn has_issuer_hashes(&self, name_hash: &[u8], key_hash: &[u8]) -> bool {
        self.asn.issuer_name_hash.as_bytes() == name_hash
            && self.asn.issuer_key_hash.as_bytes() == key_hash
    }

    /// A CertID for a certificate with `serial` under the given issuer (for clients/tests).
    ///
    /// # Errors
    /// Encoding errors.
    pub fn new(
        hash: CertIdHash,
        issuer_name_der: &[u8],
        issuer_key: &[u8],
        serial: &[u8],
    ) -> der::Result<CertId> {
        let oid = match hash {
            CertIdHash::Sha1 => ID_SHA_1,
            CertIdHash::Sha256 => ID_SHA_256,
            CertIdHash::Sha384 => ID_SHA_384,
            CertIdHash::Sha512 => ID_SHA_512,
            CertIdHash::Sm3 => ID_SM3,
        };
        let asn = CertIdAsn {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: Some(Any::from(Null)),
            },
            issuer_name_hash: OctetString::new(hash.digest(issuer_name_der))?,
            issuer_key_hash: OctetString::new(hash.digest(issuer_key))?,
            serial_number: Int::new(&positive(serial))?,
        };
        Ok(CertId {
            hash,
            serial_hex: hex::encode_upper(strip_zeros(serial)),
            asn,
        })
    }
}

/// `b` without leading zero bytes (a serial's magnitude).
pub(crate) fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// Two's-complement bytes of a non-negative magnitude.
fn positive(b: &[u8]) -> Vec<u8> {
    let b = strip_zeros(b);
    let mut out = Vec::with_capacity(b.len() + 1);
    if b.first().is_none_or(|x| x & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(b);
    out
}

/// A parsed OCSP request.
#[derive(Clone, Debug)]
pub struct OcspRequest {
    /// The certificates asked about, in request order.
    pub cert_ids: Vec<CertId>,
    /// The nonce extension as sent, echoed in the response.
    pub nonce: Option<Extension>,
}

/// Why a request could not be answered: carries the OCSP status to send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status:?}: {message}")]
pub struct RequestError {
    /// The status for the error response.
    pub status: ResponseStatus,
    /// What was wrong (for logs and the CLI; never sent to the client).
    pub message: String,
}

fn malformed(message: impl Into<String>) -> RequestError {
    RequestError {
        status: ResponseStatus::MalformedRequest,
        message: message.into(),
    }
}

/// Longest serial number a CertID may carry, in DER content octets (RFC 5280 §4.1.2.2: no
/// conforming certificate has a longer one).
pub const MAX_SERIAL_OCTETS: usize = 20;

/// Parses a DER OCSPRequest (RFC 6960 §4.1.1).
///
/// # Errors
/// malformedRequest for oversized or truncated DER, trailing data, an unsupported version
/// or CertID hash algorithm, hash parameters other than absent or NULL, a serial longer than
/// [`MAX_SERIAL_OCTETS`], no or more than [`MAX_CERT_IDS`] CertIDs, or a nonce longer than
/// [`MAX_NONCE_BYTES`].
pub fn parse_request(der: &[u8]) -> Result<OcspRequest, RequestError> {
    if der.len() > MAX_OCSP_REQUEST_BYTES {
        return Err(malformed(format!(
            "request is {} bytes (at most {MAX_OCSP_REQUEST_BYTES})",
            der.len()
        )));
    }
    let req = OcspRequestAsn::from_der(der)
        .map_err(|e| malformed(format!("not an OCSP request: {e}")))?;
    let tbs = req.tbs_request;
    if tbs.version != 0 {
        return Err(malformed(format!(
            "unsupported OCSP version {}",
            tbs.version + 1
        )));
    }
    if tbs.request_list.is_empty() {
        return Err(malformed("the request names no certificate"));
    }
    if tbs.request_list.len() > MAX_CERT_IDS {
        return Err(malformed(format!(
            "the request names {} certificates (at most {MAX_CERT_IDS})",
            tbs.request_list.len()
        )));
    }
    let mut cert_ids = Vec::with_capacity(tbs.request_list.len());
    for r in tbs.request_list {
        let asn = r.req_cert;
        let hash = CertIdHash::from_oid(&asn.hash_algorithm.oid).ok_or_else(|| {
            malformed(format!(
                "unsupported CertID hash algorithm {}",
                asn.hash_algorithm.oid
            ))
        })?;
        // The hash algorithms take no parameters: absent or NULL (RFC 5754 §2).
        if let Some(p) = &asn.hash_algorithm.parameters {
            if p.tag() != Tag::Null || !p.value().is_empty() {
                return Err(malformed(
                    "CertID hash algorithm parameters must be absent or NULL",
                ));
            }
        }
        let expected = hash.digest(b"").len();
        if asn.issuer_name_hash.as_bytes().len() != expected
            || asn.issuer_key_hash.as_bytes().len() != expected
        {
            return Err(malformed("CertID hashes have the wrong length"));
        }
        let bytes = asn.serial_number.as_bytes();
        if bytes.len() > MAX_SERIAL_OCTETS {
            return Err(malformed(format!(
                "serial number of {} octets (RFC 5280 §4.1.2.2: at most {MAX_SERIAL_OCTETS})",
                bytes.len()
            )));
        }
        let serial_hex = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            // Negative: no certificate of ours has it. Keep it distinct from every serial.
            format!("-{}", hex::encode_upper(bytes))
        } else {
            hex::encode_upper(strip_zeros(bytes))
        };
        cert_ids.push(CertId {
            hash,
            serial_hex,
            asn,
        });
    }
    let mut nonce = None;
    for ext in tbs.request_extensions.unwrap_or_default() {
        if ext.extn_id == ID_PKIX_OCSP_NONCE {
            let inner = OctetString::from_der(ext.extn_value.as_bytes())
                .map(|o| o.as_bytes().len())
                .unwrap_or(ext.extn_value.as_bytes().len());
            if inner == 0 || inner > MAX_NONCE_BYTES {
                return Err(malformed(format!(
                    "nonce of {inner} bytes (RFC 8954: 1 to {MAX_NONCE_BYTES})"
                )));
            }
            nonce = Some(ext);
        }
    }
    Ok(OcspRequest { cert_ids, nonce })
}

/// Builds a DER OCSPRequest (the client side, used by `caforge ocsp` and tests).
///
/// # Errors
/// Encoding errors.
pub fn build_request(cert_ids: &[CertId], nonce: Option<&[u8]>) -> der::Result<Vec<u8>> {
    let request_extensions = match nonce {
        Some(n) => Some(vec![Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(n)?.to_der()?)?,
        }]),
        None => None,
    };
    OcspRequestAsn {
        tbs_request: TbsRequestAsn {
            version: 0,
            requestor_name: None,
            request_list: cert_ids
                .iter()
                .map(|c| RequestAsn {
                    req_cert: c.asn.clone(),
                    single_request_extensions: None,
                })
                .collect(),
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()
}

/// The status of one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// Not revoked.
    Good,
    /// Revoked at this time (Unix seconds) for this reason.
    Revoked {
        /// revocationTime.
        at: i64,
        /// revocationReason, if not unspecified.
        reason: Option<RevocationReason>,
    },
    /// Not a certificate this responder knows.
    Unknown,
}

/// ```text
/// RevokedInfo ::= SEQUENCE { revocationTime GeneralizedTime,
///                            revocationReason [0] EXPLICIT CRLReason OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
struct RevokedInfoAsn {
    revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    revocation_reason: Option<CrlReason>,
}

/// ```text
/// CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo,
///                         unknown [2] IMPLICIT UnknownInfo }
/// ```
#[derive(Clone, Debug, Choice)]
enum CertStatusAsn {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfoAsn),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// ```text
/// SingleResponse ::= SEQUENCE {
///     certID                  CertID,
///     certStatus              CertStatus,
///     thisUpdate              GeneralizedTime,
///     nextUpdate          [0] EXPLICIT GeneralizedTime OPTIONAL,
///     singleExtensions    [1] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
struct SingleResponseAsn {
    cert_id: CertIdAsn,
    cert_status: CertStatusAsn,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    single_extensions: Option<Vec<Extension>>,
}

/// `ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }`
#[derive(Clone, Debug, Choice)]
enum ResponderIdAsn {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// ```text
/// ResponseData ::= SEQUENCE {
///     version              [0] EXPLICIT Version DEFAULT v1,
///     responderID              ResponderID,
///     producedAt               GeneralizedTime,
///     responses                SEQUENCE OF SingleResponse,
///     responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
struct ResponseDataAsn {
    #[asn1(
        context_specific = "0",
        tag_mode = "EXPLICIT",
        default = "Default::default"
    )]
    version: u8,
    responder_id: ResponderIdAsn,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponseAsn>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Vec<Extension>>,
}

/// ```text
/// BasicOCSPResponse ::= SEQUENCE {
///     tbsResponseData      ResponseData,
///     signatureAlgorithm   AlgorithmIdentifier,
///     signature            BIT STRING,
///     certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
struct BasicOcspResponseAsn<'a> {
    tbs_response_data: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<AnyRef<'a>>>,
}

/// `ResponseBytes ::= SEQUENCE { responseType OBJECT IDENTIFIER, response OCTET STRING }`
#[derive(Clone, Debug, Sequence)]
struct ResponseBytesAsn {
    response_type: ObjectIdentifier,
    response: OctetString,
}

/// ```text
/// OCSPResponse ::= SEQUENCE {
///     responseStatus         OCSPResponseStatus,
///     responseBytes      [0] EXPLICIT ResponseBytes OPTIONAL }
/// ```
#[derive(Clone, Debug, Sequence)]
struct OcspResponseAsn {
    response_status: ResponseStatus,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytesAsn>,
}

/// One answer in a response.
#[derive(Clone, Debug)]
pub struct SingleAnswer {
    /// The CertID as asked (echoed exactly).
    pub cert_id: CertId,
    /// Its status.
    pub status: CertStatus,
    /// thisUpdate (Unix seconds).
    pub this_update: i64,
    /// nextUpdate (Unix seconds).
    pub next_update: i64,
}

/// How a response names its signer (RFC 6960 §4.2.1 ResponderID).
///
/// A response signed by the CA itself carries no certificate (RFC 5019 §2.2.1 keeps
/// responses small), so it names the CA by its subject: a client that holds the CA as a
/// trust anchor finds it by name (GnuTLS looks a signer up by name only). A delegated
/// responder's certificate travels in the response, and its key hash is the shorter name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponderId {
    /// byName: the signer's subject, as DER.
    ByName(Vec<u8>),
    /// byKey: SHA-1 of the signer's public key bits.
    ByKey(Vec<u8>),
}

/// Everything in a BasicOCSPResponse except the signature.
#[derive(Clone, Debug)]
pub struct ResponseTemplate {
    /// The signer, as the ResponderID names it.
    pub responder: ResponderId,
    /// producedAt.
    pub produced_at: i64,
    /// The answers, in request order.
    pub answers: Vec<SingleAnswer>,
    /// The request's nonce extension, echoed.
    pub nonce: Option<Extension>,
}

impl ResponseTemplate {
    /// The DER ResponseData: the bytes the responder signs.
    ///
    /// # Errors
    /// Encoding errors.
    pub fn to_tbs_der(&self) -> der::Result<Vec<u8>> {
        let responses = self
            .answers
            .iter()
            .map(|a| {
                let cert_status = match a.status {
                    CertStatus::Good => CertStatusAsn::Good(Null),
                    CertStatus::Unknown => CertStatusAsn::Unknown(Null),
                    CertStatus::Revoked { at, reason } => CertStatusAsn::Revoked(RevokedInfoAsn {
                        revocation_time: generalized_time(at)?,
                        revocation_reason: reason
                            .filter(|r| *r != RevocationReason::Unspecified)
                            .map(crl_reason),
                    }),
                };
                Ok(SingleResponseAsn {
                    cert_id: a.cert_id.asn.clone(),
                    cert_status,
                    this_update: generalized_time(a.this_update)?,
                    next_update: Some(generalized_time(a.next_update)?),
                    single_extensions: None,
                })
            })
            .collect::<der::Result<Vec<_>>>()?;
        ResponseDataAsn {
            version: 0,
            responder_id: match &self.responder {
                ResponderId::ByName(name) => ResponderIdAsn::ByName(Name::from_der(name)?),
                ResponderId::ByKey(hash) => ResponderIdAsn::ByKey(OctetString::new(hash.clone())?),
            },
            produced_at: generalized_time(self.produced_at)?,
            responses,
            response_extensions: self.nonce.clone().map(|n| vec![n]),
        }
        .to_der()
    }
}

fn crl_reason(r: RevocationReason) -> CrlReason {
    match r {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    }
}

/// A successful OCSPResponse from signed ResponseData; `certs` (the delegated responder's
/// certificate) are included so clients can check the delegation.
///
/// # Errors
/// DER errors.
pub fn assemble_response(
    tbs_der: &[u8],
    algorithm: SignatureAlgorithm,
    signature: &[u8],
    certs: &[Vec<u8>],
) -> der::Result<Vec<u8>> {
    let certs = certs
        .iter()
        .map(|c| AnyRef::from_der(c))
        .collect::<der::Result<Vec<_>>>()?;
    let basic = BasicOcspResponseAsn {
        tbs_response_data: AnyRef::from_der(tbs_der)?,
        signature_algorithm: algorithm.algorithm_identifier(),
        signature: BitString::from_bytes(signature)?,
        certs: if certs.is_empty() { None } else { Some(certs) },
    }
    .to_der()?;
    OcspResponseAsn {
        response_status: ResponseStatus::Successful,
        response_bytes: Some(ResponseBytesAsn {
            response_type: ID_PKIX_OCSP_BASIC,
            response: OctetString::new(basic)?,
        }),
    }
    .to_der()
}

/// An unsigned error response (RFC 6960 §2.3) with `status`.
pub fn error_response(status: ResponseStatus) -> Vec<u8> {
    // Three fixed bytes: SEQUENCE { ENUMERATED status }. Cannot fail.
    vec![0x30, 0x03, 0x0a, 0x01, status as u8]
}

/// What a client learns from a response (caforge's own client and tests use this).
#[derive(Clone, Debug)]
pub struct ParsedResponse {
    /// responseStatus.
    pub status: ResponseStatus,
    /// (serial hex, status, thisUpdate, nextUpdate) for each answer.
    pub answers: Vec<(String, CertStatus, i64, Option<i64>)>,
    /// The nonce extension value, if echoed.
    pub nonce: Option<Vec<u8>>,
    /// producedAt.
    pub produced_at: i64,
    /// ResponseData DER (what the signature covers).
    pub tbs: Vec<u8>,
    /// The signature bits.
    pub signature: Vec<u8>,
    /// The signature algorithm OID.
    pub signature_algorithm: ObjectIdentifier,
    /// Certificates included (DER).
    pub certs: Vec<Vec<u8>>,
}

fn secs(t: &GeneralizedTime) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// Parses a DER OCSPResponse. Does not verify the signature.
///
/// # Errors
/// DER errors.
pub fn parse_response(der: &[u8]) -> der::Result<ParsedResponse> {
    let resp = OcspResponseAsn::from_der(der)?;
    let mut out = ParsedResponse {
        status: resp.response_status,
        answers: vec![],
        nonce: None,
        produced_at: 0,
        tbs: vec![],
        signature: vec![],
        signature_algorithm: ID_PKIX_OCSP_BASIC,
        certs: vec![],
    };
    let Some(bytes) = resp.response_bytes else {
        return Ok(out);
    };
    let basic = BasicOcspResponseAsn::from_der(bytes.response.as_bytes())?;
    let data = ResponseDataAsn::from_der(&basic.tbs_response_data.to_der()?)?;
    out.tbs = basic.tbs_response_data.to_der()?;
    out.signature = basic.signature.raw_bytes().to_vec();
    out.signature_algorithm = basic.signature_algorithm.oid;
    out.certs = basic
        .certs
        .unwrap_or_default()
        .iter()
        .map(|c| c.to_der())
        .collect::<der::Result<_>>()?;
    out.produced_at = secs(&data.produced_at);
    for r in data.responses {
        let status = match r.cert_status {
            CertStatusAsn::Good(_) => CertStatus::Good,
            CertStatusAsn::Unknown(_) => CertStatus::Unknown,
            CertStatusAsn::Revoked(info) => CertStatus::Revoked {
                at: secs(&info.revocation_time),
                reason: info
                    .revocation_reason
                    .and_then(|r| RevocationReason::from_code(r as u8)),
            },
        };
        out.answers.push((
            hex::encode_upper(strip_zeros(r.cert_id.serial_number.as_bytes())),
            status,
            secs(&r.this_update),
            r.next_update.as_ref().map(secs),
        ));
    }
    for ext in data.response_extensions.unwrap_or_default() {
        if ext.extn_id == ID_PKIX_OCSP_NONCE {
            out.nonce = Some(ext.extn_value.as_bytes().to_vec());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(hash: CertIdHash, serial: &[u8]) -> CertId {
        CertId::new(hash, b"issuer name", b"issuer key", serial).expect("certid")
    }

    #[test]
    fn request_round_trip_with_nonce_and_several_cert_ids() {
        let ids = vec![
            cid(CertIdHash::Sha1, &[0x40, 1]),
            cid(CertIdHash::Sha256, &[0x80, 2]),
        ];
        let der = build_request(&ids, Some(&[7; 16])).expect("build");
        let req = parse_request(&der).expect("parse");
        assert_eq!(req.cert_ids, ids);
        assert_eq!(req.cert_ids[1].serial_hex, "8002");
        assert!(req.cert_ids[0].names_issuer(b"issuer name", b"issuer key"));
        assert!(!req.cert_ids[0].names_issuer(b"other", b"issuer key"));
        assert!(req.nonce.is_some());
    }

    #[test]
    fn bad_requests_are_malformed_and_never_panic() {
        let ids = vec![cid(CertIdHash::Sha1, &[1])];
        let good = build_request(&ids, None).expect("build");
        for cut in 0..good.len() {
            let err = parse_request(&good[..cut]).expect_err("truncated");
            assert_eq!(err.status, ResponseStatus::MalformedRequest);
        }
        let many: Vec<CertId> = (0..1000u32)
            .map(|i| cid(CertIdHash::Sha1, &i.to_be_bytes()))
            .collect();
        let big = build_request(&many, None).expect("build");
        assert_eq!(
            parse_request(&big).expect_err("too many").status,
            ResponseStatus::MalformedRequest
        );
        let long_nonce = build_request(&ids, Some(&[1; 64])).expect("build");
        assert_eq!(
            parse_request(&long_nonce).expect_err("nonce").status,
            ResponseStatus::MalformedRequest
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(parse_request(&trailing).is_err());
        // An unknown hash algorithm (MD5) in the CertID.
        let mut md5 = cid(CertIdHash::Sha1, &[1]);
        md5.asn.hash_algorithm.oid = ObjectIdentifier::new_unwrap("1.2.840.113549.2.5");
        let der = build_request(&[md5], None).expect("build");
        let err = parse_request(&der).expect_err("md5");
        assert!(err.message.contains("hash algorithm"), "{}", err.message);
        // Serials: 20 octets (with the sign octet) is the most a certificate has; 21 is not
        // a question about any certificate.
        let mut twenty = [0x11u8; MAX_SERIAL_OCTETS];
        twenty[0] = 0x7f;
        let der = build_request(&[cid(CertIdHash::Sha256, &twenty)], None).expect("build");
        assert!(parse_request(&der).is_ok());
        let der = build_request(&[cid(CertIdHash::Sha256, &[0x11; 21])], None).expect("build");
        let err = parse_request(&der).expect_err("21 octets");
        assert_eq!(err.status, ResponseStatus::MalformedRequest);
        assert!(err.message.contains("serial"), "{}", err.message);
        // Hash parameters: absent or NULL only.
        let mut null = cid(CertIdHash::Sha1, &[1]);
        null.asn.hash_algorithm.parameters = Some(Any::from(Null));
        assert!(parse_request(&build_request(&[null], None).expect("build")).is_ok());
        let mut odd = cid(CertIdHash::Sha1, &[1]);
        odd.asn.hash_algorithm.parameters =
            Some(Any::encode_from(&OctetString::new([1u8]).expect("octets")).expect("any"));
        let err =
            parse_request(&build_request(&[odd], None).expect("build")).expect_err("parameters");
        assert_eq!(err.status, ResponseStatus::MalformedRequest);
        assert!(err.message.contains("parameters"), "{}", err.message);
    }

    proptest::proptest! {
        /// The fuzz target's property, on every test run: random bytes and mutated real
        /// requests (OpenSSL-made seeds and our own) parse or are malformedRequest.
        #[test]
        fn parser_never_panics(
            seed in 0usize..5,
            flips in proptest::collection::vec((0usize..256, proptest::num::u8::ANY), 0..6),
            cut in 0usize..300,
            random in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let seeds: [&[u8]; 4] = [
                include_bytes!("../../../fuzz/corpus/ocsp_request/sha1-nonce.der"),
                include_bytes!("../../../fuzz/corpus/ocsp_request/sha256.der"),
                include_bytes!("../../../fuzz/corpus/ocsp_request/two.der"),
                include_bytes!("../../../fuzz/corpus/ocsp_request/sha384-serial.der"),
            ];
            let mut data = match seeds.get(seed) {
                Some(s) => s.to_vec(),
                None => random,
            };
            for (at, v) in flips {
                if !data.is_empty() {
                    let i = at % data.len();
                    data[i] ^= v;
                }
            }
            data.truncate(cut);
            match parse_request(&data) {
                Ok(req) => {
                    let again = build_request(&req.cert_ids, None).expect("re-encode");
                    proptest::prop_assert_eq!(parse_request(&again).expect("re-parse").cert_ids, req.cert_ids);
                }
                Err(e) => proptest::prop_assert_eq!(e.status, ResponseStatus::MalformedRequest),
            }
        }
    }

    #[test]
    fn openssl_requests_parse() {
        let two = include_bytes!("../../../fuzz/corpus/ocsp_request/two.der");
        let req = parse_request(two).expect("openssl request");
        assert_eq!(req.cert_ids.len(), 2);
        assert!(req.nonce.is_some());
        let sha384 = include_bytes!("../../../fuzz/corpus/ocsp_request/sha384-serial.der");
        let req = parse_request(sha384).expect("openssl request");
        assert_eq!(req.cert_ids[0].hash, CertIdHash::Sha384);
        assert_eq!(req.cert_ids[0].serial_hex, "1234");
    }

    #[test]
    fn response_round_trip() {
        let ids = [
            cid(CertIdHash::Sha256, &[0x41; 16]),
            cid(CertIdHash::Sha1, &[0x42]),
        ];
        let t = ResponseTemplate {
            responder: ResponderId::ByKey(vec![9; 20]),
            produced_at: 1_800_000_000,
            answers: vec![
                SingleAnswer {
                    cert_id: ids[0].clone(),
                    status: CertStatus::Revoked {
                        at: 1_799_999_000,
                        reason: Some(RevocationReason::KeyCompromise),
                    },
                    this_update: 1_800_000_000,
                    next_update: 1_800_086_400,
                },
                SingleAnswer {
                    cert_id: ids[1].clone(),
                    status: CertStatus::Good,
                    this_update: 1_800_000_000,
                    next_update: 1_800_086_400,
                },
            ],
            nonce: None,
        };
        let tbs = t.to_tbs_der().expect("tbs");
        let alg = crate::algorithm::KeyType::Ed25519.signature_algorithm();
        let der = assemble_response(&tbs, alg, &[1; 64], &[]).expect("assemble");
        let parsed = parse_response(&der).expect("parse");
        assert_eq!(parsed.status, ResponseStatus::Successful);
        assert_eq!(parsed.tbs, tbs);
        assert_eq!(parsed.answers[0].0, "41".repeat(16));
        assert_eq!(
            parsed.answers[0].1,
            CertStatus::Revoked {
                at: 1_799_999_000,
                reason: Some(RevocationReason::KeyCompromise)
            }
        );
        assert_eq!(parsed.answers[1].1, CertStatus::Good);
        assert_eq!(parsed.answers[1].3, Some(1_800_086_400));
        let err = parse_response(&error_response(ResponseStatus::Unauthorized)).expect("parse");
        assert_eq!(err.status, ResponseStatus::Unauthorized);
    }
}
