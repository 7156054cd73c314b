//! Workspace controller: its namespace, access, plan, isolation, info and
//! credential shares (decided in `resources::workspace`); on deletion,
//! unlink-before-delete, then the namespace deleted or kept and released.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::{Context, credentials};
use crate::api::common::Condition;
use crate::api::workspace::{DeletionPolicy, WorkspacePhase, WorkspaceStatus};
use crate::api::{Workspace, WorkspaceMember};
use crate::conditions::{Aspect, Outcome};
use crate::ownership::names::{self, ISOLATION_POLICY, LIMITS, QUOTA, workspace_namespace};
use crate::ownership::{self, Component, Owner, owner_of};
use crate::resources::credentials::{ShareProblems, workspace_shares};
use crate::resources::decision::Decision;
use crate::resources::namespace_owner;
use crate::resources::workspace::{
    self as decide, WorkspaceFacts, WorkspaceInput, WorkspaceReaders, WorkspaceSettings,
    WorkspaceWrites, is_conflicted,
};
use crate::runtime::apply::{Owned, Source, delete_checked};
use crate::runtime::informer::{self, valid};
use crate::runtime::pipeline::{self, Cleanup, Reconciler, Runtime};
use crate::runtime::throttle;
use crate::runtime::{Error, Result};

type Guard = DeserializeGuard<Workspace>;

pub struct Workspaces {
    ctx: Arc<Context>,
}

fn workspace_ref(owner: Owner) -> Option<ObjectRef<Guard>> {
    match &owner {
        Owner::Workspace { name, .. } => Some(ObjectRef::new(name).within(&owner.namespace()?)),
        _ => None,
    }
}

