//! Who made what. The marks the operator puts on everything it makes, the
//! one place that reads them back (`owner_of`), and every name it derives
//! (`names`). Nothing is written or deleted unless these marks prove the
//! operator made it for that very owner.

pub mod names;
pub mod registry;

pub use registry::Kind;

use std::collections::BTreeMap;

use kube::api::ObjectMeta;

/// The one field manager for every server-side apply.
pub const FIELD_MANAGER: &str = "workspace-operator";
/// The finalizer on Organizations, Workspaces, WorkspaceRoles and WorkspaceMembers.
pub const FINALIZER: &str = "workspaces.dev/cleanup";

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "workspace-operator";
pub const ORGANIZATION: &str = "workspaces.dev/organization";
pub const WORKSPACE: &str = "workspaces.dev/workspace";
/// On a member's children: the member's name.
pub const MEMBER: &str = "workspaces.dev/member";
/// The UID of the object that made this one: the proof of ownership.
pub const OWNER_UID: &str = "workspaces.dev/owner-uid";
/// What the object is for (see `Component`), so a controller can find
/// exactly the children of one kind it made.
pub const COMPONENT: &str = "workspaces.dev/component";
/// On a Workspace: the organization's protected default workspace.
pub const DEFAULT_WORKSPACE: &str = "workspaces.dev/default";
/// On a WorkspaceRole: one of the predefined roles, kept as defined.
pub const PREDEFINED: &str = "workspaces.dev/predefined";
/// On a credential copy: where its source lies.
pub const SOURCE_NAMESPACE: &str = "workspaces.dev/source-namespace";
pub const SOURCE_NAME: &str = "workspaces.dev/source-name";
/// On copies shared by a workspace: that workspace's name.
pub const SOURCE_WORKSPACE: &str = "workspaces.dev/source-workspace";
/// Annotation with a hash of what the operator last applied: a change of the
/// desired object (including removed fields) shows as a different hash.
pub const DESIRED_HASH: &str = "workspaces.dev/desired-hash";

/// The reason reported when a name the operator derives is held by an
/// object it did not make for this owner.
pub const NAMESPACE_CONFLICT: &str = "NamespaceConflict";

/// What a child is for: the value of its `COMPONENT` mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    OrganizationNamespace,
    /// The organization admins' Role and RoleBinding, and the reader
    /// ClusterRole and ClusterRoleBinding of the Organization object.
    OrganizationAccess,
    PredefinedRole,
    WorkspaceNamespace,
    /// Owner, organization admins and anonymous access in a workspace.
    WorkspaceAccess,
    Quota,
    Limits,
    Isolation,
    Info,
    /// A role's ClusterRole.
    Role,
    /// A member's RoleBindings in its workspace namespace.
    MemberAccess,
    /// A member's Role and RoleBinding that let it read its own objects.
    MemberReader,
    /// A member's ClusterRoleBinding that lets it read its Organization.
    MemberVisitor,
    /// A workspace's Role and RoleBinding in its organization namespace
    /// that let everyone with access read the Workspace.
    WorkspaceReader,
    /// A workspace's ClusterRoleBinding that lets everyone with access to
    /// it read its Organization.
    OrganizationVisitors,
    /// One of an organization's ClusterRoleBindings that let everyone with
    /// access to one of its workspaces read it (shards of bounded size).
    VisitorShard,
    CredentialCopy,
    /// A plan's network exceptions (an additive NetworkPolicy).
    NetworkExceptions,
    /// The placement policy's parameters (a ConfigMap only the operator writes).
    Placement,
    /// The quota of zero Pods and Jobs of an archived workspace, or one
    /// whose namespace waits for its purge.
    StopWork,
}

impl Component {
    pub const ALL: [Component; 20] = [
        Component::OrganizationNamespace,
        Component::OrganizationAccess,
        Component::PredefinedRole,
        Component::WorkspaceNamespace,
        Component::WorkspaceAccess,
        Component::Quota,
        Component::Limits,
        Component::Isolation,
        Component::Info,
        Component::Role,
        Component::MemberAccess,
        Component::MemberReader,
        Component::MemberVisitor,
        Component::WorkspaceReader,
        Component::OrganizationVisitors,
        Component::VisitorShard,
        Component::CredentialCopy,
        Component::NetworkExceptions,
        Component::Placement,
        Component::StopWork,
    ];

