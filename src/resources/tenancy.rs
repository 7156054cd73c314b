//! What the platform lets tenants ask of the operator: the ceiling every
//! WorkspaceRole must fit in, the ClusterRoles a role may include, and the
//! subjects a tenant may name. Tenants write these fields; the operator is
//! more powerful than they are, so it must never do for a tenant what the
//! tenant could not do itself.

use std::collections::BTreeSet;

use crate::api::{Subject, SubjectKind};
use crate::ownership::names::split_workspace_namespace;

/// The platform's settings for what tenants may ask (flags of
/// `workspace-operator run`, chart values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantPolicy {
    /// The ClusterRole whose rules cover everything a WorkspaceRole may grant.
    pub ceiling: String,
    /// ClusterRoles a WorkspaceRole may include in `spec.clusterRoles`.
    pub allowed_cluster_roles: BTreeSet<String>,
    /// Whether `system:*` users and groups may be subjects.
    pub allow_system_subjects: bool,
    /// Whether ServiceAccounts of namespaces outside the organization may be subjects.
    pub allow_foreign_service_accounts: bool,
    /// Whether owners, and members holding a role with `manageMembers`,
    /// may write their workspace's WorkspaceMembers. Only with the
    /// admission policy that checks those writes installed (the chart ties
    /// the two): RBAC alone cannot limit a write to one workspace.
    pub delegated_membership: bool,
    /// Whether an organization's admins may change its admins list (and,
    /// through the admission policy, nothing else of it).
    pub organization_admins_manage_admins: bool,
    /// Whether workspace owners may update their own Workspace. Only with
    /// the admission policy workspaces.dev-owners-edit-settings installed
    /// (the chart ties the two): it is what keeps them to their settings.
    pub owners_edit_settings: bool,
    /// Pod Security levels of workspace namespaces whose plan and
    /// Organization set none.
    pub pod_security: crate::api::guardrails::PodSecurity,
    /// The cluster's own address ranges (pods, services, nodes), kept out of
    /// a plan's "egress to everything outside the cluster".
    pub cluster_network: Vec<String>,
}

/// The default ceiling's name (deploy/operator-rbac.yaml; the chart's is
/// `<release>:tenant-ceiling`).
pub const DEFAULT_CEILING: &str = "workspace-operator:tenant-ceiling";

impl Default for TenantPolicy {
    fn default() -> Self {
        TenantPolicy {
            ceiling: DEFAULT_CEILING.into(),
            allowed_cluster_roles: BTreeSet::new(),
            allow_system_subjects: false,
            allow_foreign_service_accounts: false,
            delegated_membership: false,
            organization_admins_manage_admins: false,
            owners_edit_settings: false,
            pod_security: Default::default(),
            cluster_network: vec![],
        }
    }
}

impl TenantPolicy {
    /// Why a tenant may not name `subject` in `organization`, or None.
    ///
    /// `system:*` names are the cluster's own identities and groups
    /// (`system:authenticated` is everyone, `system:masters` the cluster
    /// admins, `system:serviceaccount:...` any ServiceAccount): granting to
    /// them reaches past the organization. A ServiceAccount of another
    /// namespace belongs to whoever runs that namespace.
    pub fn subject_refusal(&self, subject: &Subject, organization: &str) -> Option<String> {
        if !self.allow_system_subjects && subject.name.starts_with("system:") {
            return Some(format!(
                "{subject}: system:* users and groups are the cluster's own identities; the platform does not allow them as subjects"
            ));
        }
        // Admission checks this since the name rule was added; one stored
        // before would make the API server refuse every binding naming it.
        if subject.kind == SubjectKind::ServiceAccount && !is_object_name(&subject.name) {
            return Some(format!(
                "{subject}: not a valid ServiceAccount name (lowercase letters, digits, '-' and '.'); RBAC refuses it"
            ));
        }
        if subject.kind == SubjectKind::ServiceAccount && !self.allow_foreign_service_accounts {
            let ns = subject.namespace.as_deref().unwrap_or_default();
            let own = ns == organization
                || split_workspace_namespace(ns).is_some_and(|(org, _)| org == organization);
            if !own {
                return Some(format!(
                    "{subject}: a ServiceAccount subject must live in organization {organization}'s namespaces ({organization} or {organization}--<workspace>)"
                ));
            }
        }
        None
    }

    /// Included ClusterRoles the platform does not allow, in order.
    pub fn disallowed_cluster_roles<'a>(&self, names: &'a [String]) -> Vec<&'a str> {
        names
            .iter()
            .filter(|n| !self.allowed_cluster_roles.contains(*n))
            .map(String::as_str)
            .collect()
    }
}

/// A DNS subdomain, as object names are.
fn is_object_name(name: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    name.len() <= 253 && name.split('.').all(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(kind: SubjectKind, name: &str, namespace: Option<&str>) -> Subject {
        Subject {
            kind,
            name: name.into(),
            namespace: namespace.map(Into::into),
        }
    }

    #[test]
    fn system_identities_are_refused_unless_allowed() {
        let policy = TenantPolicy::default();
        for s in [
            subject(SubjectKind::Group, "system:authenticated", None),
            subject(SubjectKind::Group, "system:masters", None),
            subject(
                SubjectKind::User,
                "system:serviceaccount:kube-system:x",
                None,
            ),
            subject(SubjectKind::User, "system:anonymous", None),
        ] {
            assert!(policy.subject_refusal(&s, "acme").is_some(), "{s}");
        }
        let open = TenantPolicy {
            allow_system_subjects: true,
            ..Default::default()
        };
        let s = subject(SubjectKind::Group, "system:authenticated", None);
        assert_eq!(open.subject_refusal(&s, "acme"), None);
        assert_eq!(
            policy.subject_refusal(&subject(SubjectKind::User, "alice", None), "acme"),
            None
        );
    }

    #[test]
    fn service_accounts_come_from_the_organization_only() {
        let policy = TenantPolicy::default();
        let sa = |ns| subject(SubjectKind::ServiceAccount, "ci", Some(ns));
        assert_eq!(policy.subject_refusal(&sa("acme"), "acme"), None);
        assert_eq!(policy.subject_refusal(&sa("acme--pay"), "acme"), None);
        for ns in [
            "kube-system",
            "globex",
            "globex--pay",
            "acme-x",
            "acmex--pay",
        ] {
            assert!(policy.subject_refusal(&sa(ns), "acme").is_some(), "{ns}");
        }
        let open = TenantPolicy {
            allow_foreign_service_accounts: true,
            ..Default::default()
        };
        assert_eq!(open.subject_refusal(&sa("globex"), "acme"), None);
    }

    #[test]
    fn only_listed_cluster_roles_may_be_included() {
        let policy = TenantPolicy {
            allowed_cluster_roles: ["view".to_string()].into(),
            ..Default::default()
        };
        let names = vec!["view".to_string(), "cluster-admin".to_string()];
        assert_eq!(
            policy.disallowed_cluster_roles(&names),
            vec!["cluster-admin"]
        );
    }

    #[test]
    fn invalid_service_account_names_are_refused() {
        let policy = TenantPolicy::default();
        for name in ["Bad_Name", "", "-x", "a..b", "x-"] {
            let s = subject(SubjectKind::ServiceAccount, name, Some("acme"));
            assert!(policy.subject_refusal(&s, "acme").is_some(), "{name:?}");
        }
        let s = subject(SubjectKind::ServiceAccount, "ci.bot-1", Some("acme"));
        assert_eq!(policy.subject_refusal(&s, "acme"), None);
    }
}
