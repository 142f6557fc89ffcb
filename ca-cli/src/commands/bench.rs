//! `caforge bench …`: whole-system figures for BENCHMARKS.md (scripts/bench-revocation.sh
//! runs them next to OpenSSL in the same run). Timings are printed, never asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use ca_core::algorithm::KeyType;
use ca_core::authority::{CrlRequest, IssueRequest, NewCaRequest, Services, SubjectKey};
use ca_core::keys::{FileKeyProvider, KeyCustody, KeyProvider as _, Passphrase, SoftwareKey};
use ca_core::profile::{ProfileName, Profiles};

use ca_core::revocation::ocsp::{build_request, CertId, CertIdHash, ResponseStatus};
use ca_core::store::{AnyStore, CaRecord, CertificateFilter};
use ca_core::time::SystemClock;
use der::{Decode, Encode};

use crate::context::Globals;
use crate::output::{progress_bar, progress_spinner};

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BenchCommand {
    /// One full CRL of a CA with N revoked certificates in its store: read, encoded,
    /// linted, signed (and verified) and recorded — time and peak memory.
    Crl {
        /// Revoked certificates in the store (made directly in the database beforehand).
        #[arg(long, alias = "entries", default_value_t = 100_000)]
        revoked: u64,
        /// The CA key type.
        #[arg(long, default_value = "rsa2048")]
        key_type: KeyType,
        /// The store (default: a new SQLite file in a temporary directory).
        #[arg(long)]
        db_url: Option<String>,
        /// Also write the CRL as read back from the store (`crl.der`) and the CA
        /// certificates (`cas.pem`) here, for checking with another implementation.
        #[arg(long)]
        out_dir: Option<std::path::PathBuf>,
    },
    /// Raw signatures per second with caforge's own implementation of a key type, on
    /// every core (the ceiling for issuance with that key).
    Sign {
        /// The key type.
        #[arg(long, default_value = "p256")]
        key_type: KeyType,
        /// Seconds to measure.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Sign with a key generated in this key store instead of in memory
        /// (hsm-sim://… or pkcs11:…): signatures/s through the device. The
        /// key is destroyed afterwards. PIN as for CA keys.
        #[arg(long, value_name = "URI")]
        key_store: Option<String>,
        /// Signing threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Certificates issued per second, end to end: CSR parsed and its signature checked,
    /// policy, lint, durable serial reservation, signature (verified), durable commit.
    Issue {
        /// The issuing CA's key type (its signature is what each certificate costs).
        #[arg(long, default_value = "p256")]
        key_type: KeyType,
        /// Certificates to issue.
        #[arg(long, default_value_t = 2_000)]
        count: usize,
        /// Issuances in flight at once (clients of one issuance service).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// The store (default: a new SQLite file in a temporary directory). A
        /// `postgres://` database gets CAs named `bench-*-PID` and keeps them.
        #[arg(long)]
        db_url: Option<String>,
    },
    /// OCSP responses per second: fresh signatures (nonce) and pre-signed (RFC 5019).
    Ocsp {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// The CA key type.
        #[arg(long, default_value = "rsa2048")]
        key_type: KeyType,
    },
}

/// Peak resident set size of this process (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn sign_bench(
    g: &Globals,
    key_type: KeyType,
    seconds: u64,
    key_store: Option<&str>,
    threads: Option<usize>,
) -> Result<serde_json::Value> {
    let scratch = Scratch::new()?;
    let custody = crate::context::with_devices(
        KeyCustody::new(Arc::new(FileKeyProvider::new(
            &scratch.0,
            Some(Passphrase::new("bench-only passphrase")),
        ))),
        g.pin()?,
        // A device key store must be allowed by the home's configuration, when there is one.
        &if g.config_path().exists() {
            g.config()?
        } else {
            ca_core::config::Config::default()
        },
    );
    let (key, key_ref): (Arc<dyn ca_core::keys::Signer>, _) = match key_store {
        None => (
            Arc::new(SoftwareKey::generate(key_type, "1234567812345678")?),
            None,
        ),
        Some(store) => {
            let label = format!("bench-{}-{}", std::process::id(), key_type.as_str());
            let (key_ref, signer) =
                custody.generate(store, key_type, &label, "1234567812345678")?;
            (Arc::from(signer), Some(key_ref))
        }
    };
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let result = sign_with(&key, threads, seconds);
    if let Some(key_ref) = key_ref {
        custody.remove(&key_ref)?;
    }
    let total = result?;
    Ok(serde_json::json!({
        "bench": "sign",
        "key_type": key_type.as_str(),
        "key_store": key_store.unwrap_or("memory"),
        "threads": threads,
        "per_second": total,
    }))
}

