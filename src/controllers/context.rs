//! What every controller shares: the runtime (client, reporter, metrics),
//! the tenancy settings, and the caches: the four kinds, what the operator
//! made, the tenant ceiling and Secrets' metadata.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{BoxStream, Stream};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ObjectMeta};
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource};

use super::error::StartupError;
use crate::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use crate::ownership::{self, Component, Kind};
use crate::resources::guardrails::{self, KeptNamespace, kept_namespace};
use crate::resources::tenancy::TenantPolicy;
use crate::resources::usage::QuotaUse;
use crate::runtime::compare::CACHED_KEPT;
use crate::runtime::informer::{self, Cacheable, Informer};
use crate::runtime::metrics::Metrics;
use crate::runtime::pipeline::Runtime;
use crate::runtime::report::{Backoff, Reporter};

/// Tunables of `workspace-operator run`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Reconciles in flight at once, per controller.
    pub concurrency: u16,
    /// Retry delays after a transient error.
    pub backoff: Backoff,
    /// How often a converged object is checked again anyway (drift safety net).
    pub resync: Duration,
    /// What tenants may ask of the operator: ceiling, included ClusterRoles, subjects.
    pub tenancy: TenantPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 32,
            backoff: Backoff::default(),
            resync: Duration::from_secs(3600),
            tenancy: TenantPolicy::default(),
        }
    }
}

/// Workspace namespaces by (organization, workspace) (`Context::workspace_namespaces`).
pub type WorkspaceNamespaces = std::collections::BTreeSet<(String, String)>;

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

impl Children {
    /// Starts watching every kind of child the operator makes.
    fn start(client: &Client) -> Children {
        Children {
            // Only the namespaces' marks are read (their spec and status
            // never): compact like every other child.
            namespaces: compact_children_informer(client),
            roles: compact_children_informer(client),
            role_bindings: compact_children_informer(client),
            cluster_roles: compact_children_informer(client),
            cluster_role_bindings: compact_children_informer(client),
            // A workspace quota's limits and use are kept too: its
            // organization's usage and the usage metrics read them.
            quotas: Informer::start_compact_keeping(
                Api::all(client.clone()),
                watcher::Config::default().labels(&ownership::managed_selector()),
                crate::resources::usage::kept_of_quota,
            ),
            limit_ranges: compact_children_informer(client),
            network_policies: compact_children_informer(client),
            config_maps: compact_children_informer(client),
        }
    }

    /// Changes to the operator's objects of `kinds`, each mapped by `owner`
    /// to whom it concerns: what a controller watches of its children.
    /// Namespaces and Secrets are not here: their watches map more than
    /// the owner (whom a namespace lets copy, whom a source Secret concerns).
    pub fn changes<G>(
        &self,
        kinds: &[Kind],
        owner: fn(&ObjectMeta) -> Option<ObjectRef<G>>,
    ) -> impl Stream<Item = ObjectRef<G>> + Send + 'static
    where
        G: Resource<DynamicType = ()> + 'static,
    {
        fn mapped<K: Cacheable, G: Resource<DynamicType = ()> + 'static>(
            cache: &Informer<K>,
            owner: fn(&ObjectMeta) -> Option<ObjectRef<G>>,
        ) -> Option<BoxStream<'static, ObjectRef<G>>> {
            let changes = cache.subscribe();
            Some(
                changes
                    .filter_map(move |o| futures::future::ready(owner(o.meta())))
                    .boxed(),
            )
        }
        let streams = kinds.iter().filter_map(|kind| match kind {
            Kind::Namespace | Kind::Secret => None,
            Kind::Role => mapped(&self.roles, owner),
            Kind::RoleBinding => mapped(&self.role_bindings, owner),
            Kind::ClusterRole => mapped(&self.cluster_roles, owner),
            Kind::ClusterRoleBinding => mapped(&self.cluster_role_bindings, owner),
            Kind::ResourceQuota => mapped(&self.quotas, owner),
            Kind::LimitRange => mapped(&self.limit_ranges, owner),
            Kind::NetworkPolicy => mapped(&self.network_policies, owner),
            Kind::ConfigMap => mapped(&self.config_maps, owner),
        });
        futures::stream::select_all(streams)
    }

    /// Whether any child of any kind carries owner-uid `uid`.
    pub fn hold_any_of(&self, uid: &str) -> bool {
        Kind::ALL.iter().any(|kind| match kind {
            Kind::Namespace => self.namespaces.holds_any_of(uid),
            Kind::Role => self.roles.holds_any_of(uid),
            Kind::RoleBinding => self.role_bindings.holds_any_of(uid),
            Kind::ClusterRole => self.cluster_roles.holds_any_of(uid),
            Kind::ClusterRoleBinding => self.cluster_role_bindings.holds_any_of(uid),
            Kind::ResourceQuota => self.quotas.holds_any_of(uid),
            Kind::LimitRange => self.limit_ranges.holds_any_of(uid),
            Kind::NetworkPolicy => self.network_policies.holds_any_of(uid),
            Kind::ConfigMap => self.config_maps.holds_any_of(uid),
            // Credential copies: Secrets are cached apart, by `Context`.
            Kind::Secret => false,
        })
    }

    /// Waits until the cache of every kind of the registry is complete
    /// (Secrets' metadata is cached apart, by `Context`).
    async fn ready(&self) -> Result<(), StartupError> {
        for kind in Kind::ALL {
            let name = kind.plural();
            match kind {
                Kind::Namespace => ready(&self.namespaces, name).await?,
                Kind::Role => ready(&self.roles, name).await?,
                Kind::RoleBinding => ready(&self.role_bindings, name).await?,
                Kind::ClusterRole => ready(&self.cluster_roles, name).await?,
                Kind::ClusterRoleBinding => ready(&self.cluster_role_bindings, name).await?,
                Kind::ResourceQuota => ready(&self.quotas, name).await?,
                Kind::LimitRange => ready(&self.limit_ranges, name).await?,
                Kind::NetworkPolicy => ready(&self.network_policies, name).await?,
                Kind::ConfigMap => ready(&self.config_maps, name).await?,
                Kind::Secret => {}
            }
        }
        Ok(())
    }
}

