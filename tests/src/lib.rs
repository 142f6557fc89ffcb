//! Helpers for the workspace integration tests: run the real `caforge` binary in a scratch
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::new_without_default)]
//! home and check what it makes with the system `openssl`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod hsm;
pub mod pkcs11;
pub mod server;

/// The passphrase every test home uses (test-only).
pub const TEST_PASSPHRASE: &str = "test-only passphrase, not a secret";

/// The KMC's own passphrase in tests (`kmc-pass.txt`, given to every command): escrowed
/// encryption keys are sealed under it, never the CA passphrase.
pub const TEST_KMC_PASSPHRASE: &str = "test-only KMC escrow passphrase";

/// The passphrase subscriber keys are written under in tests (`key-pass.txt` in every
/// scratch directory): a subscriber's key never gets the CA passphrase.
pub const TEST_KEY_PASSPHRASE: &str = "test-only subscriber key passphrase";

/// Path of the `caforge` binary built from this workspace.
pub fn caforge_bin() -> PathBuf {
    workspace_bin("caforge")
}

/// Path of binary `bin` (`caforge` or `hsm-sim`) in this test's profile.
///
/// The binaries come from the test command's own build: `cargo test --workspace` builds
/// every package's binaries for its integration tests (`ca-cli/tests`, `hsm-sim/tests`)
/// before any test runs, into the same profile directory as this test. Run these tests
/// through it (not `-p caforge-tests` alone, which would find an older binary or none).
pub fn workspace_bin(bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>/
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(bin);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        path.display()
    );
    path
}

/// A scratch caforge home with a passphrase file.
pub struct Home {
    /// Holds the directory for the test's lifetime.
    pub dir: tempfile::TempDir,
}

/// The result of one command.
#[derive(Debug)]
pub struct Run {
    /// Exit success.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The signal that ended the process, if one did (SIGABRT is 6).
    pub signal: Option<i32>,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        use std::os::unix::process::ExitStatusExt as _;
        Run {
            ok: o.status.success(),
            signal: o.status.signal(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Home {
    /// A new, initialised home.
    pub fn new() -> Home {
        let home = Home::empty();
        home.ok(&["init"]);
        home
    }

    /// A scratch directory with a passphrase file but no home yet.
    pub fn empty() -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pass.txt"), TEST_PASSPHRASE).expect("write passphrase");
        std::fs::write(dir.path().join("kmc-pass.txt"), TEST_KMC_PASSPHRASE)
            .expect("write KMC passphrase");
        std::fs::write(dir.path().join("key-pass.txt"), TEST_KEY_PASSPHRASE)
            .expect("write key passphrase");
        Home { dir }
    }

    /// The scratch directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the scratch directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The caforge home directory.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Appends `toml` to the home's `caforge.toml`.
    pub fn configure(&self, toml: &str) {
        let config = self.home().join("caforge.toml");
        let mut text = std::fs::read_to_string(&config).expect("read caforge.toml");
        text.push('\n');
        text.push_str(toml);
        text.push('\n');
        std::fs::write(&config, text).expect("write caforge.toml");
    }

    /// Runs `caforge --home … --passphrase-file … --kmc-passphrase-file … ARGS` in the
    /// scratch directory.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(&[], args)
    }

    /// As [`Home::run`], with extra environment variables (e.g. a shifted clock).
    pub fn run_with(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        Command::new(caforge_bin())
            .current_dir(self.path())
            .env_remove("CAFORGE_PASSPHRASE")
            .env_remove("CAFORGE_HOME")
            .env_remove("CAFORGE_DB")
            .env_remove("CAFORGE_PASSPHRASE_FILE")
            .envs(env.iter().copied())
            .arg("--home")
            .arg(self.home())
            .arg("--passphrase-file")
            .arg(self.file("pass.txt"))
            .arg("--kmc-passphrase-file")
            .arg(self.file("kmc-pass.txt"))
            .args(args)
            .output()
            .expect("run caforge")
            .into()
    }

    /// Runs and asserts success.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert!(r.ok, "caforge {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        r
    }

