//! WorkspaceRole controller: one ClusterRole per role, holding its rules and
//! those of the ClusterRoles it includes. Every rule must be covered by the
//! tenant ceiling ClusterRole, checked here before anything is written; a
//! role beyond it is reported on the role (naming the rules), never retried
//! until the role or the ceiling changes.

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::instrument;

use super::{Context, drain, informer, valid, writes};
use crate::api::WorkspaceRole;
use crate::api::role::WorkspaceRoleStatus;
use crate::apply::{Source, delete_owned, ensure_cached, prune};
use crate::conditions::{self, Outcome};
use crate::error::{Error, Result};
use crate::labels;
use crate::resources::{
    ceiling, cluster_names, owner_reference, predefined_roles, role as build,
    role_cluster_role_name,
};

type Guard = DeserializeGuard<WorkspaceRole>;

pub async fn controller(ctx: &Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let all_roles = ctx.roles.store.clone();
    let controller = super::controller_of(&ctx.roles, &ctx.settings)
        .watches_shared_stream(ctx.children.cluster_roles.subscribe(), |m| {
            if m.labels().get(labels::COMPONENT).map(String::as_str) != Some("role") {
                return None;
            }
            let (org, role) = cluster_names::parse_role(m.metadata.name.as_deref()?)?;
            Some(ObjectRef::<Guard>::new(role).within(org))
        })
        // A changed ceiling may admit or refuse any role.
        .watches_shared_stream(ctx.ceiling.subscribe(), move |_| {
            all_roles
                .state()
                .into_iter()
                .map(|r| ObjectRef::from_obj(&*r))
                .collect::<Vec<_>>()
        })
        // Members change the count, and stopping to use a role unblocks its deletion.
        .watches_shared_stream(ctx.members.subscribe_changes(informer::generation), |m| {
            let ns = m.namespace().unwrap_or_default();
            let roles = valid(&m).map(|m| m.spec.roles.clone()).unwrap_or_default();
            roles
                .into_iter()
                .map(move |r| ObjectRef::<Guard>::new(&r).within(&ns))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| super::timed("WorkspaceRole", ctx.clone(), reconcile(obj, ctx)),
            super::error_policy,
            ctx.clone(),
        );
    drain("WorkspaceRole", controller).await;
}

#[instrument(skip_all, fields(role = %guard.name_any(), namespace = guard.namespace().unwrap_or_default()))]
async fn reconcile(guard: Arc<Guard>, ctx: Arc<Context>) -> Result<Action> {
    let role = match &guard.0 {
        Ok(role) => role,
        Err(invalid) => {
            tracing::warn!(error = %invalid, "WorkspaceRole cannot be decoded; waiting for it to change");
            return Ok(Action::await_change());
        }
    };
    let org_name = role.namespace().unwrap_or_default();
    let uid = role.uid().unwrap_or_default();
    let cluster_roles: Api<ClusterRole> = Api::all(ctx.client.clone());
    let cr_name = role_cluster_role_name(&org_name, &role.name_any());

    if role.meta().deletion_timestamp.is_some() {
        if !writes::has_finalizer(role) {
            return Ok(Action::await_change());
        }
        if let Some(why) = deletion_blocker(role, &ctx) {
            let was = role.status.as_ref().is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.type_ == crate::api::common::conditions::DELETION_BLOCKED && c.message == why
                })
            });
            if !was {
                ctx.event(role, EventType::Warning, "DeletionBlocked", why.clone())
                    .await;
            }
            let outcome = Outcome::Progressing {
                reason: "DeletionBlocked",
                message: why.clone(),
            };
            write_status_with(role, &ctx, outcome, Some(&cr_name), Some(&why)).await?;
            return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
        }
        delete_owned(&cluster_roles, Source::Server, None, &cr_name, &uid).await?;
        prune_other_names(&ctx, &cluster_roles, &uid, &cr_name).await?;
        ctx.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&uid);
        patch_finalizers(role, &ctx, false).await?;
        return Ok(Action::await_change());
    }
    let Some(org) = ctx.organization(&org_name).and_then(|g| valid(&g).cloned()) else {
        let outcome = Outcome::Stalled {
            reason: "OrganizationNotFound",
            message: format!(
                "no Organization named {org_name:?}: a WorkspaceRole must live in its organization's namespace"
            ),
        };
        write_status(role, &ctx, outcome, None).await?;
        return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
    };
    if !writes::has_finalizer(role) {
        patch_finalizers(role, &ctx, true).await?;
    }

    // Included ClusterRoles: only those the platform allows, then read.
    let policy = &ctx.settings.tenancy;
    // A predefined role grants what it is defined to grant, whatever its
    // live spec says: an edit (refused at admission, put back by the
    // organization) never reaches its ClusterRole, not even for a moment.
    let name = role.name_any();
    let spec = predefined_roles::definition(&name).unwrap_or_else(|| role.spec.clone());
    let includes = spec.cluster_roles.clone().unwrap_or_default();
    let disallowed = policy.disallowed_cluster_roles(&includes);
    if !disallowed.is_empty() {
        let allowed: Vec<&str> = policy
            .allowed_cluster_roles
            .iter()
            .map(String::as_str)
            .collect();
        let outcome = Outcome::Stalled {
            reason: NOT_ALLOWED,
            message: format!(
                "the platform does not allow including ClusterRole(s) {} (allowed: {}); nothing of this role is granted",
                disallowed.join(", "),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
        };
        revoke(&ctx, &cluster_roles, &cr_name, &uid).await?;
        write_status(role, &ctx, outcome, None).await?;
        return Ok(Action::await_change());
    }
    let mut included: Vec<PolicyRule> = vec![];
    let mut missing = vec![];
    for name in &includes {
        match cluster_roles
            .get_opt(name)
            .await
            .map_err(Error::kube(format!("reading ClusterRole {name}")))?
        {
            Some(cr) => included.extend(cr.rules.unwrap_or_default()),
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        let outcome = Outcome::Stalled {
            reason: "ClusterRoleNotFound",
            message: format!("included ClusterRole(s) not found: {}", missing.join(", ")),
        };
        write_status(role, &ctx, outcome, None).await?;
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    let mut desired = build::cluster_role(&org_name, &name, &uid, &spec, &included);

    // The ceiling, checked by the operator itself before any write: the
    // API server's escalation check compares with everything the operator
    // holds (namespaces, RBAC, Secrets cluster-wide), so it cannot be the
    // tenant's limit.
    let Some(ceiling) = ctx.ceiling.get(None, &policy.ceiling) else {
        let outcome = Outcome::Stalled {
            reason: NO_CEILING,
            message: format!(
                "the tenant ceiling ClusterRole {} does not exist, so no role can be checked or granted; the platform installs it with the operator (Helm chart or deploy/operator-rbac.yaml)",
                policy.ceiling
            ),
        };
        write_status(role, &ctx, outcome, None).await?;
        return Ok(Action::await_change());
    };
    let wanted = desired.rules.clone().unwrap_or_default();
    let refused = ceiling::refused(ceiling.rules.as_deref().unwrap_or_default(), &wanted);
    if !refused.is_empty() {
        let outcome = Outcome::Stalled {
            reason: BEYOND_CEILING,
            message: format!(
                "not granted, this role asks for more than the tenant ceiling {} allows: {}",
                policy.ceiling,
                ceiling::summary(&refused)
            ),
        };
        revoke(&ctx, &cluster_roles, &cr_name, &uid).await?;
        write_status(role, &ctx, outcome, None).await?;
        return Ok(Action::await_change());
    }

    // Refused by the API server before, unchanged since: asking again cannot
    // help, also after a restart (the digest is in the condition).
    let generation = role.meta().generation.unwrap_or_default();
    let digest = rules_digest(&wanted);
    let memo = (generation, digest.clone());
    let refused_before = ctx
        .refused
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&uid)
        == Some(&memo)
        || role.status.as_ref().is_some_and(|s| {
            s.observed_generation == Some(generation)
                && s.conditions.iter().any(|c| {
                    c.type_ == "Ready" && c.reason == NOT_HELD && c.message.contains(&digest)
                })
        });
    if refused_before {
        return Ok(Action::await_change());
    }
    // Also owned by the organization, so deleting it cleans up even if this
    // role's finalizer never ran.
    desired.metadata.owner_references = owner_reference(&org).map(|o| vec![o]);
    match ensure_cached(&cluster_roles, &ctx.children.cluster_roles, &desired).await {
        Ok(_) => {
            ctx.refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&uid);
            // Names of an earlier scheme, left by an upgrade.
            prune_other_names(&ctx, &cluster_roles, &uid, &cr_name).await?;
            ctx.succeeded(role);
            let outcome = Outcome::Ready {
                reason: "Ready",
                message: format!("ClusterRole {cr_name} holds the role's permissions"),
            };
            write_status(role, &ctx, outcome, Some(&cr_name)).await?;
            // Included ClusterRoles may change without an event here.
            Ok(Action::requeue(if spec.cluster_roles.is_some() {
                Duration::from_secs(300)
            } else {
                ctx.settings.resync
            }))
        }
        Err(Error::Kube {
            source: kube::Error::Api(s),
            ..
        }) if s.code == 403 => {
            // Inside the ceiling, yet refused: the operator may not grant it
            // (its `escalate` on ClusterRoles, or the ceiling binding of an
            // install without admission policies, is missing). A platform
            // problem; retrying cannot help.
            ctx.refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(uid.clone(), memo);
            let outcome = Outcome::Stalled {
                reason: NOT_HELD,
                message: format!(
                    "the API server refused to let the operator grant this role's permissions, although the tenant ceiling {} covers them: may the operator bind and escalate ClusterRoles (deploy/operator-rbac.yaml, the chart)? {} [rules {digest}]",
                    policy.ceiling, s.message
                ),
            };
            write_status(role, &ctx, outcome, None).await?;
            Ok(Action::await_change())
        }
        Err(err) => {
            write_status(
                role,
                &ctx,
                Outcome::Progressing {
                    reason: "Reconciling",
                    message: err.to_string(),
                },
                Some(&cr_name),
            )
            .await?;
            Err(err)
        }
    }
}

