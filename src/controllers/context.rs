//! What every reconcile shares: the client, caches of the four kinds, the
//! event recorder, settings, and the per-object backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tracing::{debug, warn};

use super::informer::{self, Informer};
use crate::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use crate::error::{Error, StartupError};
use crate::labels;
use crate::resources::tenancy::TenantPolicy;

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
    /// What tenants may ask of the operator: ceiling, included ClusterRoles, subjects.
    pub tenancy: TenantPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 8,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
            resync: Duration::from_secs(3600),
            tenancy: TenantPolicy::default(),
        }
    }
}

/// Caches of what this operator made (objects with its managed-by label),
/// one watch per kind: reconciles read children here, never with a GET.
pub struct Children {
    pub namespaces: Informer<Namespace>,
    pub roles: Informer<Role>,
    pub role_bindings: Informer<RoleBinding>,
    pub cluster_roles: Informer<ClusterRole>,
    pub cluster_role_bindings: Informer<ClusterRoleBinding>,
    pub quotas: Informer<ResourceQuota>,
    pub limit_ranges: Informer<LimitRange>,
    pub network_policies: Informer<NetworkPolicy>,
    pub config_maps: Informer<ConfigMap>,
}

/// What a kind needs to be cached and watched.
pub trait Cacheable:
    Resource<DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
}

impl<K> Cacheable for K where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

fn children_informer<K: Cacheable>(client: &Client) -> Informer<K> {
    Informer::start(
        Api::all(client.clone()),
        watcher::Config::default().labels(&labels::managed_selector()),
        informer::trim::<K>,
    )
}

fn kind_informer<K: Cacheable>(client: &Client) -> Informer<DeserializeGuard<K>>
where
    DeserializeGuard<K>: Cacheable,
{
    Informer::start(
        Api::all(client.clone()),
        watcher::Config::default(),
        informer::trim_guard::<K>,
    )
}

async fn ready<K>(informer: &Informer<K>, kind: &'static str) -> Result<(), StartupError>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    informer
        .store
        .wait_until_ready()
        .await
        .map_err(|e| StartupError::Cache {
            kind,
            message: e.to_string(),
        })
}

pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub organizations: Informer<DeserializeGuard<Organization>>,
    pub workspaces: Informer<DeserializeGuard<Workspace>>,
    pub members: Informer<DeserializeGuard<WorkspaceMember>>,
    pub roles: Informer<DeserializeGuard<WorkspaceRole>>,
    pub children: Children,
    /// The tenant ceiling ClusterRole (one object, watched by name): every
    /// WorkspaceRole is checked against it before its ClusterRole is written.
    pub ceiling: Informer<ClusterRole>,
    recorder: Recorder,
    failures: Mutex<HashMap<String, u32>>,
    /// Role grants the API server refused, by role UID: the generation and
    /// digest of the rules asked for. Not asked again until they change; one
    /// entry per role at most, removed when the role goes.
    pub refused: Mutex<HashMap<String, (i64, String)>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The last status written per object UID (see `writes::write_status`).
    statuses: Mutex<HashMap<String, u64>>,
}

