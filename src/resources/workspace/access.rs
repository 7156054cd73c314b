//! Who may enter a workspace (its access bindings in the namespace) and
//! who may find it (its readers in the organization namespace).

use k8s_openapi::api::rbac::v1::Subject as RbacSubject;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef};
use kube::Resource;

use super::View;
use crate::api::{Subject, SubjectKind};
use crate::ownership::Component;
use crate::ownership::names::{self, WorkspaceAccess};
use crate::resources::tenancy::TenantPolicy;
use crate::resources::{delegation, predefined_roles, rbac_subject};

/// The access bindings of the workspace: buildable even when the spec has
/// an error, so access follows the organization (an admin removed loses
/// access) whatever a tenant writes into the plan.
pub fn access(v: View) -> Vec<RoleBinding> {
    // Archive mode: every binding grants the viewer role instead.
    let granted = |role: &str| match v.eff.archived {
        true => predefined_roles::VIEWER.to_string(),
        false => role.to_string(),
    };
    let binding = |purpose, role: &str, subjects: Vec<&Subject>| RoleBinding {
        metadata: v.meta(
            &names::workspace_binding(purpose, role),
            &v.id.namespace,
            Component::WorkspaceAccess,
        ),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: names::role(&v.id.organization, role),
        },
        subjects: Some(subjects.into_iter().map(rbac_subject).collect()),
    };
    let mut role_bindings = vec![];
    if let Some(owner) = &v.ws.spec.owner {
        let admin = granted(predefined_roles::ADMIN);
        role_bindings.push(binding(WorkspaceAccess::Owner, &admin, vec![owner]));
    }
    let admins: Vec<&Subject> = v.org.spec.admins.iter().flatten().collect();
    if !admins.is_empty() {
        let admin = granted(predefined_roles::ADMIN);
        role_bindings.push(binding(WorkspaceAccess::OrganizationAdmins, &admin, admins));
    }
    let member_groups = member_groups(v);
    if v.eff.accept_anonymous && !member_groups.is_empty() {
        role_bindings.push(binding(
            WorkspaceAccess::Anonymous,
            &granted(&v.eff.anonymous_role),
            member_groups.iter().collect(),
        ));
    }
    role_bindings
}

/// The organization's member groups, as subjects.
fn member_groups(v: View) -> Vec<Subject> {
    v.org
        .spec
        .member_groups
        .iter()
        .flatten()
        .map(|g| Subject {
            kind: SubjectKind::Group,
            name: g.clone(),
            namespace: None,
        })
        .collect()
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
    /// The owner's Role and RoleBinding: editing its workspace's settings
    /// and, with delegated membership, member writes and managing this
    /// workspace as the predefined admin does; None without an owner, in
    /// archive mode or while deleting.
    pub owner_manages: Option<(Role, RoleBinding)>,
}

/// The readers of the workspace (`policy`: whether the platform lets owners
/// edit their settings and manage their members).
pub fn readers(v: View, policy: &TenantPolicy) -> WorkspaceReaders {
    let name = names::workspace_reader(&v.id.name);
    let mut finders: Vec<Subject> = v.ws.spec.owner.iter().cloned().collect();
    // The WorkspaceRoles they hold here, readable by name (what their
    // roles let them do: `kubectl workspace roles`): the owner's admin,
    // the member groups' anonymous role. One Role for both, so each may
    // read the other's too: the owner administers the workspace anyway,
    // and admin is the predefined role every organization has.
    let mut held = std::collections::BTreeSet::new();
    if v.ws.spec.owner.is_some() {
        held.insert(predefined_roles::ADMIN.to_string());
    }
    let groups = member_groups(v);
    if v.eff.accept_anonymous && !groups.is_empty() {
        finders.extend(groups);
        held.insert(v.eff.anonymous_role.clone());
    }
    let get = |resources: [&str; 2], names: Vec<String>| PolicyRule {
        api_groups: Some(vec!["workspaces.dev".into()]),
        resources: Some(resources.map(String::from).to_vec()),
        resource_names: Some(names),
        verbs: vec!["get".into(), "watch".into()],
        non_resource_urls: None,
    };
    let mut rules = vec![get(
        ["workspaces", "workspaces/status"],
        vec![v.id.name.clone()],
    )];
    if !held.is_empty() {
        rules.push(get(
            ["workspaceroles", "workspaceroles/status"],
            held.into_iter().collect(),
        ));
    }
    let role = Role {
        metadata: v.meta(&name, &v.org_namespace(), Component::WorkspaceReader),
        rules: Some(rules),
    };
    let binding = (!finders.is_empty()).then(|| role_binding(v, &name, &finders));
    WorkspaceReaders {
        role,
        binding,
        // The Organization is read through the organization's one visitors
        // binding; one per workspace, made by earlier versions, goes.
        visitors: None,
        owner_manages: owner_manages(v, policy),
    }
}

/// The binding `name` of the Role of the same name to `subjects`, in the
/// organization namespace.
fn role_binding(v: View, name: &str, subjects: &[Subject]) -> RoleBinding {
    RoleBinding {
        metadata: v.meta(name, &v.org_namespace(), Component::WorkspaceReader),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.to_string(),
        },
        subjects: Some(sorted(subjects)),
    }
}

/// `subjects` as RBAC subjects, sorted, each once.
fn sorted(subjects: &[Subject]) -> Vec<RbacSubject> {
    let mut out: Vec<_> = subjects.iter().map(rbac_subject).collect();
    out.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
    out.dedup();
    out
}

/// The owner's Role: where the platform lets it (`owners_edit_settings`), it
/// edits its workspace's own settings (the admission policy
/// `workspaces.dev-owners-edit-settings` bounds which fields) and, with
/// delegated membership, manages its members as the
/// predefined admin does: it may send writes on WorkspaceMembers, which the
/// admission policy limits to this workspace and the roles admin may give.
/// Member groups never do either, nor anyone in archive mode (read-only),
/// nor anyone while the workspace waits for its deletion (a new member
/// would hold it open).
fn owner_manages(v: View, policy: &TenantPolicy) -> Option<(Role, RoleBinding)> {
    let owner = v.ws.spec.owner.as_ref()?;
    let (edits, delegated) = (policy.owners_edit_settings, policy.delegated_membership);
    if !(edits || delegated) || v.eff.archived || v.ws.meta().deletion_timestamp.is_some() {
        return None;
    }
    let name = names::workspace_owner(&v.id.name);
    let mut rules = vec![];
    if edits {
        rules.push(PolicyRule {
            api_groups: Some(vec!["workspaces.dev".into()]),
            resources: Some(vec!["workspaces".into()]),
            resource_names: Some(vec![v.id.name.clone()]),
            verbs: vec!["update".into(), "patch".into()],
            non_resource_urls: None,
        });
    }
    if delegated {
        let assignable = predefined_roles::admin()
            .manage_members
            .map(|m| m.assignable_roles);
        rules.push(delegation::member_writes());
        rules.push(delegation::managing_rule(
            &v.id.name,
            assignable.iter().flatten().map(String::as_str),
        ));
    }
    let role = Role {
        metadata: v.meta(&name, &v.org_namespace(), Component::WorkspaceReader),
        rules: Some(rules),
    };
    let binding = role_binding(v, &name, std::slice::from_ref(owner));
    Some((role, binding))
}
