//! Pure functions: from specs to the child objects the operator wants to
//! exist. No client, no I/O; unit-tested with plain values.

pub mod compare;
pub mod credentials;
pub mod member;
pub mod organization;
pub mod predefined_roles;
#[cfg(test)]
mod properties;
pub mod role;
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

/// The ClusterRole that holds the permissions of `role` of `organization`.
pub fn role_cluster_role_name(organization: &str, role: &str) -> String {
    format!("workspaces.dev:{organization}:{role}")
}