    /// Runs and asserts failure with `needle` in stderr, and no panic.
    pub fn fails(&self, args: &[&str], needle: &str) -> Run {
        let r = self.run(args);
        assert!(
            !r.ok,
            "caforge {args:?} unexpectedly succeeded:\n{}",
            r.stdout
        );
        assert!(
            r.stderr.contains(needle),
            "caforge {args:?}: stderr lacks {needle:?}:\n{}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
        assert_eq!(
            r.stderr.trim().lines().count(),
            1,
            "error is not one line: {}",
            r.stderr
        );
        r
    }

    /// The certificates in the store, as `cert list --format json` gives them.
    pub fn cert_list(&self) -> Vec<serde_json::Value> {
        let r = self.ok(&["cert", "list", "--format", "json"]);
        match serde_json::from_str::<serde_json::Value>(&r.stdout).expect("json") {
            serde_json::Value::Array(certs) => certs,
            other => panic!("cert list gave {other}"),
        }
    }

    /// Number of certificates in the store.
    pub fn cert_count(&self) -> usize {
        self.cert_list().len()
    }

    /// Creates CA `root` (`root_args` added to create-root) and under it CA `int`
    /// (`int_args` added), both of key type `kt`.
    pub fn root_and_intermediate(&self, kt: &str, root_args: &[&str], int_args: &[&str]) {
        self.create_root("root", kt, root_args);
        self.create_intermediate("root", "int", kt, int_args);
    }

    /// `caforge ca create-intermediate --parent PARENT --name NAME --key-type KT EXTRA…`,
    /// which must succeed.
    pub fn create_intermediate(&self, parent: &str, name: &str, kt: &str, extra: &[&str]) -> Run {
        self.ok(&self.create_intermediate_args(parent, name, kt, extra))
    }

    /// The arguments of [`Home::create_intermediate`] (for one that must fail).
    pub fn create_intermediate_args<'a>(
        &self,
        parent: &'a str,
        name: &'a str,
        kt: &'a str,
        extra: &[&'a str],
    ) -> Vec<&'a str> {
        let mut args = vec![
            "ca",
            "create-intermediate",
            "--parent",
            parent,
            "--name",
            name,
            "--key-type",
            kt,
        ];
        args.extend_from_slice(extra);
        args
    }

    /// `caforge ca create-root --allow-leaves true --name NAME --key-type KT EXTRA…`, which
    /// must succeed (the tests' roots sign leaves too, to keep hierarchies short).
    pub fn create_root(&self, name: &str, kt: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "ca",
            "create-root",
            "--allow-leaves",
            "true",
            "--name",
            name,
            "--key-type",
            kt,
        ];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    /// Issues a tls-server certificate for `NAME.example` under `ca` from a generated,
    /// unencrypted P-256 key (test-only) and returns (PEM path, serial in hex).
    pub fn issue_leaf(&self, ca: &str, name: &str) -> (String, String) {
        let (args, pem) = self.issue_leaf_args(ca, name);
        self.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let serial = serial_of(self.path(), s(&pem));
        (s(&pem).to_owned(), serial)
    }

    /// The arguments [`Home::issue_leaf`] runs, and the PEM file they write.
    pub fn issue_leaf_args(&self, ca: &str, name: &str) -> (Vec<String>, PathBuf) {
        let pem = self.file(&format!("{name}.pem"));
        let key = self.file(&format!("{name}.key"));
        let args = [
            "issue",
            "--ca",
            ca,
            "--subject",
            &format!("CN={name}.example"),
            "--key-type",
            "p256",
            "--key-out",
            s(&key),
            "--no-encrypt-key",
            "--san",
            &format!("dns:{name}.example"),
            "--out",
            s(&pem),
        ]
        .map(str::to_owned)
        .to_vec();
        (args, pem)
    }

    /// `caforge issue-dual --mode rsa-sm2` for `CN=dual.example` with generated keys into
    /// `pair/`.
    pub fn rsa_sm2_pair(&self, rsa_ca: &str, sm2_ca: &str) -> Run {
        self.ok(&[
            "issue-dual",
            "--mode",
            "rsa-sm2",
            "--rsa-ca",
            rsa_ca,
            "--sm2-ca",
            sm2_ca,
            "--subject",
            "CN=dual.example",
            "--san",
            "dns:dual.example",
            "--out-dir",
            "pair",
            "--no-encrypt-key",
        ])
    }

    /// Exports CA `name` as PEM into the scratch directory and returns the path.
    pub fn export_ca(&self, name: &str) -> PathBuf {
        let path = self.file(&format!("{name}.ca.pem"));
        if !path.exists() {
            self.ok(&["ca", "export", name, "--out", path.to_str().expect("utf8")]);
        }
        path
    }
}

impl Default for Home {
    fn default() -> Self {
        Home::new()
    }
}

/// Runs `openssl ARGS` in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> Run {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl")
        .into()
}

/// Asserts that `openssl ARGS` succeeds.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> Run {
    let r = openssl(dir, args);
    assert!(r.ok, "openssl {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
    r
}

