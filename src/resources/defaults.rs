//! What applies where nobody said: the values in effect for a workspace
//! (its spec over its organization's defaults over the operator's), the
//! organization's defaults as its status shows them, and which workspace is
//! the default one. Both `workspace` and `organization` read it; neither
//! reads the other.

use kube::{Resource, ResourceExt};

use super::predefined_roles;
use crate::api::organization::WorkspaceDefaults;
use crate::api::workspace::DeletionPolicy;
use crate::api::{Organization, Workspace};
use crate::ownership::names::organization_namespace;

/// The name of an organization's default workspace unless it names one.
pub const DEFAULT_WORKSPACE_NAME: &str = "default";

/// The name of `org`'s default workspace.
pub fn default_workspace_name(org: &Organization) -> &str {
    org.spec
        .default_workspace
        .as_ref()
        .map_or(DEFAULT_WORKSPACE_NAME, |d| d.name.as_str())
}

/// Whether `ws` is the default workspace of `org`.
pub fn is_default_workspace(org: &Organization, ws: &Workspace) -> bool {
    ws.meta().namespace.as_deref() == Some(organization_namespace(&org.name_any()).as_str())
        && ws.name_any() == default_workspace_name(org)
}

/// The values in effect for a workspace after organization and operator defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Effective {
    pub accept_anonymous: bool,
    pub anonymous_role: String,
    pub plan: Option<String>,
    pub network_isolation: bool,
    pub archived: bool,
    pub time_zone: String,
    pub deletion_policy: DeletionPolicy,
}

/// The values in effect for `ws` in `org`.
pub fn effective(ws: &Workspace, org: &Organization) -> Effective {
    let defaults = org.spec.defaults.as_ref();
    Effective {
        // Anonymous access means "anyone in the organization's member
        // groups": with no member groups nobody is anonymous, so it is off
        // whatever the workspace asks.
        accept_anonymous: ws
            .spec
            .accept_anonymous
            .or(defaults.and_then(|d| d.accept_anonymous))
            .unwrap_or(true)
            && org
                .spec
                .member_groups
                .as_ref()
                .is_some_and(|g| !g.is_empty()),
        anonymous_role: ws
            .spec
            .anonymous_role
            .clone()
            .or(defaults.and_then(|d| d.anonymous_role.clone()))
            .unwrap_or_else(|| predefined_roles::VIEWER.to_string()),
        plan: ws
            .spec
            .plan
            .clone()
            .or(defaults.and_then(|d| d.plan.clone())),
        // The organization's default is a floor: a workspace only turns
        // isolation on where the organization leaves it off.
        network_isolation: isolation_required(org) || ws.spec.network_isolation == Some(true),
        archived: ws.spec.archived.unwrap_or(false),
        time_zone: ws.spec.time_zone.clone().unwrap_or_else(|| "UTC".into()),
        deletion_policy: ws.spec.deletion_policy.unwrap_or_default(),
    }
}

/// Whether `org` requires network isolation of its workspaces: its
/// `defaults.networkIsolation`, on unless the platform turns it off there.
/// A Workspace cannot turn a required isolation off; where the organization
/// leaves it off, a Workspace may turn it on.
pub fn isolation_required(org: &Organization) -> bool {
    org.spec
        .defaults
        .as_ref()
        .and_then(|d| d.network_isolation)
        .unwrap_or(true)
}

/// The organization's defaults with the operator's filled in, as its
/// status reports them.
pub fn organization_defaults(org: &Organization) -> WorkspaceDefaults {
    let defaults = org.spec.defaults.as_ref();
    WorkspaceDefaults {
        accept_anonymous: Some(defaults.and_then(|d| d.accept_anonymous).unwrap_or(true)),
        anonymous_role: Some(
            defaults
                .and_then(|d| d.anonymous_role.clone())
                .unwrap_or_else(|| predefined_roles::VIEWER.into()),
        ),
        plan: defaults.and_then(|d| d.plan.clone()),
        network_isolation: Some(isolation_required(org)),
        deletion_grace_period: Some(
            defaults
                .and_then(|d| d.deletion_grace_period.clone())
                .unwrap_or_else(|| "0s".into()),
        ),
    }
}
