//! WorkspaceRole → the ClusterRole that holds its permissions, if the
//! tenant ceiling and the platform allow them.

use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::decision::{Decision, Next, Plan, ready, stalled};
use super::tenancy::TenantPolicy;
use super::{ceiling, owner_reference, predefined_roles};
use crate::api::role::{RoleRule, WorkspaceRoleSpec};
use crate::api::{Organization, WorkspaceRole};
use crate::conditions::Outcome;
use crate::ownership::{self, Component, Owner, names};

/// The Ready reasons of a refused role: it will not become Ready without a
/// change of the role, the ceiling or the platform.
pub const BEYOND_CEILING: &str = "BeyondCeiling";
pub const NOT_ALLOWED: &str = "ClusterRoleNotAllowed";
pub const NO_CEILING: &str = "CeilingNotFound";
/// Refused by the API server although it fits the ceiling.
pub const NOT_HELD: &str = "CeilingNotHeld";
/// How often a role that includes ClusterRoles reads them again (they may
/// change without an event here).
pub const INCLUDED_REREAD: Duration = Duration::from_secs(300);

/// The included ClusterRoles, as read.
#[derive(Clone, Debug, PartialEq)]
pub enum Included {
    /// Not read: the role includes one the platform does not allow.
    NotRead,
    /// Their rules (with aggregation applied by the API server).
    Found(Vec<PolicyRule>),
    /// These do not exist.
    Missing(Vec<String>),
}

/// What a role's reconcile reads.
#[derive(Clone, Debug)]
pub struct RoleInput {
    pub organization: Option<Organization>,
    pub included: Included,
    /// The tenant ceiling's rules; None when it does not exist.
    pub ceiling: Option<Vec<PolicyRule>>,
    /// The grant the API server refused last for this role, as this
    /// process remembers it: not asked again while the role and its rules
    /// are the same.
    pub refused_before: Option<RefusedGrant>,
    /// Members and workspaces that use the role (for deletion).
    pub users: Vec<String>,
    /// How many members name the role.
    pub members: i32,
}

/// A grant the API server refused: for which generation of the role and
/// which rules (`rules_digest`), and what the status said about it.
#[derive(Clone, Debug, PartialEq)]
pub struct RefusedGrant {
    pub generation: i64,
    pub digest: String,
    pub message: String,
}

/// The role's one child: its ClusterRole, or none (revoked).
#[derive(Clone, Debug, PartialEq)]
pub struct RoleChildren {
    pub cluster_role: Option<ClusterRole>,
}

/// What a role's status reports besides the outcome.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RoleFacts {
    pub cluster_role: Option<String>,
    pub members: i32,
}

/// The spec a role grants: a predefined role grants what it is defined to
/// grant, whatever its live spec says (an edit, refused at admission and
/// put back by the organization, never reaches its ClusterRole).
pub fn granted_spec(role: &WorkspaceRole) -> WorkspaceRoleSpec {
    predefined_roles::definition(&role.name_any()).unwrap_or_else(|| role.spec.clone())
}

/// A short, stable digest of the rules asked for.
pub fn rules_digest(rules: &[PolicyRule]) -> String {
    crate::digest::sha256_hex16(serde_json::to_string(rules).unwrap_or_default().as_bytes())
}

/// Whether `role` is refused for its current generation.
pub fn is_refused(role: &WorkspaceRole) -> bool {
    role.status.as_ref().is_some_and(|s| {
        s.observed_generation == role.meta().generation
            && s.conditions.iter().any(|c| {
                c.type_ == "Ready"
                    && c.status == "False"
                    && [BEYOND_CEILING, NOT_ALLOWED, NO_CEILING, NOT_HELD]
                        .contains(&c.reason.as_str())
            })
    })
}

/// The message the status already carries for a refusal by the API server
/// of exactly these rules (`digest`) at this generation, if any: survives
/// a restart, so a refused role is not asked again.
pub fn refused_in_status(role: &WorkspaceRole, digest: &str) -> Option<String> {
    let status = role.status.as_ref()?;
    (status.observed_generation == role.meta().generation).then_some(())?;
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.reason == NOT_HELD && c.message.contains(digest))
        .map(|c| c.message.clone())
}

