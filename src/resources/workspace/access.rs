//! Who may enter a workspace (its access bindings in the namespace) and
//! who may find it (its readers in the organization namespace).

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef};
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

use crate::api::{Organization, Subject, SubjectKind, Workspace};
use crate::ownership::names::{self, WorkspaceAccess, workspace_namespace};
use crate::ownership::{Component, Owner};
use crate::resources::defaults::effective;
use crate::resources::{predefined_roles, rbac_subject};

/// The access bindings of `ws`: buildable even when the spec has an error,
/// so access follows the organization (an admin removed loses access)
/// whatever a tenant writes into the plan.
pub fn access(ws: &Workspace, org: &Organization) -> Vec<RoleBinding> {
    let eff = effective(ws, org);
    let org_name = org.name_any();
    let ws_name = ws.name_any();
    let uid = ws.uid().unwrap_or_default();
    let ns = workspace_namespace(&org_name, &ws_name);
    let owner = Owner::Workspace {
        organization: org_name.clone(),
        name: ws_name.clone(),
    };
    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.clone()),
        labels: Some(crate::ownership::marks(
            &owner,
            &uid,
            Component::WorkspaceAccess,
        )),
        ..Default::default()
    };

    // Archive mode: every binding grants the viewer role instead.
    let granted = |role: &str| {
        if eff.archived {
            predefined_roles::VIEWER.to_string()
        } else {
            role.to_string()
        }
    };
    let binding = |purpose, role: &str, subjects: Vec<&Subject>| RoleBinding {
        metadata: meta(&names::workspace_binding(purpose, role)),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: names::role(&org_name, role),
        },
        subjects: Some(subjects.into_iter().map(rbac_subject).collect()),
    };
    let mut role_bindings = vec![];
    if let Some(owner) = &ws.spec.owner {
        role_bindings.push(binding(
            WorkspaceAccess::Owner,
            &granted(predefined_roles::ADMIN),
            vec![owner],
        ));
    }
    let admins: Vec<&Subject> = org.spec.admins.iter().flatten().collect();
    if !admins.is_empty() {
        role_bindings.push(binding(
            WorkspaceAccess::OrganizationAdmins,
            &granted(predefined_roles::ADMIN),
            admins,
        ));
    }
    let member_groups: Vec<Subject> = org
        .spec
        .member_groups
        .iter()
        .flatten()
        .map(|g| Subject {
            kind: SubjectKind::Group,
            name: g.clone(),
            namespace: None,
        })
        .collect();
    if eff.accept_anonymous && !member_groups.is_empty() {
        role_bindings.push(binding(
            WorkspaceAccess::Anonymous,
            &granted(&eff.anonymous_role),
            member_groups.iter().collect(),
        ));
    }
    role_bindings
}

/// What lets everyone with access to a workspace find it: read the
/// Workspace (in the organization namespace) and the Organization. Org
/// admins read both through the organization's own access; a member's own
/// reader covers its Workspace and its membership.
#[derive(Clone, Debug)]
pub struct WorkspaceReaders {
    /// `get`/`watch` of this Workspace only.
    pub role: Role,
    /// The owner and, when the workspace is open, the member groups; None
    /// when there are none.
    pub binding: Option<RoleBinding>,
    /// Always None: the per-workspace binding of the organization's reader
    /// ClusterRole earlier versions made goes (the organization's visitors
    /// binding lets the owner and open member groups read it now).
    pub visitors: Option<ClusterRoleBinding>,
    /// The owner's Role and RoleBinding of delegated membership (member
    /// writes, and managing this workspace as the predefined admin does);
    /// None without an owner, delegation, or in archive mode.
    pub owner_manages: Option<(Role, RoleBinding)>,
}

/// The readers of `ws`.
pub fn readers(ws: &Workspace, org: &Organization, delegated: bool) -> WorkspaceReaders {
    let eff = effective(ws, org);
    let org_name = org.name_any();
    let ws_name = ws.name_any();
    let uid = ws.uid().unwrap_or_default();
    let owner = Owner::Workspace {
        organization: org_name.clone(),
        name: ws_name.clone(),
    };
    let name = names::workspace_reader(&ws_name);
    let meta = |name: &str, namespace: Option<String>, component| ObjectMeta {
        name: Some(name.to_string()),
        namespace,
        labels: Some(crate::ownership::marks(&owner, &uid, component)),
        ..Default::default()
    };
    let org_ns = Some(names::organization_namespace(&org_name));
    let mut finders: Vec<Subject> = ws.spec.owner.iter().cloned().collect();
    if eff.accept_anonymous {
        finders.extend(org.spec.member_groups.iter().flatten().map(|g| Subject {
            kind: SubjectKind::Group,
            name: g.clone(),
            namespace: None,
        }));
    }
    let rbac = |subjects: &[Subject]| {
        let mut out: Vec<_> = subjects.iter().map(rbac_subject).collect();
        out.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
        out.dedup();
        out
    };
    let role = Role {
        metadata: meta(&name, org_ns.clone(), Component::WorkspaceReader),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["workspaces.dev".into()]),
            resources: Some(vec!["workspaces".into(), "workspaces/status".into()]),
            resource_names: Some(vec![ws_name.clone()]),
            verbs: vec!["get".into(), "watch".into()],
            non_resource_urls: None,
        }]),
    };
    // The owner (admin in its workspace) manages its members as the
    // predefined admin does: it may send writes on WorkspaceMembers, which
    // the admission policy limits to this workspace and the roles admin may
    // give. Member groups never do (anonymous access manages nobody), nor
    // anyone in archive mode (viewer only).
    let owner_manages = ws
        .spec
        .owner
        .as_ref()
        // Nor while the workspace waits for its deletion: a new member would
        // hold it open.
        .filter(|_| delegated && !eff.archived && ws.meta().deletion_timestamp.is_none())
        .map(|owner| {
            let name = names::workspace_owner(&ws_name);
            let assignable = predefined_roles::admin()
                .manage_members
                .map(|m| m.assignable_roles);
            let role = Role {
                metadata: meta(&name, org_ns.clone(), Component::WorkspaceReader),
                rules: Some(vec![
                    crate::resources::delegation::member_writes(),
                    crate::resources::delegation::managing_rule(
                        &ws_name,
                        assignable.iter().flatten().map(String::as_str),
                    ),
                ]),
            };
            let binding = RoleBinding {
                metadata: meta(&name, org_ns.clone(), Component::WorkspaceReader),
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name,
                },
                subjects: Some(rbac(std::slice::from_ref(owner))),
            };
            (role, binding)
        });
    let binding = (!finders.is_empty()).then(|| RoleBinding {
        metadata: meta(&name, org_ns.clone(), Component::WorkspaceReader),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.clone(),
        },
        subjects: Some(rbac(&finders)),
    });
    // The Organization is read through the organization's one visitors
    // binding; one per workspace, made by earlier versions, goes.
    let visitors = None;
    WorkspaceReaders {
        role,
        binding,
        visitors,
        owner_manages,
    }
}
