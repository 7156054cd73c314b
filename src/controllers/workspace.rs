//! Workspace controller: read the world, build the children (pure), apply
//! them, write status; on deletion, enforce unlink-before-delete.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use tracing::{info, instrument};

use super::{Context, drain, informer, ref_from_labels, spec_error_action, valid, writes};
use crate::api::names::workspace_namespace;
use crate::api::workspace::{DeletionPolicy, WorkspacePhase, WorkspaceStatus};
use crate::api::{Organization, Workspace, WorkspaceMember};
use crate::apply::{Source, delete_owned, ensure_all_prune_rest, ensure_cached, ensure_owned};
use crate::conditions::{self, Aspect, Outcome};
use crate::error::{Error, Result};
use crate::labels;
use crate::resources::organization::is_default_workspace;
use crate::resources::workspace::{
    self as build, ACCESS_COMPONENT, Effective, INFO_CONFIGMAP, ISOLATION_POLICY, LIMITS, QUOTA,
};

type Guard = DeserializeGuard<Workspace>;

pub async fn controller(ctx: &Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let client = ctx.client.clone();
    let workspaces = ctx.workspaces.store.clone();
    let sharers = ctx.workspaces.store.clone();
    let secret_sharers = ctx.workspaces.store.clone();
    let ns_sharers = ctx.workspaces.store.clone();
    let waiting = ctx.workspaces.store.clone();
    let cached = &ctx.children;
    let controller = super::controller_of(&ctx.workspaces, &ctx.settings)
        // An organization change (plans, admins, defaults) touches all its workspaces.
        .watches_shared_stream(
            ctx.organizations.subscribe_changes(informer::generation),
            move |org| {
                let name = org.name_any();
                workspaces
                    .state()
                    .into_iter()
                    .filter(|w| w.namespace().as_deref() == Some(name.as_str()))
                    .map(|w| ObjectRef::from_obj(&*w))
                    .collect::<Vec<_>>()
            },
        )
        // Members change counts and unblock deletions.
        .watches_shared_stream(ctx.members.subscribe_changes(informer::generation), |m| {
            let ns = m.namespace()?;
            let ws = valid(&m)?.spec.workspace.clone();
            Some(ObjectRef::<Guard>::new(&ws).within(&ns))
        })
        // A role's ClusterRole appearing lets the workspaces that wait for it go on.
        .watches_shared_stream(cached.cluster_roles.subscribe(), move |cr| {
            let marks = cr.labels();
            let org = marks.get(labels::ORGANIZATION).cloned().unwrap_or_default();
            if marks.get(labels::COMPONENT).map(String::as_str) != Some("role") {
                return vec![];
            }
            waiting
                .state()
                .into_iter()
                .filter(|w| w.namespace().as_deref() == Some(org.as_str()))
                .filter(|w| valid(w).is_some_and(|w| !is_ready(w)))
                .map(|w| ObjectRef::from_obj(&*w))
                .collect::<Vec<_>>()
        })
        // Children edited or deleted by hand are restored.
        .watches_shared_stream(cached.namespaces.subscribe(), |o| ws_child(&o.metadata))
        // A workspace's namespace appearing lets those that share with it copy into it.
        .watches_shared_stream(cached.namespaces.subscribe(), move |n| {
            let marks = n.labels();
            let (Some(org), Some(target)) = (
                marks.get(labels::ORGANIZATION),
                marks.get(labels::WORKSPACE),
            ) else {
                return vec![];
            };
            sharers_of(&ns_sharers, org, target)
        })
        .watches_shared_stream(cached.role_bindings.subscribe(), |o| ws_child(&o.metadata))
        .watches_shared_stream(cached.quotas.subscribe(), |o| ws_child(&o.metadata))
        .watches_shared_stream(cached.limit_ranges.subscribe(), |o| ws_child(&o.metadata))
        .watches_shared_stream(cached.network_policies.subscribe(), |o| {
            ws_child(&o.metadata)
        })
        .watches_shared_stream(cached.config_maps.subscribe(), |o| ws_child(&o.metadata))
        // Shared credentials: a source Secret changing, a copy edited or deleted.
        .watches_stream(all_secrets(&client), move |s| {
            credential_sharer(&secret_sharers, &s.metadata)
        })
        // A workspace appearing lets those that share with it make their copies.
        .watches_shared_stream(
            ctx.workspaces.subscribe_changes(generation_and_conflict),
            move |target| {
                let ns = target.namespace().unwrap_or_default();
                sharers_of(&sharers, &ns, &target.name_any())
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| super::timed("Workspace", ctx.clone(), reconcile(obj, ctx)),
            super::error_policy,
            ctx.clone(),
        );
    drain("Workspace", controller).await;
}

#[instrument(skip_all, fields(workspace = %guard.name_any(), namespace = guard.namespace().unwrap_or_default()))]
async fn reconcile(guard: Arc<Guard>, ctx: Arc<Context>) -> Result<Action> {
    let ws = match &guard.0 {
        Ok(ws) => ws,
        Err(invalid) => {
            tracing::warn!(error = %invalid, "Workspace cannot be decoded; waiting for it to change");
            return Ok(Action::await_change());
        }
    };
    let org_name = ws.namespace().unwrap_or_default();
    let org = ctx.organization(&org_name).and_then(|g| valid(&g).cloned());

    if ws.meta().deletion_timestamp.is_some() {
        return finalize(ws, org.as_ref(), &ctx).await;
    }
    let Some(org) = org else {
        // Not (yet) in an organization namespace: nothing to make, nothing to delete.
        let outcome = Outcome::Stalled {
            reason: "OrganizationNotFound",
            message: format!(
                "no Organization named {org_name:?}: a Workspace must live in its organization's namespace, which has the organization's name"
            ),
        };
        write_status(ws, &ctx, outcome, None, None, None).await?;
        return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
    };
    if !writes::has_finalizer(ws) {
        add_finalizer(ws, &ctx).await?;
    }

    let result = apply_children(ws, &org, &ctx).await;
    let effective = build::effective(ws, &org);
    let action = match result {
        Ok(shared) => {
            ctx.succeeded(ws);
            let message = if effective.archived {
                "archived: everything is in place, every access is read-only".to_string()
            } else {
                format!(
                    "namespace {} and its access, plan and isolation are in place",
                    ws_namespace(ws)
                )
            };
            write_status(
                ws,
                &ctx,
                Outcome::Ready {
                    reason: "Ready",
                    message,
                },
                Some(&effective),
                Some(&org),
                shared,
            )
            .await?;
            Action::requeue(ctx.settings.resync)
        }
        Err(err @ (Error::Spec { .. } | Error::Conflict { .. })) => {
            let outcome = Outcome::Stalled {
                reason: err.category(),
                message: err.to_string(),
            };
            write_status(ws, &ctx, outcome, Some(&effective), Some(&org), None).await?;
            spec_error_action(&err)
        }
        Err(err @ Error::Waiting { .. }) => {
            let outcome = Outcome::Progressing {
                reason: err.category(),
                message: err.to_string(),
            };
            write_status(ws, &ctx, outcome, Some(&effective), Some(&org), None).await?;
            Action::requeue(super::WAIT_FOR_OTHERS)
        }
        Err(err) => {
            let outcome = Outcome::Progressing {
                reason: "Reconciling",
                message: err.to_string(),
            };
            write_status(ws, &ctx, outcome, Some(&effective), Some(&org), None).await?;
            return Err(err);
        }
    };
    Ok(action)
}

/// The workspaces of organization namespace `ns` that share a credential with `target`.
fn sharers_of(
    store: &kube::runtime::reflector::Store<Guard>,
    ns: &str,
    target: &str,
) -> Vec<ObjectRef<Guard>> {
    store
        .state()
        .into_iter()
        .filter(|g| g.namespace().as_deref() == Some(ns))
        .filter(|g| {
            valid(g).is_some_and(|w| {
                crate::resources::credentials::workspace_shares(w)
                    .iter()
                    .any(|s| s.targets.iter().any(|t| t == target))
            })
        })
        .map(|g| ObjectRef::<Guard>::from_obj(&*g))
        .collect()
}

/// What others depend on in a Workspace: its spec, and whether its
/// namespace turned out to be someone else's (then nothing is written there).
pub fn generation_and_conflict(guard: &Guard) -> u64 {
    let conflicted = valid(guard).is_some_and(is_conflicted);
    informer::generation(guard) * 2 + u64::from(conflicted)
}

/// Whether `ws` reports that its namespace is held by someone else.
pub fn is_conflicted(ws: &Workspace) -> bool {
    ws.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.reason == crate::apply::NAMESPACE_CONFLICT)
    })
}