/// Why `role` cannot go yet: it is a predefined role of a living
/// organization, or members or workspaces still use it.
pub fn deletion_blocker(role: &WorkspaceRole, input: &RoleInput) -> Option<String> {
    let (ns, name) = (role.namespace().unwrap_or_default(), role.name_any());
    let org_alive = input
        .organization
        .as_ref()
        .is_some_and(|o| o.meta().deletion_timestamp.is_none());
    if org_alive && predefined_roles::is_predefined_name(&name) {
        return Some(format!(
            "{name} is a predefined role of Organization {ns}: it is kept as defined while the organization exists"
        ));
    }
    let mut users = input.users.clone();
    let org_default = input
        .organization
        .as_ref()
        .and_then(|o| o.spec.defaults.as_ref()?.anonymous_role.clone());
    if org_alive && org_default.as_deref() == Some(name.as_str()) {
        users.push(format!("Organization {ns} (defaults.anonymousRole)"));
    }
    users.sort();
    (!users.is_empty()).then(|| {
        format!(
            "role {name} is still used by {}: remove it from them (or delete those members) first",
            users.join(", ")
        )
    })
}

/// Everything a role's reconcile concludes, from what it read.
pub fn decide(
    role: &WorkspaceRole,
    input: &RoleInput,
    policy: &TenantPolicy,
) -> Decision<RoleChildren, RoleFacts> {
    if role.meta().deletion_timestamp.is_some() {
        return deletion(role, input);
    }
    let Some(org) = &input.organization else {
        return organization_not_found(role, input);
    };
    let spec = granted_spec(role);
    if let Some(refused) = includes_not_allowed(&spec, input, policy) {
        return refused;
    }
    let included = match &input.included {
        Included::Found(rules) => rules.as_slice(),
        Included::NotRead => &[],
        Included::Missing(missing) => return included_not_found(input, missing),
    };
    let desired = cluster_role(
        &role.namespace().unwrap_or_default(),
        &role.name_any(),
        &role.uid().unwrap_or_default(),
        &spec,
        included,
    );
    // The ceiling, checked by the operator itself before any write: the
    // API server's escalation check compares with everything the operator
    // holds, so it cannot be the tenant's limit.
    let Some(ceiling_rules) = &input.ceiling else {
        return ceiling_not_found(input, policy);
    };
    let wanted = desired.rules.clone().unwrap_or_default();
    beyond_ceiling(ceiling_rules, &wanted, input, policy)
        .or_else(|| refused_by_server_before(role, input, &wanted))
        .unwrap_or_else(|| grant(role, org, desired, &spec, input))
}

/// The name of the role's ClusterRole.
fn cluster_role_name(role: &WorkspaceRole) -> String {
    names::role(&role.namespace().unwrap_or_default(), &role.name_any())
}

/// The facts to report, naming `cluster_role` if the role holds one.
fn role_facts(input: &RoleInput, cluster_role: Option<&str>) -> RoleFacts {
    RoleFacts {
        cluster_role: cluster_role.map(String::from),
        members: input.members,
    }
}

/// The decision for a role being deleted: blocked while it is still in use
/// (its ClusterRole kept), else go.
fn deletion(role: &WorkspaceRole, input: &RoleInput) -> Decision<RoleChildren, RoleFacts> {
    match deletion_blocker(role, input) {
        Some(why) => Decision::DeletionBlocked {
            why,
            children: None,
            facts: role_facts(input, Some(&cluster_role_name(role))),
        },
        None => Decision::Delete {
            teardown: teardown(role),
            facts: role_facts(input, None),
        },
    }
}

/// The report for a role outside any organization's namespace.
fn organization_not_found(
    role: &WorkspaceRole,
    input: &RoleInput,
) -> Decision<RoleChildren, RoleFacts> {
    let org_name = role.namespace().unwrap_or_default();
    Decision::unattached(
        stalled(
            "OrganizationNotFound",
            format!(
                "no Organization named {org_name:?}: a WorkspaceRole must live in its organization's namespace"
            ),
        ),
        role_facts(input, None),
        Next::WaitForOthers,
    )
}

/// A plan that revokes the role's ClusterRole and reports `outcome`.
fn revoke(input: &RoleInput, outcome: Outcome) -> Decision<RoleChildren, RoleFacts> {
    // Refused: nothing is granted, and a ClusterRole made before goes (a
    // role refused now grants nothing, also through bindings naming it).
    Decision::Converge(Plan {
        children: Some(RoleChildren { cluster_role: None }),
        outcome,
        facts: role_facts(input, None),
        next: Next::AwaitChange,
    })
}