    /// The mark's value (stable: live objects carry it).
    pub const fn as_str(self) -> &'static str {
        match self {
            Component::OrganizationNamespace => "organization-namespace",
            Component::OrganizationAccess => "organization-access",
            Component::PredefinedRole => "predefined-role",
            Component::WorkspaceNamespace => "workspace-namespace",
            Component::WorkspaceAccess => "workspace-access",
            Component::Quota => "quota",
            Component::Limits => "limits",
            Component::Isolation => "network-isolation",
            Component::Info => "info",
            Component::Role => "role",
            Component::MemberAccess => "member-access",
            Component::MemberReader => "member-reader",
            Component::MemberVisitor => "member-visitor",
            Component::WorkspaceReader => "workspace-reader",
            Component::OrganizationVisitors => "organization-visitors",
            Component::VisitorShard => "visitor-shard",
            Component::CredentialCopy => "credential-copy",
            Component::NetworkExceptions => "network-exceptions",
            Component::Placement => "placement",
            Component::StopWork => "stop-work",
        }
    }

    pub fn parse(value: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The object (of the four kinds) that made a child, as its marks say.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    Organization { name: String },
    Workspace { organization: String, name: String },
    Role { organization: String, name: String },
    Member { organization: String, name: String },
}

impl Owner {
    /// The namespace the owner lives in (None for an Organization).
    pub fn namespace(&self) -> Option<String> {
        match self {
            Owner::Organization { .. } => None,
            Owner::Workspace { organization, .. }
            | Owner::Role { organization, .. }
            | Owner::Member { organization, .. } => {
                Some(names::organization_namespace(organization))
            }
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Owner::Organization { name }
            | Owner::Workspace { name, .. }
            | Owner::Role { name, .. }
            | Owner::Member { name, .. } => name,
        }
    }
}

/// Selects everything this operator made.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE}")
}

/// Selects everything this operator made for organization `organization`
/// (only its workspace namespaces with `component`).
pub fn organization_selector(organization: &str, component: Option<Component>) -> String {
    let selector = format!("{},{ORGANIZATION}={organization}", managed_selector());
    match component {
        Some(c) => format!("{selector},{COMPONENT}={c}"),
        None => selector,
    }
}

/// Selects what the owner with `owner_uid` made as `component`.
pub fn component_selector(owner_uid: &str, component: Component) -> String {
    format!("{OWNER_UID}={owner_uid},{COMPONENT}={component}")
}

/// The labels `marks()` writes (some only for some owners).
const MARKS: [&str; 6] = [
    MANAGED_BY,
    OWNER_UID,
    COMPONENT,
    ORGANIZATION,
    WORKSPACE,
    MEMBER,
];

/// Whether `key` is one of the marks `marks()` writes.
pub fn is_mark(key: &str) -> bool {
    MARKS.contains(&key)
}

/// The marks on a child of `owner`, made as `component`.
pub fn marks(owner: &Owner, owner_uid: &str, component: Component) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (OWNER_UID.to_string(), owner_uid.to_string()),
        (COMPONENT.to_string(), component.to_string()),
    ]);
    let organization = match owner {
        Owner::Organization { name } => name,
        Owner::Workspace { organization, name } => {
            labels.insert(WORKSPACE.into(), name.clone());
            organization
        }
        Owner::Role { organization, .. } => organization,
        Owner::Member { organization, name } => {
            labels.insert(MEMBER.into(), name.clone());
            organization
        }
    };
    labels.insert(ORGANIZATION.into(), organization.clone());
    labels
}

/// The marks on a child of a member that lies in workspace `workspace`.
pub fn member_marks(
    organization: &str,
    member: &str,
    workspace: Option<&str>,
    owner_uid: &str,
    component: Component,
) -> BTreeMap<String, String> {
    let owner = Owner::Member {
        organization: organization.into(),
        name: member.into(),
    };
    let mut labels = marks(&owner, owner_uid, component);
    if let Some(ws) = workspace {
        labels.insert(WORKSPACE.into(), ws.into());
    }
    labels
}

/// The marks on a credential copy in workspace `target`, made by the
/// organization (`sharing_workspace` None) or by one of its workspaces.
pub fn copy_marks(
    organization: &str,
    target: &str,
    sharer_uid: &str,
    sharing_workspace: Option<&str>,
    source: (&str, &str),
) -> BTreeMap<String, String> {
    let owner = Owner::Workspace {
        organization: organization.into(),
        name: target.into(),
    };
    let mut labels = marks(&owner, sharer_uid, Component::CredentialCopy);
    labels.insert(SOURCE_NAMESPACE.into(), source.0.into());
    labels.insert(SOURCE_NAME.into(), source.1.into());
    if let Some(ws) = sharing_workspace {
        labels.insert(SOURCE_WORKSPACE.into(), ws.into());
    }
    labels
}

