//! `caforge ca …`: create, list, show and export certificate authorities.

use std::path::PathBuf;

use anyhow::{bail, Result};
use ca_core::algorithm::KeyType;
use ca_core::authority::{CreatedCa, NewCaRequest, RolloverRequest};
use ca_core::certpolicy::{CaPolicies, CertificatePolicy, PolicyCatalog};
use ca_core::policy::NameConstraintSet;
use ca_core::revocation::{CaSettings, OcspSigner};
use ca_core::store::CaRecord;

use crate::context::Globals;
use crate::duration::{parse_days, parse_seconds};
use crate::output::{
    check_writable, deliver, print_fields, print_json, timestamp, write_file, Format, Table,
};

/// CA subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CaCommand {
    /// Create a self-signed root CA.
    CreateRoot(CreateArgs),
    /// Create an intermediate CA signed by a parent CA.
    CreateIntermediate {
        /// The parent CA (name or id).
        #[arg(long)]
        parent: String,
        #[command(flatten)]
        args: CreateArgs,
        /// Permitted subtree (name constraint; repeatable): dns:DOMAIN, ip:SUBNET (CIDR),
        /// email:MAILBOX|HOST|.DOMAIN or uri:HOST|.DOMAIN. Permitting DNS names but no IP
        /// address excludes every IP address (CA/B BR 7.1.2.10.8).
        #[arg(long, value_name = "TYPE:VALUE")]
        permit: Vec<String>,
        /// Excluded subtree (name constraint; repeatable), in the forms of --permit.
        #[arg(long, value_name = "TYPE:VALUE")]
        exclude: Vec<String>,
        /// Permitted DNS subtree: the same as --permit dns:DOMAIN.
        #[arg(long = "permitted-dns", value_name = "DOMAIN")]
        permitted_dns: Vec<String>,
        /// Excluded DNS subtree: the same as --exclude dns:DOMAIN.
        #[arg(long = "excluded-dns", value_name = "DOMAIN")]
        excluded_dns: Vec<String>,
        /// requireExplicitPolicy: certificates this many CAs below must assert an
        /// acceptable policy (0: this CA's certificates already must).
        #[arg(long, value_name = "SKIP_CERTS")]
        require_explicit_policy: Option<u32>,
        /// inhibitPolicyMapping, in certificates below this CA.
        #[arg(long, value_name = "SKIP_CERTS")]
        inhibit_policy_mapping: Option<u32>,
        /// inhibitAnyPolicy: anyPolicy stops counting this many CAs below.
        #[arg(long, value_name = "SKIP_CERTS")]
        inhibit_any_policy: Option<u32>,
    },
    /// Change how a CA publishes revocation (base URL, CRL lifetimes, partitions, OCSP).
    Configure {
        /// CA name or id.
        ca: String,
        #[command(flatten)]
        settings: SettingsArgs,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List CAs.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one CA.
    Show {
        /// CA name or id.
        ca: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Replace an intermediate with a successor (new key, same parent and subject): the old
    /// CA stops issuing but keeps publishing CRLs and OCSP until its last certificate expires.
    Rollover {
        /// The CA to replace (name or id).
        ca: String,
        /// The successor's key type (default: the old CA's).
        #[arg(long)]
        key_type: Option<KeyType>,
        /// The successor's name (default: <name>-g<generation>).
        #[arg(long)]
        name: Option<String>,
        /// Validity (default 10y, clipped to the parent).
        #[arg(long, value_parser = parse_days)]
        validity: Option<u32>,
        /// Where the new key is generated (default: where the old key lives).
        #[arg(long, value_name = "URI")]
        key_store: Option<String>,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Issue a cross certificate: CA's subject and key certified by another CA (e.g. a new
    /// root certified by the old root, so old clients reach it).
    CrossSign {
        /// The CA to certify (name or id).
        ca: String,
        /// The CA that signs (name or id).
        #[arg(long)]
        by: String,
        /// Validity (default: until CA expires, clipped to the signer).
        #[arg(long, value_parser = parse_days)]
        validity: Option<u32>,
        /// Write the cross certificate (PEM) here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Export a CA certificate (PEM, or DER with --der).
    Export {
        /// CA name or id.
        ca: String,
        /// Include the parents up to the root (PEM only).
        #[arg(long)]
        chain: bool,
        /// DER instead of PEM.
        #[arg(long)]
        der: bool,
        /// Write to a file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// json: the CA's name, serial and the certificate(s) as one JSON object.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Options shared by create-root and create-intermediate.
#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// Unique name of the CA.
    #[arg(long)]
    name: String,
    /// Key type: rsa2048 rsa3072 rsa4096 p256 p384 ed25519 sm2.
    #[arg(long)]
    key_type: KeyType,
    /// Subject DN (default CN=<name>).
    #[arg(long)]
    subject: Option<String>,
    /// Validity (e.g. 20y, 3650d).
    #[arg(long, value_parser = parse_days)]
    validity: Option<u32>,
    /// pathLenConstraint.
    #[arg(long)]
    path_len: Option<u8>,
    /// SM2 signer ID this CA signs with (default 1234567812345678; "" for OpenSSL 3.0 peers).
    #[arg(long)]
    sm2_id: Option<String>,
    /// Where the CA key is generated: file:DIR (encrypted file, default file:keys),
    /// hsm-sim://SOCKET-OR-ADDR?token=L[&object=NAME][&timeout-ms=N], or
    /// pkcs11:token=L[;object=NAME]?module-path=LIB (RFC 7512; RSA, P-256, P-384). Device
    /// keys never leave the device; the PIN comes from --pin-file, CAFORGE_PIN or the URI's
    /// pin-source=FILE.
    #[arg(long, value_name = "URI")]
    key_store: Option<String>,
    /// A policy the CA certificate asserts (repeatable): a name from [policies] in
    /// caforge.toml, or a dotted OID (`2.5.29.32.0` is anyPolicy).
    #[arg(long = "policy", value_name = "NAME|OID")]
    policies: Vec<String>,
    /// CPS URI qualifying each --policy given as an OID.
    #[arg(long, value_name = "URL")]
    cps: Option<String>,
    /// User notice qualifying each --policy given as an OID.
    #[arg(long, value_name = "TEXT")]
    policy_notice: Option<String>,
    #[command(flatten)]
    settings: SettingsArgs,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Revocation publication settings of a CA (at creation or with `ca configure`).
#[derive(Debug, clap::Args)]
pub(crate) struct SettingsArgs {
    /// Base URL of the responder serving this CA (e.g. http://127.0.0.1:8080): issued
    /// certificates then carry CRL DP and AIA, CRLs an Issuing Distribution Point.
    #[arg(long)]
    base_url: Option<String>,
    /// thisUpdate→nextUpdate of full CRLs (e.g. 7d, 12h).
    #[arg(long, value_parser = parse_seconds)]
    crl_lifetime: Option<i64>,
    /// thisUpdate→nextUpdate of delta CRLs.
    #[arg(long, value_parser = parse_seconds)]
    delta_lifetime: Option<i64>,
    /// Number of CRL partitions (needs --base-url; 1 = one CRL for the CA).
    #[arg(long)]
    partitions: Option<u32>,
    /// Who signs OCSP responses: ca (the CA key) or delegated (a responder certificate
    /// caforge issues and rotates).
    #[arg(long)]
    ocsp_signer: Option<OcspSigner>,
    /// thisUpdate→nextUpdate of OCSP responses.
    #[arg(long, value_parser = parse_seconds)]
    ocsp_lifetime: Option<i64>,
    /// Whether a root may sign end-entity certificates (default false: roots sign CAs,
    /// CRLs and OCSP responders only). Intermediates always may.
    #[arg(long, value_name = "BOOL")]
    allow_leaves: Option<bool>,
}

impl SettingsArgs {
    /// `base` with every given option applied.
    fn apply(&self, mut base: CaSettings) -> CaSettings {
        if let Some(u) = &self.base_url {
            base.base_url = if u.is_empty() { None } else { Some(u.clone()) };
        }
        if let Some(v) = self.crl_lifetime {
            base.crl_lifetime = v;
        }
        if let Some(v) = self.delta_lifetime {
            base.delta_lifetime = v;
        }
        if let Some(v) = self.partitions {
            base.crl_partitions = v;
        }
        if let Some(v) = self.ocsp_signer {
            base.ocsp_signer = v;
        }
        if let Some(v) = self.ocsp_lifetime {
            base.ocsp_lifetime = v;
        }
        if let Some(v) = self.allow_leaves {
            base.allow_leaves = v;
        }
        base
    }
}

impl CreateArgs {
    /// The policies the flags give: names from `caforge.toml`, or OIDs with --cps and
    /// --policy-notice as their qualifiers.
    fn policies(&self, catalog: &PolicyCatalog) -> Result<Vec<CertificatePolicy>> {
        catalog
            .resolve_qualified(
                &self.policies,
                self.cps.as_deref(),
                self.policy_notice.as_deref(),
            )
            .map_err(anyhow::Error::msg)
    }

    fn request(&self, name_constraints: NameConstraintSet, policies: CaPolicies) -> NewCaRequest {
        NewCaRequest {
            name: self.name.clone(),
            subject: self.subject.clone(),
            key_type: self.key_type,
            days: self.validity,
            path_len: self.path_len,
            sm2_id: self.sm2_id.clone(),
            name_constraints,
            policies,
            settings: self.settings.apply(CaSettings::default()),
            key_store: self.key_store.clone(),
        }
    }
}

pub(crate) fn ca_json(ca: &CaRecord, parent: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "id": ca.id,
        "name": ca.name,
        "parent": parent,
        "key_type": ca.key_type,
        "key_ref": ca.key_ref.as_str(),
        "subject": ca.subject,
        "serial": ca.serial,
        "not_before": timestamp(ca.not_before),
        "not_after": timestamp(ca.not_after),
        "path_len": ca.path_len,
        "sm2_id": if ca.key_type == KeyType::Sm2 { Some(&ca.sm2_id) } else { None },
        "permitted": ca.name_constraints.permitted.to_strings(),
        "excluded": ca.name_constraints.excluded.to_strings(),
        "policies": CaPolicies::of_certificate(&ca.cert_der).map(|p| p.oids()).unwrap_or_default(),
        "key_id": ca.key_id,
        "base_url": ca.settings.base_url,
        "crl_lifetime_secs": ca.settings.crl_lifetime,
        "delta_lifetime_secs": ca.settings.delta_lifetime,
        "crl_partitions": ca.settings.crl_partitions,
        "ocsp_signer": ca.settings.ocsp_signer.as_str(),
        "ocsp_lifetime_secs": ca.settings.ocsp_lifetime,
        "allow_leaves": ca.settings.allow_leaves,
        "generation": ca.generation,
    })
}

/// [`ca_json`] with the lifecycle: state, predecessor, successor, cross certificates.
async fn ca_json_full(
    services: &ca_core::authority::Services<ca_core::store::AnyStore>,
    ca: &CaRecord,
    cas: &[CaRecord],
) -> Result<serde_json::Value> {
    let name_of = |id| {
        cas.iter()
            .find(|c| Some(c.id) == id)
            .map(|c| c.name.clone())
    };
    let mut json = ca_json(ca, name_of(ca.parent_id).as_deref());
    json["state"] = services.lifecycle.ca_state(ca).await?.as_str().into();
    json["predecessor"] = name_of(ca.predecessor).into();
    json["successor"] = cas
        .iter()
        .find(|c| c.predecessor == Some(ca.id))
        .map(|c| c.name.clone())
        .into();
    json["cross_certificates"] = services
        .lifecycle
        .cross_certificates(ca)
        .await?
        .iter()
        .map(|x| format!("{} by '{}'", x.serial, x.issuer_name))
        .collect::<Vec<_>>()
        .into();
    Ok(json)
}

fn report_created(created: &CreatedCa, kind: &str, format: Format) -> Result<()> {
    for w in &created.warnings {
        eprintln!("warning: {w}");
    }
    let ca = &created.record;
    match format {
        Format::Json => print_json(&ca_json(ca, None)),
        Format::Text => {
            println!(
                "created {kind} CA '{}' (id {}, {}, serial {}, valid until {})",
                ca.name,
                ca.id,
                ca.key_type,
                ca.serial,
                timestamp(ca.not_after)
            );
            Ok(())
        }
    }
}

pub(crate) async fn run(g: &Globals, cmd: CaCommand) -> Result<()> {
    let services = g.services().await?;
    match cmd {
        CaCommand::CreateRoot(args) => {
            let policies = CaPolicies {
                policies: args.policies(&g.config()?.policy_catalog()?)?,
                ..CaPolicies::default()
            };
            let created = services
                .lifecycle
                .create_root(&args.request(NameConstraintSet::default(), policies))
                .await?;
            report_created(&created, "root", args.format)
        }
        CaCommand::CreateIntermediate {
            parent,
            args,
            mut permit,
            mut exclude,
            permitted_dns,
            excluded_dns,
            require_explicit_policy,
            inhibit_policy_mapping,
            inhibit_any_policy,
        } => {
            permit.extend(permitted_dns.iter().map(|d| format!("dns:{d}")));
            exclude.extend(excluded_dns.iter().map(|d| format!("dns:{d}")));
            let policies = CaPolicies {
                policies: args.policies(&g.config()?.policy_catalog()?)?,
                require_explicit: require_explicit_policy,
                inhibit_mapping: inhibit_policy_mapping,
                inhibit_any: inhibit_any_policy,
            };
            let constraints =
                NameConstraintSet::new(&permit, &exclude).map_err(ca_core::Error::from)?;
            let created = services
                .lifecycle
                .create_intermediate(&parent, &args.request(constraints, policies))
                .await?;
            report_created(&created, "intermediate", args.format)
        }
        CaCommand::Configure {
            ca,
            settings,
            format,
        } => {
            let current = services.directory.ca(&ca).await?;
            let updated = services
                .lifecycle
                .configure_ca(&ca, settings.apply(current.settings.clone()))
                .await?;
            match format {
                Format::Json => print_json(&ca_json(&updated, None)),
                Format::Text => {
                    println!("configured CA '{}'", updated.name);
                    Ok(())
                }
            }
        }
        CaCommand::List { format } => {
            let cas = services.directory.cas().await?;
            let mut rows = Vec::with_capacity(cas.len());
            for c in &cas {
                rows.push(ca_json_full(&services, c, &cas).await?);
            }
            match format {
                Format::Json => print_json(&serde_json::Value::Array(rows)),
                Format::Text => {
                    let mut table =
                        Table::new(&["ID", "NAME", "KEY", "PARENT", "GEN", "STATE", "NOT AFTER"]);
                    for (c, row) in cas.iter().zip(&rows) {
                        table.row(vec![
                            c.id.to_string(),
                            c.name.to_string(),
                            c.key_type.to_string(),
                            row["parent"].as_str().unwrap_or("-").to_owned(),
                            c.generation.to_string(),
                            row["state"].as_str().unwrap_or("-").to_owned(),
                            timestamp(c.not_after),
                        ]);
                    }
                    table.print();
                    Ok(())
                }
            }
        }
        CaCommand::Show { ca, format } => {
            let ca = services.directory.ca(&ca).await?;
            let chain = services.directory.chain_records(&ca).await?;
            let json = ca_json_full(&services, &ca, &services.directory.cas().await?).await?;
            match format {
                Format::Json => print_json(&json),
                Format::Text => {
                    let mut fields = json;
                    let path: Vec<&str> = chain.iter().map(|c| c.name.as_str()).collect();
                    fields["chain"] = path.join(" -> ").into();
                    print_fields(fields, 14);
                    Ok(())
                }
            }
        }
        CaCommand::Rollover {
            ca,
            key_type,
            name,
            validity,
            key_store,
            format,
        } => {
            let created = services
                .lifecycle
                .rollover(&RolloverRequest {
                    ca,
                    key_type,
                    name,
                    days: validity,
                    key_store,
                })
                .await?;
            report_created(&created, "successor", format)
        }
        CaCommand::CrossSign {
            ca,
            by,
            validity,
            out,
            force,
            format,
        } => {
            if let Some(path) = &out {
                check_writable(path, force)?;
            }
            let crossed = services.lifecycle.cross_sign(&ca, &by, validity).await?;
            for w in &crossed.warnings {
                eprintln!("warning: {w}");
            }
            let pem = ca_core::pem::certificate(&crossed.der)?;
            let r = &crossed.record;
            let summary = serde_json::json!({
                "serial": r.serial,
                "issuer": r.issuer_name,
                "subject": r.subject,
                "not_before": timestamp(r.not_before),
                "not_after": timestamp(r.not_after),
                "fingerprint_sha256": r.fingerprint,
            });
            match &out {
                Some(path) => write_file(path, pem.as_bytes(), force)?,
                None => print!("{pem}"),
            }
            match (format, out.is_some()) {
                (Format::Json, true) => print_json(&summary),
                (Format::Json, false) => {
                    eprintln!("{}", serde_json::to_string_pretty(&summary)?);
                    Ok(())
                }
                (Format::Text, _) => {
                    eprintln!(
                        "cross-signed '{}' by '{}': serial {} (valid until {})",
                        r.subject,
                        r.issuer_name,
                        r.serial,
                        timestamp(r.not_after)
                    );
                    Ok(())
                }
            }
        }
        CaCommand::Export {
            ca,
            chain,
            der,
            out,
            force,
            format,
        } => {
            let ca = services.directory.ca(&ca).await?;
            let about = serde_json::json!({"ca": ca.name, "serial": ca.serial, "chain": chain});
            let certs: Vec<Vec<u8>> = if chain {
                services
                    .directory
                    .chain_records(&ca)
                    .await?
                    .into_iter()
                    .map(|c| c.cert_der)
                    .collect()
            } else {
                vec![ca.cert_der]
            };
            let bytes = if der {
                if certs.len() > 1 {
                    bail!("--der writes one certificate; use PEM for --chain");
                }
                certs.concat()
            } else {
                ca_core::pem::certificates(certs.iter().map(Vec::as_slice))?.into_bytes()
            };
            deliver(&bytes, der, out.as_deref(), force, format, about)
        }
    }
}
