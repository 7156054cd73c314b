//! What the fault suite applies: organizations with plans, a custom role and
//! a shared Secret; workspaces that share a Secret with each other; members
//! with one or two roles; and objects of the users' own in every namespace
//! (which the operator must never touch).

use serde_json::{Value, json};

use super::Scale;

pub fn org_name(run: &str, i: usize) -> String {
    format!("{run}-o{i}")
}

pub fn workspace_name(j: usize) -> String {
    format!("w{j}")
}

/// The user a member is about: one per organization and index, so a user
/// is a member of several workspaces of one organization.
pub fn user_name(org: &str, k: usize) -> String {
    format!("{org}-u{k}")
}

pub fn member_name(j: usize, k: usize) -> String {
    format!("w{j}-u{k}")
}

pub fn organization(name: &str) -> Value {
    json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "Organization",
        "metadata": {"name": name},
        "spec": {
            "admins": [{"kind": "User", "name": format!("{name}-admin")}],
            "plans": {
                "small": {
                    "quota": {"pods": "10", "requests.cpu": "2"},
                    "limitRange": {"default": {"cpu": "500m"}, "max": {"cpu": "2"}}
                },
                "large": {"quota": {"pods": "50"}}
            },
            "defaults": {"plan": "small", "acceptAnonymous": false},
            "sharedCredentials": [{"secretName": "org-token"}]
        }
    })
}

pub fn deployer_role(org: &str) -> Value {
    json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "WorkspaceRole",
        "metadata": {"name": "deployer", "namespace": org},
        "spec": {
            "description": "Roll out deployments",
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "patch", "update"]}]
        }
    })
}

/// Workspace `j`: w0 shares a Secret with w1 and w2; odd workspaces take
/// the large plan; every workspace has variables.
pub fn workspace(org: &str, j: usize, scale: &Scale) -> Value {
    let mut spec = json!({
        "owner": {"kind": "User", "name": user_name(org, 0)},
        "variables": {"REGION": "eu", "INDEX": j.to_string()},
    });
    if j % 2 == 1 {
        spec["plan"] = json!("large");
    }
    if j == 0 {
        let targets: Vec<String> = (1..scale.workspaces.min(3)).map(workspace_name).collect();
        spec["sharedCredentials"] = json!([{"secretName": "w0-key", "workspaces": targets}]);
    }
    json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": workspace_name(j), "namespace": org},
        "spec": spec
    })
}

pub fn member(org: &str, j: usize, k: usize, roles: &[&str]) -> Value {
    json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "WorkspaceMember",
        "metadata": {"name": member_name(j, k), "namespace": org},
        "spec": {
            "workspace": workspace_name(j),
            "subject": {"kind": "User", "name": user_name(org, k)},
            "roles": roles
        }
    })
}

/// The roles member (j, k) starts with: viewers, editors and editor+deployer.
pub fn initial_roles(j: usize, k: usize) -> Vec<&'static str> {
    match (j + k) % 3 {
        0 => vec!["viewer"],
        1 => vec!["editor"],
        _ => vec!["editor", "deployer"],
    }
}

pub fn secret(namespace: &str, name: &str, value: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"token": value}
    })
}

/// A ConfigMap of the users' own in a workspace namespace.
pub fn user_config_map(namespace: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "user-notes", "namespace": namespace},
        "data": {"note": "written by a tenant; the operator must leave it alone"}
    })
}

/// A RoleBinding of the users' own in a workspace namespace: not the
/// operator's, so never pruned.
pub fn user_role_binding(namespace: &str, user: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "user-made-binding", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    })
}
