//! The predefined roles every organization gets: admin, editor and viewer.
//!
//! None of them lets a tenant create RoleBindings or Roles: access granted
//! that way would bypass WorkspaceMember, so it would be invisible, unaudited
//! and survive unlink-before-delete. Tenants also cannot change the quota,
//! limits or the operator's own children (the operator restores them).

use crate::api::role::{ManageMembers, RoleRule, WorkspaceRoleSpec};

pub const ADMIN: &str = "admin";
pub const EDITOR: &str = "editor";
pub const VIEWER: &str = "viewer";

pub const READ: &[&str] = &["get", "list", "watch"];
/// Every verb that reads or changes a namespaced resource.
pub const WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> RoleRule {
    RoleRule {
        api_groups: groups.iter().map(|s| s.to_string()).collect(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
        resource_names: None,
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
    }
}

/// Workload resources a workspace's people read (viewer) or change (editor).
fn workload_rules(verbs: &[&str]) -> Vec<RoleRule> {
    vec![
        rule(
            &[""],
            &[
                "pods",
                "services",
                "configmaps",
                "persistentvolumeclaims",
                "serviceaccounts",
                "replicationcontrollers",
            ],
            verbs,
        ),
        rule(
            &["apps"],
            &["deployments", "statefulsets", "daemonsets", "replicasets"],
            verbs,
        ),
        rule(&["batch"], &["jobs", "cronjobs"], verbs),
        rule(&["networking.k8s.io"], &["ingresses"], verbs),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], verbs),
        rule(&["policy"], &["poddisruptionbudgets"], verbs),
    ]
}

/// Read-only access to what a person looks at to understand a workspace.
fn observer_rules() -> Vec<RoleRule> {
    vec![
        rule(
            &[""],
            &[
                "pods/log",
                "events",
                "endpoints",
                "resourcequotas",
                "limitranges",
            ],
            READ,
        ),
        rule(&["events.k8s.io"], &["events"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(&["networking.k8s.io"], &["networkpolicies"], READ),
    ]
}

pub fn viewer() -> WorkspaceRoleSpec {
    let mut rules = workload_rules(READ);
    rules.extend(observer_rules());
    WorkspaceRoleSpec {
        description: Some("Read workloads, configuration (not Secrets), quota and events".into()),
        rules: Some(rules),
        cluster_roles: None,
        manage_members: None,
    }
}

pub fn editor() -> WorkspaceRoleSpec {
    let mut rules = workload_rules(WRITE);
    rules.extend(observer_rules());
    rules.push(rule(&[""], &["secrets"], WRITE));
    rules.push(rule(
        &[""],
        &["pods/exec", "pods/attach", "pods/portforward"],
        &["get", "create"],
    ));
    rules.push(rule(
        &["apps"],
        &[
            "deployments/scale",
            "statefulsets/scale",
            "replicasets/scale",
        ],
        WRITE,
    ));
    WorkspaceRoleSpec {
        description: Some("Change workloads, configuration and Secrets; no access control".into()),
        rules: Some(rules),
        cluster_roles: None,
        manage_members: None,
    }
}

pub fn admin() -> WorkspaceRoleSpec {
    let mut spec = editor();
    let rules = spec.rules.get_or_insert_with(Vec::new);
    rules.push(rule(&["networking.k8s.io"], &["networkpolicies"], WRITE));
    rules.push(rule(
        &["rbac.authorization.k8s.io"],
        &["roles", "rolebindings"],
        READ,
    ));
    spec.description = Some(
        "Everything editor can do, plus network policies, reading access control and managing the workspace's members"
            .into(),
    );
    // The predefined roles only: a custom role may grant what admin does
    // not, and only the organization's admins decide who gives it.
    spec.manage_members = Some(ManageMembers {
        assignable_roles: vec![ADMIN.into(), EDITOR.into(), VIEWER.into()],
    });
    spec
}

/// The definition of the predefined role `name`, if it is one (every
/// organization keeps them as defined, whatever a tenant changes).
pub fn definition(name: &str) -> Option<WorkspaceRoleSpec> {
    match name {
        ADMIN => Some(admin()),
        EDITOR => Some(editor()),
        VIEWER => Some(viewer()),
        _ => None,
    }
}

/// Whether `name` is one of the predefined roles' names.
pub fn is_predefined_name(name: &str) -> bool {
    [ADMIN, EDITOR, VIEWER].contains(&name)
}

/// The predefined roles by name.
pub fn all() -> Vec<(&'static str, WorkspaceRoleSpec)> {
    vec![(ADMIN, admin()), (EDITOR, editor()), (VIEWER, viewer())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(spec: &WorkspaceRoleSpec, group: &str, resource: &str, verb: &str) -> bool {
        spec.rules.iter().flatten().any(|r| {
            r.api_groups.iter().any(|g| g == group)
                && r.resources.iter().any(|x| x == resource)
                && r.verbs.iter().any(|v| v == verb || v == "*")
        })
    }

    #[test]
    fn no_predefined_role_can_grant_access_itself() {
        for (name, spec) in all() {
            for resource in [
                "rolebindings",
                "roles",
                "clusterroles",
                "clusterrolebindings",
            ] {
                for verb in ["create", "update", "patch", "bind", "escalate"] {
                    assert!(
                        !grants(&spec, "rbac.authorization.k8s.io", resource, verb),
                        "{name} can {verb} {resource}"
                    );
                }
            }
            assert!(
                !grants(&spec, "", "resourcequotas", "update"),
                "{name} can change its quota"
            );
        }
    }

    #[test]
    fn every_predefined_role_fits_in_the_default_tenant_ceiling() {
        let ceiling: Vec<k8s_openapi::api::rbac::v1::PolicyRule> = serde_yaml::from_str(
            include_str!("../../charts/workspace-operator/files/tenant-ceiling-rules.yaml"),
        )
        .expect("the default ceiling is a list of PolicyRules");
        for (name, spec) in all() {
            let wanted: Vec<_> = spec
                .rules
                .iter()
                .flatten()
                .map(crate::resources::role::policy_rule)
                .collect();
            let refused = crate::resources::ceiling::refused(&ceiling, &wanted);
            assert!(
                refused.is_empty(),
                "{name}: {}",
                crate::resources::ceiling::summary(&refused)
            );
        }
    }

    #[test]
    fn viewer_reads_but_never_writes_or_sees_secrets() {
        let v = viewer();
        assert!(grants(&v, "", "pods", "list"));
        assert!(!grants(&v, "", "pods", "create"));
        assert!(!grants(&v, "", "secrets", "get"));
    }

    #[test]
    fn roles_add_up_from_viewer_to_admin() {
        let (a, e) = (admin(), editor());
        assert!(grants(&e, "apps", "deployments", "update"));
        assert!(grants(&e, "", "secrets", "get"));
        assert!(!grants(
            &e,
            "networking.k8s.io",
            "networkpolicies",
            "create"
        ));
        assert!(grants(&a, "networking.k8s.io", "networkpolicies", "create"));
    }
}
