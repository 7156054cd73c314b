//! Delegated membership: the RBAC that lets workspace owners and member
//! managers write WorkspaceMembers, and that the admission policy
//! `workspaces.dev-delegated-membership` asks about.
//!
//! RBAC cannot limit a write to the members of one workspace: they all
//! live in the organization namespace, and `spec.workspace` is a field. So
//! a manager's own Role in the organization namespace (the member's reader
//! Role, the owner's Role) holds two rules:
//! - plain writes (create, update, patch, delete) on WorkspaceMembers
//!   ([`member_writes`]); no get or list, so other workspaces' memberships
//!   stay unread;
//! - on `workspaces/<its workspace>`, verbs no API request ever uses, which
//!   the policy checks with its CEL `authorizer` for the workspace a request
//!   names: `manage-members`, and `assign-<role>` for each role it may give
//!   and take back (`assign-*` for every role) ([`managing_rule`]).
//!
//! Everything is asked in the organization namespace and tied to the
//! workspace by name, and only these per-person Roles carry the verbs:
//! anonymous access, bindings inside workspace namespaces, or RBAC in a
//! namespace the operator did not make never count.
//!
//! An organization admin holds `manage` on `workspacemembers` in the
//! organization namespace ([`organization_wide`]): the policy lets such a
//! request through without asking about the workspace.

use k8s_openapi::api::rbac::v1::PolicyRule;

pub const GROUP: &str = "workspaces.dev";
/// May manage a workspace's members (on `workspaces/<ws>`).
pub const MANAGE_MEMBERS: &str = "manage-members";
/// May give and take back every role (on `workspaces/<ws>`).
pub const ASSIGN_ANY: &str = "assign-*";
/// May manage every member of an organization (on `workspacemembers`).
pub const MANAGE: &str = "manage";

/// The verb that lets its holder give and take back `role`.
pub fn assign(role: &str) -> String {
    if role == "*" {
        ASSIGN_ANY.to_string()
    } else {
        format!("assign-{role}")
    }
}

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

/// A manager's rule on its workspace: may manage its members, giving and
/// taking back `assignable` roles (`*`: every role).
pub fn managing_rule<'a>(
    workspace: &str,
    assignable: impl IntoIterator<Item = &'a str>,
) -> PolicyRule {
    let mut verbs: Vec<String> = assignable.into_iter().map(assign).collect();
    if verbs.iter().any(|v| v == ASSIGN_ANY) {
        verbs = vec![ASSIGN_ANY.to_string()];
    }
    verbs.sort();
    verbs.dedup();
    verbs.insert(0, MANAGE_MEMBERS.to_string());
    PolicyRule {
        api_groups: Some(vec![GROUP.into()]),
        resources: Some(vec!["workspaces".into()]),
        resource_names: Some(vec![workspace.to_string()]),
        verbs,
        non_resource_urls: None,
    }
}

/// Whether `rule` is one of delegated membership's (writes on members, or
/// the verbs on a workspace).
pub fn is_managing(rule: &PolicyRule) -> bool {
    *rule == member_writes() || rule.verbs.iter().any(|v| v == MANAGE_MEMBERS)
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

    #[test]
    fn any_role_is_one_verb() {
        let rule = managing_rule("pay", ["viewer", "*"]);
        assert_eq!(rule.verbs, vec![MANAGE_MEMBERS, ASSIGN_ANY]);
        assert_eq!(rule.resource_names, Some(vec!["pay".to_string()]));
    }

    #[test]
    fn listed_roles_are_a_verb_each() {
        let rule = managing_rule("pay", ["viewer", "editor", "viewer"]);
        assert_eq!(
            rule.verbs,
            vec![MANAGE_MEMBERS, "assign-editor", "assign-viewer"]
        );
        assert_eq!(rule.resources, Some(vec!["workspaces".to_string()]));
    }

    #[test]
    fn member_writes_never_read() {
        let writes = member_writes();
        for verb in ["get", "list", "watch", "deletecollection"] {
            assert!(!writes.verbs.iter().any(|v| v == verb), "{verb}");
        }
    }
}
