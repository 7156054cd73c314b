//! Organization controller: its namespace, its admins' access, the
//! predefined roles, the default workspace and its credential shares
//! (decided in `resources::organization`); on deletion, waits for its
//! workspaces.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::{Context, credentials};
use crate::api::common::Condition;
use crate::api::organization::{OrganizationStatus, OrganizationUsage};
use crate::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use crate::conditions::{Aspect, Outcome};
use crate::ownership::names::{self, ORGANIZATION_ADMINS_BINDING, organization_namespace};
use crate::ownership::registry::{self, Maker};
use crate::ownership::{self, Component, Owner, owner_of};
use crate::resources::credentials::{Share, ShareProblems};
use crate::resources::decision::Decision;
use crate::resources::defaults;
use crate::resources::guardrails::{self, KeptNamespace, kept_namespace};
use crate::resources::organization::{
    self as decide, OrganizationChildren, OrganizationFacts, OrganizationInput, OrganizationWrites,
    default_workspace_name,
};
use crate::resources::predefined_roles;
use crate::resources::teardown::Step;
use crate::resources::usage;
use crate::runtime::apply::{Owned, apply_unless_contained, apply_unless_current, delete_if};
use crate::runtime::compare::CACHED_KEPT;
use crate::runtime::informer::{self, valid};
use crate::runtime::pipeline::{self, Reconciler, Runtime};
use crate::runtime::throttle;
use crate::runtime::{Error, Result};

type Guard = DeserializeGuard<Organization>;

pub struct Organizations {
    ctx: Arc<Context>,
    /// Each organization's usage as last taken (by UID), written or not:
    /// unchanged figures are not written, so the status alone would call
    /// them due on every reconcile after a period; and a status read from a
    /// cache that has not seen the last write must not bring older figures
    /// back.
    usage_taken: Mutex<HashMap<String, OrganizationUsage>>,
}

fn organization_ref(owner: Owner) -> Option<ObjectRef<Guard>> {
    match owner {
        Owner::Organization { name } => Some(ObjectRef::new(&name)),
        _ => None,
    }
}

/// The organization that made `meta`, if an organization did.
fn made_by_organization(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Guard>> {
    organization_ref(owner_of(meta)?)
}

pub async fn controller(ctx: &Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let (sharing, by_secret) = (ctx.clone(), ctx.clone());
    let cached = &ctx.children;
    let controller = pipeline::controller_of(&ctx.organizations, ctx.runtime.concurrency)
        // Workspaces change the count and who may read the Organization
        // (an owner), and their deletion unblocks ours: never held back.
        .watches_shared_stream(
            ctx.workspaces
                .subscribe_changes(super::workspace::generation_and_conflict),
            |ws| organization_of_namespaced(ws.as_ref()),
        )
        // Who may read the Organization follows its members' grants: a
        // member losing its access wakes it at once; grants given wake it
        // at once when it was quiet, else at most once per recount period
        // (each wake may rewrite a visitor shard of hundreds of subjects).
        .reconcile_on(throttle::recounts(
            ctx.members.subscribe_changes(grant_signature),
            organization_of_namespaced,
            super::member::revoking_or_deleting,
        ))
        .watches_shared_stream(ctx.roles.subscribe_changes(predefined_signature), |r| {
            organization_of_predefined_role(&r)
        })
        .watches_shared_stream(cached.namespaces.subscribe(), move |n| {
            organization_woken_by_namespace(&sharing, &n)
        })
        // Its other children, edited or deleted by hand: put back.
        .reconcile_on(cached.changes(
            &registry::kinds_made_by(Maker::Organization),
            made_by_organization,
        ))
        .watches_shared_stream(ctx.secrets.subscribe(), move |s| {
            organization_sharing_secret(&by_secret, &s.metadata)
        })
        // What its workspaces' quotas give and use: at most once per
        // usage period (it reports them no more often).
        .reconcile_on(throttle::throttled(
            usage_triggers(cached),
            usage::USAGE_PERIOD,
        ))
        .graceful_shutdown_on(shutdown)
        .run(
            pipeline::reconcile::<Organizations>,
            pipeline::error_policy::<Organizations>,
            Arc::new(Organizations {
                ctx: ctx.clone(),
                usage_taken: Mutex::default(),
            }),
        );
    pipeline::drain("Organization", controller).await;
}

/// What a quota's organization reports of it: its limits and use as the
/// cache keeps them (`usage::kept_of_quota`), and its being deleted.
fn kept_use(quota: &ResourceQuota) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    quota.annotations().get(CACHED_KEPT).hash(&mut h);
    h.finish()
}