/// Revokes the role if it includes ClusterRoles the platform does not allow.
fn includes_not_allowed(
    spec: &WorkspaceRoleSpec,
    input: &RoleInput,
    policy: &TenantPolicy,
) -> Option<Decision<RoleChildren, RoleFacts>> {
    let includes = spec.cluster_roles.clone().unwrap_or_default();
    let disallowed = policy.disallowed_cluster_roles(&includes);
    if disallowed.is_empty() {
        return None;
    }
    let allowed: Vec<&str> = policy
        .allowed_cluster_roles
        .iter()
        .map(String::as_str)
        .collect();
    Some(revoke(
        input,
        stalled(
            NOT_ALLOWED,
            format!(
                "the platform does not allow including ClusterRole(s) {} (allowed: {}); nothing of this role is granted",
                disallowed.join(", "),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
        ),
    ))
}

/// The report, read again later, for included ClusterRoles that do not exist.
fn included_not_found(input: &RoleInput, missing: &[String]) -> Decision<RoleChildren, RoleFacts> {
    Decision::report(
        stalled(
            "ClusterRoleNotFound",
            format!("included ClusterRole(s) not found: {}", missing.join(", ")),
        ),
        role_facts(input, None),
        Next::After(INCLUDED_REREAD),
    )
}

/// The report, changing nothing, when the tenant ceiling does not exist.
fn ceiling_not_found(
    input: &RoleInput,
    policy: &TenantPolicy,
) -> Decision<RoleChildren, RoleFacts> {
    // A missing ceiling (an install or upgrade under way) keeps what was
    // granted: revoking every role of the cluster would be the outage.
    Decision::report(
        stalled(
            NO_CEILING,
            format!(
                "the tenant ceiling ClusterRole {} does not exist, so no role can be checked or granted; the platform installs it with the operator (Helm chart or deploy/operator-rbac.yaml)",
                policy.ceiling
            ),
        ),
        role_facts(input, None),
        Next::AwaitChange,
    )
}

/// Revokes the role if `wanted` asks for more than the ceiling allows.
fn beyond_ceiling(
    ceiling_rules: &[PolicyRule],
    wanted: &[PolicyRule],
    input: &RoleInput,
    policy: &TenantPolicy,
) -> Option<Decision<RoleChildren, RoleFacts>> {
    let refused = ceiling::refused(ceiling_rules, wanted);
    if refused.is_empty() {
        return None;
    }
    Some(revoke(
        input,
        stalled(
            BEYOND_CEILING,
            format!(
                "not granted, this role asks for more than the tenant ceiling {} allows: {}",
                policy.ceiling,
                ceiling::summary(&refused)
            ),
        ),
    ))
}

/// The report, writing nothing, if the API server refused these very rules
/// of this generation before.
fn refused_by_server_before(
    role: &WorkspaceRole,
    input: &RoleInput,
    wanted: &[PolicyRule],
) -> Option<Decision<RoleChildren, RoleFacts>> {
    // Refused by the API server before, unchanged since: asking again
    // cannot help.
    let digest = rules_digest(wanted);
    let generation = role.meta().generation.unwrap_or_default();
    let message = input
        .refused_before
        .as_ref()
        .filter(|r| r.generation == generation && r.digest == digest)
        .map(|r| r.message.clone())
        .or_else(|| refused_in_status(role, &digest))?;
    Some(Decision::report(
        stalled(NOT_HELD, message),
        role_facts(input, None),
        Next::AwaitChange,
    ))
}

/// The plan that writes `desired`, the role's ClusterRole, owned also by
/// `org`.
fn grant(
    role: &WorkspaceRole,
    org: &Organization,
    mut desired: ClusterRole,
    spec: &WorkspaceRoleSpec,
    input: &RoleInput,
) -> Decision<RoleChildren, RoleFacts> {
    let cr_name = cluster_role_name(role);
    // Also owned by the organization, so deleting it cleans up even if
    // this role's finalizer never ran.
    desired.metadata.owner_references = owner_reference(org).map(|o| vec![o]);
    Decision::Converge(Plan {
        children: Some(RoleChildren {
            cluster_role: Some(desired),
        }),
        outcome: ready(format!(
            "ClusterRole {cr_name} holds the role's permissions"
        )),
        facts: role_facts(input, Some(&cr_name)),
        next: if spec.cluster_roles.is_some() {
            Next::After(INCLUDED_REREAD)
        } else {
            Next::Resync
        },
    })
}

/// The outcome when the API server refused to let the operator grant rules
/// that fit the ceiling (its `escalate`, or the ceiling binding of an
/// install without admission policies, is missing): a platform problem.
pub fn not_held(policy: &TenantPolicy, server_message: &str, digest: &str) -> String {
    format!(
        "the API server refused to let the operator grant this role's permissions, although the tenant ceiling {} covers them: may the operator bind and escalate ClusterRoles (deploy/operator-rbac.yaml, the chart)? {server_message} [rules {digest}]",
        policy.ceiling
    )
}

pub fn policy_rule(rule: &RoleRule) -> PolicyRule {
    PolicyRule {
        api_groups: Some(rule.api_groups.clone()),
        resources: Some(rule.resources.clone()),
        resource_names: rule.resource_names.clone(),
        verbs: rule.verbs.clone(),
        non_resource_urls: None,
    }
}

/// The ClusterRole for role `name` of `organization`: the role's own rules
/// plus the rules of the ClusterRoles it includes (`included`, already read).
/// Only ever bound by RoleBindings inside workspace namespaces.
pub fn cluster_role(
    organization: &str,
    name: &str,
    role_uid: &str,
    spec: &WorkspaceRoleSpec,
    included: &[PolicyRule],
) -> ClusterRole {
    let mut rules: Vec<PolicyRule> = spec.rules.iter().flatten().map(policy_rule).collect();
    for rule in included {
        // Non-resource URLs mean nothing inside a namespace; leave them out.
        if rule.non_resource_urls.as_ref().is_none_or(|u| u.is_empty()) && !rules.contains(rule) {
            rules.push(rule.clone());
        }
    }
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(names::role(organization, name)),
            labels: Some(ownership::marks(
                &Owner::Role {
                    organization: organization.into(),
                    name: name.into(),
                },
                role_uid,
                Component::Role,
            )),
            ..Default::default()
        },
        rules: Some(rules),
        aggregation_rule: None,
    }
}

