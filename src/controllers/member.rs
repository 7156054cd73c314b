//! WorkspaceMember controller: a RoleBinding per role in the workspace
//! namespace, read access to its own Workspace, removal on expiry (at that
//! moment) and on deletion (before the object goes).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::instrument;

use super::context::refs_in;
use super::{Context, drain, informer, writes};
use crate::api::member::{MemberPhase, WorkspaceMemberStatus};
use crate::api::names::workspace_namespace;
use crate::api::{WorkspaceMember, WorkspaceRole};
use crate::apply::{Source, delete_owned, ensure_all_prune_rest, ensure_cached, prune};
use crate::conditions::{self, Outcome};
use crate::error::Result;
use crate::labels;
use crate::resources::member::{self as build, ACCESS_COMPONENT, MEMBER_LABEL};

type Guard = DeserializeGuard<WorkspaceMember>;

pub async fn controller(ctx: &Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let (by_workspace, by_role, by_namespace) = (ctx.clone(), ctx.clone(), ctx.clone());
    let controller = super::controller_of(&ctx.members, &ctx.settings)
        // Archive mode and the workspace's existence change what members get.
        .watches_shared_stream(
            ctx.workspaces
                .subscribe_changes(super::workspace::generation_and_conflict),
            move |ws| {
                let (ns, name) = (ws.namespace().unwrap_or_default(), ws.name_any());
                refs_in(&by_workspace.members.store, &ns, |m| {
                    m.spec.workspace == name
                })
            },
        )
        // A role appearing, disappearing or becoming ready.
        .watches_shared_stream(ctx.roles.subscribe_changes(role_signature), move |role| {
            let (ns, name) = (role.namespace().unwrap_or_default(), role.name_any());
            refs_in(&by_role.members.store, &ns, |m| {
                m.spec.roles.contains(&name)
            })
        })
        // A workspace's namespace appearing (or losing its marks).
        .watches_shared_stream(ctx.children.namespaces.subscribe(), move |n| {
            let marks = n.labels();
            let (Some(org), Some(ws)) = (
                marks.get(labels::ORGANIZATION),
                marks.get(labels::WORKSPACE),
            ) else {
                return vec![];
            };
            let ws = ws.clone();
            refs_in(&by_namespace.members.store, org, move |m| {
                m.spec.workspace == ws
            })
        })
        .watches_shared_stream(ctx.children.role_bindings.subscribe(), |b| {
            member_ref(&b.metadata)
        })
        .watches_shared_stream(ctx.children.roles.subscribe(), |r| member_ref(&r.metadata))
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| super::timed("WorkspaceMember", ctx.clone(), reconcile(obj, ctx)),
            super::error_policy,
            ctx.clone(),
        );
    drain("WorkspaceMember", controller).await;
}

