//! WorkspaceMember → one RoleBinding per role in the workspace namespace, and
//! read access to its own Workspace object in the organization namespace.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef};
use kube::ResourceExt;
use kube::api::ObjectMeta;

use super::{predefined_roles, rbac_subject, role_cluster_role_name};
use crate::api::names::workspace_namespace;
use crate::api::{WorkspaceMember, WorkspaceRole};
use crate::labels;

pub const ACCESS_COMPONENT: &str = "member-access";
pub const READER_COMPONENT: &str = "member-reader";
/// On a member's children: the member's name.
pub const MEMBER_LABEL: &str = "workspaces.dev/member";

/// What a membership grants right now.
#[derive(Clone, Debug, Default)]
pub struct MemberAccess {
    /// One per granted role, in the workspace namespace.
    pub bindings: Vec<RoleBinding>,
    /// Lets the subject read its Workspace (and this membership) in the
    /// organization namespace.
    pub reader_role: Option<Role>,
    pub reader_binding: Option<RoleBinding>,
    /// Roles granted (after archive mode maps them to viewer).
    pub granted: Vec<String>,
    /// Roles named by the member that do not exist in the organization.
    pub unknown_roles: Vec<String>,
}

/// A name for the member's binding of `role`, unique per member and role.
pub fn binding_name(member: &str, role: &str) -> String {
    format!("workspaces.dev:member:{member}:{role}")
}

/// Builds the member's access. `roles` are the WorkspaceRoles of the
/// organization; `archived` is the workspace's archive mode.
pub fn build(member: &WorkspaceMember, roles: &[WorkspaceRole], archived: bool) -> MemberAccess {
    let org = member.namespace().unwrap_or_default();
    let name = member.name_any();
    let ws = &member.spec.workspace;
    let uid = member.uid().unwrap_or_default();
    let known: BTreeSet<String> = roles.iter().map(|r| r.name_any()).collect();
    let unknown_roles: Vec<String> = member
        .spec
        .roles
        .iter()
        .filter(|r| !known.contains(*r))
        .cloned()
        .collect();
    let mut granted: Vec<String> = member
        .spec
        .roles
        .iter()
        .filter(|r| known.contains(*r))
        .map(|r| {
            if archived {
                predefined_roles::VIEWER.to_string()
            } else {
                r.clone()
            }
        })
        .collect();
    granted.sort();
    granted.dedup();

    let mut marks = labels::child_labels(&org, Some(ws), &uid, ACCESS_COMPONENT);
    marks.insert(MEMBER_LABEL.into(), name.clone());
    let subject = rbac_subject(&member.spec.subject);
    let ns = workspace_namespace(&org, ws);
    let bindings = granted
        .iter()
        .map(|role| RoleBinding {
            metadata: ObjectMeta {
                name: Some(binding_name(&name, role)),
                namespace: Some(ns.clone()),
                labels: Some(marks.clone()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: role_cluster_role_name(&org, role),
            },
            subjects: Some(vec![subject.clone()]),
        })
        .collect();

    let mut reader_marks = labels::child_labels(&org, None, &uid, READER_COMPONENT);
    reader_marks.insert(MEMBER_LABEL.into(), name.clone());
    let reader_name = format!("workspaces.dev:member:{name}");
    let reader_meta = ObjectMeta {
        name: Some(reader_name.clone()),
        namespace: Some(org.clone()),
        labels: Some(reader_marks),
        ..Default::default()
    };
    let get_named = |resources: &[&str], object: &str| PolicyRule {
        api_groups: Some(vec!["workspaces.dev".into()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        resource_names: Some(vec![object.to_string()]),
        verbs: vec!["get".into(), "watch".into()],
        non_resource_urls: None,
    };
    let reader_role = Role {
        metadata: reader_meta.clone(),
        rules: Some(vec![
            get_named(&["workspaces", "workspaces/status"], ws),
            get_named(&["workspacemembers", "workspacemembers/status"], &name),
        ]),
    };
    let reader_binding = RoleBinding {
        metadata: reader_meta,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: reader_name,
        },
        subjects: Some(vec![subject]),
    };
    MemberAccess {
        bindings,
        reader_role: Some(reader_role),
        reader_binding: Some(reader_binding),
        granted,
        unknown_roles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(yaml: &str) -> WorkspaceMember {
        let mut m: WorkspaceMember = serde_yaml::from_str(yaml).unwrap();
        m.metadata.uid = Some("m-uid".into());
        m
    }

    fn roles(names: &[&str]) -> Vec<WorkspaceRole> {
        names
            .iter()
            .map(|n| {
                let mut r = WorkspaceRole::new(n, predefined_roles::viewer());
                r.metadata.namespace = Some("acme".into());
                r
            })
            .collect()
    }

    const BOB: &str = "{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {name: pay-bob, namespace: acme}, spec: {workspace: pay, subject: {kind: User, name: bob}, roles: [editor, configurator, ghost]}}";

    #[test]
    fn one_binding_per_known_role_in_the_workspace_namespace() {
        let access = build(
            &member(BOB),
            &roles(&["admin", "editor", "viewer", "configurator"]),
            false,
        );
        assert_eq!(access.granted, vec!["configurator", "editor"]);
        assert_eq!(access.unknown_roles, vec!["ghost"]);
        let refs: Vec<_> = access
            .bindings
            .iter()
            .map(|b| {
                (
                    b.metadata.namespace.clone().unwrap(),
                    b.role_ref.name.clone(),
                )
            })
            .collect();
        assert_eq!(
            refs,
            vec![
                (
                    "acme--pay".into(),
                    "workspaces.dev:role:acme:configurator".into()
                ),
                ("acme--pay".into(), "workspaces.dev:role:acme:editor".into())
            ]
        );
        assert_eq!(access.bindings[0].subjects.as_ref().unwrap()[0].name, "bob");
    }

    #[test]
    fn archive_turns_every_role_into_one_viewer_binding() {
        let access = build(
            &member(BOB),
            &roles(&["editor", "configurator", "viewer"]),
            true,
        );
        assert_eq!(access.granted, vec!["viewer"]);
        assert_eq!(access.bindings.len(), 1);
    }

    #[test]
    fn the_member_can_read_its_own_workspace_only() {
        let access = build(&member(BOB), &roles(&["editor"]), false);
        let role = access.reader_role.unwrap();
        assert_eq!(role.metadata.namespace.as_deref(), Some("acme"));
        let rules = role.rules.unwrap();
        assert_eq!(
            rules[0].resource_names.as_deref(),
            Some(&["pay".to_string()][..])
        );
        assert!(rules.iter().all(|r| !r.verbs.contains(&"list".to_string())));
    }
}
