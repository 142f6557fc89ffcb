//! `hsm-sim`: run the simulated HSM, initialise tokens, list slots, and switch faults.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use ca_core::keys::Pin;
use clap::{Parser, Subcommand};
use hsm_sim::protocol::{Faults, Reply, Request, UserType};
use hsm_sim::server::{self, Listen, ServerOptions, Shared};
use hsm_sim::state::{Vault, DEFAULT_KDF_LOG_N};
use hsm_sim::{Client, Endpoint};
use zeroize::Zeroizing;

/// A simulated hardware security module: tokens, PINs and non-extractable keys behind a
/// small PKCS#11-shaped protocol, with fault injection for tests and drills.
#[derive(Debug, Parser)]
#[command(name = "hsm-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct MasterKey {
    /// File holding the master secret the state is encrypted under (or env HSM_SIM_MASTER_KEY).
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
}

impl MasterKey {
    fn read(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut secret = match &self.master_key_file {
            Some(f) => Zeroizing::new(
                std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
            ),
            None => match master_from_env() {
                Some(v) => v,
                None => bail!("a master secret is required: pass --master-key-file FILE or set HSM_SIM_MASTER_KEY"),
            },
        };
        while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            secret.pop();
        }
        if secret.len() < 16 {
            bail!("the master secret must be at least 16 bytes");
        }
        Ok(secret)
    }
}

/// `HSM_SIM_MASTER_KEY`, read once at start (see [`main`]) and removed from the
/// environment.
static MASTER_FROM_ENV: std::sync::OnceLock<Option<Zeroizing<Vec<u8>>>> =
    std::sync::OnceLock::new();

fn master_from_env() -> Option<Zeroizing<Vec<u8>>> {
    MASTER_FROM_ENV.get().cloned().flatten()
}

#[derive(Debug, clap::Args)]
struct FaultArgs {
    /// Delay every device operation by this many milliseconds.
    #[arg(long, value_name = "MS")]
    latency_ms: Option<u32>,
    /// Fail this fraction of operations (0.0–1.0) with a device error.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    fail_rate: Option<u32>,
    /// Fail every operation after the first N (counted from start or this change).
    #[arg(long, value_name = "N")]
    fail_after: Option<u64>,
    /// Close the connection instead of answering for this fraction of operations (0.0–1.0).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    drop_connection_rate: Option<u32>,
}

impl FaultArgs {
    fn apply(&self, mut f: Faults) -> Faults {
        if let Some(v) = self.latency_ms {
            f.latency_ms = v;
        }
        if let Some(v) = self.fail_rate {
            f.fail_rate_ppm = v;
        }
        if let Some(v) = self.fail_after {
            f.fail_after = Some(v);
        }
        if let Some(v) = self.drop_connection_rate {
            f.drop_rate_ppm = v;
        }
        f
    }
}

