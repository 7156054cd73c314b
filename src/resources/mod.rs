//! Pure functions: from specs to the child objects the operator wants to
//! exist. No client, no I/O; unit-tested with plain values.

pub mod ceiling;
pub mod compare;
pub mod credentials;
pub mod member;
pub mod organization;
pub mod predefined_roles;
#[cfg(test)]
mod properties;
pub mod role;
pub mod tenancy;
pub mod workspace;

use k8s_openapi::api::rbac::v1::Subject as RbacSubject;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

use crate::api::{Subject, SubjectKind};

/// An RBAC subject for one of our subjects.
pub fn rbac_subject(subject: &Subject) -> RbacSubject {
    match subject.kind {
        SubjectKind::User | SubjectKind::Group => RbacSubject {
            kind: subject.kind.to_string(),
            name: subject.name.clone(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        },
        SubjectKind::ServiceAccount => RbacSubject {
            kind: "ServiceAccount".into(),
            name: subject.name.clone(),
            api_group: Some(String::new()),
            namespace: subject.namespace.clone(),
        },
    }
}

/// An owner reference to `owner` (which must have a name and a UID): used
/// only where owner and child may legally be linked (same namespace, or a
/// cluster-scoped owner).
pub fn owner_reference<K: Resource<DynamicType = ()>>(owner: &K) -> Option<OwnerReference> {
    owner.controller_owner_ref(&())
}

/// The cluster-scoped names the operator derives. Every name is
/// `workspaces.dev:<kind>:<parts>` with a fixed kind word per purpose, and no
/// part can contain `:` (organization names and role names are DNS labels,
/// enforced at admission), so two different (kind, organization, name)
/// inputs never give the same name: the split on `:` is unique.
pub mod cluster_names {
    /// Every cluster-scoped object the operator makes starts with this (the
    /// admission policies bound the operator to it).
    pub const PREFIX: &str = "workspaces.dev:";
    const ROLE: &str = "workspaces.dev:role:";
    const ORGANIZATION: &str = "workspaces.dev:organization:";

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

    /// The prefix of every role ClusterRole of `organization`.
    pub fn role_prefix(organization: &str) -> String {
        format!("{ROLE}{organization}:")
    }

    /// The ClusterRole (and its ClusterRoleBinding) that lets an
    /// organization's admins read their Organization object.
    pub fn organization_reader(organization: &str) -> String {
        format!("{ORGANIZATION}{organization}")
    }
}

/// The ClusterRole that holds the permissions of `role` of `organization`.
pub fn role_cluster_role_name(organization: &str, role: &str) -> String {
    cluster_names::role(organization, role)
}