fn member_ref(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Guard>> {
    let labels = meta.labels.as_ref()?;
    Some(ObjectRef::new(labels.get(MEMBER_LABEL)?).within(labels.get(labels::ORGANIZATION)?))
}

/// What members depend on in a role: its rules and whether it is Ready.
fn role_signature(guard: &DeserializeGuard<WorkspaceRole>) -> u64 {
    let ready = super::valid(guard).is_some_and(role_ready);
    informer::generation(guard) * 2 + u64::from(ready)
}

fn role_ready(role: &WorkspaceRole) -> bool {
    role.status.as_ref().is_some_and(|s| {
        conditions::ready_for_generation(
            &s.conditions,
            s.observed_generation,
            role.meta().generation,
        )
    })
}

#[instrument(skip_all, fields(member = %guard.name_any(), namespace = guard.namespace().unwrap_or_default()))]
async fn reconcile(guard: Arc<Guard>, ctx: Arc<Context>) -> Result<Action> {
    let member = match &guard.0 {
        Ok(m) => m,
        Err(invalid) => {
            tracing::warn!(error = %invalid, "WorkspaceMember cannot be decoded; waiting for it to change");
            return Ok(Action::await_change());
        }
    };
    let org = member.namespace().unwrap_or_default();
    if member.meta().deletion_timestamp.is_some() {
        if writes::has_finalizer(member) {
            remove_access(member, &ctx, true).await?;
            patch_finalizers(member, &ctx, false).await?;
        }
        return Ok(Action::await_change());
    }
    if !writes::has_finalizer(member) {
        patch_finalizers(member, &ctx, true).await?;
    }

    if let Some(why) = ctx
        .settings
        .tenancy
        .subject_refusal(&member.spec.subject, &org)
    {
        remove_access(member, &ctx, false).await?;
        let outcome = Outcome::Stalled {
            reason: "SubjectNotAllowed",
            message: format!("{why}; this membership grants nothing"),
        };
        write_status(member, &ctx, outcome, MemberPhase::Pending, vec![]).await?;
        return Ok(Action::await_change());
    }

    let Some(ws) = ctx.workspace(&org, &member.spec.workspace) else {
        remove_access(member, &ctx, false).await?;
        let outcome = Outcome::Stalled {
            reason: "WorkspaceNotFound",
            message: format!(
                "no Workspace {:?} in namespace {org}; this membership grants nothing",
                member.spec.workspace
            ),
        };
        write_status(member, &ctx, outcome, MemberPhase::Pending, vec![]).await?;
        return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
    };

    if let Some(expires) = &member.spec.expires_at {
        let left = expires.0.duration_since(jiff::Timestamp::now());
        if left.is_negative() || left.is_zero() {
            remove_access(member, &ctx, false).await?;
            let outcome = Outcome::Stalled {
                reason: "Expired",
                message: format!(
                    "the membership expired at {}; its access is removed. Set a later expiresAt to renew it",
                    expires.0
                ),
            };
            let first_time =
                member.status.as_ref().and_then(|s| s.phase) != Some(MemberPhase::Expired);
            write_status(member, &ctx, outcome, MemberPhase::Expired, vec![]).await?;
            if first_time {
                tracing::info!("membership expired; access removed");
            }
            return Ok(Action::await_change());
        }
    }

    // Access is written only into the namespace this very workspace made:
    // never into one someone else made, or one released by Retain.
    let ns = workspace_namespace(&org, &member.spec.workspace);
    match namespace_owner(&ctx, &ns, &ws) {
        NamespaceOwner::ThisWorkspace => {}
        NamespaceOwner::NotYet => {
            let outcome = Outcome::Progressing {
                reason: "WorkspaceNotReady",
                message: format!(
                    "waiting for workspace {} to make its namespace {ns}",
                    member.spec.workspace
                ),
            };
            write_status(member, &ctx, outcome, MemberPhase::Pending, vec![]).await?;
            return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
        }
        NamespaceOwner::Other => {
            let outcome = Outcome::Stalled {
                reason: "NamespaceNotOwned",
                message: format!(
                    "namespace {ns} was not made by workspace-operator for Workspace {}; nothing is written into it and this membership grants nothing",
                    member.spec.workspace
                ),
            };
            write_status(member, &ctx, outcome, MemberPhase::Pending, vec![]).await?;
            return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
        }
    }

    let roles = ctx.roles_in(&org);
    let ready: Vec<WorkspaceRole> = roles.iter().filter(|r| role_ready(r)).cloned().collect();
    let not_ready: Vec<String> = member
        .spec
        .roles
        .iter()
        .filter(|r| {
            roles.iter().any(|x| &x.name_any() == *r) && !ready.iter().any(|x| &x.name_any() == *r)
        })
        .cloned()
        .collect();
    let access = build::build(member, &ready, ws.spec.archived.unwrap_or(false));
    if ws.meta().deletion_timestamp.is_some() {
        // A workspace being deleted gets no new access: its namespace is
        // about to go or to be released, and a binding written after the
        // release could not be taken back. Revocations still happen.
        let keep: BTreeSet<String> = access.bindings.iter().map(|b| b.name_any()).collect();
        let bindings = Api::<RoleBinding>::namespaced(ctx.client.clone(), &ns);
        let from = Source::Cache(&ctx.children.role_bindings);
        let uid = member.uid().unwrap_or_default();
        prune(&bindings, from, Some(&ns), &uid, ACCESS_COMPONENT, &keep).await?;
        let outcome = Outcome::Progressing {
            reason: "WorkspaceDeleting",
            message: format!(
                "workspace {} is being deleted: no access is added meanwhile, removals still apply",
                member.spec.workspace
            ),
        };
        let granted = member
            .status
            .as_ref()
            .and_then(|s| s.granted_roles.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| access.granted.contains(r))
            .collect();
        write_status(member, &ctx, outcome, MemberPhase::Active, granted).await?;
        return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
    }
    apply_access(member, &access, &ctx).await?;
    ctx.succeeded(member);

    let mut problems = vec![];
    let unknown: Vec<_> = access
        .unknown_roles
        .iter()
        .filter(|r| !not_ready.contains(r))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        problems.push(format!(
            "no WorkspaceRole {} in namespace {org}; not granted",
            unknown.join(", ")
        ));
    }
    // Roles refused by the ceiling or the platform will not become Ready by
    // waiting: the member is stalled on them, not progressing.
    let refused: Vec<&String> = not_ready
        .iter()
        .filter(|r| {
            roles
                .iter()
                .any(|x| &x.name_any() == *r && super::role::is_refused(x))
        })
        .collect();
    if !not_ready.is_empty() {
        problems.push(if refused.len() == not_ready.len() {
            format!(
                "WorkspaceRole {} refused (beyond the tenant ceiling or not allowed by the platform); not granted",
                not_ready.join(", ")
            )
        } else {
            format!(
                "WorkspaceRole {} not Ready; not granted yet",
                not_ready.join(", ")
            )
        });
    }
    let outcome = if !unknown.is_empty() {
        Outcome::Stalled {
            reason: "UnknownRole",
            message: problems.join("; "),
        }
    } else if !not_ready.is_empty() && refused.len() == not_ready.len() {
        Outcome::Stalled {
            reason: "RoleNotReady",
            message: problems.join("; "),
        }
    } else if !not_ready.is_empty() {
        Outcome::Progressing {
            reason: "RoleNotReady",
            message: problems.join("; "),
        }
    } else {
        Outcome::Ready {
            reason: "Ready",
            message: format!(
                "granted {} in workspace {}",
                access.granted.join(", "),
                member.spec.workspace
            ),
        }
    };
    write_status(
        member,
        &ctx,
        outcome,
        MemberPhase::Active,
        access.granted.clone(),
    )
    .await?;

    // Expiry happens at that moment, not at the next resync.
    // Roles still missing or not ready may appear any moment.
    let mut next = if unknown.is_empty() && not_ready.is_empty() {
        ctx.settings.resync
    } else {
        super::WAIT_FOR_OTHERS
    };
    if let Some(expires) = &member.spec.expires_at {
        let left = expires.0.duration_since(jiff::Timestamp::now());
        let left = Duration::try_from(left).unwrap_or_default() + Duration::from_millis(50);
        next = next.min(left);
    }
    Ok(Action::requeue(next))
}

