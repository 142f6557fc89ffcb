//! What every handler shares.

use std::sync::Arc;

use ca_core::authority::Services;
use ca_core::store::AnyStore;

use crate::metrics::Metrics;

/// Server settings: the `[server]` table of `caforge.toml`.
pub type ServerConfig = ca_core::config::ServerSettings;

/// Shared state: the services over the store and keys, settings and metrics. Cloning it
/// (which the router does for every request) is one reference count; the fields are
/// reached through [`Shared`].
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct Shared {
    /// The services over the store (every CA in it): each handler uses the ones it needs.
    pub services: Services<AnyStore>,
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The last health pass (`/healthz` answers from it).
    pub health: Arc<crate::health::HealthState>,
    /// Expiry notifications sent by the background pass (none without webhooks).
    pub notify: Arc<ca_core::notify::NotifySettings>,
    /// CRL scopes that fetches found missing or due, for the background signer.
    pub crls: Arc<crate::publish::CrlQueue>,
    /// Where the background pass checkpoints the audit log's head (none: not at all).
    pub audit_checkpoints: Option<Arc<ca_core::audit::Checkpoints>>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// The same state, sending expiry notifications per `settings`.
    #[must_use]
    pub fn with_notify(self, settings: ca_core::notify::NotifySettings) -> AppState {
        let mut shared = Arc::unwrap_or_clone(self.0);
        shared.notify = Arc::new(settings);
        AppState(Arc::new(shared))
    }

    /// The same state, checkpointing the audit log's head into `checkpoints` on every
    /// background pass.
    #[must_use]
    pub fn with_audit_checkpoints(self, checkpoints: ca_core::audit::Checkpoints) -> AppState {
        let mut shared = Arc::unwrap_or_clone(self.0);
        shared.audit_checkpoints = Some(Arc::new(checkpoints));
        AppState(Arc::new(shared))
    }

    /// State over `services` with `config`.
    pub fn new(services: Services<AnyStore>, config: ServerConfig) -> AppState {
        AppState(Arc::new(Shared {
            services,
            health: Arc::default(),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            notify: Arc::new(ca_core::notify::NotifySettings::default()),
            crls: Arc::default(),
            audit_checkpoints: None,
        }))
    }
}
