//! WorkspaceMember → one RoleBinding per role in the workspace namespace, and
//! read access to its own Workspace object in the organization namespace.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef};
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::decision::{Decision, Next, Plan, progressing, ready, stalled};
use super::tenancy::TenantPolicy;
use super::{NamespaceOwner, predefined_roles, rbac_subject};
use crate::api::member::MemberPhase;
use crate::api::{Workspace, WorkspaceMember, WorkspaceRole};
use crate::conditions::{self, Outcome};
use crate::ownership::names::{self, workspace_namespace};
use crate::ownership::{Component, member_marks};

/// What a membership grants right now.
#[derive(Clone, Debug, Default)]
pub struct MemberAccess {
    /// One per granted role, in the workspace namespace.
    pub bindings: Vec<RoleBinding>,
    /// Lets the subject read its Workspace (and this membership) in the
    /// organization namespace.
    pub reader_role: Option<Role>,
    pub reader_binding: Option<RoleBinding>,
    /// Always None: what earlier versions made to let the subject read its
    /// Organization goes (the organization's visitors binding does it).
    pub visitor: Option<ClusterRoleBinding>,
    /// Roles granted (after archive mode maps them to viewer).
    pub granted: Vec<String>,
    /// Roles named by the member that do not exist in the organization.
    pub unknown_roles: Vec<String>,
}

/// Builds the member's access. `roles` are the WorkspaceRoles of the
/// organization that may be granted; `archived` is the workspace's archive
/// mode; `delegated` whether delegated membership is on.
pub fn build(
    member: &WorkspaceMember,
    roles: &[WorkspaceRole],
    archived: bool,
    delegated: bool,
) -> MemberAccess {
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

    let marks = member_marks(&org, &name, Some(ws), &uid, Component::MemberAccess);
    let subject = rbac_subject(&member.spec.subject);
    let ns = workspace_namespace(&org, ws);
    let bindings = granted
        .iter()
        .map(|role| RoleBinding {
            metadata: ObjectMeta {
                name: Some(names::member_binding(&name, role)),
                namespace: Some(ns.clone()),
                labels: Some(marks.clone()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: names::role(&org, role),
            },
            subjects: Some(vec![subject.clone()]),
        })
        .collect();

    let reader_marks = member_marks(&org, &name, None, &uid, Component::MemberReader);
    let reader_name = names::member_reader(&name);
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
    // A manager sends its writes on the workspace's members here, and holds
    // the verbs the admission policy asks about on its workspace: which
    // roles it may give (the union over its managing roles). Archive mode
    // grants viewer only, which manages nobody.
    let assignable: Vec<String> = roles
        .iter()
        .filter(|r| member.spec.roles.contains(&r.name_any()))
        .filter_map(|r| super::role::granted_spec(r).manage_members)
        .flat_map(|m| m.assignable_roles)
        .collect();
    // assignableRoles has at least one entry (schema): any managing role
    // leaves some.
    let manages = delegated && !archived && !assignable.is_empty();
    let mut reader_rules = vec![
        get_named(&["workspaces", "workspaces/status"], ws),
        get_named(&["workspacemembers", "workspacemembers/status"], &name),
    ];
    if manages {
        reader_rules.push(super::delegation::member_writes());
        reader_rules.push(super::delegation::managing_rule(
            ws,
            assignable.iter().map(String::as_str),
        ));
    }
    let reader_role = Role {
        metadata: reader_meta.clone(),
        rules: Some(reader_rules),
    };
    let reader_binding = RoleBinding {
        metadata: reader_meta,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: reader_name,
        },
        subjects: Some(vec![subject.clone()]),
    };
    // No role granted, no access: nor finding the workspace and its
    // organization.
    let any = !granted.is_empty();
    MemberAccess {
        bindings,
        reader_role: any.then_some(reader_role),
        reader_binding: any.then_some(reader_binding),
        // Its Organization is read through the organization's one
        // visitors binding (resources::organization::visitors); a binding of
        // its own, made by earlier versions, is removed.
        visitor: None,
        granted,
        unknown_roles,
    }
}

/// What a member's reconcile reads.
#[derive(Clone, Debug)]
pub struct MemberInput {
    pub now: jiff::Timestamp,
    /// Its organization: the owner of its cluster-scoped binding, so that
    /// deleting the organization takes it along whatever else happened.
    pub organization: Option<crate::api::Organization>,
    pub workspace: Option<Workspace>,
    /// Who made the workspace's namespace (from the cache of marked ones).
    pub namespace: NamespaceOwner,
    /// The WorkspaceRoles of the organization.
    pub roles: Vec<WorkspaceRole>,
}