/// Who made a workspace's namespace, as the namespace's marks say.
pub enum NamespaceOwner {
    /// Marked with this workspace's UID: the operator may write there.
    ThisWorkspace,
    /// Not there: the workspace has not made it yet.
    NotYet,
    /// Someone else's (a conflict), or released.
    Other,
}

/// Whether `ns` carries the marks of `ws` (read from the cache of
/// namespaces the operator marked; one not in it is not the operator's,
/// unless it is still being made).
pub fn namespace_owner(ctx: &Context, ns: &str, ws: &crate::api::Workspace) -> NamespaceOwner {
    match ctx.children.namespaces.get(None, ns) {
        Some(live)
            if labels::is_owned_by(live.meta().labels.as_ref(), &ws.uid().unwrap_or_default()) =>
        {
            NamespaceOwner::ThisWorkspace
        }
        Some(_) => NamespaceOwner::Other,
        None if super::workspace::is_conflicted(ws) => NamespaceOwner::Other,
        None => NamespaceOwner::NotYet,
    }
}

async fn apply_access(
    member: &WorkspaceMember,
    access: &build::MemberAccess,
    ctx: &Context,
) -> Result<()> {
    let org = member.namespace().unwrap_or_default();
    let uid = member.uid().unwrap_or_default();
    let ns = workspace_namespace(&org, &member.spec.workspace);
    let bindings: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), &ns);
    let cached = &ctx.children;
    // The workspace bindings and the reader access are independent: written
    // concurrently. (The reader binding needs its Role first: RBAC checks the
    // Role it binds.)
    let grants = async {
        let all = &access.bindings;
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
    let reader = async {
        if let (Some(role), Some(binding)) = (&access.reader_role, &access.reader_binding) {
            let roles = Api::<Role>::namespaced(ctx.client.clone(), &org);
            ensure_cached(&roles, &cached.roles, role).await?;
            let org_bindings = Api::<RoleBinding>::namespaced(ctx.client.clone(), &org);
            ensure_cached(&org_bindings, &cached.role_bindings, binding).await?;
        }
        Ok(())
    };
    futures::try_join!(grants, reader)?;
    Ok(())
}