/// Whether `labels` prove the object was made by the owner with `owner_uid`.
pub fn is_owned_by(labels: Option<&BTreeMap<String, String>>, owner_uid: &str) -> bool {
    labels.is_some_and(|l| {
        l.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
            && l.get(OWNER_UID).map(String::as_str) == Some(owner_uid)
    })
}

/// The component a child of the operator's was made as (None when it does
/// not carry the operator's mark).
pub fn component_of(meta: &ObjectMeta) -> Option<Component> {
    let marks = meta.labels.as_ref()?;
    if marks.get(MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
        return None;
    }
    Component::parse(marks.get(COMPONENT)?)
}

/// The object that made `meta`, read from its marks; None for anything the
/// operator did not mark, or whose marks do not fit together (a name that
/// is not what the claimed owner would derive, a copy outside the
/// organization's workspaces). A tenant's labels on its own objects so
/// point at nobody: this answers "whom to wake", never "what may be
/// deleted" (that needs the owner's UID, see `is_owned_by`).
pub fn owner_of(meta: &ObjectMeta) -> Option<Owner> {
    let component = component_of(meta)?;
    let marks = meta.labels.as_ref()?;
    let organization = marks.get(ORGANIZATION)?.clone();
    let workspace = marks.get(WORKSPACE);
    let name = meta.name.as_deref()?;
    let namespace = meta.namespace.as_deref();
    let in_workspace_namespace =
        |ws: &str| namespace == Some(&names::workspace_namespace(&organization, ws));
    let owner = match component {
        Component::OrganizationNamespace
        | Component::OrganizationAccess
        | Component::PredefinedRole => Owner::Organization { name: organization },
        Component::WorkspaceNamespace => {
            let ws = workspace?;
            (namespace.is_none() && name == names::workspace_namespace(&organization, ws))
                .then_some(())?;
            Owner::Workspace {
                organization,
                name: ws.clone(),
            }
        }
        Component::WorkspaceAccess
        | Component::Quota
        | Component::Limits
        | Component::Isolation
        | Component::NetworkExceptions
        | Component::Placement
        | Component::StopWork
        | Component::Info => {
            let ws = workspace?;
            in_workspace_namespace(ws).then_some(())?;
            Owner::Workspace {
                organization,
                name: ws.clone(),
            }
        }
        Component::Role => {
            let (org, role) = names::parse_role(name)?;
            (org == organization).then_some(())?;
            Owner::Role {
                organization,
                name: role.to_string(),
            }
        }
        Component::WorkspaceReader => {
            let ws = workspace?;
            (namespace == Some(&names::organization_namespace(&organization))
                && (name == names::workspace_reader(ws) || name == names::workspace_owner(ws)))
            .then_some(())?;
            Owner::Workspace {
                organization,
                name: ws.clone(),
            }
        }
        Component::VisitorShard => {
            (namespace.is_none()
                && names::parse_visitor_shard(name) == Some(organization.as_str()))
            .then_some(())?;
            Owner::Organization { name: organization }
        }
        Component::OrganizationVisitors => {
            let ws = workspace?;
            (namespace.is_none() && name == names::organization_visitors(&organization, ws))
                .then_some(())?;
            Owner::Workspace {
                organization,
                name: ws.clone(),
            }
        }
        Component::MemberVisitor => {
            let member = marks.get(MEMBER)?;
            (namespace.is_none() && name == names::member_visitor(&organization, member))
                .then_some(())?;
            Owner::Member {
                organization,
                name: member.clone(),
            }
        }
        Component::MemberAccess | Component::MemberReader => Owner::Member {
            name: marks.get(MEMBER)?.clone(),
            organization,
        },
        Component::CredentialCopy => {
            // In a workspace namespace of the same organization; owned by
            // whoever shared it.
            let (ns_org, _) = names::split_workspace_namespace(namespace?)?;
            (ns_org == organization).then_some(())?;
            match marks.get(SOURCE_WORKSPACE) {
                Some(ws) => Owner::Workspace {
                    organization,
                    name: ws.clone(),
                },
                None => Owner::Organization { name: organization },
            }
        }
    };
    Some(owner)
}

/// Every label of the operator's on what it made (the marks and a copy's
/// source): what a release takes off.
pub fn release_labels() -> Vec<&'static str> {
    MARKS
        .into_iter()
        .chain([SOURCE_NAMESPACE, SOURCE_NAME, SOURCE_WORKSPACE])
        .collect()
}

#[cfg(test)]
mod tests;
