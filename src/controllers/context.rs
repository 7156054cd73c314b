//! What every reconcile shares: the client, caches of the four kinds, the
//! event recorder, settings, and the per-object backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tracing::{debug, warn};

use crate::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use crate::error::{Error, StartupError};

/// Tunables of `workspace-operator run`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Reconciles in flight at once, per controller.
    pub concurrency: u16,
    /// First retry delay after a transient error; doubles up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// How often a converged object is checked again anyway (drift safety net).
    pub resync: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 8,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
            resync: Duration::from_secs(3600),
        }
    }
}

pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub organizations: Store<DeserializeGuard<Organization>>,
    pub workspaces: Store<DeserializeGuard<Workspace>>,
    pub members: Store<DeserializeGuard<WorkspaceMember>>,
    pub roles: Store<DeserializeGuard<WorkspaceRole>>,
    recorder: Recorder,
    failures: Mutex<HashMap<String, u32>>,
    /// Role grants the API server refused (role UID, generation, rules):
    /// not asked again until one of them changes, or the operator restarts.
    pub refused: Mutex<std::collections::HashSet<(String, i64, String)>>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// A cache of every `K`, kept current by a watch in the background.
fn cache<K>(client: &Client) -> Store<DeserializeGuard<K>>
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    DeserializeGuard<K>: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(
        Api::<DeserializeGuard<K>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(|g: &mut DeserializeGuard<K>| {
        // Managed fields are never read; dropping them halves the cache.
        if let Ok(obj) = g.0.as_mut() {
            obj.managed_fields_mut().clear();
        }
    })
    .reflect(writer)
    .for_each(|_| futures::future::ready(()));
    tokio::spawn(stream);
    reader
}

impl Context {
    pub async fn new(
        client: Client,
        settings: Settings,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Arc<Self>, StartupError> {
        let organizations = cache::<Organization>(&client);
        let workspaces = cache::<Workspace>(&client);
        let members = cache::<WorkspaceMember>(&client);
        let roles = cache::<WorkspaceRole>(&client);
        let cache_error = |kind| {
            move |e: reflector::store::WriterDropped| StartupError::Cache {
                kind,
                message: e.to_string(),
            }
        };
        organizations
            .wait_until_ready()
            .await
            .map_err(cache_error("organizations"))?;
        workspaces
            .wait_until_ready()
            .await
            .map_err(cache_error("workspaces"))?;
        members
            .wait_until_ready()
            .await
            .map_err(cache_error("workspacemembers"))?;
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "workspace-operator".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        Ok(Arc::new(Context {
            client,
            settings,
            organizations,
            workspaces,
            members,
            roles,
            recorder,
            failures: Mutex::new(HashMap::new()),
            refused: Mutex::new(Default::default()),
            metrics,
        }))
    }

    /// The Organization named `name`, if cached and decodable.
    pub fn organization(&self, name: &str) -> Option<Arc<DeserializeGuard<Organization>>> {
        self.organizations.get(&reflector::ObjectRef::new(name))
    }

    /// The Workspace `name` in organization namespace `namespace`.
    pub fn workspace(&self, namespace: &str, name: &str) -> Option<Workspace> {
        let guard = self
            .workspaces
            .get(&reflector::ObjectRef::new(name).within(namespace))?;
        valid_ref(&guard).cloned()
    }

    /// The decodable WorkspaceRoles of organization namespace `namespace`.
    pub fn roles_in(&self, namespace: &str) -> Vec<WorkspaceRole> {
        valid_in(&self.roles, namespace)
    }

    /// The decodable WorkspaceMembers of organization namespace `namespace`.
    pub fn members_in(&self, namespace: &str) -> Vec<WorkspaceMember> {
        valid_in(&self.members, namespace)
    }

    /// The decodable Workspaces of organization namespace `namespace`.
    pub fn workspaces_in(&self, namespace: &str) -> Vec<Workspace> {
        valid_in(&self.workspaces, namespace)
    }

    /// Publishes an Event about `obj`; failures are logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate(note, 1000)),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            warn!(error = %e, reason, "cannot publish event");
        }
    }

    fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
        format!(
            "{}/{}/{}",
            K::kind(&()),
            obj.meta().namespace.as_deref().unwrap_or(""),
            obj.name_any()
        )
    }

    /// Forgets past failures of `obj` after a successful reconcile.
    pub fn succeeded<K: Resource<DynamicType = ()>>(&self, obj: &K) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&Self::key(obj));
    }

    /// Per-object exponential backoff for transient errors; errors the spec
    /// causes wait for the next change of the object.
    pub fn failure_action<K: Resource<DynamicType = ()>>(&self, obj: &K, err: &Error) -> Action {
        if !err.is_transient() {
            return Action::await_change();
        }
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = failures.entry(Self::key(obj)).or_insert(0);
        *n = n.saturating_add(1);
        let delay = backoff_delay(self.settings.base_backoff, self.settings.max_backoff, *n);
        debug!(object = %Self::key(obj), attempt = *n, ?delay, error = %err, "retrying");
        Action::requeue(delay)
    }
}

/// `base * 2^(attempt-1)`, capped at `max`, with up to 10% jitter so many
/// objects failing together do not retry together.
pub fn backoff_delay(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
    let capped = exp.min(max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let jitter = capped.mul_f64(f64::from(nanos % 100) / 1000.0);
    capped + jitter
}

/// The decodable objects of `store` in `namespace`.
fn valid_in<K: Resource<DynamicType = ()> + Clone>(
    store: &Store<DeserializeGuard<K>>,
    namespace: &str,
) -> Vec<K>
where
    DeserializeGuard<K>: kube::runtime::reflector::Lookup<DynamicType = ()> + Clone,
{
    store
        .state()
        .iter()
        .filter_map(|g| valid_ref(g).cloned())
        .filter(|o| o.meta().namespace.as_deref() == Some(namespace))
        .collect()
}

fn valid_ref<K>(guard: &DeserializeGuard<K>) -> Option<&K> {
    guard.0.as_ref().ok()
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let (base, max) = (Duration::from_millis(500), Duration::from_secs(60));
        let d1 = backoff_delay(base, max, 1);
        let d3 = backoff_delay(base, max, 3);
        assert!(d1 >= base && d1 < base.mul_f64(1.11));
        assert!(d3 >= Duration::from_secs(2) && d3 < Duration::from_millis(2200));
        let d30 = backoff_delay(base, max, 30);
        assert!(d30 >= max && d30 <= max.mul_f64(1.1));
    }
}