/// Whether the member's access may grow, or only shrink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    All,
    /// Its workspace is being deleted: bindings not wanted go, nothing is
    /// added (a binding written after a release could not be taken back).
    RemovalsOnly,
}

/// Everything a member makes; empty sets and None revoke.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberChildren {
    /// Its workspace namespace.
    pub namespace: String,
    pub bindings: Vec<RoleBinding>,
    pub reader_role: Option<Role>,
    pub reader_binding: Option<RoleBinding>,
    pub visitor: Option<ClusterRoleBinding>,
    pub writes: Writes,
}

impl MemberChildren {
    /// Nothing granted: every binding and the reader access go.
    pub fn none(member: &WorkspaceMember) -> Self {
        MemberChildren {
            namespace: workspace_namespace(
                &member.namespace().unwrap_or_default(),
                &member.spec.workspace,
            ),
            bindings: vec![],
            reader_role: None,
            reader_binding: None,
            visitor: None,
            writes: Writes::All,
        }
    }
}

/// What a member's status reports besides the outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberFacts {
    pub phase: MemberPhase,
    pub granted: Vec<String>,
    /// The workspace the membership is (or was) granted in.
    pub workspace_uid: Option<String>,
}

fn role_ready(role: &WorkspaceRole) -> bool {
    role.status.as_ref().is_some_and(|s| {
        conditions::ready_for_generation(
            &s.conditions,
            s.observed_generation,
            role.meta().generation,
        )
    })
}