/// Signatures per second with `key` on `threads` threads for `seconds`.
fn sign_with(key: &Arc<dyn ca_core::keys::Signer>, threads: usize, seconds: u64) -> Result<f64> {
    let window = Duration::from_secs(seconds);
    let start = Instant::now();
    let counts = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let key = Arc::clone(key);
                scope.spawn(move || -> Result<u64> {
                    let mut message = [0u8; 256];
                    let mut n = 0u64;
                    while start.elapsed() < window {
                        message[..8].copy_from_slice(&(n + ((t as u64) << 48)).to_be_bytes());
                        key.sign(&message)?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("signing thread panicked"))?
            })
            .collect::<Result<Vec<u64>>>()
    })?;
    let total: u64 = counts.iter().sum();
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Resets this process's peak RSS to its current RSS (Linux 4.0+), so the peak of one
/// step can be measured after setup; false where that is not possible.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

async fn crl_bench(
    revoked: u64,
    key_type: KeyType,
    db_url: Option<&str>,
    out_dir: Option<&std::path::Path>,
) -> Result<serde_json::Value> {
    let scratch = Scratch::new()?;
    let (services, store, int) = bench_services(&scratch.0, db_url, key_type).await?;
    let setup = progress_spinner(&format!("storing {revoked} revoked certificates"));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    ca_core::store::bulk::insert_revoked_for_bench(&store, int.id, revoked, now - 86_400).await?;
    setup.finish_and_clear();
    let rss_before = peak_rss_kib();
    let reset = reset_peak_rss();
    let start = Instant::now();
    let signed = services
        .revocations
        .crl(&CrlRequest {
            ca: int.name.clone(),
            delta: false,
            partition: None,
        })
        .await?;
    let elapsed = start.elapsed();
    let crl = signed.first().context("no CRL signed")?;
    if crl.entries as u64 != revoked {
        bail!("{revoked} revoked but {} listed", crl.entries);
    }
    if let Some(dir) = out_dir {
        // After the clock: the CRL as the store gives it back (large ones come from parts).
        let stored = services
            .revocations
            .stored_crl(&int.name, None, false, i64::MAX)
            .await?
            .crl
            .context("the CRL was not recorded")?;
        let cas = services.directory.cas().await?;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("crl.der"), &stored.der)?;
        std::fs::write(
            dir.join("cas.pem"),
            ca_core::pem::certificates(cas.iter().map(|c| c.cert_der.as_slice()))?,
        )?;
    }
    Ok(serde_json::json!({
        "bench": "crl",
        "key_type": key_type.as_str(),
        "store": store.backend(),
        "entries": crl.entries,
        "seconds": elapsed.as_secs_f64(),
        "bytes": crl.der.len(),
        "peak_rss_kib": peak_rss_kib(),
        "rss_kib_before": rss_before,
        "peak_reset": reset,
    }))
}

