//! `caforge probe`: connect to a TLS endpoint with rustls, take the chain it serves, and
//! check it the way a careful client would — expiry of every certificate, the host name,
//! whether it builds to a trusted root (rustls-webpki), and each certificate's revocation
//! status from its OCSP responder and CRL distribution points (signatures checked).
//!
//! The handshake accepts any chain (its signatures are still verified), so that a broken
//! endpoint can be reported in full instead of as one handshake error; nothing is sent to
//! the endpoint after the handshake.

use std::io::Write as _;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ca_core::inventory::ExternalCertificate;
use ca_core::revocation::check::{
    check_crl, check_ocsp_response, issued_by, ocsp_request, revocation_urls, RevocationStatus,
};
use der::{Decode, Encode};
use hyper::Method;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use x509_cert::Certificate;

/// Connection and handshake timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest CRL downloaded.
const MAX_CRL_BYTES: usize = 64 * 1024 * 1024;
/// Largest OCSP response read.
const MAX_OCSP_BYTES: usize = 64 * 1024;

/// What to probe and what to trust.
#[derive(Clone, Debug, Default)]
pub struct ProbeOptions {
    /// `HOST:PORT`.
    pub address: String,
    /// The name to send in SNI and check the certificate against (HOST when absent).
    pub sni: Option<String>,
    /// Trust anchors, each with where it comes from (`caforge`, `ca-file`), tried in order.
    pub roots: Vec<(String, Vec<u8>)>,
    /// Also trust the system's root store.
    pub system_roots: bool,
    /// A leaf expiring within this many days is a problem.
    pub min_days: i64,
    /// "Now" (Unix seconds).
    pub now: i64,
    /// Signer IDs to check SM2 signatures in the chain with (caforge's CAs' own, e.g.
    /// `1234567812345678`), tried in order.
    pub sm2_ids: Vec<String>,
}

/// `AlgorithmIdentifier` contents of an SM2 public key: id-ecPublicKey with the curve
/// sm2p256v1 (1.2.156.10197.1.301).
const SM2_PUBLIC_KEY_ALG_ID: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55,
    0x01, 0x82, 0x2d,
];

/// `AlgorithmIdentifier` contents of SM3withSM2 (1.2.156.10197.1.501), parameters absent.
const SM3_WITH_SM2_ALG_ID: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75];

/// SM3withSM2 for rustls-webpki's path building, checked by caforge's own SM2 verifier with
/// each signer ID the caller trusts. TLS handshakes stay RSA/ECDSA; this only lets a chain
/// whose certificates are signed with SM2 (an ECDSA leaf under an SM2 CA) build to a root.
#[derive(Debug)]
struct Sm3WithSm2 {
    ids: Vec<String>,
}

impl rustls::pki_types::SignatureVerificationAlgorithm for Sm3WithSm2 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), rustls::pki_types::InvalidSignature> {
        if self
            .ids
            .iter()
            .any(|id| ca_core::keys::verify_sm2(public_key, message, signature, id).is_ok())
        {
            Ok(())
        } else {
            Err(rustls::pki_types::InvalidSignature)
        }
    }

    fn public_key_alg_id(&self) -> rustls::pki_types::AlgorithmIdentifier {
        rustls::pki_types::AlgorithmIdentifier::from_slice(SM2_PUBLIC_KEY_ALG_ID)
    }

    fn signature_alg_id(&self) -> rustls::pki_types::AlgorithmIdentifier {
        rustls::pki_types::AlgorithmIdentifier::from_slice(SM3_WITH_SM2_ALG_ID)
    }
}

/// One certificate the endpoint served.
#[derive(Clone, Debug)]
pub struct ServedCertificate {
    /// DER.
    pub der: Vec<u8>,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial (hex).
    pub serial: String,
    /// notBefore.
    pub not_before: i64,
    /// notAfter.
    pub not_after: i64,
    /// Whole days until notAfter (negative once expired).
    pub days_left: i64,
    /// Hex SHA-256 of the DER.
    pub fingerprint: String,
}