/// Everything a member's reconcile concludes, from what it read.
pub fn decide(
    member: &WorkspaceMember,
    input: &MemberInput,
    policy: &TenantPolicy,
) -> Decision<MemberChildren, MemberFacts> {
    let org = member.namespace().unwrap_or_default();
    let ws_name = &member.spec.workspace;
    let ns = workspace_namespace(&org, ws_name);
    // The workspace it was granted in, kept until it grants in one.
    let recorded = member.status.as_ref().and_then(|s| s.workspace_uid.clone());
    let facts = |phase, granted| MemberFacts {
        phase,
        granted,
        workspace_uid: recorded.clone(),
    };
    if member.meta().deletion_timestamp.is_some() {
        return Decision::Delete {
            teardown: teardown(member),
            facts: facts(MemberPhase::Active, vec![]),
        };
    }
    let revoke = |outcome, phase, next| {
        Decision::Converge(Plan {
            children: Some(MemberChildren::none(member)),
            outcome,
            facts: facts(phase, vec![]),
            next,
        })
    };
    if let Some(why) = policy.subject_refusal(&member.spec.subject, &org) {
        return revoke(
            stalled(
                "SubjectNotAllowed",
                format!("{why}; this membership grants nothing"),
            ),
            MemberPhase::Pending,
            Next::AwaitChange,
        );
    }
    let Some(ws) = &input.workspace else {
        return revoke(
            stalled(
                "WorkspaceNotFound",
                format!(
                    "no Workspace {ws_name:?} in namespace {org}; this membership grants nothing"
                ),
            ),
            MemberPhase::Pending,
            Next::WaitForOthers,
        );
    };
    // Granted in an earlier workspace of this name, deleted since: a
    // membership left behind grants nothing in whoever's workspace comes
    // next under the name.
    if let Some(old) = &recorded
        && ws.uid().is_some_and(|now| now != *old)
    {
        return revoke(
            stalled(
                "WorkspaceRecreated",
                format!(
                    "this membership was granted in an earlier Workspace {ws_name} (deleted since); it grants nothing in the new one. Delete it, and create a new membership if one is wanted"
                ),
            ),
            MemberPhase::Pending,
            Next::AwaitChange,
        );
    }
    let granted_in = |phase, granted| MemberFacts {
        phase,
        granted,
        workspace_uid: ws.uid(),
    };
    let left = member
        .spec
        .expires_at
        .as_ref()
        .map(|e| (e, e.0.duration_since(input.now)));
    if let Some((expires, left)) = left
        && (left.is_negative() || left.is_zero())
    {
        return revoke(
            stalled(
                "Expired",
                format!(
                    "the membership expired at {}; its access is removed. Set a later expiresAt to renew it",
                    expires.0
                ),
            ),
            MemberPhase::Expired,
            Next::AwaitChange,
        );
    }
    // Access is written only into the namespace this very workspace made:
    // never into one someone else made, or one released by Retain.
    match input.namespace {
        NamespaceOwner::ThisWorkspace => {}
        NamespaceOwner::NotYet => {
            return Decision::report(
                progressing(
                    "WorkspaceNotReady",
                    format!("waiting for workspace {ws_name} to make its namespace {ns}"),
                ),
                facts(MemberPhase::Pending, vec![]),
                Next::WaitForOthers,
            );
        }
        NamespaceOwner::Other => {
            return Decision::report(
                stalled(
                    "NamespaceNotOwned",
                    format!(
                        "namespace {ns} was not made by workspace-operator for Workspace {ws_name}; nothing is written into it and this membership grants nothing"
                    ),
                ),
                facts(MemberPhase::Pending, vec![]),
                Next::WaitForOthers,
            );
        }
    }
    let roles = &input.roles;
    let ready_roles: Vec<WorkspaceRole> = roles.iter().filter(|r| role_ready(r)).cloned().collect();
    let exists = |r: &String| roles.iter().any(|x| &x.name_any() == r);
    let is_ready = |r: &String| ready_roles.iter().any(|x| &x.name_any() == r);
    let not_ready: Vec<String> = member
        .spec
        .roles
        .iter()
        .filter(|r| exists(r) && !is_ready(r))
        .cloned()
        .collect();
    let access = build(
        member,
        &ready_roles,
        ws.spec.archived.unwrap_or(false),
        policy.delegated_membership,
    );
    let MemberAccess {
        bindings,
        reader_role,
        reader_binding,
        visitor,
        granted,
        unknown_roles,
    } = access;
    let visitor = visitor.map(|mut v| {
        v.metadata.owner_references = input
            .organization
            .as_ref()
            .and_then(super::owner_reference)
            .map(|o| vec![o]);
        v
    });
    if ws.meta().deletion_timestamp.is_some() {
        let kept = member
            .status
            .as_ref()
            .and_then(|s| s.granted_roles.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| granted.contains(r))
            .collect();
        return Decision::Converge(Plan {
            children: Some(MemberChildren {
                namespace: ns,
                bindings,
                reader_role,
                reader_binding,
                visitor,
                writes: Writes::RemovalsOnly,
            }),
            outcome: progressing(
                "WorkspaceDeleting",
                format!(
                    "workspace {ws_name} is being deleted: no access is added meanwhile, removals still apply"
                ),
            ),
            facts: granted_in(MemberPhase::Active, kept),
            next: Next::WaitForOthers,
        });
    }
    let mut problems = vec![];
    let unknown: Vec<String> = unknown_roles
        .into_iter()
        .filter(|r| !not_ready.contains(r))
        .collect();
    if !unknown.is_empty() {
        problems.push(format!(
            "no WorkspaceRole {} in namespace {org}; not granted",
            unknown.join(", ")
        ));
    }
    // Roles refused by the ceiling or the platform will not become Ready
    // by waiting: the member is stalled on them, not progressing.
    let refused = not_ready
        .iter()
        .filter(|r| {
            roles
                .iter()
                .any(|x| &&x.name_any() == r && super::role::is_refused(x))
        })
        .count();
    let all_refused = !not_ready.is_empty() && refused == not_ready.len();
    if !not_ready.is_empty() {
        problems.push(if all_refused {
            format!(
                "WorkspaceRole {} refused (beyond the tenant ceiling or not allowed by the platform); not granted",
                not_ready.join(", ")
            )
        } else {
            format!("WorkspaceRole {} not Ready; not granted yet", not_ready.join(", "))
        });
    }
    let outcome: Outcome = if !unknown.is_empty() {
        stalled("UnknownRole", problems.join("; "))
    } else if all_refused {
        stalled("RoleNotReady", problems.join("; "))
    } else if !not_ready.is_empty() {
        progressing("RoleNotReady", problems.join("; "))
    } else {
        ready(format!(
            "granted {} in workspace {ws_name}",
            granted.join(", ")
        ))
    };
    // Roles still missing or not ready may appear any moment; expiry
    // happens at that moment, not at the next resync.
    let mut next = if unknown.is_empty() && not_ready.is_empty() {
        Next::Resync
    } else {
        Next::WaitForOthers
    };
    if let Some((_, left)) = left {
        let left = std::time::Duration::try_from(left).unwrap_or_default()
            + std::time::Duration::from_millis(50);
        next = match next {
            Next::Resync => Next::ResyncAtMost(left),
            Next::WaitForOthers => Next::After(super::decision::WAIT_FOR_OTHERS.min(left)),
            other => other,
        };
    }
    Decision::Converge(Plan {
        children: Some(MemberChildren {
            namespace: ns,
            bindings,
            reader_role,
            reader_binding,
            visitor,
            writes: Writes::All,
        }),
        outcome,
        facts: granted_in(MemberPhase::Active, granted),
        next,
    })
}