/// Children whose body only matters as "exactly what the operator wants or
/// not": cached as compact records of their metadata plus a fingerprint of
/// the body (`compare::compact`, `runtime::record`).
fn compact_children_informer<K>(client: &Client) -> Informer<K>
where
    K: Cacheable + serde::Serialize + Default,
{
    Informer::start_compact(
        Api::all(client.clone()),
        watcher::Config::default().labels(&ownership::managed_selector()),
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

/// Every Secret's metadata (no data): sources are the users' own,
/// unlabelled Secrets, and copies are found here by their owner.
fn secrets_informer(client: &Client) -> Informer<PartialObjectMeta<Secret>> {
    Informer::from_events(
        kube::runtime::watcher(
            Api::<PartialObjectMeta<Secret>>::all(client.clone()),
            watcher::Config::default(),
        ),
        trim_secret,
    )
}

/// Only names, labels and identity are read of a Secret's metadata.
fn trim_secret(meta: &mut PartialObjectMeta<Secret>) {
    meta.metadata.managed_fields = None;
    meta.metadata.annotations = None;
}

async fn ready<K: Cacheable>(
    informer: &Informer<K>,
    kind: &'static str,
) -> Result<(), StartupError> {
    informer
        .ready()
        .await
        .map_err(|message| StartupError::Cache { kind, message })
}

pub struct Context {
    pub runtime: Runtime,
    pub tenancy: TenantPolicy,
    pub organizations: Informer<DeserializeGuard<Organization>>,
    pub workspaces: Informer<DeserializeGuard<Workspace>>,
    pub members: Informer<DeserializeGuard<WorkspaceMember>>,
    pub roles: Informer<DeserializeGuard<WorkspaceRole>>,
    pub children: Children,
    /// Metadata of every Secret (credential sources and copies).
    pub secrets: Informer<PartialObjectMeta<Secret>>,
    /// The tenant ceiling ClusterRole (one object, watched by name): every
    /// WorkspaceRole is checked against it before its ClusterRole is written.
    pub ceiling: Informer<ClusterRole>,
}

impl Context {
    pub async fn new(
        client: Client,
        settings: Settings,
        metrics: Arc<Metrics>,
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
        let children = Children::start(&client);
        let secrets = secrets_informer(&client);
        // Every cache is complete before the first reconcile: a missing role
        // or child would otherwise look like one to revoke or to create.
        ready(&organizations, "organizations").await?;
        ready(&workspaces, "workspaces").await?;
        ready(&members, "workspacemembers").await?;
        ready(&roles, "workspaceroles").await?;
        children.ready().await?;
        ready(&secrets, "secrets (metadata)").await?;
        ready(&ceiling, "the tenant ceiling ClusterRole").await?;
        Ok(Arc::new(Context {
            runtime: Runtime {
                reporter: Reporter::new(client.clone(), settings.backoff),
                client,
                metrics,
                resync: settings.resync,
                concurrency: settings.concurrency,
            },
            tenancy: settings.tenancy,
            organizations,
            workspaces,
            members,
            roles,
            children,
            secrets,
            ceiling,
        }))
    }

    pub fn client(&self) -> &Client {
        &self.runtime.client
    }

    /// Whether anything the operator made (children, credential copies)
    /// carries owner-uid `uid`.
    pub fn made_anything_for(&self, uid: &str) -> bool {
        !uid.is_empty() && (self.children.hold_any_of(uid) || self.secrets.holds_any_of(uid))
    }

    /// The Organization named `name`, if cached and decodable.
    pub fn organization(&self, name: &str) -> Option<Organization> {
        let guard = self.organizations.get(None, name)?;
        guard.0.as_ref().ok().cloned()
    }

    /// The Workspace `name` in organization namespace `namespace`.
    pub fn workspace(&self, namespace: &str, name: &str) -> Option<Workspace> {
        let guard = self.workspaces.get(Some(namespace), name)?;
        guard.0.as_ref().ok().cloned()
    }

    /// The decodable WorkspaceRoles of organization namespace `namespace`.
    pub fn roles_in(&self, namespace: &str) -> Vec<WorkspaceRole> {
        self.roles.valid_in(namespace)
    }

    /// The namespaces the operator marked as organization `organization`'s,
    /// as the cache holds them (one pass over the cache).
    pub fn organization_namespaces(&self, organization: &str) -> Vec<Arc<Namespace>> {
        self.children
            .namespaces
            .all_labelled(ownership::ORGANIZATION, organization)
    }

    /// The (organization, workspace) of every namespace the cache holds
    /// with the operator's marks as a workspace namespace, those kept for
    /// deleted workspaces included: of organization `only` (of every one
    /// for None). One pass over the cache.
    pub fn workspace_namespaces(&self, only: Option<&str>) -> WorkspaceNamespaces {
        let mut found = WorkspaceNamespaces::new();
        self.children.namespaces.visit_marks(&mut |marks| {
            if marks.label(ownership::COMPONENT) == Some(Component::WorkspaceNamespace.as_str())
                && let Some(org) = marks.label(ownership::ORGANIZATION)
                && only.is_none_or(|o| o == org)
                && let Some(ws) = marks.label(ownership::WORKSPACE)
            {
                found.insert((org.to_string(), ws.to_string()));
            }
        });
        found
    }

    /// The quotas of the workspace namespaces of organization `only` (of
    /// every organization for None) as the cache holds them, with their
    /// organization. Only quotas of `namespaces` (`workspace_namespaces`)
    /// count: a namespace released with its organization keeps its quota
    /// (and its labels), and a later organization of the same name must not
    /// count it.
    pub fn quota_uses(
        &self,
        namespaces: &WorkspaceNamespaces,
        only: Option<&str>,
    ) -> Vec<(String, QuotaUse)> {
        let mut kept = vec![];
        self.children.quotas.visit_marks(&mut |marks| {
            if marks.label(ownership::COMPONENT) == Some(Component::Quota.as_str())
                && let Some(organization) = marks.label(ownership::ORGANIZATION)
                && only.is_none_or(|o| organization == o)
                && let Some(text) = marks.annotation(CACHED_KEPT)
            {
                let workspace = marks.label(ownership::WORKSPACE).unwrap_or_default();
                kept.push((
                    organization.to_string(),
                    workspace.to_string(),
                    text.to_string(),
                ));
            }
        });
        // In one order whatever the cache's: sums of fractions come out the
        // same after a restart, so the same figures are no new write.
        kept.retain(|(org, ws, _)| namespaces.contains(&(org.clone(), ws.clone())));
        kept.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        // Read outside the cache's lock.
        kept.into_iter()
            .filter_map(|(org, ws, text)| {
                let status = serde_json::from_str(&text).ok()?;
                Some((org, QuotaUse::of_status(&ws, &status)))
            })
            .collect()
    }

    /// The namespaces of organization `organization`'s deleted workspaces
    /// kept until their purge (or retained), of `namespaces`.
    pub fn kept_of(namespaces: &[Arc<Namespace>], organization: &str) -> Vec<KeptNamespace> {
        namespaces
            .iter()
            .filter_map(|n| kept_namespace(&n.metadata))
            .filter(|k| k.organization == organization)
            .collect()
    }

    /// The namespaces of organization `organization`'s deleted workspaces
    /// kept until their purge (or retained), as the cache holds them:
    /// only those carrying a keeping mark are made into objects.
    pub fn kept_namespaces(&self, organization: &str) -> Vec<KeptNamespace> {
        let marked = self.children.namespaces.all_marked(
            ownership::ORGANIZATION,
            organization,
            Some(&[guardrails::PURGE_AT, guardrails::RETAINED_AT]),
        );
        Self::kept_of(&marked, organization)
    }
}
