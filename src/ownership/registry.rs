//! The one list of what the operator makes: every Kubernetes kind it
//! writes (`Kind`), and for every `Component` which kinds it is made as,
//! which of the four kinds makes it and where it lies. The caches, the
//! watches, teardown, restore and release all read this table; a new kind
//! or component is one entry here, and the exhaustive matches below (and
//! the tests over `Kind::ALL` and `Component::ALL`) point at what is missing.

use super::Component;

/// A Kubernetes kind the operator makes children of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    Role,
    RoleBinding,
    ClusterRole,
    ClusterRoleBinding,
    ResourceQuota,
    LimitRange,
    NetworkPolicy,
    ConfigMap,
    /// Credential copies (cached as metadata only, with every other Secret).
    Secret,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Namespace,
        Kind::Role,
        Kind::RoleBinding,
        Kind::ClusterRole,
        Kind::ClusterRoleBinding,
        Kind::ResourceQuota,
        Kind::LimitRange,
        Kind::NetworkPolicy,
        Kind::ConfigMap,
        Kind::Secret,
    ];

    /// The resource's plural name, as in RBAC rules and URLs.
    pub const fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Role => "roles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRole => "clusterroles",
            Kind::ClusterRoleBinding => "clusterrolebindings",
            Kind::ResourceQuota => "resourcequotas",
            Kind::LimitRange => "limitranges",
            Kind::NetworkPolicy => "networkpolicies",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
        }
    }

    /// Its API group ("" for the core group).
    pub const fn group(self) -> &'static str {
        match self {
            Kind::Namespace
            | Kind::ResourceQuota
            | Kind::LimitRange
            | Kind::ConfigMap
            | Kind::Secret => "",
            Kind::Role | Kind::RoleBinding | Kind::ClusterRole | Kind::ClusterRoleBinding => {
                "rbac.authorization.k8s.io"
            }
            Kind::NetworkPolicy => "networking.k8s.io",
        }
    }

    /// Whether its objects live in a namespace.
    pub const fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace | Kind::ClusterRole | Kind::ClusterRoleBinding
        )
    }
}

/// Which of the four kinds makes a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Maker {
    Organization,
    Workspace,
    Role,
    Member,
}

/// Where a component's objects lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Cluster-scoped (a namespace, a ClusterRole or ClusterRoleBinding).
    Cluster,
    /// In the organization's namespace.
    OrganizationNamespace,
    /// In a workspace's namespace: kept, restored and released with it.
    WorkspaceNamespace,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The kinds its objects are (a Role and its RoleBinding share one).
    pub kinds: &'static [Kind],
    /// Who makes it (a credential copy: an organization or a workspace).
    pub makers: &'static [Maker],
    pub place: Place,
    /// Whether it lets anyone in: removed from a namespace kept after its
    /// workspace's deletion, before anything else happens to it.
    pub grants_access: bool,
}

impl Component {
    /// Its row in the table.
    pub const fn entry(self) -> Entry {
        use Kind as K;
        use Maker as M;
        use Place as P;
        let (kinds, makers, place, grants_access): (&[Kind], &[Maker], Place, bool) = match self {
            Component::OrganizationNamespace => {
                (&[K::Namespace], &[M::Organization], P::Cluster, false)
            }
            Component::OrganizationAccess => (
                &[
                    K::Role,
                    K::RoleBinding,
                    K::ClusterRole,
                    K::ClusterRoleBinding,
                ],
                &[M::Organization],
                P::OrganizationNamespace,
                true,
            ),
            // WorkspaceRole objects (one of the four kinds), not children.
            Component::PredefinedRole => (&[], &[M::Organization], P::OrganizationNamespace, false),
            Component::WorkspaceNamespace => (&[K::Namespace], &[M::Workspace], P::Cluster, false),
            Component::WorkspaceAccess => (
                &[K::RoleBinding],
                &[M::Workspace],
                P::WorkspaceNamespace,
                true,
            ),
            Component::Quota | Component::StopWork => (
                &[K::ResourceQuota],
                &[M::Workspace],
                P::WorkspaceNamespace,
                false,
            ),
            Component::Limits => (
                &[K::LimitRange],
                &[M::Workspace],
                P::WorkspaceNamespace,
                false,
            ),
            Component::Isolation | Component::NetworkExceptions => (
                &[K::NetworkPolicy],
                &[M::Workspace],
                P::WorkspaceNamespace,
                false,
            ),
            Component::Info | Component::Placement => (
                &[K::ConfigMap],
                &[M::Workspace],
                P::WorkspaceNamespace,
                false,
            ),
            Component::Role => (&[K::ClusterRole], &[M::Role], P::Cluster, false),
            Component::MemberAccess => {
                (&[K::RoleBinding], &[M::Member], P::WorkspaceNamespace, true)
            }
            Component::MemberReader => (
                &[K::Role, K::RoleBinding],
                &[M::Member],
                P::OrganizationNamespace,
                true,
            ),
            Component::MemberVisitor => (&[K::ClusterRoleBinding], &[M::Member], P::Cluster, true),
            Component::WorkspaceReader => (
                &[K::Role, K::RoleBinding],
                &[M::Workspace],
                P::OrganizationNamespace,
                true,
            ),
            Component::OrganizationVisitors => {
                (&[K::ClusterRoleBinding], &[M::Workspace], P::Cluster, true)
            }
            Component::VisitorShard => (
                &[K::ClusterRoleBinding],
                &[M::Organization],
                P::Cluster,
                true,
            ),
            Component::CredentialCopy => (
                &[K::Secret],
                &[M::Organization, M::Workspace],
                P::WorkspaceNamespace,
                true,
            ),
        };
        Entry {
            kinds,
            makers,
            place,
            grants_access,
        }
    }
}