/// Whether `ws` is Ready for its current generation.
fn is_ready(ws: &Workspace) -> bool {
    ws.status.as_ref().is_some_and(|s| {
        conditions::ready_for_generation(&s.conditions, s.observed_generation, ws.meta().generation)
    })
}

/// Kubernetes refuses a binding to a ClusterRole that does not exist (the
/// operator may grant only what it holds, and checks the role to know). So
/// the roles the workspace's bindings name must be in place first: a role
/// that does not exist is a spec error; one whose ClusterRole is not made
/// yet is waited for (its creation wakes the workspace).
fn roles_in_place(
    children: &build::WorkspaceChildren,
    org: &Organization,
    ctx: &Context,
) -> Result<()> {
    let org_name = org.name_any();
    let prefix = crate::resources::cluster_names::role_prefix(&org_name);
    let missing: BTreeSet<&str> = children
        .role_bindings
        .iter()
        .filter(|b| b.role_ref.kind == "ClusterRole")
        .filter(|b| {
            ctx.children
                .cluster_roles
                .get(None, &b.role_ref.name)
                .is_none()
        })
        .filter_map(|b| b.role_ref.name.strip_prefix(&prefix))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let known: BTreeSet<String> = ctx
        .roles_in(&org_name)
        .iter()
        .map(|r| r.name_any())
        .collect();
    let unknown: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|r| !known.contains(*r))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Spec {
            reason: "UnknownRole",
            message: format!(
                "no WorkspaceRole {} in namespace {org_name}; create it or name another role",
                unknown.join(", ")
            ),
        });
    }
    Err(Error::Waiting {
        reason: "RoleNotReady",
        message: format!(
            "waiting for WorkspaceRole {} to be ready",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        ),
    })
}