/// A scratch directory for a benchmark's keys (and SQLite file), removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("caforge-bench-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("keys"))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The services on `db_url` (default: SQLite in `dir`) with a root and an issuing CA of
/// `key_type`, its key already unlocked; returns the services, the store (which the
/// benchmark fills and names) and the issuing CA.
async fn bench_services(
    dir: &std::path::Path,
    db_url: Option<&str>,
    key_type: KeyType,
) -> Result<(Services<AnyStore>, AnyStore, CaRecord)> {
    let url = match db_url {
        Some(u) => u.to_owned(),
        None => format!("sqlite:{}", dir.join("bench.db").display()),
    };
    // Keyed audit entries, as every home writes them.
    let mut audit_key = [0u8; 32];
    ca_core::keys::random_bytes(&mut audit_key)?;
    let store = AnyStore::open(&url)
        .await?
        .with_audit_key(ca_core::audit::AuditKey::from_bytes(&audit_key)?);
    let keys = FileKeyProvider::new(dir, Some(Passphrase::new("bench-only passphrase")));
    let services = Services::new(
        store.clone(),
        Arc::new(keys),
        Arc::new(SystemClock),
        Profiles::from_config(&Default::default(), &Default::default())?,
        ca_core::config::Hooks::default(),
        ca_core::authz::Principal::local_operator(),
    );
    let ca = |name: &str| NewCaRequest {
        name: format!("{name}-{}", std::process::id()),
        subject: Some(format!("CN=caforge {name} {}", std::process::id())),
        key_type,
        days: None,
        path_len: None,
        sm2_id: None,
        name_constraints: Default::default(),
        policies: Default::default(),
        settings: Default::default(),
        key_store: None,
    };
    let root = services
        .lifecycle
        .create_root(&ca("bench-root"))
        .await?
        .record;
    let int = services
        .lifecycle
        .create_intermediate(&root.name, &ca("bench-int"))
        .await?
        .record;
    // Unlock the CA key before any clock starts, as a server does when it starts.
    services.directory.check_key(&int).await?;
    Ok((services, store, int))
}

async fn issue_bench(
    key_type: KeyType,
    count: usize,
    concurrency: usize,
    db_url: Option<&str>,
) -> Result<serde_json::Value> {
    let scratch = Scratch::new()?;
    let (services, store, int) = bench_services(&scratch.0, db_url, key_type).await?;
    let services = Arc::new(services);
    // Distinct subject keys, made before the clock starts; requests cycle through them.
    let csrs: Vec<Vec<u8>> = tokio::task::spawn_blocking(move || {
        (0..count.clamp(1, 64))
            .map(|i| {
                let key = SoftwareKey::generate(KeyType::P256, "1234567812345678")?;
                let name = format!("CN=host{i}.bench.example").parse()?;
                Ok(ca_core::issuance::build_csr(&key, &name)?)
            })
            .collect::<Result<Vec<_>>>()
    })
    .await
    .context("CSR task")??;
    let csrs = Arc::new(csrs);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let principal = ca_core::authz::Principal::local_operator();
    let bar = progress_bar(count as u64, "issuing");
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (services, csrs, next, bar) = (
            Arc::clone(&services),
            Arc::clone(&csrs),
            Arc::clone(&next),
            bar.clone(),
        );
        let ca = int.name.clone();
        let principal = principal.clone();
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), anyhow::Error>(());
                }
                services
                    .issuance
                    .issue(&IssueRequest {
                        ca: ca.clone(),
                        key: SubjectKey::Csr(csrs[i % csrs.len()].clone()),
                        subject: None,
                        // The CSR's CN, which a TLS server's SANs must hold.
                        sans: vec![format!("dns:host{}.bench.example", i % csrs.len())],
                        profile: ProfileName::TlsServer,
                        days: None,
                        principal: principal.clone(),
                    })
                    .await?;
                bar.inc(1);
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("issuing task")??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let stored = services
        .directory
        .certificates(&CertificateFilter {
            issuer: Some(int.id),
            ..Default::default()
        })
        .await?
        .len();
    if stored != count {
        bail!("{count} issued but {stored} stored");
    }
    Ok(serde_json::json!({
        "bench": "issue",
        "key_type": key_type.as_str(),
        "store": store.backend(),
        "count": count,
        "concurrency": concurrency,
        "seconds": elapsed,
        "per_second": count as f64 / elapsed,
    }))
}

