//! Every name the operator derives, built and parsed here only.
//!
//! Namespaces: an organization's is its own name; a workspace's is
//! `<organization>--<workspace>`. Neither name may contain `--`, start or
//! end with `-` (admission), so the double dash splits every namespace name
//! in exactly one way: two organizations can never produce the same
//! namespace, and an organization namespace never equals a workspace
//! namespace. Lengths: 30 + 2 + 31 = 63, the namespace name limit.
//!
//! Everything else is `workspaces.dev:<kind word>:<parts>`, with a fixed
//! kind word per purpose and parts that cannot contain `:` (organization,
//! workspace and role names are DNS labels; member names are DNS
//! subdomains), so splitting on `:` is unique and two different inputs
//! never give the same name (see the property tests).

use crate::api::names::{MAX_ORGANIZATION_NAME, MAX_WORKSPACE_NAME, NAMESPACE_SEPARATOR};

/// Every cluster-scoped object the operator makes starts with this (the
/// admission policies bound the operator to it).
pub const PREFIX: &str = "workspaces.dev:";
const ROLE: &str = "workspaces.dev:role:";
const ORGANIZATION: &str = "workspaces.dev:organization:";
const MEMBER: &str = "workspaces.dev:member:";
const WORKSPACE: &str = "workspaces.dev:workspace:";
const VISITORS: &str = "workspaces.dev:visitors:";
const MEMBER_VISITOR: &str = "workspaces.dev:member-visitor:";
const ORGANIZATION_EDITORS: &str = "workspaces.dev:organization-editors:";
const WORKSPACE_OWNER: &str = "workspaces.dev:workspace-owner:";
const ORGANIZATION_VISITORS: &str = "workspaces.dev:org-visitors:";

/// In an organization namespace: the Role of its admins, and their binding.
pub const ORGANIZATION_ADMIN_ROLE: &str = "workspaces.dev:organization-admin";
pub const ORGANIZATION_ADMINS_BINDING: &str = "workspaces.dev:organization-admins";

/// In a workspace namespace: fixed names of its single children.
pub const INFO_CONFIGMAP: &str = "workspace-info";
pub const QUOTA: &str = "workspace-quota";
pub const LIMITS: &str = "workspace-limits";
pub const ISOLATION_POLICY: &str = "workspace-isolation";
pub const NETWORK_EXCEPTIONS: &str = "workspace-network-exceptions";
/// Read by the placement admission policy as its parameters; only the
/// operator may write a ConfigMap of this name in a workspace namespace.
pub const PLACEMENT: &str = "workspace-placement";
pub const STOP_WORK_QUOTA: &str = "workspace-stop-work";

/// The namespace of an organization: its own name.
pub fn organization_namespace(organization: &str) -> String {
    organization.to_string()
}

/// The namespace of a workspace: `<organization>--<workspace>`.
pub fn workspace_namespace(organization: &str, workspace: &str) -> String {
    format!("{organization}{NAMESPACE_SEPARATOR}{workspace}")
}

/// Splits a workspace namespace back into organization and workspace, or
/// `None` when the name is not one the operator would derive.
pub fn split_workspace_namespace(namespace: &str) -> Option<(&str, &str)> {
    let (org, ws) = namespace.split_once(NAMESPACE_SEPARATOR)?;
    let valid = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains(NAMESPACE_SEPARATOR)
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    (valid(org, MAX_ORGANIZATION_NAME) && valid(ws, MAX_WORKSPACE_NAME)).then_some((org, ws))
}

/// The ClusterRole that holds the permissions of `role` of `organization`.
pub fn role(organization: &str, role: &str) -> String {
    format!("{ROLE}{organization}:{role}")
}

/// The organization and role of a role ClusterRole name, or None when
/// `name` is not one (including names of the earlier
/// `workspaces.dev:<org>:<role>` scheme).
pub fn parse_role(name: &str) -> Option<(&str, &str)> {
    let (org, role) = name.strip_prefix(ROLE)?.split_once(':')?;
    (!org.is_empty() && !role.is_empty() && !role.contains(':')).then_some((org, role))
}

/// The role of `organization` a role ClusterRole name stands for.
pub fn role_of_organization<'a>(organization: &str, name: &'a str) -> Option<&'a str> {
    parse_role(name)
        .filter(|(org, _)| *org == organization)
        .map(|(_, role)| role)
}

/// The ClusterRole (and its ClusterRoleBinding) that lets an
/// organization's admins read their Organization object.
pub fn organization_reader(organization: &str) -> String {
    format!("{ORGANIZATION}{organization}")
}