/// The workspace that made `meta`, if it is a workspace's own child (not a
/// member's).
fn ws_child(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Guard>> {
    let marks = meta.labels.as_ref()?;
    if !marks.contains_key(labels::WORKSPACE)
        || marks.contains_key(crate::resources::member::MEMBER_LABEL)
    {
        return None;
    }
    ref_from_labels(meta, true)
}

fn ws_namespace(ws: &Workspace) -> String {
    workspace_namespace(&ws.namespace().unwrap_or_default(), &ws.name_any())
}

async fn apply_children(
    ws: &Workspace,
    org: &Organization,
    ctx: &Context,
) -> Result<Option<Aspect>> {
    let org_name = org.name_any();
    // An owner the platform does not allow gets nothing: everything else is
    // built as if there were no owner (so a previous owner's access goes),
    // and the workspace reports why.
    let refused_owner = ws.spec.owner.as_ref().and_then(|owner| {
        ctx.settings
            .tenancy
            .subject_refusal(owner, &org_name)
            .map(|why| Error::Spec {
                reason: "SubjectNotAllowed",
                message: format!("spec.owner: {why}; no access is given to it"),
            })
    });
    let without_owner;
    let buildable = if refused_owner.is_some() {
        let mut copy = ws.clone();
        copy.spec.owner = None;
        without_owner = copy;
        &without_owner
    } else {
        ws
    };
    let children = build::build(buildable, org).map_err(|e| Error::Spec {
        reason: e.reason(),
        message: e.to_string(),
    })?;
    let uid = ws.uid().unwrap_or_default();
    let client = &ctx.client;
    let ns = ws_namespace(ws);

    let cached = &ctx.children;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match ensure_owned(&namespaces, &cached.namespaces, &children.namespace, &uid).await {
        Ok(_) => {}
        Err(conflict @ Error::Conflict { .. }) => {
            // Not its namespace: nothing is read from it (its Secrets are
            // not this workspace's to share) and its earlier copies elsewhere go.
            super::credentials::sync(ctx, &org_name, &ns, Some(&ws.name_any()), &uid, &[]).await?;
            return Err(conflict);
        }
        Err(err) => return Err(err),
    }

    // Once the namespace exists, its children do not depend on each other:
    // written concurrently, a reconcile takes one round trip, not six.
    let here = Some(ns.as_str());
    let access = async {
        roles_in_place(&children, org, ctx)?;
        let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
        let all = &children.role_bindings;
        ensure_all_prune_rest(
            &bindings,
            &cached.role_bindings,
            &ns,
            &uid,
            ACCESS_COMPONENT,
            all,
        )
        .await
    };
    let quota = async {
        let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns);
        match &children.quota {
            Some(q) => ensure_cached(&quotas, &cached.quotas, q).await,
            None => delete_owned(&quotas, Source::Cache(&cached.quotas), here, QUOTA, &uid).await,
        }
    };
    let limits = async {
        let limits: Api<LimitRange> = Api::namespaced(client.clone(), &ns);
        match &children.limit_range {
            Some(l) => ensure_cached(&limits, &cached.limit_ranges, l).await,
            None => {
                delete_owned(
                    &limits,
                    Source::Cache(&cached.limit_ranges),
                    here,
                    LIMITS,
                    &uid,
                )
                .await
            }
        }
    };
    let isolation = async {
        let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
        match &children.network_policy {
            Some(p) => ensure_cached(&policies, &cached.network_policies, p).await,
            None => {
                delete_owned(
                    &policies,
                    Source::Cache(&cached.network_policies),
                    here,
                    ISOLATION_POLICY,
                    &uid,
                )
                .await
            }
        }
    };
    let info = async {
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        ensure_cached(&config_maps, &cached.config_maps, &children.info).await
    };
    // Children are independent: one that cannot be written (refused at
    // admission, made immutable in a way that cannot be undone) never holds
    // back another's write, nor the credential shares below (a removed share
    // is a revocation). The first failure is reported after all were tried.
    let shares = crate::resources::credentials::workspace_shares(ws);
    let ws_name = ws.name_any();
    let credentials = super::credentials::sync(ctx, &org_name, &ns, Some(&ws_name), &uid, &shares);
    let (access, quota, limits, isolation, info, credentials) =
        futures::join!(access, quota, limits, isolation, info, credentials);
    debug_assert_eq!(children.info.name_any(), INFO_CONFIGMAP);
    let problems = credentials?;
    access?;
    quota?;
    limits?;
    isolation?;
    info?;
    if let Some(refused) = refused_owner {
        return Err(refused);
    }
    Ok(problems.aspect(&shares))
}

