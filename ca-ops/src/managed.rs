//! Deploying managed certificates: the files (`cert.pem`, `chain.pem`, `fullchain.pem`,
//! `key.pem`) written atomically into the deployment directory — each to a temporary file
//! in the same directory, created afresh (`O_EXCL`, `O_NOFOLLOW`: never through a link an
//! intruder left), synced, then renamed over the old one, the key created 0600 — then the
//! hook `caforge.toml` allows under the name the row gives, run with `sh -c` in a cleared
//! environment. The directory must belong to caforge's user (or root) and be writable by
//! no one else. Renewal and deployment failures are recorded and retried with backoff;
//! `caforge managed list` shows them. Every hook run is audited.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ca_core::algorithm::KeyType;
use ca_core::authority::{Deployment, IssueRequest, Lifecycle, Managed, Services, SubjectKey};
use ca_core::authz::Principal;
use ca_core::policy::SubjectAltName;
use ca_core::profile::ProfileName;
use ca_core::store::AnyStore;
use ca_core::Error;

/// Longest a deployment hook may run.
const HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// Most of a failing hook's output kept in the error.
const HOOK_OUTPUT_KEPT: usize = 512;

/// The only variables a hook inherits from caforge's environment (besides the three it is
/// given): none of caforge's secrets (`CAFORGE_PASSPHRASE`, `CAFORGE_PIN`, a `CAFORGE_DB`
/// URL with its password) ever reaches it.
pub const HOOK_ENVIRONMENT: [&str; 8] = [
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME",
];

/// `PATH` for a hook when caforge has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagedReport {
    /// Certificates renewed.
    pub renewed: usize,
    /// Deployments that succeeded (hook included).
    pub deployed: usize,
    /// Renewals or deployments that failed (id, error); retried later.
    pub failed: Vec<(i64, String)>,
}