/// The ClusterRole (and its ClusterRoleBinding) that lets an
/// organization's admins change its admins list, when the platform allows.
pub fn organization_editors(organization: &str) -> String {
    format!("{ORGANIZATION_EDITORS}{organization}")
}

/// Who a workspace's own RoleBindings are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkspaceAccess {
    Owner,
    OrganizationAdmins,
    Anonymous,
}

impl WorkspaceAccess {
    const fn word(self) -> &'static str {
        match self {
            WorkspaceAccess::Owner => "owner",
            WorkspaceAccess::OrganizationAdmins => "organization-admins",
            WorkspaceAccess::Anonymous => "anonymous",
        }
    }
}

/// A workspace's binding of `role` for `purpose`. roleRef cannot change, so
/// the role is part of the name: a new role makes a new binding and the old
/// one is pruned.
pub fn workspace_binding(purpose: WorkspaceAccess, role: &str) -> String {
    format!("{PREFIX}{}:{role}", purpose.word())
}

/// The Role and RoleBinding in the organization namespace that let everyone
/// with access to workspace `workspace` read it.
pub fn workspace_reader(workspace: &str) -> String {
    format!("{WORKSPACE}{workspace}")
}

/// Shard `shard` of the ClusterRoleBindings that let everyone with access
/// to a workspace of `organization` read the Organization (its reader
/// ClusterRole): a few per organization, not one per member, since the API
/// server's authorizer walks every ClusterRoleBinding on each request.
pub fn visitor_shard(organization: &str, shard: usize) -> String {
    format!("{ORGANIZATION_VISITORS}{organization}:{shard}")
}

/// The organization of a visitor shard's name.
pub fn parse_visitor_shard(name: &str) -> Option<&str> {
    let (org, shard) = name.strip_prefix(ORGANIZATION_VISITORS)?.split_once(':')?;
    (!org.is_empty() && !shard.is_empty() && shard.bytes().all(|b| b.is_ascii_digit()))
        .then_some(org)
}

/// The Role and RoleBinding in the organization namespace that let the
/// owner of `workspace` manage its members (delegated membership).
pub fn workspace_owner(workspace: &str) -> String {
    format!("{WORKSPACE_OWNER}{workspace}")
}

/// The ClusterRoleBinding that lets everyone with access to `workspace` of
/// `organization` read the Organization (binding its reader ClusterRole).
pub fn organization_visitors(organization: &str, workspace: &str) -> String {
    format!("{VISITORS}{organization}:{workspace}")
}

/// The ClusterRoleBinding that lets a member's subject read its
/// Organization (binding the organization's reader ClusterRole), made and
/// removed with the membership.
pub fn member_visitor(organization: &str, member: &str) -> String {
    format!("{MEMBER_VISITOR}{organization}:{member}")
}

/// A member's binding of `role` in its workspace namespace.
pub fn member_binding(member: &str, role: &str) -> String {
    format!("{MEMBER}{member}:{role}")
}