/// What changes an organization's usage: its workspaces' quotas (their
/// limits and use as the cache keeps them), and a workspace namespace
/// appearing or going (the count, with or without a quota).
fn usage_triggers(
    cached: &super::context::Children,
) -> impl futures::Stream<Item = (ObjectRef<Guard>, bool)> + Send + 'static {
    futures::stream::select(
        cached
            .quotas
            .subscribe_changes(kept_use)
            .filter_map(|q| futures::future::ready(organization_of_quota(&q))),
        cached
            .namespaces
            .subscribe_changes(|_| 0)
            .filter_map(|n| futures::future::ready(organization_of_workspace_namespace(&n))),
    )
}

/// The organization of a workspace namespace, as a trigger (never urgent).
fn organization_of_workspace_namespace(namespace: &Namespace) -> Option<(ObjectRef<Guard>, bool)> {
    (ownership::component_of(&namespace.metadata) == Some(ownership::Component::WorkspaceNamespace))
        .then(|| namespace.labels().get(ownership::ORGANIZATION))
        .flatten()
        .map(|org| (ObjectRef::new(org), false))
}

/// The organization of a workspace quota, as a trigger (never urgent).
fn organization_of_quota(quota: &ResourceQuota) -> Option<(ObjectRef<Guard>, bool)> {
    (ownership::component_of(quota.meta()) == Some(ownership::Component::Quota))
        .then(|| quota.labels().get(ownership::ORGANIZATION))
        .flatten()
        .map(|org| (ObjectRef::new(org), false))
}

/// The organization whose namespace holds `object`.
fn organization_of_namespaced<K: Resource>(object: &K) -> Option<ObjectRef<Guard>> {
    object.namespace().map(|ns| ObjectRef::<Guard>::new(&ns))
}

/// The organization of `role` if it is a predefined role, whatever changed
/// in it (spec, or its marks removed).
fn organization_of_predefined_role(
    role: &DeserializeGuard<WorkspaceRole>,
) -> Option<ObjectRef<Guard>> {
    // By name, since a tenant can remove the label that says so.
    predefined_roles::is_predefined_name(&role.name_any())
        .then(|| organization_of_namespaced(role))
        .flatten()
}

/// The organization a change of `namespace` concerns, if any.
fn organization_woken_by_namespace(
    ctx: &Context,
    namespace: &Namespace,
) -> Option<ObjectRef<Guard>> {
    match owner_of(&namespace.metadata)? {
        // A workspace's namespace appearing: the organization's shares
        // can be copied into it now (only into namespaces it made).
        // A namespace kept for its purge, or one the organization
        // lists as such (restored now): the list and the next
        // purge follow.
        Owner::Workspace { organization, name } => {
            let org = ctx.organizations.get(None, &organization);
            let org = org.as_deref().and_then(valid);
            let shares = org.is_some_and(|o| o.spec.shared_credentials.is_some());
            let listed = org
                .and_then(|o| o.status.as_ref())
                .is_some_and(|s| s.pending_purges.iter().any(|p| p.workspace == name));
            let kept = kept_namespace(&namespace.metadata).is_some();
            (shares || listed || kept).then(|| ObjectRef::new(&organization))
        }
        owner => organization_ref(owner),
    }
}

/// The organization that shares credentials through the Secret of `meta`:
/// a source in the organization namespace, or a copy.
fn organization_sharing_secret(
    ctx: &Context,
    meta: &kube::api::ObjectMeta,
) -> Option<ObjectRef<Guard>> {
    organization_ref(credentials::sharer_of_secret(ctx, meta)?)
}

/// What the organization reads of a member: its subject and workspace
/// (spec), whether it is granted anything, and whether it is going.
fn grant_signature(member: &DeserializeGuard<WorkspaceMember>) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    informer::generation(member).hash(&mut h);
    if let Some(m) = valid(member) {
        m.meta().deletion_timestamp.is_some().hash(&mut h);
        if let Some(s) = &m.status {
            format!("{:?}", s.phase).hash(&mut h);
            s.granted_roles
                .as_ref()
                .is_some_and(|r| !r.is_empty())
                .hash(&mut h);
        }
    }
    h.finish()
}

