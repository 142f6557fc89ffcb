//! `caforge token …`: bearer tokens for the issuance API (`caforge serve`).

use anyhow::Result;
use ca_core::authority::TokenRequest;
use ca_core::authz::{Action, Scope};
use ca_core::tokens::{Quota, TokenRecord};

use crate::context::Globals;
use crate::duration::parse_seconds;
use crate::output::{done, print_json, timestamp, Format, Table};

/// Token subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token; it is printed once and only its hash is stored. Its scope: the
    /// actions it may take on certificates of these CAs and profiles whose names (common
    /// names and SANs) all match the name patterns.
    Create(Box<CreateArgs>),
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
        /// Output format of the result.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Arguments of `token create`.
#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// CA it may use (repeatable; '*' for every CA).
    #[arg(long = "ca", required = true)]
    cas: Vec<String>,
    /// Profile it may use (repeatable; '*' for every profile).
    #[arg(long = "profile", required = true)]
    profiles: Vec<String>,
    /// Action it may take (repeatable): issue, revoke, read.
    #[arg(long = "action", value_name = "ACTION", default_values_t = ["issue".to_owned(), "revoke".to_owned(), "read".to_owned()])]
    actions: Vec<String>,
    /// Names it may cover (repeatable): '*', example.com, '*.example.com',
    /// '*@example.com', 192.0.2.0/24.
    #[arg(long = "names", value_name = "PATTERN", default_value = "*")]
    names: Vec<String>,
    /// A subject attribute other than the CN it may put in certificates (repeatable):
    /// 'O=Example Ltd', 'OU=*', or '*'. Default: any with --names '*', else none.
    #[arg(long = "subject-attr", value_name = "TYPE=VALUE")]
    attributes: Vec<String>,
    /// Bind it to the key of this API client certificate (PEM or DER): it is then
    /// accepted only from a TLS connection presenting a certificate for that key
    /// (required by `serve --client-ca`).
    #[arg(long, value_name = "FILE")]
    client_cert: Option<std::path::PathBuf>,
    /// Lifetime (e.g. 30d); without it the token lasts until revoked.
    #[arg(long, value_parser = parse_seconds)]
    expires: Option<i64>,
    /// A label for humans.
    #[arg(long, default_value = "api")]
    name: String,
    /// Issuance quota: at most N certificates in any sliding window (e.g. 20/365d).
    #[arg(long, value_parser = parse_quota, value_name = "N/WINDOW")]
    quota: Option<Quota>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// `N/WINDOW`, e.g. `20/365d`.
fn parse_quota(s: &str) -> Result<Quota, String> {
    let (n, window) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not a quota (expected N/WINDOW, e.g. 20/365d)"))?;
    let count: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("'{n}' is not a number of certificates"))?;
    if count == 0 {
        return Err("a quota allows at least one certificate".into());
    }
    let window_secs = parse_seconds(window)?;
    if window_secs <= 0 {
        return Err("the quota window must be positive".into());
    }
    Ok(Quota { count, window_secs })
}

/// The first certificate in `path` (PEM or DER), as DER.
fn read_certificate(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    ca_core::inventory::certificates_in(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .into_iter()
        .next()
        .map(|c| c.der)
        .ok_or_else(|| anyhow::anyhow!("{}: no certificate in it", path.display()))
}

/// A scope on one line: `issue,read on tls-server under int for *.example.com`.
fn scope_text(s: &Scope) -> String {
    let actions: Vec<&str> = s.actions.iter().map(|a| a.as_str()).collect();
    let mut text = format!(
        "{} on {} under {} for {}",
        actions.join(","),
        s.profiles.join(","),
        s.cas.join(","),
        s.names.join(",")
    );
    if s.attributes.is_empty() {
        text.push_str(" with no other subject attributes");
    } else if s.attributes != ["*"] {
        text.push_str(&format!(" with {}", s.attributes.join(",")));
    }
    text
}

fn token_json(t: &TokenRecord) -> serde_json::Value {
    serde_json::json!({
        "quota": t.quota.map(|q| q.to_string()),
        "id": t.id,
        "name": t.name,
        "scopes": t.scopes,
        "client_key": t.client_key,
        "created_at": timestamp(t.created_at),
        "expires_at": t.expires_at.map(timestamp),
        "revoked_at": t.revoked_at.map(timestamp),
    })
}

pub(crate) async fn run(g: &Globals, cmd: TokenCommand) -> Result<()> {
    let tokens = g.tokens().await?;
    match cmd {
        TokenCommand::Create(args) => {
            let CreateArgs {
                cas,
                profiles,
                actions,
                names,
                attributes,
                client_cert,
                expires,
                name,
                quota,
                format,
            } = *args;
            let (record, secret) = tokens
                .create(&TokenRequest {
                    name,
                    scopes: vec![Scope {
                        cas,
                        profiles,
                        actions: actions
                            .iter()
                            .map(|a| a.parse::<Action>())
                            .collect::<Result<_, _>>()?,
                        // Without --subject-attr: any attribute when any name may be
                        // issued, else common names only.
                        attributes: if attributes.is_empty() && names.iter().any(|n| n == "*") {
                            vec!["*".into()]
                        } else {
                            attributes
                        },
                        names,
                    }],
                    client_certificate: client_cert.as_deref().map(read_certificate).transpose()?,
                    lifetime: expires,
                    quota,
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
            let service = tokens;
            let tokens = service.list().await?;
            let mut rows = Vec::with_capacity(tokens.len());
            for t in &tokens {
                let mut v = token_json(t);
                v["quota_used"] = service.quota_used(t).await?.into();
                rows.push(v);
            }
            match format {
                Format::Json => print_json(&serde_json::Value::Array(rows)),
                Format::Text => {
                    let mut table = Table::new(&["ID", "NAME", "STATE", "QUOTA", "SCOPES"]);
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    for (t, row) in tokens.iter().zip(&rows) {
                        let state = if t.revoked_at.is_some() {
                            "revoked"
                        } else if t.is_active(now) {
                            "active"
                        } else {
                            "expired"
                        };
                        let quota = match (t.quota, row["quota_used"].as_u64()) {
                            (Some(q), Some(used)) => format!("{used} of {q} used"),
                            _ => "-".into(),
                        };
                        let scopes: Vec<String> = t.scopes.iter().map(scope_text).collect();
                        table.row(vec![
                            t.id.to_string(),
                            t.name.clone(),
                            state.to_owned(),
                            quota,
                            scopes.join("; "),
                        ]);
                    }
                    table.print();
                    Ok(())
                }
            }
        }
        TokenCommand::Revoke { id, format } => {
            let t = tokens.revoke(id).await?;
            done(
                format,
                &format!("revoked API token {} ('{}')", t.id, t.name),
                &serde_json::json!({"id": t.id, "name": t.name, "revoked": true}),
            )
        }
    }
}