/// Deletes the role's ClusterRole, if one was made before: a role refused
/// now (changed, or made before the ceiling was checked) grants nothing,
/// also through bindings that still name it.
async fn revoke(ctx: &Context, api: &Api<ClusterRole>, name: &str, uid: &str) -> Result<()> {
    let from = Source::Cache(&ctx.children.cluster_roles);
    if delete_owned(api, from, None, name, uid).await? {
        tracing::info!(
            cluster_role = name,
            "role refused: its ClusterRole is removed"
        );
    }
    Ok(())
}

/// The Ready reasons of a refused role: it will not become Ready without a
/// change of the role, the ceiling or the platform.
const BEYOND_CEILING: &str = "BeyondCeiling";
const NOT_ALLOWED: &str = "ClusterRoleNotAllowed";
const NO_CEILING: &str = "CeilingNotFound";
/// Refused by the API server although it fits the ceiling.
const NOT_HELD: &str = "CeilingNotHeld";

/// Whether `role` is refused for its current generation.
pub fn is_refused(role: &WorkspaceRole) -> bool {
    role.status.as_ref().is_some_and(|s| {
        s.observed_generation == role.meta().generation
            && s.conditions.iter().any(|c| {
                c.type_ == "Ready"
                    && c.status == "False"
                    && [BEYOND_CEILING, NOT_ALLOWED, NO_CEILING, NOT_HELD]
                        .contains(&c.reason.as_str())
            })
    })
}