/// Removes every binding the member made, wherever it is. Before the
/// finalizer goes (`finalizing`) it reads what exists from the API server: a
/// child a lagging cache does not show yet would outlive the member.
async fn remove_access(member: &WorkspaceMember, ctx: &Context, finalizing: bool) -> Result<()> {
    let org = member.namespace().unwrap_or_default();
    let uid = member.uid().unwrap_or_default();
    let ns = workspace_namespace(&org, &member.spec.workspace);
    let none = BTreeSet::new();
    let cached = &ctx.children;
    let bindings = Api::<RoleBinding>::namespaced(ctx.client.clone(), &ns);
    let from = Source::finalizing(finalizing, &cached.role_bindings);
    prune(&bindings, from, Some(&ns), &uid, ACCESS_COMPONENT, &none).await?;
    let reader = format!("workspaces.dev:member:{}", member.name_any());
    let org_bindings = Api::<RoleBinding>::namespaced(ctx.client.clone(), &org);
    let from = Source::finalizing(finalizing, &cached.role_bindings);
    delete_owned(&org_bindings, from, Some(&org), &reader, &uid).await?;
    let roles = Api::<Role>::namespaced(ctx.client.clone(), &org);
    let from = Source::finalizing(finalizing, &cached.roles);
    delete_owned(&roles, from, Some(&org), &reader, &uid).await?;
    Ok(())
}

async fn patch_finalizers(member: &WorkspaceMember, ctx: &Context, add: bool) -> Result<()> {
    writes::set_finalizer(
        ctx,
        &Api::<WorkspaceMember>::namespaced(
            ctx.client.clone(),
            &member.namespace().unwrap_or_default(),
        ),
        member,
        add,
    )
    .await
}

async fn write_status(
    member: &WorkspaceMember,
    ctx: &Context,
    outcome: Outcome,
    phase: MemberPhase,
    granted: Vec<String>,
) -> Result<()> {
    let old = member.status.clone().unwrap_or_default();
    let conditions = conditions::next(
        &old.conditions,
        &outcome,
        None,
        member.meta().generation,
        &conditions::now(),
    );
    let status = WorkspaceMemberStatus {
        phase: Some(phase),
        namespace: Some(workspace_namespace(
            &member.namespace().unwrap_or_default(),
            &member.spec.workspace,
        )),
        granted_roles: Some(granted),
        conditions,
        observed_generation: member.meta().generation,
    };
    let api = Api::<WorkspaceMember>::namespaced(
        ctx.client.clone(),
        &member.namespace().unwrap_or_default(),
    );
    let conditions = (old.conditions.as_slice(), status.conditions.as_slice());
    writes::write_status(ctx, &api, member, &old, &status, conditions, false).await
}
