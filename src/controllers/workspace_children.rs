//! Writing a workspace's children that `decide` built: its guardrails
//! (isolation, the stop on new work, info, the plan's quota, limits,
//! network exceptions and placement) in its namespace, and its readers in
//! the organization namespace. Each writes what it can and reports the
//! first failure after trying the rest.

use k8s_openapi::api::rbac::v1::Role;

use super::context::Children;
use crate::ownership::names::{
    self, ISOLATION_POLICY, LIMITS, NETWORK_EXCEPTIONS, PLACEMENT, QUOTA, STOP_WORK_QUOTA,
};
use crate::resources::workspace::{PlanChildren, WorkspaceReaders, WorkspaceSettings};
use crate::runtime::Result;
use crate::runtime::apply::Owned;

/// Writes the settings into namespace `ns`. Isolation and the stop on new
/// work follow the spec in every state; what the plan makes is left as it
/// is only when no plan is known to be in effect (see `decide`).
pub async fn write_settings(
    owned: &Owned<'_>,
    cached: &Children,
    ns: &str,
    settings: WorkspaceSettings,
) -> Result<()> {
    let WorkspaceSettings {
        network_policy,
        stop_work,
        info,
        plan,
    } = settings;
    let here = Some(ns);
    let stop_work = owned.optional(&cached.quotas, here, STOP_WORK_QUOTA, stop_work.as_ref());
    let isolation = owned.optional(
        &cached.network_policies,
        here,
        ISOLATION_POLICY,
        network_policy.as_ref(),
    );
    let info = async {
        match &info {
            Some(info) => owned.one(&cached.config_maps, info).await,
            None => Ok(false),
        }
    };
    let plan = async {
        match plan {
            Some(plan) => write_plan(owned, cached, ns, plan).await,
            None => Ok(()),
        }
    };
    let (stop_work, isolation, info, plan) = futures::join!(stop_work, isolation, info, plan);
    stop_work?;
    isolation?;
    info?;
    plan
}

/// Writes what the plan in effect makes in namespace `ns`.
async fn write_plan(
    owned: &Owned<'_>,
    cached: &Children,
    ns: &str,
    plan: PlanChildren,
) -> Result<()> {
    let PlanChildren {
        quota,
        limit_range,
        network_exceptions,
        placement,
    } = plan;
    let here = Some(ns);
    let quota = owned.optional(&cached.quotas, here, QUOTA, quota.as_ref());
    let limits = owned.optional(&cached.limit_ranges, here, LIMITS, limit_range.as_ref());
    let exceptions = owned.optional(
        &cached.network_policies,
        here,
        NETWORK_EXCEPTIONS,
        network_exceptions.as_ref(),
    );
    let placement = owned.optional(&cached.config_maps, here, PLACEMENT, placement.as_ref());
    let (quota, limits, exceptions, placement) =
        futures::join!(quota, limits, exceptions, placement);
    quota?;
    limits?;
    exceptions?;
    placement.map(drop)
}

/// Writes who may find workspace `ws_name` of organization namespace
/// `org`: read it and its Organization. In two waves: the Roles, then the
/// RoleBindings (RBAC checks the Role a binding binds); a Role no longer
/// wanted goes after its binding.
pub async fn write_readers(
    owned: &Owned<'_>,
    cached: &Children,
    org: &str,
    ws_name: &str,
    readers: WorkspaceReaders,
) -> Result<()> {
    let WorkspaceReaders {
        role,
        binding,
        visitors,
        owner_manages,
    } = readers;
    let org_ns = Some(org);
    let reader = names::workspace_reader(ws_name);
    let owner = names::workspace_owner(ws_name);
    let (owner_role, owner_binding) = owner_manages.unzip();
    let roles = async {
        let (reader_role, owner_role) = futures::join!(owned.one(&cached.roles, &role), async {
            match &owner_role {
                Some(r) => owned.one(&cached.roles, r).await,
                None => Ok(false),
            }
        });
        reader_role.and(owner_role)
    };
    roles.await?;
    let visitors_name = names::organization_visitors(org, ws_name);
    let (reader_binding, owner_binding, visitors) = futures::join!(
        owned.optional(&cached.role_bindings, org_ns, &reader, binding.as_ref()),
        owned.optional(
            &cached.role_bindings,
            org_ns,
            &owner,
            owner_binding.as_ref()
        ),
        owned.optional(
            &cached.cluster_role_bindings,
            None,
            &visitors_name,
            visitors.as_ref()
        ),
    );
    reader_binding?;
    owner_binding?;
    visitors?;
    if owner_role.is_none() {
        owned
            .optional::<Role>(&cached.roles, org_ns, &owner, None)
            .await?;
    }
    Ok(())
}