/// What a role's deletion removes: its ClusterRole, and any under the
/// names of an earlier scheme (left by an upgrade).
pub fn teardown(role: &WorkspaceRole) -> super::teardown::Teardown {
    use super::teardown::{Look, Step, Target, Teardown};
    use crate::ownership::Kind;
    let uid = role.uid().unwrap_or_default();
    let name = names::role(&role.namespace().unwrap_or_default(), &role.name_any());
    Teardown::done(vec![
        Step::DeleteOwned {
            target: Target::new(Kind::ClusterRole, None, name),
            owner: uid.clone(),
            look: Look::Server,
            announce: None,
        },
        Step::DeleteComponent {
            kind: Kind::ClusterRole,
            namespace: None,
            owner: uid,
            component: Component::Role,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::predefined_roles;

    #[test]
    fn role_cluster_role_is_named_per_organization() {
        let a = cluster_role("acme", "admin", "u1", &predefined_roles::admin(), &[]);
        let b = cluster_role("globex", "admin", "u2", &predefined_roles::admin(), &[]);
        assert_ne!(a.metadata.name, b.metadata.name);
        assert_eq!(
            a.metadata.name.as_deref(),
            Some("workspaces.dev:role:acme:admin")
        );
    }

    #[test]
    fn included_rules_are_added_once_without_non_resource_urls() {
        let included = vec![
            PolicyRule {
                verbs: vec!["get".into()],
                non_resource_urls: Some(vec!["/metrics".into()]),
                ..Default::default()
            },
            policy_rule(&predefined_roles::viewer().rules.unwrap()[0]),
        ];
        let cr = cluster_role("acme", "r", "u", &predefined_roles::viewer(), &included);
        let rules = cr.rules.unwrap();
        assert_eq!(rules.len(), predefined_roles::viewer().rules.unwrap().len());
        assert!(rules.iter().all(|r| r.non_resource_urls.is_none()));
    }
}