/// What the organization keeps of a predefined role: its spec (generation)
/// and its marks.
fn predefined_signature(role: &DeserializeGuard<WorkspaceRole>) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    informer::generation(role).hash(&mut h);
    role.labels().iter().for_each(|l| l.hash(&mut h));
    h.finish()
}

impl Organizations {
    /// Its usage taken now, at most once per period (from the caches only);
    /// else how long until it is due.
    fn usage_if_due(
        &self,
        org: &Organization,
        now: jiff::Timestamp,
    ) -> (Option<OrganizationUsage>, Option<std::time::Duration>) {
        let uid = org.uid().unwrap_or_default();
        let reported = org.status.as_ref().and_then(|s| s.usage.as_ref());
        let mut taken = self
            .usage_taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let remembered = taken.get(&uid);
        let since = usage::taken_at(reported).max(usage::taken_at(remembered));
        match usage::due_since(since, now) {
            // Not due: the latest figures stand (those remembered when they
            // are newer than the status read).
            Some(wait) => {
                let latest = remembered
                    .filter(|r| usage::taken_at(Some(*r)) > usage::taken_at(reported))
                    .cloned();
                (latest, Some(wait))
            }
            None => {
                let fresh = self.usage_of(org, now);
                taken.insert(uid, fresh.clone());
                (Some(fresh), None)
            }
        }
    }

    /// Its usage as the caches hold it now.
    fn usage_of(&self, org: &Organization, now: jiff::Timestamp) -> OrganizationUsage {
        let name = org.name_any();
        let namespaces = self.ctx.workspace_namespaces(Some(&name));
        let quotas: Vec<usage::QuotaUse> = self
            .ctx
            .quota_uses(&namespaces, Some(&name))
            .into_iter()
            .map(|(_, q)| q)
            .collect();
        usage::summarize(org, namespaces.len(), &quotas, now)
    }

    /// The namespaces of its deleted workspaces waiting for their purge.
    fn kept_namespaces(
        &self,
        org: &Organization,
        workspaces: &[Arc<DeserializeGuard<Workspace>>],
    ) -> Vec<KeptNamespace> {
        let live: Vec<&Workspace> = workspaces.iter().filter_map(|g| valid(g)).collect();
        let kept = self.ctx.kept_namespaces(&org.name_any());
        guardrails::pending(&kept, &live).cloned().collect()
    }

    /// The namespaces the operator marked as `org`'s, as the API server lists them.
    async fn namespaces_now(&self, org: &Organization) -> Result<Vec<kube::api::ObjectMeta>> {
        let api: Api<Namespace> = Api::all(self.ctx.client().clone());
        let selector = ownership::organization_selector(&org.name_any(), None);
        let listed = api
            .list_metadata(&kube::api::ListParams::default().labels(&selector))
            .await
            .map_err(Error::request("listing the organization's namespaces"))?;
        Ok(listed.items.into_iter().map(|n| n.metadata).collect())
    }

    /// Purges `kept`: deletes the namespace if it is still, at the version
    /// the cache holds, the kept namespace of a deleted workspace.
    async fn purge(&self, org: &Organization, kept: &KeptNamespace) -> Result<()> {
        let ctx = &self.ctx;
        let Some(live) = ctx.children.namespaces.get(None, &kept.namespace) else {
            return Ok(());
        };
        if kept_namespace(&live.metadata).as_ref() != Some(kept) {
            return Ok(());
        }
        let api: Api<Namespace> = Api::all(ctx.client().clone());
        let still_kept = kube::api::Preconditions {
            uid: live.uid(),
            resource_version: live.resource_version(),
        };
        // Gone already, or changed since (restored): looked at again.
        if !delete_if(&api, &kept.namespace, still_kept).await? {
            return Ok(());
        }
        info!(
            namespace = kept.namespace,
            "purged the kept namespace of a deleted workspace"
        );
        let note = format!(
            "namespace {} of deleted Workspace {} is purged (its grace period ended at {})",
            kept.namespace,
            kept.workspace,
            kept.purge_at.map(|at| at.to_string()).unwrap_or_default()
        );
        ctx.runtime
            .reporter
            .event(org, EventType::Normal, "Purged", note)
            .await;
        Ok(())
    }

