//! `caforge token …`: bearer tokens for the issuance API (`caforge serve`).

use anyhow::Result;
use ca_core::authority::TokenRequest;
use ca_core::tokens::TokenRecord;

use crate::context::Globals;
use crate::duration::parse_seconds;
use crate::output::{print_json, timestamp, Format};

/// Token subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token; it is printed once and only its hash is stored.
    Create {
        /// CA it may use (repeatable; '*' for every CA).
        #[arg(long = "ca", required = true)]
        cas: Vec<String>,
        /// Profile it may use (repeatable; '*' for every profile).
        #[arg(long = "profile", required = true)]
        profiles: Vec<String>,
        /// Lifetime (e.g. 30d); without it the token lasts until revoked.
        #[arg(long, value_parser = parse_seconds)]
        expires: Option<i64>,
        /// A label for humans.
        #[arg(long, default_value = "api")]
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List tokens (never the secrets).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id (from `token list`).
        id: i64,
    },
}

fn token_json(t: &TokenRecord) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "name": t.name,
        "cas": t.cas,
        "profiles": t.profiles,
        "created_at": timestamp(t.created_at),
        "expires_at": t.expires_at.map(timestamp),
        "revoked_at": t.revoked_at.map(timestamp),
    })
}

pub(crate) async fn run(g: &Globals, cmd: TokenCommand) -> Result<()> {
    let authority = g.authority().await?;
    match cmd {
        TokenCommand::Create {
            cas,
            profiles,
            expires,
            name,
            format,
        } => {
            let (record, secret) = authority
                .create_token(&TokenRequest {
                    name,
                    cas,
                    profiles,
                    lifetime: expires,
                })
                .await?;
            match format {
                Format::Json => {
                    let mut v = token_json(&record);
                    v["token"] = serde_json::Value::String(secret.to_string());
                    print_json(&v)
                }
                Format::Text => {
                    eprintln!(
                        "created API token {} ('{}'); it is shown once, store it now:",
                        record.id, record.name
                    );
                    println!("{}", secret.as_str());
                    Ok(())
                }
            }
        }
        TokenCommand::List { format } => {
            let tokens = authority.tokens().await?;
            match format {
                Format::Json => print_json(&serde_json::Value::Array(
                    tokens.iter().map(token_json).collect(),
                )),
                Format::Text => {
                    println!(
                        "{:<4} {:<16} {:<24} {:<24} {:<8}",
                        "ID", "NAME", "CAS", "PROFILES", "STATE"
                    );
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    for t in &tokens {
                        let state = if t.revoked_at.is_some() {
                            "revoked"
                        } else if t.is_active(now) {
                            "active"
                        } else {
                            "expired"
                        };
                        println!(
                            "{:<4} {:<16} {:<24} {:<24} {:<8}",
                            t.id,
                            t.name,
                            t.cas.join(","),
                            t.profiles.join(","),
                            state
                        );
                    }
                    Ok(())
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let t = authority.revoke_token(id).await?;
            println!("revoked API token {} ('{}')", t.id, t.name);
            Ok(())
        }
    }
}