/// The certificate of a TLS listener caforge serves with a certificate of its own (the
/// API's): a managed certificate from CA `ca` for `names` (DNS names or IP addresses),
/// deployed in `dir` (absolute). The one already there is kept, renewed first when it is
/// expired or revoked; without one, one is issued. It is deployed again whenever the files
/// do not hold it, and renewed by every later [`run_pass`]. Returns the full chain and key
/// files.
///
/// # Errors
/// A CA that is not RSA or ECDSA (rustls has no SM2), no names, a certificate in `dir`
/// from another CA or for other names, and what issuance, renewal or deployment refuse.
pub async fn listener_certificate(
    services: &Services<AnyStore>,
    ca: &str,
    names: &[String],
    dir: &Path,
) -> ca_core::Result<(PathBuf, PathBuf)> {
    let record = services.directory.ca(ca).await?;
    if !(record.key_type.is_rsa() || matches!(record.key_type, KeyType::P256 | KeyType::P384)) {
        return Err(Error::Invalid(format!(
            "CA '{}' has a {} key: a TLS listener (rustls) needs an RSA or ECDSA CA",
            record.name, record.key_type
        )));
    }
    let Some(first) = names.first() else {
        return Err(Error::Invalid(
            "a TLS listener's certificate needs at least one name".into(),
        ));
    };
    let sans = names
        .iter()
        .map(|n| match n.parse() {
            Ok(ip) => Ok(SubjectAltName::Ip(ip)),
            Err(_) => SubjectAltName::dns(n),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dir_text = dir.to_string_lossy().into_owned();
    let now = services.now();
    let lifecycle = &services.lifecycle;
    // The newest managed certificate deployed there, if any.
    let existing = lifecycle
        .managed()
        .await?
        .into_iter()
        .filter(|m| m.record.deploy_dir == dir_text)
        .max_by_key(|m| m.record.id);
    let managed = match existing {
        Some(m) if m.certificate.issuer_name != record.name || m.certificate.sans != sans => {
            let had: Vec<String> = m.certificate.sans.iter().map(ToString::to_string).collect();
            return Err(Error::Invalid(format!(
                "the certificate in {dir_text} ({}) was issued by '{}' for {}; to change the CA or the names, move that directory aside and retire the certificate (`caforge revoke {} --reason superseded`)",
                m.certificate.serial,
                m.certificate.issuer_name,
                had.join(", "),
                m.certificate.serial
            )));
        }
        Some(m) if m.certificate.is_revoked() || m.certificate.not_after <= now => {
            lifecycle.renew_managed(&m).await?
        }
        Some(m) => m,
        None => {
            let request = IssueRequest {
                ca: record.name.clone(),
                key: SubjectKey::Generate(KeyType::P256),
                subject: Some(format!("CN={first}")),
                sans: sans.iter().map(ToString::to_string).collect(),
                profile: ProfileName::TlsServer,
                days: None,
                principal: Principal::Server,
            };
            lifecycle.issue_managed(&request, &dir_text, None).await?.1
        }
    };
    // Deploy unless the files already hold the current certificate.
    let on_disk = std::fs::read(dir.join("cert.pem"))
        .ok()
        .and_then(|pem| ca_core::inventory::certificates_in(&pem).ok())
        .and_then(|certs| certs.into_iter().next())
        .map(|c| c.fingerprint);
    if on_disk.as_deref() != Some(managed.certificate.fingerprint.as_str())
        || !dir.join("key.pem").exists()
    {
        let deployed = deploy(lifecycle, &managed).await;
        lifecycle
            .managed_attempted(&managed, deployed.as_ref().err().map(String::as_str))
            .await?;
        deployed.map_err(|e| Error::Unavailable(format!("deploying into {dir_text}: {e}")))?;
    }
    Ok((dir.join("fullchain.pem"), dir.join("key.pem")))
}

/// One pass: renew what entered its renewal window, deploy what is pending or due for a
/// retry.
///
/// # Errors
/// Store failures (renewal and deployment failures are recorded, not returned).
pub async fn run_pass(lifecycle: &Lifecycle<AnyStore>) -> ca_core::Result<ManagedReport> {
    let mut report = ManagedReport::default();
    for due in lifecycle.managed_due().await? {
        let current = if lifecycle.needs_renewal(&due, lifecycle.now()) {
            match lifecycle.renew_managed(&due).await {
                Ok(renewed) => {
                    report.renewed += 1;
                    renewed
                }
                Err(e) => {
                    let error = format!("renewal failed: {e}");
                    lifecycle.managed_attempted(&due, Some(&error)).await?;
                    report.failed.push((due.record.id, error));
                    continue;
                }
            }
        } else {
            due
        };
        match deploy(lifecycle, &current).await {
            Ok(()) => {
                lifecycle.managed_attempted(&current, None).await?;
                report.deployed += 1;
            }
            Err(error) => {
                tracing::warn!(managed = current.record.id, %error, "deployment failed; will retry");
                lifecycle.managed_attempted(&current, Some(&error)).await?;
                report.failed.push((current.record.id, error));
            }
        }
    }
    Ok(report)
}

/// Writes `m`'s files and runs its hook (audited).
///
/// # Errors
/// What went wrong, for the record (never key material).
pub async fn deploy(lifecycle: &Lifecycle<AnyStore>, m: &Managed) -> Result<(), String> {
    // A hook the configuration no longer allows stops the deployment before any file
    // changes: the files would otherwise be replaced without what reloads them.
    let hook = lifecycle.deploy_hook(m).map_err(|e| e.to_string())?;
    let files = lifecycle
        .managed_deployment(m)
        .await
        .map_err(|e| format!("preparing the files: {e}"))?;
    let dir = PathBuf::from(&m.record.deploy_dir);
    let write_dir = dir.clone();
    tokio::task::spawn_blocking(move || write_files(&write_dir, &files))
        .await
        .map_err(|e| format!("writing the files: {e}"))??;
    if let Some((name, command)) = hook {
        let ran = run_hook(&command, &dir, m).await;
        lifecycle
            .hook_ran(
                m,
                &name,
                &command,
                ran.as_ref().map(|_| ()).map_err(String::as_str),
            )
            .await
            .map_err(|e| format!("recording the hook's run: {e}"))?;
        ran?;
    }
    Ok(())
}

/// Checks that `dir` is a directory owned by this user or root and writable by no one
/// else, so no other user can swap the files caforge writes there.
fn check_directory(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(dir).map_err(|e| format!("checking {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "{} belongs to user {}, not to caforge's user ({me}) or root",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by its group or by others (mode {:o}): make it 0755 or stricter",
            dir.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

fn write_files(dir: &Path, d: &Deployment) -> Result<(), String> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        set_mode(dir, 0o700)?;
    }
    check_directory(dir)?;
    let fullchain = format!("{}{}", d.certificate, d.chain);
    // The key first: a reader that sees the new certificate must find its key.
    write_atomic(dir, "key.pem", d.key.as_bytes(), 0o600)?;
    write_atomic(dir, "chain.pem", d.chain.as_bytes(), 0o644)?;
    write_atomic(dir, "fullchain.pem", fullchain.as_bytes(), 0o644)?;
    write_atomic(dir, "cert.pem", d.certificate.as_bytes(), 0o644)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("setting permissions of {}: {e}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), String> {
    Ok(())
}

/// Writes `name` in `dir` through a temporary file (created afresh with `mode`, never
/// through a link) and a rename (which replaces a link at `name` rather than following it).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<(), String> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.caforge-{}", std::process::id()));
    // A temporary file left by a crash of this same process id; unlinking never follows
    // a link.
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits().cast_signed());
    }
    let result = (|| {
        let mut file = options
            .open(&tmp)
            .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        set_mode(&tmp, mode)?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &target).map_err(|e| format!("replacing {}: {e}", target.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

async fn run_hook(hook: &str, dir: &Path, m: &Managed) -> Result<(), String> {
    let mut command = tokio::process::Command::new("sh");
    command.env_clear();
    for name in HOOK_ENVIRONMENT {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    if std::env::var_os("PATH").is_none() {
        command.env("PATH", DEFAULT_PATH);
    }
    let child = command
        .arg("-c")
        .arg(hook)
        .current_dir(dir)
        .env("CAFORGE_DEPLOY_DIR", dir)
        .env("CAFORGE_SERIAL", m.certificate.serial.to_hex())
        .env("CAFORGE_SUBJECT", &m.certificate.subject)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting the deploy hook: {e}"))?;
    let output = tokio::time::timeout(HOOK_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "the deploy hook ran longer than {}s",
                HOOK_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("running the deploy hook: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if said.is_empty() {
        said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    }
    if said.len() > HOOK_OUTPUT_KEPT {
        let mut cut = HOOK_OUTPUT_KEPT;
        while !said.is_char_boundary(cut) {
            cut -= 1;
        }
        said.truncate(cut);
        said.push('…');
    }
    Err(match output.status.code() {
        Some(code) => format!("the deploy hook exited with status {code}: {said}"),
        None => format!("the deploy hook was killed by a signal: {said}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_afresh_never_through_a_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched").expect("write");
        // Links planted where the temporary file and the target go.
        let tmp = dir
            .path()
            .join(format!(".key.pem.caforge-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).expect("link");
        std::os::unix::fs::symlink(&victim, dir.path().join("key.pem")).expect("link");
        write_atomic(dir.path(), "key.pem", b"secret", 0o600).expect("written");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "untouched");
        let written = dir.path().join("key.pem");
        assert!(!std::fs::symlink_metadata(&written)
            .expect("meta")
            .is_symlink());
        assert_eq!(std::fs::read(&written).expect("read"), b"secret");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&written)
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert!(!tmp.exists(), "no temporary file left");
    }

    #[test]
    fn directories_others_can_write_or_that_are_not_directories_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(check_directory(dir.path()).is_ok());
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o775))
            .expect("chmod");
        assert!(check_directory(dir.path()).is_err());
        let file = dir.path().join("f");
        std::fs::write(&file, "").expect("write");
        assert!(check_directory(&file).is_err());
    }
}
