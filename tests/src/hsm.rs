//! Helpers for tests that keep CA keys in a real `hsm-sim` process.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::{s, workspace_bin, Run};

/// Test-only secrets of every simulated device.
pub const MASTER_SECRET: &str = "test-only hsm-sim master secret, not a secret";
/// Test-only security officer PIN.
pub const SO_PIN: &str = "so-pin-test-only";
/// Test-only user PIN.
pub const USER_PIN: &str = "user-pin-test-only";
/// The token every test device starts with.
pub const TOKEN: &str = "lab";

/// Path of the `hsm-sim` binary built from this workspace (built on first use, with
/// [`crate::caforge_bin`]).
pub fn hsm_sim_bin() -> PathBuf {
    workspace_bin("hsm-sim")
}

/// A running `hsm-sim serve` with one token, [`TOKEN`], killed when dropped.
pub struct HsmSim {
    /// Holds the state directory and secret files.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// Where it listens: `127.0.0.1:PORT` or a socket path.
    pub addr: String,
    listen: Vec<String>,
    extra: Vec<String>,
}

impl HsmSim {
    /// Starts a device on an ephemeral 127.0.0.1 port with `extra` serve flags.
    pub fn start(extra: &[&str]) -> HsmSim {
        Self::start_on(false, extra)
    }

    /// Starts a device on a Unix socket with `extra` serve flags.
    pub fn start_unix(extra: &[&str]) -> HsmSim {
        Self::start_on(true, extra)
    }

    fn start_on(unix: bool, extra: &[&str]) -> HsmSim {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in [
            ("master", MASTER_SECRET),
            ("so-pin", SO_PIN),
            ("pin", USER_PIN),
        ] {
            std::fs::write(dir.path().join(name), text).expect("write secret");
        }
        let listen = if unix {
            vec![
                "--socket".to_owned(),
                s(&dir.path().join("hsm.sock")).to_owned(),
            ]
        } else {
            vec!["--listen".to_owned(), "127.0.0.1:0".to_owned()]
        };
        let mut sim = HsmSim {
            dir,
            child: None,
            addr: String::new(),
            listen,
            extra: extra.iter().map(|a| (*a).to_owned()).collect(),
        };
        // The token is made offline, before the device runs.
        let r = sim.cli(&[
            "init-token",
            "--state",
            s(&sim.state()),
            "--master-key-file",
            s(&sim.file("master")),
            "--label",
            TOKEN,
            "--so-pin-file",
            s(&sim.file("so-pin")),
            "--pin-file",
            s(&sim.file("pin")),
        ]);
        assert!(r.ok, "init-token failed: {}", r.stderr);
        sim.spawn();
        sim
    }

    fn spawn(&mut self) {
        let mut child = Command::new(hsm_sim_bin())
            .arg("serve")
            .arg("--state")
            .arg(self.state())
            .arg("--master-key-file")
            .arg(self.file("master"))
            .args(&self.listen)
            .args(&self.extra)
            .env("HSM_SIM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn hsm-sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the listening line");
        self.addr = line
            .trim()
            .strip_prefix("hsm-sim listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        // Restarts listen where the first run did.
        if self.listen[0] == "--listen" {
            self.listen[1] = self.addr.clone();
        }
        self.child = Some(child);
    }

    /// Kills the device (SIGKILL: no chance to tidy up).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A stopped device is killed all the same; continued, it dies at once.
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the device: a stopped device accepts
    /// connections (the kernel does) and never answers, as a hung one.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the device runs").id();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{signal} {pid}");
    }

    /// Starts the device again on the same address and state.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The state directory.
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A file in the device's scratch directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The key store URI for [`TOKEN`], with the PIN file as its `pin-source`.
    pub fn store(&self) -> String {
        format!(
            "hsm-sim://{}?token={TOKEN}&pin-source={}",
            self.addr,
            s(&self.file("pin"))
        )
    }

    /// The key store URI for [`TOKEN`] without a PIN (commands pass `--pin-file`).
    pub fn store_without_pin(&self) -> String {
        format!("hsm-sim://{}?token={TOKEN}", self.addr)
    }

    /// Runs `hsm-sim ARGS`.
    pub fn cli(&self, args: &[&str]) -> Run {
        Command::new(hsm_sim_bin())
            .args(args)
            .output()
            .expect("run hsm-sim")
            .into()
    }

    /// Runs `hsm-sim control --connect ADDR` as [`TOKEN`]'s security officer with `ARGS`
    /// and asserts success.
    pub fn control(&self, args: &[&str]) -> Run {
        let so_pin = self.file("so-pin");
        let mut all = vec![
            "control",
            "--connect",
            &self.addr,
            "--token",
            TOKEN,
            "--so-pin-file",
            s(&so_pin),
        ];
        all.extend_from_slice(args);
        let r = self.cli(&all);
        assert!(r.ok, "hsm-sim control failed: {}", r.stderr);
        r
    }
}

impl Drop for HsmSim {
    fn drop(&mut self) {
        self.kill();
    }
}
