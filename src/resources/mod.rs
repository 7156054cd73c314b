//! Pure functions: from specs to the child objects the operator wants to
//! exist. No client, no I/O; unit-tested with plain values.

pub mod budget;
pub mod ceiling;
pub mod credentials;
#[cfg(test)]
mod decide_tests;
pub mod decision;
pub mod defaults;
pub mod delegation;
pub mod guardrails;
pub mod identity;
pub mod keeping;
pub mod member;
pub mod organization;
pub mod predefined_roles;
#[cfg(test)]
mod properties;
pub mod role;
pub mod teardown;
pub mod tenancy;
pub mod usage;
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

/// Who made a workspace's namespace, as the namespace's marks say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceOwner {
    /// Marked with this workspace's UID: the operator may write there.
    ThisWorkspace,
    /// Not there: the workspace has not made it yet.
    NotYet,
    /// Someone else's (a conflict), or released.
    Other,
}

/// Who made the namespace of `ws`, given what the cache of namespaces the
/// operator marked holds under its name (one not in it is not the
/// operator's, unless it is still being made).
pub fn namespace_owner(
    cached: Option<&kube::api::ObjectMeta>,
    ws: &crate::api::Workspace,
) -> NamespaceOwner {
    use kube::ResourceExt;
    match cached {
        Some(meta)
            if crate::ownership::is_owned_by(
                meta.labels.as_ref(),
                &ws.uid().unwrap_or_default(),
            ) =>
        {
            NamespaceOwner::ThisWorkspace
        }
        Some(_) => NamespaceOwner::Other,
        None if workspace::is_conflicted(ws) => NamespaceOwner::Other,
        None => NamespaceOwner::NotYet,
    }
}