/// A short, stable digest of the rules asked for.
fn rules_digest(rules: &[PolicyRule]) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    serde_json::to_string(rules)
        .unwrap_or_default()
        .hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Deletes the role's ClusterRoles under any other name (an earlier naming
/// scheme), read from the cache: only those with the role's marks.
async fn prune_other_names(
    ctx: &Context,
    api: &Api<ClusterRole>,
    uid: &str,
    keep: &str,
) -> Result<()> {
    let from = Source::Cache(&ctx.children.cluster_roles);
    let keep = std::collections::BTreeSet::from([keep.to_string()]);
    prune(api, from, None, uid, "role", &keep).await?;
    Ok(())
}

async fn patch_finalizers(role: &WorkspaceRole, ctx: &Context, add: bool) -> Result<()> {
    writes::set_finalizer(
        ctx,
        &Api::<WorkspaceRole>::namespaced(
            ctx.client.clone(),
            &role.namespace().unwrap_or_default(),
        ),
        role,
        add,
    )
    .await
}

/// Why `role` cannot go yet: members or workspaces still use it, or it is a
/// predefined role of a living organization.
fn deletion_blocker(role: &WorkspaceRole, ctx: &Context) -> Option<String> {
    let ns = role.namespace().unwrap_or_default();
    let name = role.name_any();
    let org_alive = ctx
        .organization(&ns)
        .and_then(|g| valid(&g).map(|o| o.meta().deletion_timestamp.is_none()))
        .unwrap_or(false);
    if org_alive && crate::resources::predefined_roles::is_predefined_name(&name) {
        return Some(format!(
            "{name} is a predefined role of Organization {ns}: it is kept as defined while the organization exists"
        ));
    }
    let mut users: Vec<String> = ctx
        .members_in(&ns)
        .into_iter()
        .filter(|m| m.spec.roles.contains(&name))
        .map(|m| format!("WorkspaceMember {}", m.name_any()))
        .collect();
    users.extend(
        ctx.workspaces_in(&ns)
            .into_iter()
            .filter(|w| w.spec.anonymous_role.as_deref() == Some(name.as_str()))
            .map(|w| format!("Workspace {} (anonymousRole)", w.name_any())),
    );
    let org_default = ctx
        .organization(&ns)
        .and_then(|g| valid(&g).and_then(|o| o.spec.defaults.as_ref()?.anonymous_role.clone()));
    if org_alive && org_default.as_deref() == Some(name.as_str()) {
        users.push(format!("Organization {ns} (defaults.anonymousRole)"));
    }
    users.sort();
    (!users.is_empty()).then(|| {
        format!(
            "role {name} is still used by {}: remove it from them (or delete those members) first",
            users.join(", ")
        )
    })
}

