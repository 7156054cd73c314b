//! WorkspaceMember → one RoleBinding per role in the workspace namespace, and
//! read access to its own Workspace object in the organization namespace.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{
    ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject as RbacSubject,
};
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
    let known: BTreeSet<String> = roles.iter().map(|r| r.name_any()).collect();
    let granted = granted_roles(member, &known, archived);
    let subject = rbac_subject(&member.spec.subject);
    let bindings = role_bindings(member, &granted, &subject);
    // Archive mode grants viewer only, which manages nobody.
    let may_manage = delegated && !archived;
    let (reader_role, reader_binding) = reader_access(member, roles, may_manage, &subject);
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
        unknown_roles: unknown_roles(member, &known),
    }
}

/// The member's roles that are not among `known`.
fn unknown_roles(member: &WorkspaceMember, known: &BTreeSet<String>) -> Vec<String> {
    member
        .spec
        .roles
        .iter()
        .filter(|r| !known.contains(*r))
        .cloned()
        .collect()
}

/// The roles granted, sorted and without repeats: the member's roles among
/// `known`, each one viewer in archive mode.
fn granted_roles(
    member: &WorkspaceMember,
    known: &BTreeSet<String>,
    archived: bool,
) -> Vec<String> {
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
    granted
}

/// One RoleBinding of `subject` per granted role, in the workspace namespace.
fn role_bindings(
    member: &WorkspaceMember,
    granted: &[String],
    subject: &RbacSubject,
) -> Vec<RoleBinding> {
    let org = member.namespace().unwrap_or_default();
    let name = member.name_any();
    let ws = &member.spec.workspace;
    let uid = member.uid().unwrap_or_default();
    let marks = member_marks(&org, &name, Some(ws), &uid, Component::MemberAccess);
    let ns = workspace_namespace(&org, ws);
    granted
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
        .collect()
}