/// One revocation check of one certificate.
#[derive(Clone, Debug)]
pub struct RevocationCheck {
    /// Position in the served chain (0: the leaf).
    pub index: usize,
    /// `ocsp` or `crl`.
    pub method: &'static str,
    /// Where it asked.
    pub url: String,
    /// What it learnt.
    pub status: Result<RevocationStatus, String>,
}

/// Everything a probe found.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// The name checked.
    pub name: String,
    /// The chain as served, leaf first.
    pub chain: Vec<ServedCertificate>,
    /// Whether the leaf is valid for the name.
    pub hostname: Result<(), String>,
    /// The trust anchor the chain builds to (`caforge: CN=…`), or why it does not.
    pub trust: Result<String, String>,
    /// Revocation checks, leaf first.
    pub revocation: Vec<RevocationCheck>,
    /// Everything wrong, one line each (empty: healthy).
    pub problems: Vec<String>,
}

#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut seen) = self.chain.lock() {
            *seen = chain;
        }
        // Judged after the handshake (see the module docs).
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Splits `HOST:PORT` (IPv6 as `[::1]:443`).
fn host_of(address: &str) -> Result<String, String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("'{address}' is not HOST:PORT"))?;
    port.parse::<u16>()
        .map_err(|_| format!("'{port}' is not a port number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("'{address}' has no host"));
    }
    Ok(host.to_owned())
}

/// The TLS handshake: the chain the endpoint serves for `name`.
fn handshake(
    address: &str,
    name: &str,
    provider: Arc<CryptoProvider>,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|e| format!("'{name}' is not a valid server name: {e}"))?;
    let verifier = Arc::new(RecordingVerifier {
        provider: Arc::clone(&provider),
        chain: Mutex::new(Vec::new()),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&verifier) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();
    let mut conn = ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| format!("TLS client: {e}"))?;
    let addr = address
        .to_socket_addrs()
        .map_err(|e| format!("resolving {address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address} resolves to no address"))?;
    let mut sock = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("connecting to {address}: {e}"))?;
    sock.set_read_timeout(Some(CONNECT_TIMEOUT))
        .and_then(|()| sock.set_write_timeout(Some(CONNECT_TIMEOUT)))
        .map_err(|e| format!("{address}: {e}"))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .map_err(|e| format!("TLS handshake with {address}: {e}"))?;
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    let _ = sock.flush();
    let chain = verifier
        .chain
        .lock()
        .map_err(|_| "internal: chain lock poisoned".to_owned())?
        .clone();
    if chain.is_empty() {
        return Err(format!("{address} served no certificate"));
    }
    Ok(chain)
}

fn describe(der: &[u8], now: i64) -> Result<ServedCertificate, String> {
    let c = ExternalCertificate::from_der(der)
        .map_err(|e| format!("a served certificate does not parse: {e}"))?;
    Ok(ServedCertificate {
        days_left: (c.not_after - now).div_euclid(86_400),
        der: c.der,
        subject: c.subject,
        issuer: c.issuer,
        serial: c.serial,
        not_before: c.not_before,
        not_after: c.not_after,
        fingerprint: c.fingerprint,
    })
}

/// Which anchor set the chain builds to at `time`.
fn trust(
    chain: &[CertificateDer<'static>],
    anchors: &[(String, CertificateDer<'static>)],
    algs: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm],
    time: i64,
) -> Result<String, String> {
    let ee = webpki::EndEntityCert::try_from(&chain[0])
        .map_err(|e| format!("the leaf is not usable: {e:?}"))?;
    let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(time).unwrap_or(0)));
    let mut last = "no trust anchors".to_owned();
    let mut groups: Vec<&str> = anchors.iter().map(|(s, _)| s.as_str()).collect();
    groups.dedup();
    for group in groups {
        let certs: Vec<&CertificateDer<'static>> = anchors
            .iter()
            .filter(|(s, _)| s == group)
            .map(|(_, c)| c)
            .collect();
        let trust_anchors: Vec<_> = certs
            .iter()
            .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
            .collect();
        match ee.verify_for_usage(
            algs,
            &trust_anchors,
            &chain[1..],
            at,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        ) {
            Ok(path) => {
                let anchor_subject = path.anchor().subject.as_ref().to_vec();
                // The anchor's subject as a DN, from the anchor certificate it came from.
                let name = certs
                    .iter()
                    .filter_map(|c| Certificate::from_der(c).ok())
                    .find(|c| {
                        c.tbs_certificate()
                            .subject()
                            .to_der()
                            .is_ok_and(|d| d.ends_with(&anchor_subject))
                    })
                    .map_or_else(String::new, |c| c.tbs_certificate().subject().to_string());
                return Ok(format!("{group}: {name}"));
            }
            Err(e) => last = format!("{e:?}"),
        }
    }
    Err(format!(
        "the chain does not build to a trusted root ({last})"
    ))
}

