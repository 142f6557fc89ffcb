//! Argument shapes shared by several commands, so the command-line grammar is written once:
//! the object a command acts on is positional; any other CA is `--ca`.

/// The CA a command acts on, given positionally (`caforge crl issuing`). `--ca CA` is still
/// accepted, hidden, for scripts written before the grammar was made uniform.
#[derive(Debug, clap::Args)]
pub(crate) struct CaObject {
    /// The CA (name or id).
    #[arg(value_name = "CA", required_unless_present = "ca_option")]
    ca: Option<String>,
    /// The CA, spelled as an option (older scripts).
    #[arg(long = "ca", value_name = "CA", hide = true, conflicts_with = "ca")]
    ca_option: Option<String>,
}

impl CaObject {
    /// The CA's name or id, however it was given.
    pub(crate) fn name(&self) -> &str {
        self.ca
            .as_deref()
            .or(self.ca_option.as_deref())
            .unwrap_or_default()
    }
}