/// The kinds of the components that `filter` selects (each kind once, in
/// the order of `Kind::ALL`).
pub fn kinds_where(filter: impl Fn(Component, &Entry) -> bool) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|kind| {
            Component::ALL.into_iter().any(|c| {
                let entry = c.entry();
                entry.kinds.contains(kind) && filter(c, &entry)
            })
        })
        .collect()
}

/// The kinds a `maker` makes children of: what its controller watches.
pub fn kinds_made_by(maker: Maker) -> Vec<Kind> {
    kinds_where(|_, e| e.makers.contains(&maker))
}

/// The kinds of a workspace's own children inside its namespace: what
/// moves to a new Workspace of the same name when it takes a kept namespace
/// back. (Credential copies there are other sharers', marked with their
/// UIDs: never moved.)
pub fn kept_with_the_namespace() -> Vec<Kind> {
    kinds_where(|c, e| {
        e.place == Place::WorkspaceNamespace
            && e.makers.contains(&Maker::Workspace)
            && c != Component::CredentialCopy
    })
}

/// The kinds of anything in a workspace namespace that lets someone in:
/// deleted, whoever made it, when the namespace is kept without its workspace.
pub fn access_in_a_workspace_namespace() -> Vec<Kind> {
    kinds_where(|_, e| e.place == Place::WorkspaceNamespace && e.grants_access)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails to compile when a variant is added without a row in `ALL`.
    fn listed(kind: Kind) -> usize {
        match kind {
            Kind::Namespace
            | Kind::Role
            | Kind::RoleBinding
            | Kind::ClusterRole
            | Kind::ClusterRoleBinding
            | Kind::ResourceQuota
            | Kind::LimitRange
            | Kind::NetworkPolicy
            | Kind::ConfigMap
            | Kind::Secret => Kind::ALL
                .iter()
                .position(|k| *k == kind)
                .unwrap_or(usize::MAX),
        }
    }

    #[test]
    fn every_kind_is_listed_once_and_made_by_some_component() {
        for kind in Kind::ALL {
            assert!(listed(kind) < Kind::ALL.len());
            assert_eq!(Kind::ALL.iter().filter(|k| **k == kind).count(), 1);
            assert!(
                Component::ALL
                    .iter()
                    .any(|c| c.entry().kinds.contains(&kind)),
                "{kind:?} is made as no component"
            );
        }
    }

    #[test]
    fn every_component_is_listed_once_with_a_maker() {
        for c in Component::ALL {
            assert_eq!(Component::parse(c.as_str()), Some(c));
            assert!(!c.entry().makers.is_empty(), "{c} has no maker");
        }
        let mut marks: Vec<&str> = Component::ALL.iter().map(|c| c.as_str()).collect();
        marks.sort();
        marks.dedup();
        assert_eq!(
            marks.len(),
            Component::ALL.len(),
            "two components share a mark"
        );
    }

    #[test]
    fn what_moves_with_a_kept_namespace_and_what_is_removed_from_it() {
        use Kind::*;
        assert_eq!(
            kept_with_the_namespace(),
            vec![
                RoleBinding,
                ResourceQuota,
                LimitRange,
                NetworkPolicy,
                ConfigMap
            ]
        );
        assert_eq!(access_in_a_workspace_namespace(), vec![RoleBinding, Secret]);
        assert_eq!(
            kinds_made_by(Maker::Workspace),
            vec![
                Namespace,
                Role,
                RoleBinding,
                ClusterRoleBinding,
                ResourceQuota,
                LimitRange,
                NetworkPolicy,
                ConfigMap,
                Secret
            ]
        );
    }
}