/// Probes `opts.address`.
///
/// # Errors
/// When no chain could be obtained at all (connection, handshake, bad arguments); every
/// finding about the chain is in the report instead.
pub async fn probe(opts: &ProbeOptions) -> Result<ProbeReport, String> {
    let host = host_of(&opts.address)?;
    let name = opts.sni.clone().unwrap_or(host);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = {
        let (address, name, provider) = (opts.address.clone(), name.clone(), Arc::clone(&provider));
        tokio::task::spawn_blocking(move || handshake(&address, &name, provider))
            .await
            .map_err(|e| format!("probe task failed: {e}"))??
    };
    let now = opts.now;
    let served: Vec<ServedCertificate> = chain
        .iter()
        .map(|c| describe(c.as_ref(), now))
        .collect::<Result<_, _>>()?;
    let mut problems = Vec::new();
    for (i, c) in served.iter().enumerate() {
        let what = if i == 0 {
            "the leaf".to_owned()
        } else {
            format!("chain certificate {i} ({})", c.subject)
        };
        if c.not_after < now {
            problems.push(format!("{what} expired {} day(s) ago", -c.days_left));
        } else if c.not_before > now {
            problems.push(format!("{what} is not valid yet"));
        } else if i == 0 && c.days_left < opts.min_days {
            problems.push(format!("the leaf expires in {} day(s)", c.days_left));
        }
    }

    let ee = webpki::EndEntityCert::try_from(&chain[0]);
    let hostname = match (&ee, ServerName::try_from(name.clone())) {
        (Ok(ee), Ok(sn)) => ee
            .verify_is_valid_for_subject_name(&sn)
            .map_err(|_| format!("the certificate is not valid for '{name}'")),
        (Err(e), _) => Err(format!("the leaf is not usable: {e:?}")),
        (_, Err(e)) => Err(format!("'{name}': {e}")),
    };
    if let Err(e) = &hostname {
        problems.push(e.clone());
    }

    let mut anchors: Vec<(String, CertificateDer<'static>)> = opts
        .roots
        .iter()
        .map(|(source, der)| (source.clone(), CertificateDer::from(der.clone())))
        .collect();
    if opts.system_roots {
        anchors.extend(
            rustls_native_certs::load_native_certs()
                .certs
                .into_iter()
                .map(|c| ("system".to_owned(), c)),
        );
    }
    // Judge trust where every served certificate is valid, so that an expired certificate
    // is reported as expired and not also as untrusted.
    let trust_time = served
        .iter()
        .map(|c| c.not_after)
        .min()
        .map_or(now, |earliest| now.min(earliest - 1))
        .max(served.iter().map(|c| c.not_before).max().unwrap_or(now));
    let sm2 = Sm3WithSm2 {
        ids: if opts.sm2_ids.is_empty() {
            vec![ca_core::algorithm::DEFAULT_SM2_ID.to_owned()]
        } else {
            opts.sm2_ids.clone()
        },
    };
    let mut algs: Vec<&dyn rustls::pki_types::SignatureVerificationAlgorithm> =
        provider.signature_verification_algorithms.all.to_vec();
    algs.push(&sm2);
    let trust = trust(&chain, &anchors, &algs, trust_time);
    if let Err(e) = &trust {
        problems.push(e.clone());
    }

    let revocation = revocation_checks(&served, &anchors, now).await;
    for r in &revocation {
        let who = if r.index == 0 {
            "the leaf".to_owned()
        } else {
            format!("chain certificate {}", r.index)
        };
        match &r.status {
            Ok(RevocationStatus::Good) => {}
            Ok(RevocationStatus::Revoked { reason, .. }) => problems.push(format!(
                "{who} is revoked ({}, {} {})",
                reason.map_or("unspecified", |r| r.as_str()),
                r.method,
                r.url
            )),
            Ok(RevocationStatus::Unknown) => {
                problems.push(format!("{who} is unknown to its OCSP responder {}", r.url));
            }
            Err(e) => problems.push(format!("{who}: revocation check via {} failed: {e}", r.url)),
        }
    }
    Ok(ProbeReport {
        name,
        chain: served,
        hostname,
        trust,
        revocation,
        problems,
    })
}

/// OCSP and CRL checks for every served certificate whose issuer is known (served after
/// it, or a trust anchor).
async fn revocation_checks(
    served: &[ServedCertificate],
    anchors: &[(String, CertificateDer<'static>)],
    now: i64,
) -> Vec<RevocationCheck> {
    let parsed: Vec<Certificate> = served
        .iter()
        .filter_map(|c| Certificate::from_der(&c.der).ok())
        .collect();
    let anchor_certs: Vec<Certificate> = anchors
        .iter()
        .filter_map(|(_, c)| Certificate::from_der(c.as_ref()).ok())
        .collect();
    let mut out = Vec::new();
    for (index, cert) in parsed.iter().enumerate() {
        let Some(issuer) = parsed[index + 1..]
            .iter()
            .chain(anchor_certs.iter())
            .find(|i| issued_by(cert, i) && *i != cert)
        else {
            continue;
        };
        let (ocsp_urls, crl_urls) = revocation_urls(cert);
        for url in ocsp_urls {
            let status = match ocsp_request(cert, issuer) {
                Ok(request) => match crate::http_client::send(
                    Method::POST,
                    &url,
                    Some("application/ocsp-request"),
                    request,
                    MAX_OCSP_BYTES,
                )
                .await
                {
                    Ok((200, body)) => check_ocsp_response(&body, cert, issuer, now),
                    Ok((code, _)) => Err(format!("HTTP {code}")),
                    Err(e) => Err(e),
                },
                Err(e) => Err(format!("building the request: {e}")),
            };
            out.push(RevocationCheck {
                index,
                method: "ocsp",
                url,
                status,
            });
        }
        for url in crl_urls {
            let status =
                match crate::http_client::send(Method::GET, &url, None, Vec::new(), MAX_CRL_BYTES)
                    .await
                {
                    Ok((200, body)) => check_crl(&body, cert, issuer, now),
                    Ok((code, _)) => Err(format!("HTTP {code}")),
                    Err(e) => Err(e),
                };
            out.push(RevocationCheck {
                index,
                method: "crl",
                url,
                status,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sm2_algorithm_identifiers_are_the_oids_der() {
        use der::Encode as _;
        let oid = |s: &str| {
            der::asn1::ObjectIdentifier::new(s)
                .expect("oid")
                .to_der()
                .expect("der")
        };
        let mut key = oid("1.2.840.10045.2.1");
        key.extend(oid("1.2.156.10197.1.301"));
        assert_eq!(SM2_PUBLIC_KEY_ALG_ID, key.as_slice());
        assert_eq!(SM3_WITH_SM2_ALG_ID, oid("1.2.156.10197.1.501").as_slice());
    }

    #[test]
    fn addresses_need_a_host_and_a_port() {
        assert_eq!(host_of("example.com:443").unwrap(), "example.com");
        assert_eq!(host_of("[::1]:8443").unwrap(), "::1");
        assert!(host_of("example.com").is_err());
        assert!(host_of(":443").is_err());
        assert!(host_of("example.com:http").is_err());
    }
}