/// The Role and RoleBinding in the organization namespace that let a
/// member's subject read its own membership and workspace.
pub fn member_reader(member: &str) -> String {
    format!("{MEMBER}{member}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn workspace_namespace_round_trips() {
        let ns = workspace_namespace("acme", "payments-eu");
        assert_eq!(ns, "acme--payments-eu");
        assert_eq!(
            split_workspace_namespace(&ns),
            Some(("acme", "payments-eu"))
        );
    }

    #[test]
    fn longest_names_fit_a_namespace() {
        let org = "o".repeat(MAX_ORGANIZATION_NAME);
        let ws = "w".repeat(MAX_WORKSPACE_NAME);
        assert_eq!(workspace_namespace(&org, &ws).len(), 63);
    }

    #[test]
    fn names_that_admission_refuses_do_not_split() {
        assert_eq!(split_workspace_namespace("acme-payments"), None);
        assert_eq!(split_workspace_namespace("acme---payments"), None);
        assert_eq!(split_workspace_namespace("a--b--c"), None);
        assert_eq!(split_workspace_namespace("--payments"), None);
    }

    #[test]
    fn organization_namespace_is_never_a_workspace_namespace() {
        assert_eq!(
            split_workspace_namespace(&organization_namespace("acme")),
            None
        );
    }

    #[test]
    fn earlier_role_names_are_not_role_names() {
        assert_eq!(parse_role("workspaces.dev:acme:admin"), None);
        assert_eq!(parse_role("workspaces.dev:role:acme:a:b"), None);
        assert_eq!(parse_role("workspaces.dev:role::admin"), None);
        assert_eq!(
            role_of_organization("acme", &role("acme", "viewer")),
            Some("viewer")
        );
        assert_eq!(role_of_organization("other", &role("acme", "viewer")), None);
    }

    /// Names admission allows: organizations and workspaces are DNS labels
    /// without `--`; roles are DNS labels; members DNS subdomains.
    fn label(max: usize) -> impl Strategy<Value = String> {
        let random = proptest::string::string_regex(&format!(
            "[a-z0-9]([a-z0-9-]{{0,{}}}[a-z0-9])?",
            max - 2
        ))
        .unwrap();
        adversarial(random).prop_filter("no --", |s| !s.contains("--"))
    }
    /// The words the operator itself uses in names: a tenant naming things
    /// after them is the likely way to a collision.
    const WORDS: &[&str] = &[
        "role",
        "organization",
        "organization-admin",
        "organization-admins",
        "member",
        "workspace",
        "visitors",
        "member-visitor",
        "owner",
        "anonymous",
        "admin",
        "viewer",
        "workspaces",
        "dev",
    ];
    fn adversarial(random: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        prop_oneof![
            random,
            proptest::sample::select(WORDS).prop_map(String::from)
        ]
    }
    fn role_name() -> impl Strategy<Value = String> {
        adversarial(proptest::string::string_regex("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?").unwrap())
    }
    fn member_name() -> impl Strategy<Value = String> {
        adversarial(proptest::string::string_regex("[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?").unwrap())
    }

    /// Every derived name, tagged with what it was derived from.
    fn derived(org: &str, ws: &str, role_: &str, member: &str) -> Vec<(String, String)> {
        vec![
            (format!("orgns {org}"), organization_namespace(org)),
            (format!("wsns {org} {ws}"), workspace_namespace(org, ws)),
            (format!("role {org} {role_}"), role(org, role_)),
            (format!("reader {org}"), organization_reader(org)),
            (format!("editors {org}"), organization_editors(org)),
            (format!("orgvisitors {org} 0"), visitor_shard(org, 0)),
            (format!("orgvisitors {org} 13"), visitor_shard(org, 13)),
            (
                format!("owner {role_}"),
                workspace_binding(WorkspaceAccess::Owner, role_),
            ),
            (
                format!("admins {role_}"),
                workspace_binding(WorkspaceAccess::OrganizationAdmins, role_),
            ),
            (
                format!("anon {role_}"),
                workspace_binding(WorkspaceAccess::Anonymous, role_),
            ),
            (
                format!("member {member} {role_}"),
                member_binding(member, role_),
            ),
            (format!("memberreader {member}"), member_reader(member)),
            (format!("wsreader {ws}"), workspace_reader(ws)),
            (format!("wsowner {ws}"), workspace_owner(ws)),
            (
                format!("visitors {org} {ws}"),
                organization_visitors(org, ws),
            ),
            (
                format!("membervisitor {org} {member}"),
                member_visitor(org, member),
            ),
            ("orgadmin".into(), ORGANIZATION_ADMIN_ROLE.into()),
            ("orgadmins".into(), ORGANIZATION_ADMINS_BINDING.into()),
        ]
    }

    proptest! {
        #[test]
        fn derived_names_round_trip(org in label(MAX_ORGANIZATION_NAME), ws in label(MAX_WORKSPACE_NAME), r in role_name()) {
            let (ns, role_name, org_ns, reader) = (workspace_namespace(&org, &ws), role(&org, &r), organization_namespace(&org), organization_reader(&org));
            prop_assert_eq!(split_workspace_namespace(&ns), Some((org.as_str(), ws.as_str())));
            prop_assert_eq!(parse_role(&role_name), Some((org.as_str(), r.as_str())));
            prop_assert_eq!(split_workspace_namespace(&org_ns), None);
            prop_assert_eq!(parse_role(&reader), None);
        }

        /// Two different inputs never give the same name, whatever the
        /// purposes: names share one space per scope, and the operator
        /// would otherwise overwrite one child with another.
        #[test]
        fn derived_names_never_collide(
            a in (label(MAX_ORGANIZATION_NAME), label(MAX_WORKSPACE_NAME), role_name(), member_name()),
            b in (label(MAX_ORGANIZATION_NAME), label(MAX_WORKSPACE_NAME), role_name(), member_name()),
        ) {
            let mut seen = std::collections::HashMap::new();
            for (what, name) in derived(&a.0, &a.1, &a.2, &a.3).into_iter().chain(derived(&b.0, &b.1, &b.2, &b.3)) {
                if let Some(before) = seen.insert(name.clone(), what.clone()) {
                    prop_assert_eq!(&before, &what, "{} derived from both {} and {}", name, before, what);
                }
            }
        }
    }
}
