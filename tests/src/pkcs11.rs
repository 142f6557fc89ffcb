//! A SoftHSM2 token store for PKCS#11 tests: one per test process (SoftHSM2 reads its
//! configuration from `SOFTHSM2_CONF`, which the caforge processes inherit).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::s;

/// Test-only user PIN of every SoftHSM2 token made here.
pub const USER_PIN: &str = "12345678";
/// Test-only SO PIN.
pub const SO_PIN: &str = "87654321";

/// The SoftHSM2 module and this process's token directory.
pub struct SoftHsm {
    /// Holds the token directory, configuration and PIN file.
    dir: PathBuf,
    /// `libsofthsm2.so`.
    pub module: PathBuf,
}

const MODULES: [&str; 2] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

/// The process's SoftHSM2. Tests that use it are `#[ignore = "needs SoftHSM2 …"]` (run
/// with `-- --ignored` where it is installed, as `.ci/run` does): a missing SoftHSM2 here
/// is a failure, never a silent pass.
pub fn softhsm() -> &'static SoftHsm {
    static HSM: OnceLock<Option<SoftHsm>> = OnceLock::new();
    let hsm = HSM.get_or_init(|| {
        let module = MODULES.iter().map(PathBuf::from).find(|p| p.exists());
        let util = Command::new("softhsm2-util").arg("--version").output();
        let (Some(module), Ok(_)) = (module, util) else {
            return None;
        };
        // Kept for the whole process: the tokens must outlive every test in it.
        let dir = tempfile::tempdir().expect("tempdir").keep();
        std::fs::create_dir_all(dir.join("tokens")).expect("tokens dir");
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                s(&dir.join("tokens"))
            ),
        )
        .expect("write softhsm2.conf");
        std::fs::write(dir.join("pin"), USER_PIN).expect("write pin");
        // Set once, before any caforge process starts; every test here uses these values
        // (commands that pass --pin-file override the PIN).
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::env::set_var("CAFORGE_PIN_FILE", dir.join("pin"));
        Some(SoftHsm { dir, module })
    });
    hsm.as_ref()
        .expect("SoftHSM2 is not installed (apt-get install softhsm2 opensc)")
}

/// Held by each test that uses SoftHSM2 for its whole run: SoftHSM2 keeps its tokens in
/// files that `softhsm2-util` and every caforge process read and write, and a token being
/// initialised by one test made another's `--init-token` fail ("Could not get info about
/// the token in slot 0").
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SoftHsm {
    /// Initialises a token labelled `label` in a free slot.
    pub fn token(&self, label: &str) {
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                SO_PIN,
                "--pin",
                USER_PIN,
            ])
            .output()
            .expect("softhsm2-util");
        assert!(
            out.status.success(),
            "softhsm2-util: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The file holding the user PIN.
    pub fn pin_file(&self) -> PathBuf {
        self.dir.join("pin")
    }

    /// The key store URI of token `label` (the PIN comes from `--pin-file`).
    pub fn store(&self, label: &str) -> String {
        format!("pkcs11:token={label}?module-path={}", s(&self.module))
    }

    /// `pkcs11-tool --list-objects` of token `label`, when pkcs11-tool is installed.
    pub fn list_objects(&self, label: &str) -> Option<String> {
        let out = Command::new("pkcs11-tool")
            .args(["--module", s(&self.module), "--token-label", label])
            .args(["--login", "--pin", USER_PIN, "--list-objects"])
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Lets `h` load SoftHSM2 (`[keys] pkcs11_modules` in its caforge.toml): a home loads
    /// no module its configuration does not list.
    pub fn allow(&self, h: &crate::Home) {
        let listed: Vec<String> = MODULES.iter().map(|m| format!("\"{m}\"")).collect();
        h.configure(&format!("[keys]\npkcs11_modules = [{}]", listed.join(", ")));
    }

    /// The token directory.
    pub fn tokens(&self) -> PathBuf {
        self.dir.join("tokens")
    }
}