/// Makes a P-256 key (`{stem}.key`, unencrypted) and a CSR for it (`{stem}.csr`) with
/// `openssl req` in `dir`; returns the CSR's PEM.
pub fn p256_csr(dir: &Path, stem: &str, subject: &str) -> String {
    let (key, csr) = (format!("{stem}.key"), format!("{stem}.csr"));
    openssl_ok(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-subj",
            subject,
            "-out",
            &csr,
        ],
    );
    std::fs::read_to_string(dir.join(csr)).expect("read the CSR")
}

/// `caforge issue` of a managed P-256 certificate for `cn` from CA `int` into `dir`, with
/// `extra` arguments.
pub fn managed_issue_args(cn: &str, dir: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "issue",
        "--ca",
        "int",
        "--key-type",
        "p256",
        "--subject",
        &format!("CN={cn}"),
        "--san",
        &format!("dns:{cn}"),
        "--managed",
        "--deploy-dir",
        dir,
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

/// An SM2 key (`STEM.key`, test-only) and a CSR for it (`STEM.csr`) signed with SM3 and the
/// GM/T 0009 default signer ID, made by OpenSSL in `dir`.
pub fn sm2_csr(dir: &Path, stem: &str, subject: &str) {
    let (key, csr) = (format!("{stem}.key"), format!("{stem}.csr"));
    openssl_ok(dir, &["genpkey", "-algorithm", "SM2", "-out", &key]);
    openssl_ok(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            subject,
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-out",
            &csr,
        ],
    );
}

/// `openssl x509 -noout -text` of the certificate at `path` (relative to `dir`).
pub fn cert_text(dir: &Path, path: &str) -> String {
    openssl_ok(dir, &["x509", "-in", path, "-noout", "-text"]).stdout
}

/// An outside PKI made by OpenSSL in `dir` (test-only keys): a self-signed "CN=Outside CA"
/// (`ext-ca.pem`, `ext-ca.key`) and a TLS server leaf for `leaf_name` valid `leaf_days`
/// days (`ext-leaf.pem`, `ext-leaf.key`). Returns (CA PEM, leaf PEM) file names.
pub fn outside_pki(dir: &Path, leaf_name: &str, leaf_days: &str) -> (String, String) {
    openssl_ok(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ext-ca.key",
            "-subj",
            "/CN=Outside CA",
            "-days",
            "365",
            "-out",
            "ext-ca.pem",
        ],
    );
    let subject = format!("/CN={leaf_name}");
    openssl_ok(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ext-leaf.key",
            "-subj",
            &subject,
            "-out",
            "ext-leaf.csr",
        ],
    );
    std::fs::write(
        dir.join("ext-leaf.cnf"),
        format!(
            "subjectAltName=DNS:{leaf_name}\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n"
        ),
    )
    .expect("write the extensions");
    openssl_ok(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "ext-leaf.csr",
            "-CA",
            "ext-ca.pem",
            "-CAkey",
            "ext-ca.key",
            "-days",
            leaf_days,
            "-extfile",
            "ext-leaf.cnf",
            "-out",
            "ext-leaf.pem",
        ],
    );
    ("ext-ca.pem".into(), "ext-leaf.pem".into())
}

/// Converts a path to &str for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Verifies the SM2 signature of `cert` (PEM) with `issuer`'s key and signer ID `distid`
/// (None: OpenSSL's default, empty in 3.0) by taking the TBS and signature apart with
/// `openssl asn1parse` and checking them with `openssl pkeyutl`: the one way to check an
/// SM2 root's self-signature with a signer ID in OpenSSL 3.0.
pub fn sm2_signature_verifies(dir: &Path, cert: &str, issuer: &str, distid: Option<&str>) -> bool {
    let der = format!("{cert}.der");
    openssl_ok(dir, &["x509", "-in", cert, "-outform", "DER", "-out", &der]);
    let (tbs, sig) = split_signed_der(dir, &der);
    sm2_verifies(dir, &tbs, &sig, issuer, distid)
}

/// The serial (upper-case hex) of certificate `pem`, as OpenSSL reads it.
pub fn serial_of(dir: &Path, pem: &str) -> String {
    openssl_ok(dir, &["x509", "-in", pem, "-noout", "-serial"])
        .stdout
        .trim()
        .trim_start_matches("serial=")
        .to_owned()
}