async fn add_finalizer(ws: &Workspace, ctx: &Context) -> Result<()> {
    writes::set_finalizer(
        ctx,
        &Api::<Workspace>::namespaced(ctx.client.clone(), &ws.namespace().unwrap_or_default()),
        ws,
        true,
    )
    .await
}

async fn remove_finalizer(ws: &Workspace, ctx: &Context) -> Result<()> {
    writes::set_finalizer(
        ctx,
        &Api::<Workspace>::namespaced(ctx.client.clone(), &ws.namespace().unwrap_or_default()),
        ws,
        false,
    )
    .await
}

/// Members linked to `ws`, except one for its owner (the owner is never unlinked).
pub fn linked_members(
    ws: &Workspace,
    members: &[Arc<DeserializeGuard<WorkspaceMember>>],
) -> Vec<String> {
    let ns = ws.namespace();
    let mut names: Vec<String> = members
        .iter()
        .filter_map(|g| valid(g))
        .filter(|m| m.namespace() == ns && m.spec.workspace == ws.name_any())
        .filter(|m| ws.spec.owner.as_ref() != Some(&m.spec.subject))
        .map(|m| m.name_any())
        .collect();
    names.sort();
    names
}

async fn finalize(ws: &Workspace, org: Option<&Organization>, ctx: &Context) -> Result<Action> {
    if !writes::has_finalizer(ws) {
        return Ok(Action::await_change());
    }
    let ns_name = ws.namespace().unwrap_or_default();
    let blocked = match org {
        Some(org) if org.meta().deletion_timestamp.is_none() && is_default_workspace(org, ws) => {
            Some(format!(
                "{} is the default workspace of Organization {}: it cannot be deleted while the organization exists. Delete the Organization instead",
                ws.name_any(),
                org.name_any()
            ))
        }
        _ => {
            let linked = linked_members(ws, &ctx.members.store.state());
            (!linked.is_empty()).then(|| {
                format!(
                    "{} member(s) still linked: {}. Unlink them first: kubectl delete workspacemember -n {ns_name} {}",
                    linked.len(),
                    linked.join(", "),
                    linked.join(" ")
                )
            })
        }
    };
    if let Some(why) = blocked {
        // Still the workspace while it waits: its access follows the
        // organization and the spec (an admin removed from the organization
        // loses access here too; a blocked deletion must not freeze it).
        if let Some(org) = org
            && let Err(err) = apply_children(ws, org, ctx).await
        {
            tracing::warn!(error = %err, "keeping a workspace that waits for deletion up to date");
        }
        let was_blocked = ws.status.as_ref().is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == crate::api::common::conditions::DELETION_BLOCKED && c.message == why
            })
        });
        if !was_blocked {
            ctx.event(ws, EventType::Warning, "DeletionBlocked", why.clone())
                .await;
        }
        let outcome = Outcome::Progressing {
            reason: "DeletionBlocked",
            message: why.clone(),
        };
        let facts = StatusFacts {
            deletion_blocked: Some(&why),
            phase: Some(WorkspacePhase::Terminating),
            ..Default::default()
        };
        write_status_with(ws, ctx, outcome, facts).await?;
        return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
    }

    let uid = ws.uid().unwrap_or_default();
    // Its copies in other workspaces go first.
    super::credentials::prune_copies(ctx, &uid, &Default::default(), true).await?;
    let namespace = ws_namespace(ws);
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    match ws.spec.deletion_policy.unwrap_or_default() {
        DeletionPolicy::Delete => {
            if delete_owned(&namespaces, Source::Server, None, &namespace, &uid).await? {
                info!(namespace, "deleted the workspace namespace");
                ctx.event(
                    ws,
                    EventType::Normal,
                    "NamespaceDeleted",
                    format!("namespace {namespace} is being deleted"),
                )
                .await;
            }
        }
        DeletionPolicy::Retain => {
            if let Some(live) = namespaces
                .get_opt(&namespace)
                .await
                .map_err(Error::kube("reading the namespace"))?
                && labels::is_owned_by(live.meta().labels.as_ref(), &uid)
            {
                // Access and copies first, while the operator may still write
                // there: a kept namespace grants nothing and holds no copy
                // (the users' own objects stay).
                delete_everything_made_in(ctx, &namespace).await?;
                // Drop the ownership marks (a merge patch: the namespace was
                // created, not applied, so an apply could not remove them).
                // Nothing of the operator's may ever delete it again.
                let release = serde_json::json!({"metadata": {
                    "labels": {
                        labels::MANAGED_BY: null, labels::OWNER_UID: null, labels::COMPONENT: null,
                        labels::ORGANIZATION: null, labels::WORKSPACE: null,
                    },
                    "annotations": {crate::apply::DESIRED_HASH: null},
                }});
                namespaces
                    .patch(&namespace, &PatchParams::default(), &Patch::Merge(&release))
                    .await
                    .map_err(Error::kube("releasing the namespace"))?;
                ctx.event(
                    ws,
                    EventType::Normal,
                    "NamespaceRetained",
                    format!("namespace {namespace} is kept and released"),
                )
                .await;
            }
        }
    }
    remove_finalizer(ws, ctx).await?;
    Ok(Action::await_change())
}