async fn write_status(
    role: &WorkspaceRole,
    ctx: &Context,
    outcome: Outcome,
    cluster_role: Option<&str>,
) -> Result<()> {
    write_status_with(role, ctx, outcome, cluster_role, None).await
}

async fn write_status_with(
    role: &WorkspaceRole,
    ctx: &Context,
    outcome: Outcome,
    cluster_role: Option<&str>,
    deletion_blocked: Option<&str>,
) -> Result<()> {
    let old = role.status.clone().unwrap_or_default();
    let conditions = conditions::next(
        &old.conditions,
        &outcome,
        deletion_blocked,
        role.meta().generation,
        &conditions::now(),
    );
    let ns = role.namespace();
    let members = ctx
        .members
        .store
        .state()
        .iter()
        .filter_map(|g| valid(g))
        .filter(|m| m.namespace() == ns && m.spec.roles.contains(&role.name_any()))
        .count() as i32;
    let status = WorkspaceRoleStatus {
        cluster_role: cluster_role.map(String::from),
        members: Some(members),
        conditions,
        observed_generation: role.meta().generation,
    };
    let api =
        Api::<WorkspaceRole>::namespaced(ctx.client.clone(), &role.namespace().unwrap_or_default());
    let conditions = (old.conditions.as_slice(), status.conditions.as_slice());
    writes::write_status(
        ctx,
        &api,
        role,
        &old,
        &status,
        conditions,
        deletion_blocked.is_some(),
    )
    .await
}