/// Splits a signed DER object (certificate, CRL, BasicOCSPResponse: `SEQUENCE { tbs,
/// algorithm, BIT STRING, … }`) at `der_file` into `<stem>.tbs.der` and `<stem>.sig.der`
/// with `openssl asn1parse`, and returns their names.
pub fn split_signed_der(dir: &Path, der_file: &str) -> (String, String) {
    let parsed = openssl_ok(dir, &["asn1parse", "-inform", "DER", "-in", der_file]).stdout;
    let first = parsed.lines().next().expect("asn1parse output");
    let header_len: usize = first
        .split("hl=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("header length");
    // The signature is the BIT STRING directly inside the outer SEQUENCE (depth 1).
    let sig_offset = parsed
        .lines()
        .find(|l| l.contains("d=1") && l.contains("BIT STRING"))
        .and_then(|l| l.split(':').next())
        .map(|o| o.trim().to_owned())
        .expect("signature BIT STRING");
    let tbs = format!("{der_file}.tbs.der");
    let sig = format!("{der_file}.sig.der");
    for (offset, out) in [(header_len.to_string(), &tbs), (sig_offset, &sig)] {
        openssl_ok(
            dir,
            &[
                "asn1parse",
                "-inform",
                "DER",
                "-in",
                der_file,
                "-strparse",
                &offset,
                "-out",
                out,
                "-noout",
            ],
        );
    }
    (tbs, sig)
}

/// Verifies an SM2 signature over `tbs` (file) with the public key of `issuer_pem` and
/// signer ID `distid` (None: OpenSSL 3.0's empty default) using `openssl pkeyutl`.
pub fn sm2_verifies(
    dir: &Path,
    tbs: &str,
    sig: &str,
    issuer_pem: &str,
    distid: Option<&str>,
) -> bool {
    let pubkey = format!("{tbs}.issuer-pub.pem");
    openssl_ok(
        dir,
        &[
            "x509", "-in", issuer_pem, "-pubkey", "-noout", "-out", &pubkey,
        ],
    );
    let opt = distid.map(|d| format!("distid:{d}"));
    let mut args = vec![
        "pkeyutl", "-verify", "-pubin", "-inkey", &pubkey, "-rawin", "-digest", "sm3", "-in", tbs,
        "-sigfile", sig,
    ];
    if let Some(o) = &opt {
        args.extend(["-pkeyopt", o.as_str()]);
    }
    openssl(dir, &args).ok
}

/// Extracts the BasicOCSPResponse of a DER OCSPResponse (`resp_file`) into
/// `<resp_file>.basic.der` and returns its name.
pub fn ocsp_basic_response(dir: &Path, resp_file: &str) -> String {
    let parsed = openssl_ok(dir, &["asn1parse", "-inform", "DER", "-in", resp_file]).stdout;
    let offset = parsed
        .lines()
        .find(|l| l.contains("OCTET STRING"))
        .and_then(|l| l.split(':').next())
        .map(|o| o.trim().to_owned())
        .expect("responseBytes OCTET STRING");
    let out = format!("{resp_file}.basic.der");
    openssl_ok(
        dir,
        &[
            "asn1parse",
            "-inform",
            "DER",
            "-in",
            resp_file,
            "-strparse",
            &offset,
            "-out",
            &out,
            "-noout",
        ],
    );
    out
}

/// The SM2 signature of a signed DER object checks out with `distid`, and (proving the ID
/// matters) fails with OpenSSL's empty default.
pub fn assert_sm2_signed(dir: &Path, der_file: &str, issuer_pem: &str) {
    let (tbs, sig) = split_signed_der(dir, der_file);
    assert!(
        sm2_verifies(dir, &tbs, &sig, issuer_pem, Some("1234567812345678")),
        "SM2 signature of {der_file} does not verify with the GM/T 0009 ID"
    );
    assert!(
        !sm2_verifies(dir, &tbs, &sig, issuer_pem, None),
        "SM2 signature of {der_file} verified with the empty ID: wrong ID used"
    );
}

/// Writes into `h`'s scratch directory, as `file`, an OCSP request (made by openssl) for a
/// CA that lives in another home: one no caforge CA of `h` can answer for.
pub fn foreign_ocsp_request(h: &Home, file: &str) {
    let other = Home::new();
    other.ok(&[
        "ca",
        "create-root",
        "--allow-leaves",
        "true",
        "--name",
        "elsewhere",
        "--key-type",
        "p256",
    ]);
    let foreign = other.export_ca("elsewhere");
    openssl_ok(
        h.path(),
        &[
            "ocsp",
            "-issuer",
            s(&foreign),
            "-serial",
            "0x1234",
            "-reqout",
            file,
        ],
    );
}