/// Deletes everything the operator made in `namespace` (bindings, credential
/// copies, quota, limits, network policy, info; whichever workspace or
/// member made them), read from the API server: the last look before the
/// namespace is released. A kept namespace holds only the users' objects,
/// so no mark in it claims anything for the operator any more.
async fn delete_everything_made_in(ctx: &Context, namespace: &str) -> Result<()> {
    use k8s_openapi::api::core::v1::Secret;
    async fn delete_marked<K>(ctx: &Context, namespace: &str) -> Result<()>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned,
    {
        let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
        let managed = kube::api::ListParams::default().labels(&labels::managed_selector());
        let found = api
            .list_metadata(&managed)
            .await
            .map_err(Error::kube(format!(
                "listing the operator's {}",
                K::plural(&())
            )))?;
        for obj in found.items {
            crate::apply::delete_checked(&api, &obj.name_any(), obj.uid()).await?;
        }
        Ok(())
    }
    delete_marked::<RoleBinding>(ctx, namespace).await?;
    delete_marked::<Secret>(ctx, namespace).await?;
    delete_marked::<ConfigMap>(ctx, namespace).await?;
    delete_marked::<ResourceQuota>(ctx, namespace).await?;
    delete_marked::<LimitRange>(ctx, namespace).await?;
    delete_marked::<NetworkPolicy>(ctx, namespace).await?;
    Ok(())
}

async fn write_status(
    ws: &Workspace,
    ctx: &Context,
    outcome: Outcome,
    effective: Option<&Effective>,
    org: Option<&Organization>,
    shared: Option<Aspect>,
) -> Result<()> {
    let phase = match (&outcome, effective) {
        (Outcome::Ready { .. }, Some(e)) if e.archived => WorkspacePhase::Archived,
        (Outcome::Ready { .. }, _) => WorkspacePhase::Ready,
        (Outcome::Stalled { .. }, _) => WorkspacePhase::Failed,
        (Outcome::Progressing { .. }, _) => WorkspacePhase::Pending,
    };
    let facts = StatusFacts {
        deletion_blocked: None,
        effective,
        org,
        phase: Some(phase),
        shared,
    };
    write_status_with(ws, ctx, outcome, facts).await
}