/// What a member's deletion removes: its access in the workspace (as the
/// API server lists it), then its reader. Only earlier builds made a
/// visitor binding, long ago: the cache has it if it exists (no GET per
/// member deleted).
pub fn teardown(member: &WorkspaceMember) -> super::teardown::Teardown {
    use super::teardown::{Look, Step, Target, Teardown};
    use crate::ownership::Kind;
    let uid = member.uid().unwrap_or_default();
    let org = member.namespace().unwrap_or_default();
    let reader = names::member_reader(&member.name_any());
    let owned = |kind, namespace: Option<&str>, name: String, look| Step::DeleteOwned {
        target: Target::new(kind, namespace, name),
        owner: uid.clone(),
        look,
        announce: None,
    };
    Teardown::done(vec![
        Step::DeleteComponent {
            kind: Kind::RoleBinding,
            namespace: Some(workspace_namespace(&org, &member.spec.workspace)),
            owner: uid.clone(),
            component: Component::MemberAccess,
        },
        owned(Kind::RoleBinding, Some(&org), reader.clone(), Look::Server),
        owned(
            Kind::ClusterRoleBinding,
            None,
            names::member_visitor(&org, &member.name_any()),
            Look::Cache,
        ),
        owned(Kind::Role, Some(&org), reader, Look::Server),
    ])
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
            false,
        );
        assert_eq!(access.granted, vec!["viewer"]);
        assert_eq!(access.bindings.len(), 1);
    }

    #[test]
    fn the_member_can_read_its_own_workspace_only() {
        let access = build(&member(BOB), &roles(&["editor"]), false, false);
        let role = access.reader_role.unwrap();
        assert_eq!(role.metadata.namespace.as_deref(), Some("acme"));
        let rules = role.rules.unwrap();
        assert_eq!(
            rules[0].resource_names.as_deref(),
            Some(&["pay".to_string()][..])
        );
        assert!(rules.iter().all(|r| !r.verbs.contains(&"list".to_string())));
    }

    fn writes_members(access: &MemberAccess) -> bool {
        access
            .reader_role
            .as_ref()
            .and_then(|r| r.rules.as_ref())
            .is_some_and(|rules| rules.iter().any(|r| r.verbs.iter().any(|v| v == "create")))
    }

    const ADA: &str = "{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {name: pay-ada, namespace: acme}, spec: {workspace: pay, subject: {kind: User, name: ada}, roles: [admin]}}";

    #[test]
    fn a_managing_role_sends_member_writes_only_when_delegation_is_on() {
        let all = roles(&["admin", "editor"]);
        assert!(writes_members(&build(&member(ADA), &all, false, true)));
        assert!(!writes_members(&build(&member(ADA), &all, false, false)));
        // Archived: viewer only, which manages nobody.
        assert!(!writes_members(&build(&member(ADA), &all, true, true)));
        // editor does not manage members.
        assert!(!writes_members(&build(&member(BOB), &all, false, true)));
    }

    #[test]
    fn a_manager_may_assign_what_its_roles_list_on_its_workspace_only() {
        let access = build(&member(ADA), &roles(&["admin", "editor"]), false, true);
        let rules = access.reader_role.unwrap().rules.unwrap();
        let managing = rules
            .iter()
            .find(|r| r.verbs.iter().any(|v| v == "manage-members"))
            .expect("the managing rule");
        assert_eq!(managing.resource_names, Some(vec!["pay".to_string()]));
        assert_eq!(
            managing.verbs,
            vec![
                "manage-members",
                "assign-admin",
                "assign-editor",
                "assign-viewer"
            ]
        );
    }

    #[test]
    fn no_granted_role_no_finding() {
        let access = build(&member(BOB), &roles(&["viewer"]), false, true);
        assert!(access.granted.is_empty());
        assert!(access.reader_role.is_none());
        assert!(access.reader_binding.is_none());
        assert!(access.visitor.is_none());
    }
}