fn parse_rate(s: &str) -> std::result::Result<u32, String> {
    let r: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(0.0..=1.0).contains(&r) {
        return Err(format!("{s} is not between 0 and 1"));
    }
    // In range, so the product fits.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((r * 1_000_000.0).round() as u32)
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the device until interrupted.
    Serve {
        /// State directory (created when missing).
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// Listen on a Unix socket.
        #[arg(
            long,
            value_name = "PATH",
            conflicts_with = "listen",
            required_unless_present = "listen"
        )]
        socket: Option<PathBuf>,
        /// Listen on TCP (e.g. 127.0.0.1:5696; port 0 picks one and prints it).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Listen on a TCP address that is not loopback (the protocol is cleartext: PINs
        /// cross the network as they are).
        #[arg(long, requires = "listen")]
        allow_remote: bool,
        #[command(flatten)]
        master: MasterKey,
        /// Consecutive wrong PINs before a PIN locks.
        #[arg(long, default_value_t = 3)]
        max_pin_tries: u32,
        /// Most connections served at once.
        #[arg(long, default_value_t = 64)]
        max_connections: usize,
        /// Seconds a client has to finish a request it started (and to take the answer).
        #[arg(long, default_value_t = 10)]
        io_timeout_secs: u64,
        /// Seconds a connection may idle between requests before it is closed.
        #[arg(long, default_value_t = 300)]
        idle_timeout_secs: u64,
        #[command(flatten)]
        faults: FaultArgs,
    },
    /// Create a token in a free slot: offline on a state directory, or on a running device
    /// through its Unix socket (refused over TCP).
    InitToken {
        /// State directory of a device that is not running.
        #[arg(
            long,
            value_name = "DIR",
            conflicts_with = "connect",
            required_unless_present = "connect"
        )]
        state: Option<PathBuf>,
        /// A running device: HOST:PORT or a socket path.
        #[arg(long, value_name = "ADDR")]
        connect: Option<String>,
        /// Token label (1–32 bytes).
        #[arg(long)]
        label: String,
        /// File holding the security officer's PIN.
        #[arg(long, value_name = "FILE")]
        so_pin_file: PathBuf,
        /// File holding the user PIN.
        #[arg(long, value_name = "FILE")]
        pin_file: PathBuf,
        #[command(flatten)]
        master: MasterKey,
    },
    /// Set a token's user PIN as its security officer (unlocks a locked PIN).
    InitPin {
        /// A running device: HOST:PORT or a socket path.
        #[arg(long, value_name = "ADDR")]
        connect: String,
        /// Token label.
        #[arg(long)]
        token: String,
        /// File holding the security officer's PIN.
        #[arg(long, value_name = "FILE")]
        so_pin_file: PathBuf,
        /// File holding the new user PIN.
        #[arg(long, value_name = "FILE")]
        pin_file: PathBuf,
    },
    /// List slots and tokens of a running device.
    Slots {
        /// A running device: HOST:PORT or a socket path.
        #[arg(long, value_name = "ADDR")]
        connect: String,
        /// Output format.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Show, change or clear the fault settings of a running device (on TCP, as a token's
    /// security officer).
    Control {
        /// A running device: HOST:PORT or a socket path.
        #[arg(long, value_name = "ADDR")]
        connect: String,
        /// Log in as this token's security officer first (needed on TCP).
        #[arg(long, requires = "so_pin_file")]
        token: Option<String>,
        /// File holding that security officer's PIN.
        #[arg(long, value_name = "FILE", requires = "token")]
        so_pin_file: Option<PathBuf>,
        #[command(flatten)]
        faults: FaultArgs,
        /// Clear every fault first.
        #[arg(long)]
        clear: bool,
    },
}

fn connect(addr: &str) -> Result<Client> {
    Ok(Client::connect(
        &Endpoint::parse(addr),
        Duration::from_secs(10),
    )?)
}

fn pin(path: &std::path::Path) -> Result<Pin> {
    Ok(Pin::from_file(path)?)
}