async fn ocsp_bench(seconds: u64, key_type: KeyType) -> Result<serde_json::Value> {
    let scratch = Scratch::new()?;
    let (services, _store, int) = bench_services(&scratch.0, None, key_type).await?;
    let mut serials = Vec::new();
    for i in 0..50 {
        let issued = services
            .issuance
            .issue(&IssueRequest {
                ca: int.name.clone(),
                key: SubjectKey::Generate(KeyType::P256),
                subject: Some(format!("CN=host{i}.example")),
                sans: vec![format!("dns:host{i}.example")],
                profile: ProfileName::TlsServer,
                days: None,
                principal: ca_core::authz::Principal::local_operator(),
            })
            .await?;
        serials.push(issued.record.serial.as_bytes().to_vec());
    }
    let cert = x509_cert::Certificate::from_der(&int.cert_der)?;
    let name = cert.tbs_certificate().subject().to_der()?;
    let key_bits = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let request = |i: usize, nonce: Option<&[u8]>| -> Result<Vec<u8>> {
        let id = CertId::new(
            CertIdHash::Sha1,
            &name,
            &key_bits,
            &serials[i % serials.len()],
        )?;
        Ok(build_request(&[id], nonce)?)
    };
    let window = Duration::from_secs(seconds);
    // Fresh: every request carries a nonce, so every response is signed.
    let start = Instant::now();
    let mut fresh = 0u64;
    while start.elapsed() < window {
        let nonce = (fresh as u128).to_be_bytes();
        let out = services
            .responder
            .ocsp_respond(&request(fresh as usize, Some(&nonce))?)
            .await;
        if out.status != ResponseStatus::Successful || out.cached {
            bail!("unexpected OCSP outcome: {:?}", out.detail);
        }
        fresh += 1;
    }
    let fresh_rate = fresh as f64 / start.elapsed().as_secs_f64();
    // Pre-signed: warm the cache, then nonce-less requests are served from it — from memory
    // once the database files are older than the write-mark settle period, as on a
    // responder between revocations.
    services.responder.presign_ocsp(&int.name).await?;
    tokio::time::sleep(ca_core::store::WRITE_MARK_SETTLE + Duration::from_millis(200)).await;
    let start = Instant::now();
    let mut cached = 0u64;
    while start.elapsed() < window {
        let out = services
            .responder
            .ocsp_respond(&request(cached as usize, None)?)
            .await;
        if !out.cached {
            bail!("pre-signed response was not used");
        }
        cached += 1;
    }
    let cached_rate = cached as f64 / start.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "bench": "ocsp",
        "key_type": key_type.as_str(),
        "fresh_per_second": fresh_rate,
        "presigned_per_second": cached_rate,
    }))
}

pub(crate) async fn run(g: &Globals, cmd: BenchCommand) -> Result<()> {
    let report = match cmd {
        BenchCommand::Crl {
            revoked,
            key_type,
            db_url,
            out_dir,
        } => {
            if revoked > ca_core::revocation::crl::MAX_CRL_ENTRIES as u64 {
                bail!(
                    "at most {} entries",
                    ca_core::revocation::crl::MAX_CRL_ENTRIES
                );
            }
            crl_bench(revoked, key_type, db_url.as_deref(), out_dir.as_deref()).await?
        }
        BenchCommand::Ocsp { seconds, key_type } => ocsp_bench(seconds, key_type).await?,
        BenchCommand::Sign {
            key_type,
            seconds,
            key_store,
            threads,
        } => tokio::task::block_in_place(|| {
            sign_bench(g, key_type, seconds, key_store.as_deref(), threads)
        })?,
        BenchCommand::Issue {
            key_type,
            count,
            concurrency,
            db_url,
        } => issue_bench(key_type, count, concurrency, db_url.as_deref()).await?,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