/// The reader Role in the organization namespace and its binding to
/// `subject`.
fn reader_access(
    member: &WorkspaceMember,
    roles: &[WorkspaceRole],
    may_manage: bool,
    subject: &RbacSubject,
) -> (Role, RoleBinding) {
    let org = member.namespace().unwrap_or_default();
    let name = member.name_any();
    let uid = member.uid().unwrap_or_default();
    let reader_marks = member_marks(&org, &name, None, &uid, Component::MemberReader);
    let reader_name = names::member_reader(&name);
    let reader_meta = ObjectMeta {
        name: Some(reader_name.clone()),
        namespace: Some(org.clone()),
        labels: Some(reader_marks),
        ..Default::default()
    };
    let reader_role = Role {
        metadata: reader_meta.clone(),
        rules: Some(reader_rules(member, roles, may_manage)),
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
    (reader_role, reader_binding)
}

/// The reader Role's rules: get its Workspace and membership, and for a
/// manager (when `may_manage`) its writes on members and what it may assign.
fn reader_rules(
    member: &WorkspaceMember,
    roles: &[WorkspaceRole],
    may_manage: bool,
) -> Vec<PolicyRule> {
    let ws = &member.spec.workspace;
    // A manager sends its writes on the workspace's members here, and holds
    // the verbs the admission policy asks about on its workspace: which
    // roles it may give (the union over its managing roles).
    let assignable: Vec<String> = roles
        .iter()
        .filter(|r| member.spec.roles.contains(&r.name_any()))
        .filter_map(|r| super::role::granted_spec(r).manage_members)
        .flat_map(|m| m.assignable_roles)
        .collect();
    // assignableRoles has at least one entry (schema): any managing role
    // leaves some.
    let manages = may_manage && !assignable.is_empty();
    let mut rules = vec![
        get_named(&["workspaces", "workspaces/status"], ws),
        get_named(
            &["workspacemembers", "workspacemembers/status"],
            &member.name_any(),
        ),
    ];
    // What each of its roles lets it do: the WorkspaceRoles it holds, by
    // name (`kubectl workspace roles`), never the others.
    let held: BTreeSet<String> = roles
        .iter()
        .map(|r| r.name_any())
        .filter(|r| member.spec.roles.contains(r))
        .collect();
    if !held.is_empty() {
        rules.push(PolicyRule {
            resource_names: Some(held.into_iter().collect()),
            ..get_named(&["workspaceroles", "workspaceroles/status"], "")
        });
    }
    if manages {
        rules.push(super::delegation::member_writes());
        rules.push(super::delegation::managing_rule(
            ws,
            assignable.iter().map(String::as_str),
        ));
    }
    rules
}

/// A rule to get and watch the workspaces.dev `resources` named `object`.
fn get_named(resources: &[&str], object: &str) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec!["workspaces.dev".into()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        resource_names: Some(vec![object.to_string()]),
        verbs: vec!["get".into(), "watch".into()],
        non_resource_urls: None,
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
    // The workspace it was granted in, kept until it grants in one.
    let recorded = member.status.as_ref().and_then(|s| s.workspace_uid.clone());
    let recorded = recorded.as_deref();
    if member.meta().deletion_timestamp.is_some() {
        return Decision::Delete {
            teardown: teardown(member),
            facts: granting_nothing(MemberPhase::Active, recorded),
        };
    }
    if let Some(refused) = subject_refused(member, policy, recorded) {
        return refused;
    }
    let Some(ws) = &input.workspace else {
        return workspace_not_found(member, recorded);
    };
    workspace_recreated(member, ws, recorded)
        .or_else(|| expired(member, input.now, recorded))
        .or_else(|| namespace_not_usable(member, &input.namespace, recorded))
        .unwrap_or_else(|| grant(member, input, policy, ws))
}

/// The facts of a membership that grants nothing (now): `phase`, no roles,
/// and the workspace it was granted in before, if any.
fn granting_nothing(phase: MemberPhase, recorded: Option<&str>) -> MemberFacts {
    MemberFacts {
        phase,
        granted: vec![],
        workspace_uid: recorded.map(str::to_owned),
    }
}

/// The facts of a membership that grants `granted` in `ws`.
fn granted_in(ws: &Workspace, phase: MemberPhase, granted: Vec<String>) -> MemberFacts {
    MemberFacts {
        phase,
        granted,
        workspace_uid: ws.uid(),
    }
}

/// A plan that removes all of the member's access and reports `outcome`.
fn revoke(
    member: &WorkspaceMember,
    recorded: Option<&str>,
    outcome: Outcome,
    phase: MemberPhase,
    next: Next,
) -> Decision<MemberChildren, MemberFacts> {
    Decision::Converge(Plan {
        children: Some(MemberChildren::none(member)),
        outcome,
        facts: granting_nothing(phase, recorded),
        next,
    })
}

/// Revokes everything if the platform does not allow the member's subject.
fn subject_refused(
    member: &WorkspaceMember,
    policy: &TenantPolicy,
    recorded: Option<&str>,
) -> Option<Decision<MemberChildren, MemberFacts>> {
    let org = member.namespace().unwrap_or_default();
    let why = policy.subject_refusal(&member.spec.subject, &org)?;
    Some(revoke(
        member,
        recorded,
        stalled(
            "SubjectNotAllowed",
            format!("{why}; this membership grants nothing"),
        ),
        MemberPhase::Pending,
        Next::AwaitChange,
    ))
}

/// Revokes everything: the member's workspace does not exist.
fn workspace_not_found(
    member: &WorkspaceMember,
    recorded: Option<&str>,
) -> Decision<MemberChildren, MemberFacts> {
    let org = member.namespace().unwrap_or_default();
    let ws_name = &member.spec.workspace;
    revoke(
        member,
        recorded,
        stalled(
            "WorkspaceNotFound",
            format!("no Workspace {ws_name:?} in namespace {org}; this membership grants nothing"),
        ),
        MemberPhase::Pending,
        Next::WaitForOthers,
    )
}

/// Revokes everything if `ws` is not the workspace the membership was
/// granted in.
fn workspace_recreated(
    member: &WorkspaceMember,
    ws: &Workspace,
    recorded: Option<&str>,
) -> Option<Decision<MemberChildren, MemberFacts>> {
    // Granted in an earlier workspace of this name, deleted since: a
    // membership left behind grants nothing in whoever's workspace comes
    // next under the name.
    let old = recorded?;
    let ws_name = &member.spec.workspace;
    ws.uid().is_some_and(|now| now != old).then(|| {
        revoke(
            member,
            recorded,
            stalled(
                "WorkspaceRecreated",
                format!(
                    "this membership was granted in an earlier Workspace {ws_name} (deleted since); it grants nothing in the new one. Delete it, and create a new membership if one is wanted"
                ),
            ),
            MemberPhase::Pending,
            Next::AwaitChange,
        )
    })
}

/// Revokes everything if the membership has expired.
fn expired(
    member: &WorkspaceMember,
    now: jiff::Timestamp,
    recorded: Option<&str>,
) -> Option<Decision<MemberChildren, MemberFacts>> {
    let expires = member.spec.expires_at.as_ref()?;
    let left = expires.0.duration_since(now);
    (left.is_negative() || left.is_zero()).then(|| {
        revoke(
            member,
            recorded,
            stalled(
                "Expired",
                format!(
                    "the membership expired at {}; its access is removed. Set a later expiresAt to renew it",
                    expires.0
                ),
            ),
            MemberPhase::Expired,
            Next::AwaitChange,
        )
    })
}

/// A report that writes nothing, unless the workspace namespace was made by
/// this very workspace.
fn namespace_not_usable(
    member: &WorkspaceMember,
    owner: &NamespaceOwner,
    recorded: Option<&str>,
) -> Option<Decision<MemberChildren, MemberFacts>> {
    let ws_name = &member.spec.workspace;
    let ns = workspace_namespace(&member.namespace().unwrap_or_default(), ws_name);
    // Access is written only into the namespace this very workspace made:
    // never into one someone else made, or one released by Retain.
    let outcome = match owner {
        NamespaceOwner::ThisWorkspace => return None,
        NamespaceOwner::NotYet => progressing(
            "WorkspaceNotReady",
            format!("waiting for workspace {ws_name} to make its namespace {ns}"),
        ),
        NamespaceOwner::Other => stalled(
            "NamespaceNotOwned",
            format!(
                "namespace {ns} was not made by workspace-operator for Workspace {ws_name}; nothing is written into it and this membership grants nothing"
            ),
        ),
    };
    Some(Decision::report(
        outcome,
        granting_nothing(MemberPhase::Pending, recorded),
        Next::WaitForOthers,
    ))
}

/// The plan granting the member's Ready roles in `ws` (removals only while
/// `ws` is being deleted).
fn grant(
    member: &WorkspaceMember,
    input: &MemberInput,
    policy: &TenantPolicy,
    ws: &Workspace,
) -> Decision<MemberChildren, MemberFacts> {
    let roles = &input.roles;
    let ready_roles: Vec<WorkspaceRole> = roles.iter().filter(|r| role_ready(r)).cloned().collect();
    let not_ready = roles_not_ready(member, roles, &ready_roles);
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
    let children = MemberChildren {
        namespace: workspace_namespace(
            &member.namespace().unwrap_or_default(),
            &member.spec.workspace,
        ),
        bindings,
        reader_role,
        reader_binding,
        visitor: owned_by_organization(visitor, input.organization.as_ref()),
        writes: Writes::All,
    };
    if ws.meta().deletion_timestamp.is_some() {
        return removals_only(member, ws, children, &granted);
    }
    let unknown: Vec<String> = unknown_roles
        .into_iter()
        .filter(|r| !not_ready.contains(r))
        .collect();
    let outcome = grant_outcome(member, roles, &unknown, &not_ready, &granted);
    let next = next_look(
        member,
        input.now,
        unknown.is_empty() && not_ready.is_empty(),
    );
    let phase = grant_phase(&outcome, &granted);
    Decision::Converge(Plan {
        children: Some(children),
        outcome,
        facts: granted_in(ws, phase, granted),
        next,
    })
}

/// The phase of a grant, as `kubectl get wsm` shows it first: Active only
/// when something is granted; a membership that grants nothing is Failed
/// when waiting will not help (its only roles are unknown or refused) and
/// Pending while they may still become Ready.
fn grant_phase(outcome: &Outcome, granted: &[String]) -> MemberPhase {
    match outcome {
        _ if !granted.is_empty() => MemberPhase::Active,
        Outcome::Stalled { .. } => MemberPhase::Failed,
        _ => MemberPhase::Pending,
    }
}

/// The member's roles that exist among `roles` but not among `ready_roles`.
fn roles_not_ready(
    member: &WorkspaceMember,
    roles: &[WorkspaceRole],
    ready_roles: &[WorkspaceRole],
) -> Vec<String> {
    let exists = |r: &String| roles.iter().any(|x| &x.name_any() == r);
    let is_ready = |r: &String| ready_roles.iter().any(|x| &x.name_any() == r);
    member
        .spec
        .roles
        .iter()
        .filter(|r| exists(r) && !is_ready(r))
        .cloned()
        .collect()
}

/// `visitor`, if any, owned by the organization.
fn owned_by_organization(
    visitor: Option<ClusterRoleBinding>,
    organization: Option<&crate::api::Organization>,
) -> Option<ClusterRoleBinding> {
    visitor.map(|mut v| {
        v.metadata.owner_references = organization
            .and_then(super::owner_reference)
            .map(|o| vec![o]);
        v
    })
}

/// The plan while the workspace is being deleted: `children` with removals
/// only, reporting the roles it granted before that are still granted.
fn removals_only(
    member: &WorkspaceMember,
    ws: &Workspace,
    children: MemberChildren,
    granted: &[String],
) -> Decision<MemberChildren, MemberFacts> {
    let kept = member
        .status
        .as_ref()
        .and_then(|s| s.granted_roles.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| granted.contains(r))
        .collect();
    let ws_name = &member.spec.workspace;
    Decision::Converge(Plan {
        children: Some(MemberChildren {
            writes: Writes::RemovalsOnly,
            ..children
        }),
        outcome: progressing(
            "WorkspaceDeleting",
            format!(
                "workspace {ws_name} is being deleted: no access is added meanwhile, removals still apply"
            ),
        ),
        facts: granted_in(ws, MemberPhase::Active, kept),
        next: Next::WaitForOthers,
    })
}

/// The outcome of a grant: stalled on unknown or refused roles, progressing
/// on roles not Ready yet, else Ready.
fn grant_outcome(
    member: &WorkspaceMember,
    roles: &[WorkspaceRole],
    unknown: &[String],
    not_ready: &[String],
    granted: &[String],
) -> Outcome {
    let org = member.namespace().unwrap_or_default();
    let ws_name = &member.spec.workspace;
    let mut problems = vec![];
    if !unknown.is_empty() {
        problems.push(format!(
            "no WorkspaceRole {} in namespace {org}; not granted",
            unknown.join(", ")
        ));
    }
    let all_refused = all_refused(roles, not_ready);
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
    if !unknown.is_empty() {
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
    }
}

/// Whether there are roles not Ready and every one of them is refused.
fn all_refused(roles: &[WorkspaceRole], not_ready: &[String]) -> bool {
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
    !not_ready.is_empty() && refused == not_ready.len()
}

/// When to look again: soon unless every role is settled, and no later than
/// the membership expires.
fn next_look(member: &WorkspaceMember, now: jiff::Timestamp, roles_settled: bool) -> Next {
    // Roles still missing or not ready may appear any moment; expiry
    // happens at that moment, not at the next resync.
    let next = if roles_settled {
        Next::Resync
    } else {
        Next::WaitForOthers
    };
    let Some(expires) = &member.spec.expires_at else {
        return next;
    };
    let left = expires.0.duration_since(now);
    let left = std::time::Duration::try_from(left).unwrap_or_default()
        + std::time::Duration::from_millis(50);
    match next {
        Next::Resync => Next::ResyncAtMost(left),
        Next::WaitForOthers => Next::After(super::decision::WAIT_FOR_OTHERS.min(left)),
        other => other,
    }
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
        // The roles it holds, by name, and no other.
        let readable: Vec<&PolicyRule> = rules
            .iter()
            .filter(|r| r.resources.iter().flatten().any(|x| x == "workspaceroles"))
            .collect();
        assert_eq!(readable.len(), 1);
        assert_eq!(
            readable[0].resource_names.as_deref(),
            Some(&["editor".to_string()][..])
        );
        let unknown = build(&member(BOB), &roles(&["viewer"]), false, false);
        let rules = unknown
            .reader_role
            .and_then(|r| r.rules)
            .unwrap_or_default();
        assert!(
            rules
                .iter()
                .all(|r| !r.resources.iter().flatten().any(|x| x == "workspaceroles")),
            "a role it holds that does not exist is not named: {rules:?}"
        );
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