    fn workspaces_of(&self, org: &Organization) -> Vec<Arc<DeserializeGuard<Workspace>>> {
        let mut list = self
            .ctx
            .workspaces
            .shared_in(&organization_namespace(&org.name_any()));
        list.sort_by_key(|w| w.name_any());
        list
    }

    /// Writes the organization namespace and its admins' access (the admin
    /// Role, the reader and editors ClusterRoles and their bindings); stops
    /// at the first error.
    async fn apply_namespace_and_access(
        &self,
        org: &Organization,
        owned: &Owned<'_>,
        children: &OrganizationChildren,
    ) -> Result<()> {
        let ns = organization_namespace(&org.name_any());
        let here = Some(ns.as_str());
        let cached = &self.ctx.children;
        // Read before any create: organizations are few.
        owned
            .claimed(&cached.namespaces, &children.namespace, true)
            .await?;
        owned.one(&cached.roles, &children.admin_role).await?;
        owned
            .optional::<RoleBinding>(
                &cached.role_bindings,
                here,
                ORGANIZATION_ADMINS_BINDING,
                children.admin_binding.as_ref(),
            )
            .await?;
        owned
            .one(&cached.cluster_roles, &children.reader_cluster_role)
            .await?;
        owned
            .optional::<ClusterRoleBinding>(
                &cached.cluster_role_bindings,
                None,
                &children.reader_cluster_role.name_any(),
                children.reader_binding.as_ref(),
            )
            .await?;
        let editors = names::organization_editors(&org.name_any());
        owned
            .optional::<ClusterRole>(
                &cached.cluster_roles,
                None,
                &editors,
                children.editors_cluster_role.as_ref(),
            )
            .await?;
        owned
            .optional::<ClusterRoleBinding>(
                &cached.cluster_role_bindings,
                None,
                &editors,
                children.editors_binding.as_ref(),
            )
            .await?;
        Ok(())
    }

    /// Writes the predefined roles and the default workspace where they
    /// differ from what the cache holds; stops at the first error.
    async fn apply_predefined_roles_and_default_workspace(
        &self,
        org: &Organization,
        children: &OrganizationChildren,
    ) -> Result<()> {
        // The predefined roles and the default workspace are objects of the
        // four kinds, not children with marks of their own: written when
        // they differ from what the cache holds.
        let ctx = &self.ctx;
        let ns = organization_namespace(&org.name_any());
        let here = Some(ns.as_str());
        let workspace_roles: Api<WorkspaceRole> = Api::namespaced(ctx.client().clone(), &ns);
        for role in &children.predefined_roles {
            let live = ctx.roles.get(here, &role.name_any());
            apply_unless_current(&workspace_roles, live.as_deref().and_then(valid), role).await?;
        }
        let default_workspace = &children.default_workspace;
        let workspaces: Api<Workspace> = Api::namespaced(ctx.client().clone(), &ns);
        let live = ctx.workspaces.get(here, &default_workspace.name_any());
        // Only its mark is the operator's: the spec stays the users' to set.
        apply_unless_contained(
            &workspaces,
            live.as_deref().and_then(valid),
            default_workspace,
        )
        .await?;
        Ok(())
    }

    /// Syncs the credential shares, writes the visitor shards and purges the
    /// due kept namespaces, each whatever the others did; returns the share
    /// problems, or else the error of the shares, the visitors or the purges,
    /// in that order.
    async fn apply_shares_visitors_and_purges(
        &self,
        org: &Organization,
        owned: &Owned<'_>,
        shares: &[Share],
        visitors: &[ClusterRoleBinding],
        purges: &[KeptNamespace],
    ) -> Result<ShareProblems> {
        let ctx = &self.ctx;
        let uid = org.uid().unwrap_or_default();
        let ns = organization_namespace(&org.name_any());
        let shared = credentials::sync(ctx, &org.name_any(), &ns, None, &uid, shares).await;
        // After the shares, whatever became of them: who may read the
        // Organization follows its members even when a copy could not be
        // written, and a failure here holds back nothing else. (A failure of
        // the namespace, its access or the predefined roles, written before,
        // stops the reconcile earlier and is retried.)
        let visited = owned
            .set(
                &ctx.children.cluster_role_bindings,
                None,
                Component::VisitorShard,
                visitors,
            )
            .await;
        // Purges last: one that fails holds back no access change.
        let purged = self.purge_all(org, purges).await;
        let problems = shared?;
        visited?;
        purged?;
        Ok(problems)
    }

