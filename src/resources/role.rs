//! WorkspaceRole → the ClusterRole that holds its permissions.

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::api::ObjectMeta;

use super::role_cluster_role_name;
use crate::api::role::{RoleRule, WorkspaceRoleSpec};
use crate::labels;

pub fn policy_rule(rule: &RoleRule) -> PolicyRule {
    PolicyRule {
        api_groups: Some(rule.api_groups.clone()),
        resources: Some(rule.resources.clone()),
        resource_names: rule.resource_names.clone(),
        verbs: rule.verbs.clone(),
        non_resource_urls: None,
    }
}

/// The ClusterRole for role `name` of `organization`: the role's own rules
/// plus the rules of the ClusterRoles it includes (`included`, already read).
/// Only ever bound by RoleBindings inside workspace namespaces.
pub fn cluster_role(
    organization: &str,
    name: &str,
    role_uid: &str,
    spec: &WorkspaceRoleSpec,
    included: &[PolicyRule],
) -> ClusterRole {
    let mut rules: Vec<PolicyRule> = spec.rules.iter().flatten().map(policy_rule).collect();
    for rule in included {
        // Non-resource URLs mean nothing inside a namespace; leave them out.
        if rule.non_resource_urls.as_ref().is_none_or(|u| u.is_empty()) && !rules.contains(rule) {
            rules.push(rule.clone());
        }
    }
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(role_cluster_role_name(organization, name)),
            labels: Some(labels::child_labels(organization, None, role_uid, "role")),
            ..Default::default()
        },
        rules: Some(rules),
        aggregation_rule: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::predefined_roles;

    #[test]
    fn role_cluster_role_is_named_per_organization() {
        let a = cluster_role("acme", "admin", "u1", &predefined_roles::admin(), &[]);
        let b = cluster_role("globex", "admin", "u2", &predefined_roles::admin(), &[]);
        assert_ne!(a.metadata.name, b.metadata.name);
        assert_eq!(
            a.metadata.name.as_deref(),
            Some("workspaces.dev:role:acme:admin")
        );
    }

    #[test]
    fn included_rules_are_added_once_without_non_resource_urls() {
        let included = vec![
            PolicyRule {
                verbs: vec!["get".into()],
                non_resource_urls: Some(vec!["/metrics".into()]),
                ..Default::default()
            },
            policy_rule(&predefined_roles::viewer().rules.unwrap()[0]),
        ];
        let cr = cluster_role("acme", "r", "u", &predefined_roles::viewer(), &included);
        let rules = cr.rules.unwrap();
        assert_eq!(rules.len(), predefined_roles::viewer().rules.unwrap().len());
        assert!(rules.iter().all(|r| r.non_resource_urls.is_none()));
    }
}