fn faults_text(f: &Faults) -> String {
    format!(
        "latency-ms={} fail-rate={} fail-after={} drop-connection-rate={}",
        f.latency_ms,
        f64::from(f.fail_rate_ppm) / 1e6,
        f.fail_after
            .map_or_else(|| "off".to_owned(), |n| n.to_string()),
        f64::from(f.drop_rate_ppm) / 1e6
    )
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            state,
            socket,
            listen,
            allow_remote,
            master,
            max_pin_tries,
            max_connections,
            io_timeout_secs,
            idle_timeout_secs,
            faults,
        } => {
            if max_pin_tries == 0 {
                bail!("--max-pin-tries must be at least 1");
            }
            if max_connections == 0 || io_timeout_secs == 0 || idle_timeout_secs == 0 {
                bail!("--max-connections and the time-outs must be at least 1");
            }
            let secret = master.read()?;
            let vault = Vault::open(&state, &secret, DEFAULT_KDF_LOG_N)?;
            drop(secret);
            let options = ServerOptions {
                max_pin_tries,
                faults: faults.apply(Faults::default()),
                max_connections,
                io_timeout: Duration::from_secs(io_timeout_secs),
                idle_timeout: Duration::from_secs(idle_timeout_secs),
            };
            eprintln!("hsm-sim: faults {}", faults_text(&options.faults));
            let shared = Shared::new(vault, options);
            let listen = match (socket, listen) {
                (Some(p), _) => Listen::Unix(p),
                (None, Some(addr)) => Listen::Tcp { addr, allow_remote },
                (None, None) => bail!("pass --socket PATH or --listen ADDR"),
            };
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                tokio::select! {
                    r = server::run(shared, listen) => r.context("serving"),
                    _ = tokio::signal::ctrl_c() => Ok(()),
                }
            })
        }
        Command::InitToken {
            state,
            connect: addr,
            label,
            so_pin_file,
            pin_file,
            master,
        } => {
            let so = pin(&so_pin_file)?;
            let user = pin(&pin_file)?;
            let slot = match (state, addr) {
                (Some(dir), _) => {
                    let secret = master.read()?;
                    let mut vault = Vault::open(&dir, &secret, DEFAULT_KDF_LOG_N)?;
                    vault
                        .init_token(&label, so.expose(), user.expose())
                        .map_err(|(s, m)| anyhow::anyhow!("{s}: {m}"))?
                }
                (None, Some(a)) => match connect(&a)?.call(&Request::InitToken {
                    label: label.clone(),
                    so_pin: so.expose().to_owned(),
                    user_pin: user.expose().to_owned(),
                })? {
                    Reply::Slot(s) => s,
                    other => bail!("unexpected answer {other:?}"),
                },
                (None, None) => bail!("pass --state DIR or --connect ADDR"),
            };
            println!("token '{label}' initialised in slot {slot}");
            Ok(())
        }
        Command::InitPin {
            connect: addr,
            token,
            so_pin_file,
            pin_file,
        } => {
            let so = pin(&so_pin_file)?;
            let user = pin(&pin_file)?;
            let mut c = connect(&addr)?;
            let Reply::Session(session) = c.call(&Request::OpenSession {
                token: token.clone(),
            })?
            else {
                bail!("unexpected answer");
            };
            c.call(&Request::Login {
                session,
                user: UserType::So,
                pin: so.expose().to_owned(),
            })?;
            c.call(&Request::InitPin {
                session,
                pin: user.expose().to_owned(),
            })?;
            println!("user PIN of token '{token}' set");
            Ok(())
        }
        Command::Slots {
            connect: addr,
            format,
        } => {
            let Reply::Slots(slots) = connect(&addr)?.call(&Request::ListSlots)? else {
                bail!("unexpected answer");
            };
            if format == "json" {
                let v: Vec<_> = slots
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "slot": s.slot,
                            "label": s.label,
                            "objects": s.objects,
                            "user_pin_locked": s.user_pin_locked,
                            "so_pin_locked": s.so_pin_locked,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{:<6} {:<32} {:>7}  PIN", "SLOT", "TOKEN", "OBJECTS");
                for s in slots {
                    let state = match (s.user_pin_locked, s.so_pin_locked) {
                        (false, false) => "ok",
                        (true, false) => "user PIN locked",
                        (false, true) => "SO PIN locked",
                        (true, true) => "both PINs locked",
                    };
                    println!("{:<6} {:<32} {:>7}  {state}", s.slot, s.label, s.objects);
                }
            }
            Ok(())
        }
        Command::Control {
            connect: addr,
            token,
            so_pin_file,
            faults,
            clear,
        } => {
            let mut c = connect(&addr)?;
            if let (Some(token), Some(file)) = (token, so_pin_file) {
                let so = pin(&file)?;
                let Reply::Session(session) = c.call(&Request::OpenSession { token })? else {
                    bail!("unexpected answer");
                };
                c.call(&Request::Login {
                    session,
                    user: UserType::So,
                    pin: so.expose().to_owned(),
                })?;
            }
            let Reply::Faults(current) = c.call(&Request::Control { set: None })? else {
                bail!("unexpected answer");
            };
            let base = if clear { Faults::default() } else { current };
            let Reply::Faults(now) = c.call(&Request::Control {
                set: Some(faults.apply(base)),
            })?
            else {
                bail!("unexpected answer");
            };
            println!("{}", faults_text(&now));
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    // Before any thread exists: the master secret is read once and leaves the environment.
    let from_env = std::env::var("HSM_SIM_MASTER_KEY")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| Zeroizing::new(v.into_bytes()));
    std::env::remove_var("HSM_SIM_MASTER_KEY");
    let _ = MASTER_FROM_ENV.set(from_env);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HSM_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hsm-sim: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
