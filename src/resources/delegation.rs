//! Delegated membership: the RBAC that lets workspace owners and member
//! managers write WorkspaceMembers, and that the admission policy
//! `workspaces.dev-delegated-membership` asks about.
//!
//! RBAC cannot limit a write to the members of one workspace: they all
//! live in the organization namespace, and `spec.workspace` is a field. So
//! the grant has two halves:
//! - in the organization namespace, plain writes (create, update, patch,
//!   delete) on WorkspaceMembers for owners, open member groups and members
//!   holding a managing role ([`member_writes`]); no get or list, so other
//!   workspaces' memberships stay unread;
//! - in the workspace namespace, through the role's ClusterRole, two verbs
//!   no API request ever uses, which the policy checks with its CEL
//!   `authorizer` for the workspace a request names: `manage` on
//!   `workspacemembers` (may manage this workspace's members) and `bind` on
//!   `workspaceroles/<role>` (may give or take back that role), like RBAC's
//!   own `bind` ([`managing_rules`]).
//!
//! An organization admin holds `manage` on `workspacemembers` in the
//! organization namespace ([`organization_wide`]): the policy lets such a
//! request through without asking about the workspace.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::api::role::ManageMembers;

pub const GROUP: &str = "workspaces.dev";
/// May manage a workspace's members (checked in its namespace) or every
/// member of an organization (checked in the organization namespace).
pub const MANAGE: &str = "manage";
/// May give and take back a role (checked in a workspace namespace).
pub const BIND: &str = "bind";

fn rule(resources: &[&str], names: Option<Vec<String>>, verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![GROUP.into()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        resource_names: names,
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        non_resource_urls: None,
    }
}

/// The writes on WorkspaceMembers a delegated manager sends to the
/// organization namespace (server-side apply creates with a patch, so no
/// get is needed). The admission policy decides which of them pass.
pub fn member_writes() -> PolicyRule {
    rule(
        &["workspacemembers"],
        None,
        &["create", "update", "patch", "delete"],
    )
}

/// What a role with `manageMembers` adds to its ClusterRole, which is bound
/// only inside workspace namespaces: the verbs the policy asks about there.
pub fn managing_rules(manage: &ManageMembers) -> Vec<PolicyRule> {
    let roles = if manage.any_role() {
        None
    } else {
        let mut roles = manage.assignable_roles.clone();
        roles.sort();
        roles.dedup();
        Some(roles)
    };
    let mut rules = vec![rule(&["workspacemembers"], None, &[MANAGE])];
    // resourceNames: [] would mean every role: nothing listed gives none.
    if roles.as_ref().is_none_or(|r| !r.is_empty()) {
        rules.push(rule(&["workspaceroles"], roles, &[BIND]));
    }
    rules
}

/// An organization admin's rule in the organization namespace: manages
/// every member of the organization.
pub fn organization_wide() -> PolicyRule {
    rule(&["workspacemembers"], None, &[MANAGE])
}

/// The rule that lets an organization's admins change their Organization
/// (the admission policy keeps every field but `spec.admins`).
pub fn organization_admins_edit(organization: &str) -> PolicyRule {
    rule(
        &["organizations"],
        Some(vec![organization.to_string()]),
        &["update", "patch"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manage(roles: &[&str]) -> ManageMembers {
        ManageMembers {
            assignable_roles: roles.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn any_role_binds_every_role() {
        let rules = managing_rules(&manage(&["viewer", "*"]));
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].verbs, vec![MANAGE]);
        assert_eq!(rules[1].verbs, vec![BIND]);
        assert_eq!(rules[1].resource_names, None);
    }

    #[test]
    fn listed_roles_bind_only_those() {
        let rules = managing_rules(&manage(&["viewer", "editor", "viewer"]));
        assert_eq!(
            rules[1].resource_names,
            Some(vec!["editor".to_string(), "viewer".to_string()])
        );
    }

    #[test]
    fn member_writes_never_read() {
        let writes = member_writes();
        for verb in ["get", "list", "watch", "deletecollection"] {
            assert!(!writes.verbs.iter().any(|v| v == verb), "{verb}");
        }
    }
}