impl Context {
    pub async fn new(
        client: Client,
        settings: Settings,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Arc<Self>, StartupError> {
        let organizations = kind_informer::<Organization>(&client);
        let workspaces = kind_informer::<Workspace>(&client);
        let members = kind_informer::<WorkspaceMember>(&client);
        let roles = kind_informer::<WorkspaceRole>(&client);
        let ceiling = Informer::start(
            Api::all(client.clone()),
            watcher::Config::default()
                .fields(&format!("metadata.name={}", settings.tenancy.ceiling)),
            informer::trim::<ClusterRole>,
        );
        let children = Children {
            namespaces: children_informer(&client),
            roles: children_informer(&client),
            role_bindings: children_informer(&client),
            cluster_roles: children_informer(&client),
            cluster_role_bindings: children_informer(&client),
            quotas: children_informer(&client),
            limit_ranges: children_informer(&client),
            network_policies: children_informer(&client),
            config_maps: children_informer(&client),
        };
        // Every cache is complete before the first reconcile: a missing role
        // or child would otherwise look like one to revoke or to create.
        ready(&organizations, "organizations").await?;
        ready(&workspaces, "workspaces").await?;
        ready(&members, "workspacemembers").await?;
        ready(&roles, "workspaceroles").await?;
        ready(&children.namespaces, "namespaces").await?;
        ready(&children.roles, "roles").await?;
        ready(&children.role_bindings, "rolebindings").await?;
        ready(&children.cluster_roles, "clusterroles").await?;
        ready(&children.cluster_role_bindings, "clusterrolebindings").await?;
        ready(&children.quotas, "resourcequotas").await?;
        ready(&children.limit_ranges, "limitranges").await?;
        ready(&children.network_policies, "networkpolicies").await?;
        ready(&children.config_maps, "configmaps").await?;
        ready(&ceiling, "the tenant ceiling ClusterRole").await?;
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
            children,
            ceiling,
            recorder,
            failures: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            metrics,
            statuses: Mutex::new(HashMap::new()),
        }))
    }

    /// The Organization named `name`, if cached and decodable.
    pub fn organization(&self, name: &str) -> Option<Arc<DeserializeGuard<Organization>>> {
        self.organizations.get(None, name)
    }

    /// The Workspace `name` in organization namespace `namespace`.
    pub fn workspace(&self, namespace: &str, name: &str) -> Option<Workspace> {
        let guard = self.workspaces.get(Some(namespace), name)?;
        valid_ref(&guard).cloned()
    }

    /// The decodable WorkspaceRoles of organization namespace `namespace`.
    pub fn roles_in(&self, namespace: &str) -> Vec<WorkspaceRole> {
        valid_in(&self.roles.store, namespace)
    }

    /// The decodable WorkspaceMembers of organization namespace `namespace`.
    pub fn members_in(&self, namespace: &str) -> Vec<WorkspaceMember> {
        valid_in(&self.members.store, namespace)
    }

    /// The decodable Workspaces of organization namespace `namespace`.
    pub fn workspaces_in(&self, namespace: &str) -> Vec<Workspace> {
        valid_in(&self.workspaces.store, namespace)
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

    /// Whether the last status this process wrote for `uid` had `fingerprint`.
    pub fn status_written_before(&self, uid: &str, fingerprint: u64) -> bool {
        self.statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(uid)
            == Some(&fingerprint)
    }

    pub fn status_written(&self, uid: String, fingerprint: u64) {
        self.statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(uid, fingerprint);
    }

    pub fn forget_status(&self, uid: &str) {
        self.statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid);
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
    // Filtered before cloning: a clone of every cached object per call was
    // most of the operator's allocations at 10,000 members.
    store
        .state()
        .iter()
        .filter(|g| g.meta().namespace.as_deref() == Some(namespace))
        .filter_map(|g| valid_ref(g).cloned())
        .collect()
}

/// References to the decodable objects of `store` in `namespace` for which
/// `wanted` holds, without cloning any.
pub fn refs_in<K>(
    store: &Store<DeserializeGuard<K>>,
    namespace: &str,
    wanted: impl Fn(&K) -> bool,
) -> Vec<reflector::ObjectRef<DeserializeGuard<K>>>
where
    K: Resource<DynamicType = ()> + Clone,
    DeserializeGuard<K>:
        kube::runtime::reflector::Lookup<DynamicType = ()> + Resource<DynamicType = ()> + Clone,
{
    store
        .state()
        .iter()
        .filter(|g| g.meta().namespace.as_deref() == Some(namespace))
        .filter(|g| valid_ref(g).is_some_and(&wanted))
        .map(|g| reflector::ObjectRef::from_obj(g.as_ref()))
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
