//! One module per subcommand: parse → call ca-core → render.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod ca;
pub(crate) mod cert;
pub(crate) mod crl;
pub(crate) mod db;
pub(crate) mod dual;
pub(crate) mod init;
pub(crate) mod inventory;
pub(crate) mod issue;
pub(crate) mod maintain;
pub(crate) mod managed;
pub(crate) mod notify;
pub(crate) mod ocsp;
pub(crate) mod probe;
pub(crate) mod quickstart;
pub(crate) mod renew;
pub(crate) mod revoke;
pub(crate) mod serve;
pub(crate) mod token;

/// Resolves the certificate a command is about to act on, and refuses an expired one
/// unless `force` (then warns): revoking or renewing a certificate nobody can use any more
/// is usually a mistaken serial. None when caforge issued no such certificate: the
/// command's own service then says what it is (e.g. an imported one).
pub(crate) async fn unexpired_or_forced(
    g: &crate::context::Globals,
    services: &ca_core::authority::Services<ca_core::store::AnyStore>,
    serial: &str,
    ca: Option<&str>,
    force: bool,
) -> anyhow::Result<Option<ca_core::store::CertificateRecord>> {
    let cert = match services.directory.certificate(serial, ca).await {
        Ok(cert) => cert,
        Err(e) if e.kind() == ca_core::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let now = g.now()?;
    if cert.status_at(now) == ca_core::store::Validity::Expired {
        let what = format!(
            "{} ({}) expired on {}",
            cert.serial,
            cert.subject,
            crate::output::timestamp(cert.not_after)
        );
        if !force {
            return Err(ca_core::Error::Invalid(format!(
                "{what}; pass --force to act on it anyway"
            ))
            .into());
        }
        eprintln!("warning: {what}");
    }
    Ok(Some(cert))
}