    /// Purges each of `purges`, whatever happened to the others; returns the
    /// last error, if any.
    async fn purge_all(&self, org: &Organization, purges: &[KeptNamespace]) -> Result<()> {
        let mut purged = Ok(());
        for kept in purges {
            if let Err(e) = self.purge(org, kept).await {
                purged = Err(e);
            }
        }
        purged
    }
}

impl Reconciler for Organizations {
    type Kind = Organization;
    type Status = OrganizationStatus;
    type Input = OrganizationInput;
    type Children = OrganizationWrites;
    type Facts = OrganizationFacts;
    type Applied = ShareProblems;
    const KIND: &'static str = "Organization";

    fn runtime(&self) -> &Runtime {
        &self.ctx.runtime
    }

    fn status_of(org: &Organization) -> Option<&OrganizationStatus> {
        org.status.as_ref()
    }

    fn conditions_of(status: &OrganizationStatus) -> &[Condition] {
        &status.conditions
    }

    fn made_anything_for(&self, uid: &str) -> bool {
        self.ctx.made_anything_for(uid)
    }

    fn api(&self, _: &Organization) -> Api<Organization> {
        Api::all(self.ctx.client().clone())
    }

    fn forget(&self, org: &Organization) {
        self.usage_taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&org.uid().unwrap_or_default());
    }

    async fn read(&self, org: &Organization) -> Result<OrganizationInput> {
        let workspaces = self.workspaces_of(org);
        // Going with no workspace left: its namespaces as the API server
        // lists them (a cache may lag).
        let namespaces_now = match org.meta().deletion_timestamp {
            Some(_) if workspaces.is_empty() => Some(self.namespaces_now(org).await?),
            _ => None,
        };
        let now = jiff::Timestamp::now();
        let (usage, usage_due_in) = self.usage_if_due(org, now);
        Ok(OrganizationInput {
            namespaces_now,
            usage,
            usage_due_in,
            kept: self.kept_namespaces(org, &workspaces),
            workspaces,
            members: self
                .ctx
                .members
                .shared_in(&organization_namespace(&org.name_any())),
            now,
        })
    }

    fn decide(
        &self,
        org: &Organization,
        input: &OrganizationInput,
    ) -> Decision<OrganizationWrites, OrganizationFacts> {
        decide::decide(org, input, &self.ctx.tenancy)
    }

    async fn apply(
        &self,
        org: &Organization,
        children: OrganizationWrites,
    ) -> Result<ShareProblems> {
        let OrganizationWrites {
            children,
            visitors,
            shares,
            purges,
        } = children;
        let uid = org.uid().unwrap_or_default();
        let owned = Owned::new(self.ctx.client(), &uid);
        self.apply_namespace_and_access(org, &owned, &children)
            .await?;
        self.apply_predefined_roles_and_default_workspace(org, &children)
            .await?;
        self.apply_shares_visitors_and_purges(org, &owned, &shares, &visitors, &purges)
            .await
    }

    fn aspect(applied: &ShareProblems) -> Option<Aspect> {
        applied.aspect()
    }

    fn status(
        &self,
        org: &Organization,
        facts: &OrganizationFacts,
        _outcome: &Outcome,
        conditions: Vec<Condition>,
    ) -> OrganizationStatus {
        OrganizationStatus {
            namespace: Some(organization_namespace(&org.name_any())),
            workspaces: Some(facts.workspaces),
            default_workspace: Some(default_workspace_name(org).to_string()),
            pending_purges: facts.pending_purges.clone(),
            retained_namespaces: facts.retained.clone(),
            effective_defaults: Some(defaults::organization_defaults(org)),
            usage: facts.usage.clone(),
            conditions,
            observed_generation: org.meta().generation,
        }
    }

    async fn carry_out(&self, org: &Organization, steps: Vec<Step>) -> Result<()> {
        super::teardown::carry_out(&self.ctx, org, steps).await
    }
}