/// What a Workspace's status reports besides the outcome.
#[derive(Default)]
struct StatusFacts<'a> {
    deletion_blocked: Option<&'a str>,
    effective: Option<&'a Effective>,
    org: Option<&'a Organization>,
    phase: Option<WorkspacePhase>,
    shared: Option<Aspect>,
}

async fn write_status_with(
    ws: &Workspace,
    ctx: &Context,
    outcome: Outcome,
    facts: StatusFacts<'_>,
) -> Result<()> {
    let StatusFacts {
        deletion_blocked,
        effective,
        org,
        phase,
        shared,
    } = facts;
    let old = ws.status.clone().unwrap_or_default();
    let now = conditions::now();
    let conditions = conditions::next_with_aspect(
        &old.conditions,
        &outcome,
        deletion_blocked,
        shared.as_ref(),
        ws.meta().generation,
        &now,
    );
    if let Some(aspect) = &shared {
        announce_aspect(ctx, ws, &old.conditions, aspect).await;
    }
    let members = linked_members(ws, &ctx.members.store.state()).len() as i32;
    let status = WorkspaceStatus {
        organization: Some(ws.namespace().unwrap_or_default()),
        namespace: org.map(|_| ws_namespace(ws)).or(old.namespace.clone()),
        phase,
        members: Some(members),
        plan: effective.and_then(|e| e.plan.clone()),
        accept_anonymous: effective.map(|e| e.accept_anonymous),
        anonymous_role: effective.map(|e| e.anonymous_role.clone()),
        network_isolation: effective.map(|e| e.network_isolation),
        default: org.map(|o| is_default_workspace(o, ws)),
        conditions,
        observed_generation: ws.meta().generation,
    };
    let api = Api::<Workspace>::namespaced(ctx.client.clone(), &ws.namespace().unwrap_or_default());
    let conditions = (old.conditions.as_slice(), status.conditions.as_slice());
    writes::write_status(
        ctx,
        &api,
        ws,
        &old,
        &status,
        conditions,
        deletion_blocked.is_some(),
    )
    .await
}

/// Metadata of every Secret: sources are the users' own, unlabelled Secrets.
pub fn all_secrets(
    client: &kube::Client,
) -> impl futures::Stream<
    Item = Result<
        kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Secret>,
        watcher::Error,
    >,
> + Send
+ 'static {
    use kube::runtime::WatchStreamExt;
    watcher(
        Api::<kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Secret>>::all(
            client.clone(),
        ),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects()
}

/// The workspace a Secret event concerns, if any: for a copy the operator
/// made (its marks, in a namespace of the same organization), the workspace
/// named in its origin label; for a Secret in a workspace namespace, that
/// workspace only if it shares a Secret of that name. Anything else wakes
/// nobody: a tenant labelling or touching its own Secrets must not make the
/// operator work for other workspaces.
fn credential_sharer(
    workspaces: &kube::runtime::reflector::Store<Guard>,
    meta: &kube::api::ObjectMeta,
) -> Option<ObjectRef<Guard>> {
    if let Some(origin) = crate::resources::credentials::copy_origin(meta) {
        return Some(ObjectRef::new(&origin.workspace?).within(&origin.organization));
    }
    let (org_of_ns, ws_of_ns) =
        crate::api::names::split_workspace_namespace(meta.namespace.as_deref()?)?;
    let sharer = ObjectRef::<Guard>::new(ws_of_ns).within(org_of_ns);
    let name = meta.name.as_deref()?;
    let shares_it = workspaces.get(&sharer).is_some_and(|g| {
        valid(&g).is_some_and(|w| {
            w.spec
                .shared_credentials
                .iter()
                .flatten()
                .any(|c| c.secret_name == name)
        })
    });
    shares_it.then_some(sharer)
}

/// A Warning Event when a side concern (shared credentials) turns bad or
/// changes its complaint; nothing while it stays the same.
pub async fn announce_aspect<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    previous: &[crate::api::common::Condition],
    aspect: &Aspect,
) {
    let (type_, ok, reason, message) = aspect;
    let before = previous.iter().find(|c| c.type_ == *type_);
    if !ok && before.is_none_or(|c| c.message != *message) {
        ctx.event(obj, EventType::Warning, reason, message.clone())
            .await;
    }
}