/// The workspace that made `meta`, if a workspace did.
fn made_by_workspace(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Guard>> {
    workspace_ref(owner_of(meta)?)
}

pub async fn controller(ctx: &Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let (by_org, waiting, by_target, by_namespace, by_secret) = (
        ctx.clone(),
        ctx.clone(),
        ctx.clone(),
        ctx.clone(),
        ctx.clone(),
    );
    let cached = &ctx.children;
    let controller = pipeline::controller_of(&ctx.workspaces, ctx.runtime.concurrency)
        // An organization change (plans, admins, defaults) touches all its workspaces.
        .watches_shared_stream(
            ctx.organizations.subscribe_changes(informer::generation),
            move |org| by_org.workspaces.refs_in(&org.name_any(), |_| true),
        )
        // Members change counts and unblock deletions.
        .reconcile_on(throttle::recounts(
            ctx.members.subscribe_changes(informer::generation),
            |m| {
                let ns = m.namespace()?;
                let ws = valid(m)?.spec.workspace.clone();
                Some(ObjectRef::<Guard>::new(&ws).within(&ns))
            },
            informer::is_deleting,
        ))
        // A role's ClusterRole appearing lets the workspaces that wait for it go on.
        .watches_shared_stream(cached.cluster_roles.subscribe(), move |cr| {
            match owner_of(&cr.metadata) {
                Some(Owner::Role { organization, .. }) => waiting
                    .workspaces
                    .refs_in(&names::organization_namespace(&organization), |w| {
                        !is_ready(w)
                    }),
                _ => vec![],
            }
        })
        // Children edited or deleted by hand are restored; a workspace's
        // namespace appearing lets those that share with it copy into it.
        .watches_shared_stream(cached.namespaces.subscribe(), move |n| {
            let mut wake: Vec<ObjectRef<Guard>> =
                made_by_workspace(&n.metadata).into_iter().collect();
            if let Some(Owner::Workspace { organization, name }) = owner_of(&n.metadata) {
                wake.extend(sharers_of(&by_namespace, &organization, &name));
            }
            wake
        })
        .watches_shared_stream(cached.role_bindings.subscribe(), |o| {
            made_by_workspace(&o.metadata)
        })
        .watches_shared_stream(cached.roles.subscribe(), |o| made_by_workspace(&o.metadata))
        .watches_shared_stream(cached.cluster_role_bindings.subscribe(), |o| {
            made_by_workspace(&o.metadata)
        })
        .watches_shared_stream(cached.quotas.subscribe(), |o| {
            made_by_workspace(&o.metadata)
        })
        .watches_shared_stream(cached.limit_ranges.subscribe(), |o| {
            made_by_workspace(&o.metadata)
        })
        .watches_shared_stream(cached.network_policies.subscribe(), |o| {
            made_by_workspace(&o.metadata)
        })
        .watches_shared_stream(cached.config_maps.subscribe(), |o| {
            made_by_workspace(&o.metadata)
        })
        // Shared credentials: a source Secret changing, a copy edited or deleted.
        .watches_shared_stream(ctx.secrets.subscribe(), move |s| {
            workspace_ref(credentials::sharer_of_secret(&by_secret, &s.metadata)?)
        })
        // A workspace appearing lets those that share with it make their copies.
        .watches_shared_stream(
            ctx.workspaces.subscribe_changes(generation_and_conflict),
            move |target| {
                let ns = target.namespace().unwrap_or_default();
                sharers_of(&by_target, &ns, &target.name_any())
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            pipeline::reconcile::<Workspaces>,
            pipeline::error_policy::<Workspaces>,
            Arc::new(Workspaces { ctx: ctx.clone() }),
        );
    pipeline::drain("Workspace", controller).await;
}

/// The workspaces of organization `org` that share a credential with `target`.
fn sharers_of(ctx: &Context, org: &str, target: &str) -> Vec<ObjectRef<Guard>> {
    ctx.workspaces
        .refs_in(&names::organization_namespace(org), |w| {
            workspace_shares(w)
                .iter()
                .any(|s| s.targets.iter().any(|t| t == target))
        })
}

/// What others depend on in a Workspace: its spec, and whether its
/// namespace turned out to be someone else's (then nothing is written there).
pub fn generation_and_conflict(guard: &Guard) -> u64 {
    let conflicted = valid(guard).is_some_and(is_conflicted);
    informer::generation(guard) * 2 + u64::from(conflicted)
}

/// Whether `ws` is Ready for its current generation.
fn is_ready(ws: &Workspace) -> bool {
    ws.status.as_ref().is_some_and(|s| {
        crate::conditions::ready_for_generation(
            &s.conditions,
            s.observed_generation,
            ws.meta().generation,
        )
    })
}

/// Members linked to `ws`, except one for its owner (the owner is never unlinked).
pub fn linked_members(ws: &Workspace, members: &[WorkspaceMember]) -> Vec<String> {
    let mut names: Vec<String> = members
        .iter()
        .filter(|m| m.spec.workspace == ws.name_any())
        .filter(|m| ws.spec.owner.as_ref() != Some(&m.spec.subject))
        .map(|m| m.name_any())
        .collect();
    names.sort();
    names
}

impl Workspaces {
    /// Deletes everything the operator made in `namespace` (bindings,
    /// credential copies, quota, limits, network policy, info; whichever
    /// workspace or member made them), read from the API server: the last
    /// look before the namespace is released. A kept namespace holds only
    /// the users' objects, so no mark in it claims anything any more.
    async fn delete_everything_made_in(&self, namespace: &str) -> Result<()> {
        async fn delete_marked<K: crate::runtime::apply::Child>(
            client: &kube::Client,
            namespace: &str,
        ) -> Result<()> {
            let api = K::api(client, Some(namespace));
            let managed = ListParams::default().labels(&ownership::managed_selector());
            let found = api
                .list_metadata(&managed)
                .await
                .map_err(Error::request(format!(
                    "listing the operator's {}",
                    K::plural(&())
                )))?;
            for obj in found.items {
                delete_checked(&api, &obj.name_any(), obj.uid()).await?;
            }
            Ok(())
        }
        let client = self.ctx.client();
        delete_marked::<RoleBinding>(client, namespace).await?;
        delete_marked::<Secret>(client, namespace).await?;
        delete_marked::<ConfigMap>(client, namespace).await?;
        delete_marked::<ResourceQuota>(client, namespace).await?;
        delete_marked::<LimitRange>(client, namespace).await?;
        delete_marked::<NetworkPolicy>(client, namespace).await?;
        Ok(())
    }
}

impl Reconciler for Workspaces {
    type Kind = Workspace;
    type Status = WorkspaceStatus;
    type Input = WorkspaceInput;
    type Children = WorkspaceWrites;
    type Facts = WorkspaceFacts;
    type Applied = ShareProblems;
    const KIND: &'static str = "Workspace";

    fn runtime(&self) -> &Runtime {
        &self.ctx.runtime
    }

    fn status_of(ws: &Workspace) -> Option<&WorkspaceStatus> {
        ws.status.as_ref()
    }

    fn conditions_of(status: &WorkspaceStatus) -> &[Condition] {
        &status.conditions
    }

    fn api(&self, ws: &Workspace) -> Api<Workspace> {
        Api::namespaced(
            self.ctx.client().clone(),
            &ws.namespace().unwrap_or_default(),
        )
    }

    async fn read(&self, ws: &Workspace) -> Result<WorkspaceInput> {
        let ctx = &self.ctx;
        let org = ws.namespace().unwrap_or_default();
        let roles: BTreeSet<String> = ctx.roles_in(&org).iter().map(|r| r.name_any()).collect();
        let role_cluster_roles = roles
            .iter()
            .map(|r| names::role(&org, r))
            .filter(|name| ctx.children.cluster_roles.get(None, name).is_some())
            .collect();
        let own_namespace = ctx
            .children
            .namespaces
            .get(None, &workspace_namespace(&org, &ws.name_any()));
        Ok(WorkspaceInput {
            namespace: namespace_owner(own_namespace.as_deref().map(|n| &n.metadata), ws),
            organization: ctx.organization(&org),
            linked_members: linked_members(
                ws,
                &ctx.members
                    .valid_where(&org, |m| m.spec.workspace == ws.name_any()),
            ),
            roles,
            role_cluster_roles,
        })
    }

    fn decide(
        &self,
        ws: &Workspace,
        input: &WorkspaceInput,
    ) -> Decision<WorkspaceWrites, WorkspaceFacts> {
        decide::decide(ws, input, &self.ctx.tenancy)
    }

    async fn apply(&self, ws: &Workspace, children: WorkspaceWrites) -> Result<ShareProblems> {
        let WorkspaceWrites {
            namespace,
            role_bindings,
            settings,
            readers,
            shares,
        } = children;
        let ctx = &self.ctx;
        let uid = ws.uid().unwrap_or_default();
        let org = ws.namespace().unwrap_or_default();
        let ws_name = ws.name_any();
        let ns = workspace_namespace(&org, &ws_name);
        let owned = Owned::new(ctx.client(), &uid);
        let cached = &ctx.children;
        if let Err(err) = owned.claimed(&cached.namespaces, &namespace).await {
            if matches!(err, Error::NotOwned { .. }) {
                // Not its namespace: nothing is read from it (its Secrets
                // are not this workspace's to share) and its earlier copies
                // elsewhere go.
                credentials::sync(ctx, &org, &ns, Some(&ws_name), &uid, &[]).await?;
            }
            return Err(err);
        }
        // Once the namespace exists, its children do not depend on each
        // other: written concurrently, a reconcile takes one round trip. One
        // that cannot be written never holds back another's write, nor the
        // credential shares (a removed share is a revocation); the first
        // failure is reported after all were tried.
        let here = Some(ns.as_str());
        let access = owned.set(
            &cached.role_bindings,
            here,
            Component::WorkspaceAccess,
            &role_bindings,
        );
        // With an error in the spec, what the plan makes is left as it is.
        let settings = async {
            let Some(WorkspaceSettings {
                quota,
                limit_range,
                network_policy,
                info,
            }) = settings
            else {
                return Ok(());
            };
            let quota = owned.optional(&cached.quotas, here, QUOTA, quota.as_ref());
            let limits = owned.optional(&cached.limit_ranges, here, LIMITS, limit_range.as_ref());
            let isolation = owned.optional(
                &cached.network_policies,
                here,
                ISOLATION_POLICY,
                network_policy.as_ref(),
            );
            let info = owned.one(&cached.config_maps, &info);
            let (quota, limits, isolation, info) = futures::join!(quota, limits, isolation, info);
            quota?;
            limits?;
            isolation?;
            info.map(drop)
        };
        // Who may find the workspace: read it and its Organization. (The
        // RoleBinding needs its Role first: RBAC checks the Role it binds.)
        let readers = async {
            let WorkspaceReaders {
                role,
                binding,
                visitors,
                owner_manages,
            } = readers;
            let org_ns = Some(org.as_str());
            let reader = names::workspace_reader(&ws_name);
            owned.one(&cached.roles, &role).await?;
            owned
                .optional(&cached.role_bindings, org_ns, &reader, binding.as_ref())
                .await?;
            // The Role before its binding; the binding goes first.
            let owner = names::workspace_owner(&ws_name);
            let (owner_role, owner_binding) = owner_manages.unzip();
            if owner_role.is_some() {
                owned
                    .optional(&cached.roles, org_ns, &owner, owner_role.as_ref())
                    .await?;
            }
            owned
                .optional(
                    &cached.role_bindings,
                    org_ns,
                    &owner,
                    owner_binding.as_ref(),
                )
                .await?;
            if owner_role.is_none() {
                owned
                    .optional::<Role>(&cached.roles, org_ns, &owner, None)
                    .await?;
            }
            let visitors_name = names::organization_visitors(&org, &ws_name);
            owned
                .optional(
                    &cached.cluster_role_bindings,
                    None,
                    &visitors_name,
                    visitors.as_ref(),
                )
                .await
                .map(drop)
        };
        let shared = credentials::sync(ctx, &org, &ns, Some(&ws_name), &uid, &shares);
        let (access, settings, readers, shared) = futures::join!(access, settings, readers, shared);
        let problems = shared?;
        access?;
        settings?;
        readers?;
        Ok(problems)
    }

    fn aspect(applied: &ShareProblems) -> Option<Aspect> {
        applied.aspect()
    }

    fn status(
        &self,
        ws: &Workspace,
        facts: &WorkspaceFacts,
        outcome: &Outcome,
        conditions: Vec<Condition>,
    ) -> WorkspaceStatus {
        let effective = facts.effective.as_ref();
        let phase = match outcome {
            _ if facts.terminating => WorkspacePhase::Terminating,
            Outcome::Ready { .. } if effective.is_some_and(|e| e.archived) => {
                WorkspacePhase::Archived
            }
            Outcome::Ready { .. } => WorkspacePhase::Ready,
            Outcome::Stalled { .. } => WorkspacePhase::Failed,
            Outcome::Progressing { .. } => WorkspacePhase::Pending,
        };
        let org = ws.namespace().unwrap_or_default();
        let old_namespace = ws.status.as_ref().and_then(|s| s.namespace.clone());
        WorkspaceStatus {
            organization: Some(org.clone()),
            namespace: facts
                .default
                .map(|_| workspace_namespace(&org, &ws.name_any()))
                .or(old_namespace),
            phase: Some(phase),
            members: Some(facts.members),
            plan: effective.and_then(|e| e.plan.clone()),
            accept_anonymous: effective.map(|e| e.accept_anonymous),
            anonymous_role: effective.map(|e| e.anonymous_role.clone()),
            network_isolation: effective.map(|e| e.network_isolation),
            default: facts.default,
            conditions,
            observed_generation: ws.meta().generation,
        }
    }

    async fn cleanup(&self, ws: &Workspace) -> Result<Cleanup> {
        let ctx = &self.ctx;
        let reporter = &ctx.runtime.reporter;
        let uid = ws.uid().unwrap_or_default();
        // Its copies in other workspaces go first, and what let people find it.
        credentials::prune_copies(ctx, &uid, &Default::default(), true).await?;
        let owned = Owned::new(ctx.client(), &uid);
        let org = ws.namespace().unwrap_or_default();
        let reader = names::workspace_reader(&ws.name_any());
        owned
            .delete(Source::<RoleBinding>::Server, Some(&org), &reader)
            .await?;
        owned
            .delete(Source::<Role>::Server, Some(&org), &reader)
            .await?;
        let owner = names::workspace_owner(&ws.name_any());
        owned
            .delete(Source::<RoleBinding>::Server, Some(&org), &owner)
            .await?;
        owned
            .delete(Source::<Role>::Server, Some(&org), &owner)
            .await?;
        let visitors = names::organization_visitors(&org, &ws.name_any());
        owned
            .delete(Source::<ClusterRoleBinding>::Server, None, &visitors)
            .await?;
        let namespace = workspace_namespace(&ws.namespace().unwrap_or_default(), &ws.name_any());
        match ws.spec.deletion_policy.unwrap_or_default() {
            DeletionPolicy::Delete => {
                if owned
                    .delete::<Namespace>(Source::Server, None, &namespace)
                    .await?
                {
                    info!(namespace, "deleted the workspace namespace");
                    let note = format!("namespace {namespace} is being deleted");
                    reporter
                        .event(ws, EventType::Normal, "NamespaceDeleted", note)
                        .await;
                }
            }
            DeletionPolicy::Retain => {
                let namespaces: Api<Namespace> = Api::all(ctx.client().clone());
                if let Some(live) = namespaces
                    .get_opt(&namespace)
                    .await
                    .map_err(Error::request("reading the namespace"))?
                    && ownership::is_owned_by(live.meta().labels.as_ref(), &uid)
                {
                    // Access and copies first, while the operator may still
                    // write there: a kept namespace grants nothing and holds
                    // no copy (the users' own objects stay).
                    self.delete_everything_made_in(&namespace).await?;
                    // Drop the marks (a merge patch: the namespace was
                    // created, not applied, so an apply could not remove
                    // them). Nothing of the operator's may ever delete it again.
                    let release = ownership::release_patch();
                    namespaces
                        .patch(&namespace, &PatchParams::default(), &Patch::Merge(&release))
                        .await
                        .map_err(Error::request("releasing the namespace"))?;
                    let note = format!("namespace {namespace} is kept and released");
                    reporter
                        .event(ws, EventType::Normal, "NamespaceRetained", note)
                        .await;
                }
            }
        }
        Ok(Cleanup::Done)
    }
}
