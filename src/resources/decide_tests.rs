//! Every kind's `decide`, as tables of inputs and expected verdicts: no
//! cluster, no client. (The builders' own properties are in `properties`.)

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::decision::{Decision, Next};
use super::teardown::{Edits, Live, Look, Step, Teardown, Then};
use super::tenancy::TenantPolicy;
use super::{NamespaceOwner, member, organization, role, workspace};
use crate::api::common::Condition;
use crate::api::member::MemberPhase;
use crate::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use crate::conditions::Outcome;

/// A decision in a few words: `ready`, `progressing:<reason>`,
/// `stalled:<reason>`, `blocked:<why>`, `delete`; and whether children
/// are written.
fn verdict<C, F>(d: &Decision<C, F>) -> (String, bool, Option<Next>) {
    match d {
        Decision::Converge(plan) => {
            let word = match &plan.outcome {
                Outcome::Ready { .. } => "ready".to_string(),
                Outcome::Progressing { reason, .. } => format!("progressing:{reason}"),
                Outcome::Stalled { reason, .. } => format!("stalled:{reason}"),
            };
            (word, plan.children.is_some(), Some(plan.next))
        }
        Decision::DeletionBlocked { why, children, .. } => {
            (format!("blocked:{why}"), children.is_some(), None)
        }
        Decision::Delete { .. } => ("delete".into(), false, None),
        Decision::Prepare { teardown, .. } => match &teardown.then {
            Then::Wait { reason, .. } => (format!("prepare:{reason}"), false, None),
            Then::Done => ("prepare".into(), false, None),
        },
        Decision::Unattached { outcome, next, .. } => {
            let word = match outcome {
                Outcome::Ready { .. } => "unattached:ready".to_string(),
                Outcome::Progressing { reason, .. } => format!("unattached:{reason}"),
                Outcome::Stalled { reason, .. } => format!("unattached:{reason}"),
            };
            (word, false, Some(*next))
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml::from_str(yaml).unwrap()
}

fn deleting<K: kube::Resource>(mut obj: K) -> K {
    obj.meta_mut().deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
    obj.meta_mut().finalizers = Some(vec!["workspaces.dev/cleanup".into()]);
    obj
}

fn org() -> Organization {
    let mut o: Organization = parse(
        "{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {name: acme}, spec: {admins: [{kind: Group, name: acme-admins}], memberGroups: [acme-staff], plans: {free: {quota: {pods: 5}}}}}",
    );
    o.metadata.uid = Some("org-uid".into());
    o
}

fn ready_condition(generation: i64, reason: &str, status: &str) -> Condition {
    Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message: String::new(),
        observed_generation: Some(generation),
        last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
    }
}

fn a_role(name: &str, ready: Option<&str>) -> WorkspaceRole {
    let mut r: WorkspaceRole = parse(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: {name}, namespace: acme, generation: 1}}, spec: {{rules: [{{apiGroups: [''], resources: [configmaps], verbs: [get]}}]}}}}"
    ));
    r.metadata.uid = Some(format!("{name}-uid"));
    if let Some(reason) = ready {
        let status = if reason == "Ready" { "True" } else { "False" };
        r.status = Some(crate::api::role::WorkspaceRoleStatus {
            conditions: vec![ready_condition(1, reason, status)],
            observed_generation: Some(1),
            ..Default::default()
        });
    }
    r
}

fn admin_ceiling() -> Vec<PolicyRule> {
    vec![PolicyRule {
        api_groups: Some(vec!["".into(), "apps".into()]),
        resources: Some(vec![
            "configmaps".into(),
            "pods".into(),
            "deployments".into(),
        ]),
        verbs: vec!["*".into()],
        ..Default::default()
    }]
}

// ---------------------------------------------------------------- roles ---

fn role_input() -> role::RoleInput {
    role::RoleInput {
        organization: Some(org()),
        included: role::Included::Found(vec![]),
        ceiling: Some(admin_ceiling()),
        refused_before: None,
        users: vec![],
        members: 2,
    }
}

/// A refusal remembered for `generation` of `r`'s current rules.
fn refused(generation: i64, r: &WorkspaceRole) -> role::RefusedGrant {
    let wanted = role::cluster_role("acme", "r", "", &role::granted_spec(r), &[])
        .rules
        .unwrap_or_default();
    role::RefusedGrant {
        generation,
        digest: role::rules_digest(&wanted),
        message: "refused".into(),
    }
}

#[test]
fn role_decisions() {
    let policy = TenantPolicy::default();
    let secrets_role: WorkspaceRole = parse(
        "{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {name: reader, namespace: acme, uid: r}, spec: {rules: [{apiGroups: [''], resources: [secrets], verbs: [get]}]}}",
    );
    let includes: WorkspaceRole = parse(
        "{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {name: incl, namespace: acme, uid: r}, spec: {clusterRoles: [view]}}",
    );
    type Case = (
        &'static str,
        WorkspaceRole,
        role::RoleInput,
        &'static str,
        bool,
    );
    let cases: Vec<Case> = vec![
        (
            "fits the ceiling",
            a_role("r", None),
            role_input(),
            "ready",
            true,
        ),
        (
            "no organization",
            a_role("r", None),
            role::RoleInput {
                organization: None,
                ..role_input()
            },
            "unattached:OrganizationNotFound",
            false,
        ),
        (
            "beyond the ceiling: revoked",
            secrets_role.clone(),
            role_input(),
            "stalled:BeyondCeiling",
            true,
        ),
        (
            "no ceiling: nothing granted, nothing revoked",
            a_role("r", None),
            role::RoleInput {
                ceiling: None,
                ..role_input()
            },
            "stalled:CeilingNotFound",
            false,
        ),
        (
            "an include the platform does not allow: revoked",
            includes.clone(),
            role_input(),
            "stalled:ClusterRoleNotAllowed",
            true,
        ),
        (
            "refused by the API server before, same role and rules",
            a_role("r", None),
            role::RoleInput {
                refused_before: Some(refused(1, &a_role("r", None))),
                ..role_input()
            },
            "stalled:CeilingNotHeld",
            false,
        ),
        (
            "refused for an earlier generation: asked again",
            a_role("r", None),
            role::RoleInput {
                refused_before: Some(refused(0, &a_role("r", None))),
                ..role_input()
            },
            "ready",
            true,
        ),
        (
            "deleting, unused",
            deleting(a_role("r", None)),
            role_input(),
            "delete",
            false,
        ),
        (
            "deleting, still used",
            deleting(a_role("r", None)),
            role::RoleInput {
                users: vec!["WorkspaceMember m".into()],
                ..role_input()
            },
            "blocked:role r is still used by WorkspaceMember m: remove it from them (or delete those members) first",
            false,
        ),
        (
            "deleting a predefined role of a living organization",
            deleting(a_role("viewer", None)),
            role_input(),
            "blocked:viewer is a predefined role of Organization acme: it is kept as defined while the organization exists",
            false,
        ),
    ];
    for (name, r, input, expected, writes) in cases {
        let (got, children, _) = verdict(&role::decide(&r, &input, &policy));
        assert_eq!((got.as_str(), children), (expected, writes), "{name}");
    }

    // An allowed include that is missing is re-read later, nothing revoked.
    let allowing = TenantPolicy {
        allowed_cluster_roles: BTreeSet::from(["view".to_string()]),
        ..TenantPolicy::default()
    };
    let missing = role::RoleInput {
        included: role::Included::Missing(vec!["view".into()]),
        ..role_input()
    };
    assert_eq!(
        verdict(&role::decide(&includes, &missing, &allowing)),
        (
            "stalled:ClusterRoleNotFound".into(),
            false,
            Some(Next::After(role::INCLUDED_REREAD))
        )
    );
    // A ready role carries its ClusterRole, owned by the organization.
    let Decision::Converge(plan) = role::decide(&a_role("r", None), &role_input(), &policy) else {
        panic!("converges")
    };
    let cr = plan.children.unwrap().cluster_role.unwrap();
    assert_eq!(
        cr.metadata.name.as_deref(),
        Some("workspaces.dev:role:acme:r")
    );
    assert_eq!(cr.metadata.owner_references.unwrap()[0].uid, "org-uid");
    assert_eq!(plan.facts.members, 2);
}

/// A role that manages members grants nothing more inside workspaces: the
/// verbs the delegated-membership policy asks about live in each
/// manager's own Role in the organization namespace, tied to its workspace,
/// so anonymous access or a binding in a foreign namespace never carries
/// them.
#[test]
fn a_managing_role_grants_no_policy_verbs_inside_workspaces() {
    let mut r = a_role("lead", None);
    r.spec.manage_members = Some(crate::api::role::ManageMembers {
        assignable_roles: vec!["viewer".into()],
    });
    let policy = TenantPolicy {
        delegated_membership: true,
        ..Default::default()
    };
    let Decision::Converge(plan) = role::decide(&r, &role_input(), &policy) else {
        panic!("converges")
    };
    let rules = plan.children.unwrap().cluster_role.unwrap().rules.unwrap();
    assert!(rules.iter().all(|rule| {
        rule.api_groups
            .iter()
            .flatten()
            .all(|g| g != "workspaces.dev")
    }));
}

// -------------------------------------------------------------- members ---

fn a_member(extra: &str) -> WorkspaceMember {
    let mut m: WorkspaceMember = parse(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: pay-bob, namespace: acme}}, spec: {{workspace: pay, subject: {{kind: User, name: bob}}, roles: [viewer]{extra}}}}}"
    ));
    m.metadata.uid = Some("m-uid".into());
    m
}

fn pay() -> Workspace {
    let mut w: Workspace = parse(
        "{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {name: pay, namespace: acme}, spec: {}}",
    );
    w.metadata.uid = Some("ws-uid".into());
    w
}

fn member_input() -> member::MemberInput {
    member::MemberInput {
        now: "2026-06-01T00:00:00Z".parse().unwrap(),
        organization: Some(org()),
        workspace: Some(pay()),
        namespace: NamespaceOwner::ThisWorkspace,
        roles: vec![a_role("viewer", Some("Ready"))],
    }
}

#[test]
fn member_decisions() {
    let policy = TenantPolicy::default();
    type Case = (
        &'static str,
        WorkspaceMember,
        member::MemberInput,
        &'static str,
        bool,
    );
    let cases: Vec<Case> = vec![
        ("granted", a_member(""), member_input(), "ready", true),
        (
            "no workspace: revoked",
            a_member(""),
            member::MemberInput {
                workspace: None,
                ..member_input()
            },
            "stalled:WorkspaceNotFound",
            true,
        ),
        (
            "expired: revoked",
            a_member(", expiresAt: '2026-01-01T00:00:00Z'"),
            member_input(),
            "stalled:Expired",
            true,
        ),
        (
            "a system subject: revoked",
            {
                let mut m = a_member("");
                m.spec.subject.name = "system:admin".into();
                m
            },
            member_input(),
            "stalled:SubjectNotAllowed",
            true,
        ),
        (
            "namespace not made yet",
            a_member(""),
            member::MemberInput {
                namespace: NamespaceOwner::NotYet,
                ..member_input()
            },
            "progressing:WorkspaceNotReady",
            false,
        ),
        (
            "namespace someone else's: nothing written there",
            a_member(""),
            member::MemberInput {
                namespace: NamespaceOwner::Other,
                ..member_input()
            },
            "stalled:NamespaceNotOwned",
            false,
        ),
        (
            "role not ready yet",
            a_member(""),
            member::MemberInput {
                roles: vec![a_role("viewer", None)],
                ..member_input()
            },
            "progressing:RoleNotReady",
            true,
        ),
        (
            "role refused by the ceiling",
            a_member(""),
            member::MemberInput {
                roles: vec![a_role("viewer", Some("BeyondCeiling"))],
                ..member_input()
            },
            "stalled:RoleNotReady",
            true,
        ),
        (
            "unknown role",
            a_member(""),
            member::MemberInput {
                roles: vec![],
                ..member_input()
            },
            "stalled:UnknownRole",
            true,
        ),
        (
            "granted in an earlier workspace of this name: revoked",
            {
                let mut m = a_member("");
                m.status = Some(crate::api::member::WorkspaceMemberStatus {
                    workspace_uid: Some("an-earlier-uid".into()),
                    ..Default::default()
                });
                m
            },
            member_input(),
            "stalled:WorkspaceRecreated",
            true,
        ),
        (
            "granted in this very workspace before: still granted",
            {
                let mut m = a_member("");
                m.status = Some(crate::api::member::WorkspaceMemberStatus {
                    workspace_uid: Some("ws-uid".into()),
                    ..Default::default()
                });
                m
            },
            member_input(),
            "ready",
            true,
        ),
        (
            "workspace being deleted: removals only",
            a_member(""),
            member::MemberInput {
                workspace: Some(deleting(pay())),
                ..member_input()
            },
            "progressing:WorkspaceDeleting",
            true,
        ),
        (
            "deleting",
            deleting(a_member("")),
            member_input(),
            "delete",
            false,
        ),
    ];
    for (name, m, input, expected, writes) in cases {
        let (got, children, _) = verdict(&member::decide(&m, &input, &policy));
        assert_eq!((got.as_str(), children), (expected, writes), "{name}");
    }

    // The phase `kubectl get wsm` shows first tells whether anything is
    // granted: Active only then.
    let phase_with = |roles: Vec<WorkspaceRole>| match member::decide(
        &a_member(""),
        &member::MemberInput {
            roles,
            ..member_input()
        },
        &policy,
    ) {
        Decision::Converge(plan) => (plan.facts.phase, plan.facts.granted),
        _ => panic!("a grant converges"),
    };
    let granted = phase_with(member_input().roles);
    assert_eq!(granted.0, MemberPhase::Active, "{granted:?}");
    assert!(!granted.1.is_empty());
    for (name, roles, phase) in [
        ("its only role unknown", vec![], MemberPhase::Failed),
        (
            "its only role refused",
            vec![a_role("viewer", Some("BeyondCeiling"))],
            MemberPhase::Failed,
        ),
        (
            "its only role not Ready yet",
            vec![a_role("viewer", None)],
            MemberPhase::Pending,
        ),
    ] {
        assert_eq!(phase_with(roles), (phase, vec![]), "{name}");
    }

    // Expiry is looked at the moment it comes, not at the next resync.
    let soon = a_member(", expiresAt: '2026-06-01T00:01:00Z'");
    let (_, _, next) = verdict(&member::decide(&soon, &member_input(), &policy));
    assert_eq!(
        next,
        Some(Next::ResyncAtMost(std::time::Duration::from_millis(60_050)))
    );
    // Its Organization is read through the organization's one binding,
    // never one of its own (the authorizer walks every ClusterRoleBinding).
    let granted = member::decide(&a_member(""), &member_input(), &policy);
    assert!(granted.children().unwrap().visitor.is_none());
    let expired = a_member(", expiresAt: '2026-01-01T00:00:00Z'");
    let revoked = member::decide(&expired, &member_input(), &policy);
    assert!(revoked.children().unwrap().visitor.is_none());
    // While the workspace is deleted, nothing is added.
    let input = member::MemberInput {
        workspace: Some(deleting(pay())),
        ..member_input()
    };
    let plan = member::decide(&a_member(""), &input, &policy);
    let children = plan.children().unwrap();
    assert_eq!(children.writes, member::Writes::RemovalsOnly);
}

// ----------------------------------------------------------- workspaces ---

fn ws_input() -> workspace::WorkspaceInput {
    workspace::WorkspaceInput {
        organization: Some(org()),
        linked_members: vec![],
        roles: BTreeSet::from(["admin".into(), "viewer".into()]),
        role_cluster_roles: BTreeSet::from([
            "workspaces.dev:role:acme:admin".into(),
            "workspaces.dev:role:acme:viewer".into(),
        ]),
        namespace: NamespaceOwner::ThisWorkspace,
        reaches: vec![],
        budget_refusal: None,
        restore_from: None,
        live: workspace::LiveNamespace {
            platform: None,
            applied: Some(crate::resources::guardrails::AppliedPlan::default()),
        },
        namespace_now: Live::NotRead,
        now: NOW.parse().unwrap(),
    }
}

/// The moment every table's reconcile runs at.
const NOW: &str = "2026-06-01T00:00:00Z";

#[test]
fn workspace_decisions() {
    let policy = TenantPolicy::default();
    let with = with_spec;
    let default_ws = {
        let mut w = with("{}");
        w.metadata.name = Some("default".into());
        w
    };
    type Case = (
        &'static str,
        Workspace,
        workspace::WorkspaceInput,
        &'static str,
        bool,
    );
    let cases: Vec<Case> = vec![
        ("in place", pay(), ws_input(), "ready", true),
        (
            "no organization",
            pay(),
            workspace::WorkspaceInput {
                organization: None,
                ..ws_input()
            },
            "unattached:OrganizationNotFound",
            false,
        ),
        (
            "unknown plan: access still follows, the plan's children are left",
            with("{plan: gold}"),
            ws_input(),
            "stalled:UnknownPlan",
            true,
        ),
        (
            "a refused owner: built without it",
            with("{owner: {kind: Group, name: 'system:masters'}}"),
            ws_input(),
            "stalled:SubjectNotAllowed",
            true,
        ),
        (
            "a role's ClusterRole not made yet",
            pay(),
            workspace::WorkspaceInput {
                role_cluster_roles: BTreeSet::new(),
                ..ws_input()
            },
            "progressing:RoleNotReady",
            true,
        ),
        (
            "an anonymous role that does not exist",
            with("{anonymousRole: ghost}"),
            ws_input(),
            "stalled:UnknownRole",
            true,
        ),
        (
            "deleting, nothing linked",
            deleting(pay()),
            ws_input(),
            "delete",
            false,
        ),
        (
            "deleting with members linked: kept up to date meanwhile",
            deleting(pay()),
            workspace::WorkspaceInput {
                linked_members: vec!["pay-bob".into()],
                ..ws_input()
            },
            "blocked:1 member(s) still linked: pay-bob. Unlink them first: kubectl delete workspacemember -n acme pay-bob",
            true,
        ),
        (
            "deleting the default workspace of a living organization",
            deleting(default_ws),
            ws_input(),
            "blocked:default is the default workspace of Organization acme: it cannot be deleted while the organization exists. Delete the Organization instead",
            true,
        ),
    ];
    for (name, w, input, expected, writes) in cases {
        let (got, children, _) = verdict(&workspace::decide(&w, &input, &policy));
        assert_eq!((got.as_str(), children), (expected, writes), "{name}");
    }
    // A role not in place: its binding is not written (it would grant
    // nothing, and Kubernetes refuses it); the others are.
    let input = workspace::WorkspaceInput {
        role_cluster_roles: BTreeSet::from(["workspaces.dev:role:acme:viewer".into()]),
        ..ws_input()
    };
    let decision = workspace::decide(&with("{anonymousRole: viewer}"), &input, &policy);
    let writes = decision.children().unwrap();
    let written: Vec<_> = writes
        .role_bindings
        .iter()
        .map(|b| b.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(written, ["workspaces.dev:anonymous:viewer"]);
    assert!(writes.settings.plan.is_some());
    // An unknown plan in a workspace that has its namespace: access is
    // written, and the plan the namespace holds stays in effect.
    let decision = workspace::decide(&with("{plan: gold}"), &holding_free(), &policy);
    let writes = decision.children().unwrap();
    assert_eq!(pods_quota(&writes.settings), Some("5".into()));
    assert_eq!(writes.role_bindings.len(), 2);
    // The same in a new workspace: no namespace (and so no access) until its
    // plan's quota can come with it.
    for owner in [NamespaceOwner::NotYet, NamespaceOwner::Other] {
        let input = workspace::WorkspaceInput {
            namespace: owner,
            ..ws_input()
        };
        let decision = workspace::decide(&with("{plan: gold}"), &input, &policy);
        assert_eq!(
            verdict(&decision),
            ("stalled:UnknownPlan".into(), false, Some(Next::AwaitChange)),
            "{owner:?}"
        );
    }
}

/// The input of a workspace whose namespace holds plan `free` (pods: 5).
fn holding_free() -> workspace::WorkspaceInput {
    workspace::WorkspaceInput {
        live: workspace::LiveNamespace {
            platform: Some(Default::default()),
            applied: Some(crate::resources::guardrails::AppliedPlan {
                name: Some("free".into()),
                quota: [(
                    "pods".to_string(),
                    crate::api::common::QuantityValue("5".into()),
                )]
                .into(),
            }),
        },
        ..ws_input()
    }
}

fn pods_quota(settings: &workspace::WorkspaceSettings) -> Option<String> {
    settings
        .quota()?
        .spec
        .as_ref()?
        .hard
        .as_ref()?
        .get("pods")
        .map(|q| q.0.clone())
}

/// Every guardrail a workspace's settings carry, in a few words.
fn guardrails_of(settings: &workspace::WorkspaceSettings) -> (bool, bool, Option<String>) {
    (
        settings.network_policy.is_some(),
        settings.stop_work.is_some(),
        pods_quota(settings),
    )
}

#[test]
fn guardrails_hold_in_every_state_of_a_workspace() {
    let policy = TenantPolicy::default();
    let with = with_spec;
    let over_budget = || workspace::WorkspaceInput {
        budget_refusal: Some("over".into()),
        ..holding_free()
    };
    // (case, workspace, input, verdict, (isolated, stop-work, pods quota))
    type Case = (
        &'static str,
        Workspace,
        workspace::WorkspaceInput,
        &'static str,
        (bool, bool, Option<String>),
    );
    let five = || Some("5".to_string());
    let cases: Vec<Case> = vec![
        (
            "ready",
            with("{plan: free}"),
            holding_free(),
            "ready",
            (true, false, five()),
        ),
        (
            "archived",
            with("{plan: free, archived: true}"),
            holding_free(),
            "ready",
            (true, true, five()),
        ),
        (
            "an unknown plan keeps the plan held",
            with("{plan: gold}"),
            holding_free(),
            "stalled:UnknownPlan",
            (true, false, five()),
        ),
        (
            "an unknown plan, then archived: no new work all the same",
            with("{plan: gold, archived: true}"),
            holding_free(),
            "stalled:UnknownPlan",
            (true, true, five()),
        ),
        (
            "over budget keeps the plan held",
            with("{plan: free}"),
            over_budget(),
            "stalled:OverBudget",
            (true, false, five()),
        ),
        (
            "over budget and archived",
            with("{plan: free, archived: true}"),
            over_budget(),
            "stalled:OverBudget",
            (true, true, five()),
        ),
        (
            "isolation off is not the workspace's to choose",
            with("{plan: free, networkIsolation: false}"),
            holding_free(),
            "stalled:SettingNotAllowed",
            (true, false, five()),
        ),
        (
            "isolation off with an unknown plan",
            with("{plan: gold, networkIsolation: false}"),
            holding_free(),
            "stalled:UnknownPlan",
            (true, false, five()),
        ),
        (
            "deleting, blocked by a member: still guarded",
            deleting(with("{plan: gold, archived: true}")),
            workspace::WorkspaceInput {
                linked_members: vec!["pay-bob".into()],
                ..holding_free()
            },
            "blocked:1 member(s) still linked: pay-bob. Unlink them first: kubectl delete workspacemember -n acme pay-bob",
            (true, true, five()),
        ),
    ];
    for (name, w, input, expected, guarded) in cases {
        let decision = workspace::decide(&w, &input, &policy);
        assert_eq!(verdict(&decision).0, expected, "{name}");
        let writes = decision.children().expect(name);
        assert_eq!(guardrails_of(&writes.settings), guarded, "{name}");
        // The namespace records the plan in effect, and says isolation is enforced.
        let annotations = writes
            .namespace
            .metadata
            .annotations
            .clone()
            .unwrap_or_default();
        assert_eq!(
            annotations
                .get(crate::resources::guardrails::APPLIED_PLAN)
                .map(String::as_str),
            Some("free"),
            "{name}"
        );
        let labels = writes.namespace.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get(crate::resources::guardrails::ISOLATION_LABEL)
                .map(String::as_str),
            Some("enforced"),
            "{name}"
        );
    }
    // Where the organization leaves isolation off, a workspace may turn it on.
    let mut open_org = org();
    open_org.spec.defaults = Some(parse("{networkIsolation: false}"));
    let input = workspace::WorkspaceInput {
        organization: Some(open_org),
        ..holding_free()
    };
    for (spec, isolated) in [
        ("{plan: free}", false),
        ("{plan: free, networkIsolation: true}", true),
    ] {
        let decision = workspace::decide(&with(spec), &input, &policy);
        assert_eq!(verdict(&decision).0, "ready", "{spec}");
        let writes = decision.children().unwrap();
        assert_eq!(writes.settings.network_policy.is_some(), isolated, "{spec}");
    }
    // The platform lowers the plan a workspace holds while its spec names
    // an unknown plan: the lower quota applies all the same.
    let mut lowered = org();
    lowered.spec.plans = Some(parse("{free: {quota: {pods: 2}}}"));
    let input = workspace::WorkspaceInput {
        organization: Some(lowered),
        ..holding_free()
    };
    let decision = workspace::decide(&with("{plan: gold}"), &input, &policy);
    assert_eq!(
        pods_quota(&decision.children().unwrap().settings),
        Some("2".into())
    );
    // Beyond the budget, a plan asking no more than the one held is applied.
    let mut two_plans = org();
    two_plans.spec.plans = Some(parse(
        "{free: {quota: {pods: 5}}, tiny: {quota: {pods: 1}}}",
    ));
    let input = workspace::WorkspaceInput {
        organization: Some(two_plans),
        ..over_budget()
    };
    let decision = workspace::decide(&with("{plan: tiny}"), &input, &policy);
    assert_eq!(
        pods_quota(&decision.children().unwrap().settings),
        Some("1".into())
    );
    // A record an earlier version's keep wrote (a quota, no plan name) is
    // counted, never applied.
    let input = workspace::WorkspaceInput {
        live: workspace::LiveNamespace {
            platform: Some(Default::default()),
            applied: Some(crate::resources::guardrails::AppliedPlan {
                name: None,
                quota: [(
                    "pods".to_string(),
                    crate::api::common::QuantityValue("500".into()),
                )]
                .into(),
            }),
        },
        ..ws_input()
    };
    let decision = workspace::decide(&with("{plan: gold}"), &input, &policy);
    assert!(decision.children().unwrap().settings.plan.is_none());
    // A namespace recording nothing (an earlier version's) with an unknown
    // plan: the plan's children are left as they are, isolation and the
    // stop on new work still follow the spec.
    let input = workspace::WorkspaceInput {
        live: workspace::LiveNamespace::default(),
        ..ws_input()
    };
    let decision = workspace::decide(&with("{plan: gold, archived: true}"), &input, &policy);
    let writes = decision.children().unwrap();
    assert!(writes.settings.plan.is_none());
    assert!(writes.settings.network_policy.is_some() && writes.settings.stop_work.is_some());
}

#[test]
fn everyone_with_access_may_find_the_workspace() {
    let policy = TenantPolicy::default();
    let open: Workspace = {
        let mut w: Workspace = parse(
            "{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {name: pay, namespace: acme}, spec: {owner: {kind: User, name: olga}, acceptAnonymous: true}}",
        );
        w.metadata.uid = Some("ws-uid".into());
        w
    };
    let input = ws_input();
    let decision = workspace::decide(&open, &input, &policy);
    let readers = &decision.children().unwrap().readers;
    let names = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| -> Vec<String> {
        subjects.iter().flatten().map(|s| s.name.clone()).collect()
    };
    assert_eq!(
        names(&readers.binding.as_ref().unwrap().subjects),
        ["acme-staff", "olga"],
        "the owner and the member groups of an open workspace read the Workspace"
    );
    assert!(
        readers.visitors.is_none(),
        "the Organization is read through the organization's one binding"
    );
    // An invite-only workspace without an owner or members: nobody to bind.
    let decision = workspace::decide(&with_spec("{acceptAnonymous: false}"), &ws_input(), &policy);
    let readers = &decision.children().unwrap().readers;
    assert!(readers.binding.is_none() && readers.visitors.is_none());
}

fn with_spec(spec: &str) -> Workspace {
    let mut w: Workspace = parse(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: pay, namespace: acme}}, spec: {spec}}}"
    ));
    w.metadata.uid = Some("ws-uid".into());
    w
}

// -------------------------------------------------------- organizations ---

#[test]
fn organization_decisions() {
    let named = |names: &[&str]| -> Vec<Workspace> {
        names
            .iter()
            .map(|n| {
                let mut w = pay();
                w.metadata.name = Some(n.to_string());
                w
            })
            .collect()
    };
    type Case = (
        &'static str,
        Organization,
        Vec<Workspace>,
        &'static str,
        bool,
    );
    let cases: Vec<Case> = vec![
        ("in place", org(), named(&["default", "pay"]), "ready", true),
        (
            "deleting, only the default left",
            deleting(org()),
            named(&["default"]),
            "delete",
            false,
        ),
        (
            "deleting, nothing left",
            deleting(org()),
            vec![],
            "delete",
            false,
        ),
        (
            "deleting with workspaces left",
            deleting(org()),
            named(&["default", "pay", "web"]),
            "blocked:2 workspace(s) remain: pay, web. Delete them first: kubectl delete workspace -n acme pay web",
            false,
        ),
    ];
    for (name, o, workspaces, expected, writes) in cases {
        let input = organization::OrganizationInput {
            workspaces: workspaces
                .into_iter()
                .map(|w| std::sync::Arc::new(kube::core::DeserializeGuard(Ok(w))))
                .collect(),
            members: vec![],
            kept: vec![],
            namespaces_now: Some(vec![]),
            usage: None,
            usage_due_in: None,
            now: NOW.parse().unwrap(),
        };
        let (got, children, _) =
            verdict(&organization::decide(&o, &input, &TenantPolicy::default()));
        assert_eq!((got.as_str(), children), (expected, writes), "{name}");
    }
}

/// Everyone with access to one of its workspaces reads the Organization,
/// through one binding per organization: owners, open member groups, and
/// members granted a role that have not expired.
#[test]
fn one_binding_lets_everyone_with_access_read_the_organization() {
    let policy = TenantPolicy::default();
    let now: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    let mut o = org();
    o.spec.member_groups = Some(vec!["acme-staff".into()]);
    let mut lab = with_spec("{owner: {kind: User, name: olga}, acceptAnonymous: false}");
    lab.metadata.name = Some("lab".into());
    let member = |name: &str, user: &str, ws: &str, phase: Option<MemberPhase>, extra: &str| {
        let mut m: WorkspaceMember = parse(&format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: {name}, namespace: acme}}, spec: {{workspace: {ws}, subject: {{kind: User, name: {user}}}, roles: [viewer]{extra}}}}}"
        ));
        m.status = phase.map(|p| crate::api::member::WorkspaceMemberStatus {
            phase: Some(p),
            granted_roles: Some(vec!["viewer".into()]),
            ..Default::default()
        });
        m
    };
    let members = [
        member("a", "ann", "lab", Some(MemberPhase::Active), ""),
        member("b", "ben", "lab", Some(MemberPhase::Pending), ""),
        member(
            "c",
            "cat",
            "lab",
            Some(MemberPhase::Active),
            ", expiresAt: '2026-01-01T00:00:00Z'",
        ),
        member("d", "dan", "gone", Some(MemberPhase::Active), ""),
        member("e", "ann", "lab", Some(MemberPhase::Active), ""),
    ];
    let names = |shards: Vec<k8s_openapi::api::rbac::v1::ClusterRoleBinding>| -> Vec<String> {
        let mut all: Vec<String> = shards
            .into_iter()
            .flat_map(|b| b.subjects.unwrap_or_default())
            .map(|s| s.name)
            .collect();
        all.sort();
        all
    };
    let closed = organization::visitors(
        &o,
        &[&lab],
        &members.iter().collect::<Vec<_>>(),
        &policy,
        now,
    );
    assert_eq!(closed.len(), 1, "one shard for a few subjects");
    assert_eq!(
        closed[0].metadata.name.as_deref(),
        Some("workspaces.dev:org-visitors:acme:0")
    );
    assert_eq!(closed[0].role_ref.name, "workspaces.dev:organization:acme");
    assert_eq!(
        names(closed),
        ["ann", "olga"],
        "pending, expired and elsewhere left out"
    );
    let mut open = with_spec("{acceptAnonymous: true}");
    open.metadata.name = Some("open".into());
    let both = organization::visitors(&o, &[&lab, &open], &[], &policy, now);
    assert_eq!(names(both), ["acme-staff", "olga"], "open member groups");
    assert!(
        organization::visitors(&o, &[], &members.iter().collect::<Vec<_>>(), &policy, now)
            .is_empty()
    );
    // Many subjects: shards of bounded size, each subject in exactly one,
    // and in the same one whatever else changes.
    let many: Vec<WorkspaceMember> = (0..1200)
        .map(|i| {
            member(
                &format!("m{i}"),
                &format!("user-{i}"),
                "lab",
                Some(MemberPhase::Active),
                "",
            )
        })
        .collect();
    let shards =
        organization::visitors(&o, &[&lab], &many.iter().collect::<Vec<_>>(), &policy, now);
    assert!(shards.len() <= 4, "{}", shards.len());
    assert!(
        shards
            .iter()
            .all(|b| b.subjects.as_ref().unwrap().len() <= 2 * organization::SUBJECTS_PER_SHARD)
    );
    assert_eq!(names(shards.clone()).len(), 1201);
    let fewer = organization::visitors(
        &o,
        &[&lab],
        &many[1..].iter().collect::<Vec<_>>(),
        &policy,
        now,
    );
    let changed = shards.iter().zip(&fewer).filter(|(a, b)| a != b).count();
    assert_eq!(changed, 1, "removing one member rewrites one shard");
}

// ------------------------------------------------------------ teardowns ---

/// A step in a few words.
fn step(s: &Step) -> String {
    let edits = |e: &Edits| {
        e.iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => format!("-{k}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let at = |ns: &Option<String>, name: &str| match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    match s {
        Step::DeleteOwned {
            target,
            look,
            announce,
            ..
        } => format!(
            "delete {:?} {}{}{}",
            target.kind,
            at(&target.namespace, &target.name),
            if *look == Look::Cache {
                " (cached)"
            } else {
                ""
            },
            announce
                .as_ref()
                .map(|n| format!(" !{}", n.reason))
                .unwrap_or_default()
        ),
        Step::DeleteComponent {
            kind,
            namespace,
            component,
            ..
        } => format!(
            "delete {component} {kind:?} in {}",
            namespace.as_deref().unwrap_or("*")
        ),
        Step::DeleteMarked { kind, namespace } => format!("delete marked {kind:?} in {namespace}"),
        Step::DeleteUnchanged { target, uid, .. } => {
            format!("delete {:?} {} if {uid}", target.kind, target.name)
        }
        Step::DeleteWorkspace { namespace, name } => format!("delete workspace {namespace}/{name}"),
        Step::Mark {
            target,
            resource_version,
            labels,
            annotations,
            announce,
        } => format!(
            "mark {:?} {}@{resource_version} [{}] [{}]{}",
            target.kind,
            target.name,
            edits(labels),
            edits(annotations),
            announce
                .as_ref()
                .map(|n| format!(" !{}", n.reason))
                .unwrap_or_default()
        ),
        Step::Remark {
            kind,
            namespace,
            from,
            to,
        } => format!("remark {kind:?} in {namespace} {from}->{to}"),
        Step::StopWork { quota, .. } => format!(
            "stop work {}",
            quota.metadata.name.as_deref().unwrap_or_default()
        ),
        Step::Describe { target, data, .. } => format!(
            "describe {} {}",
            target.name,
            data.iter()
                .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("-")))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Step::Announce(note) => format!("!{}", note.reason),
    }
}

/// A teardown in a few words: its steps, then what follows.
fn steps(t: &Teardown) -> Vec<String> {
    let mut out: Vec<String> = t.steps.iter().map(step).collect();
    out.push(match &t.then {
        Then::Done => "done".into(),
        Then::Wait { reason, .. } => format!("wait {reason}"),
    });
    out
}

fn teardown_of<C, F>(d: &Decision<C, F>) -> Vec<String> {
    match d {
        Decision::Delete { teardown, .. } | Decision::Prepare { teardown, .. } => steps(teardown),
        _ => vec![format!("no teardown: {}", verdict(d).0)],
    }
}

/// A workspace namespace as the API server shows it: `acme--pay` at
/// resourceVersion 7, marked as the Workspace with `uid`'s, with `annotations`.
fn live_namespace(uid: &str, annotations: &[(&str, &str)]) -> kube::api::ObjectMeta {
    kube::api::ObjectMeta {
        name: Some("acme--pay".into()),
        uid: Some("ns-uid".into()),
        resource_version: Some("7".into()),
        labels: Some(crate::ownership::marks(
            &crate::ownership::Owner::Workspace {
                organization: "acme".into(),
                name: "pay".into(),
            },
            uid,
            crate::ownership::Component::WorkspaceNamespace,
        )),
        annotations: Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

/// What every workspace deletion removes before its namespace.
const WORKSPACE_ACCESS_ELSEWHERE: [&str; 6] = [
    "delete credential-copy Secret in *",
    "delete RoleBinding acme/workspaces.dev:workspace:pay",
    "delete Role acme/workspaces.dev:workspace:pay",
    "delete RoleBinding acme/workspaces.dev:workspace-owner:pay",
    "delete Role acme/workspaces.dev:workspace-owner:pay",
    "delete ClusterRoleBinding workspaces.dev:visitors:acme:pay",
];

#[test]
fn workspace_teardowns() {
    let policy = TenantPolicy::default();
    let with = |spec: &str| deleting(with_spec(spec));
    let graceful = || {
        let mut o = org();
        o.spec.defaults = Some(parse("{deletionGracePeriod: 24h}"));
        o
    };
    let input = |org: Option<Organization>, live: Option<kube::api::ObjectMeta>| {
        workspace::WorkspaceInput {
            organization: org,
            namespace_now: Live::read(live),
            ..ws_input()
        }
    };
    let going = || Some(deleting(org()));
    let record = r#"{"pods":"5"}"#;
    let recorded = [(crate::resources::guardrails::APPLIED_QUOTA, record)];
    let kept_since = [
        (
            crate::resources::guardrails::PURGE_AT,
            "2026-05-31T12:00:00Z",
        ),
        (crate::resources::guardrails::APPLIED_QUOTA, record),
    ];
    let retained_since = [
        (
            crate::resources::guardrails::RETAINED_AT,
            "2026-05-01T00:00:00Z",
        ),
        (crate::resources::guardrails::APPLIED_QUOTA, record),
    ];
    let access_gone = [
        "delete marked RoleBinding in acme--pay",
        "delete marked Secret in acme--pay",
    ];
    // Restored a moment before its delete: the stop goes, its info agrees.
    const UNSTOPPED: &str = "delete ResourceQuota acme--pay/workspace-stop-work (cached)";
    const NOT_ARCHIVED: &str = "describe workspace-info WORKSPACE_ARCHIVED=false";
    let released = "-app.kubernetes.io/managed-by,-workspaces.dev/component,-workspaces.dev/member,-workspaces.dev/network-isolation,-workspaces.dev/organization,-workspaces.dev/owner-uid,-workspaces.dev/source-name,-workspaces.dev/source-namespace,-workspaces.dev/source-workspace,-workspaces.dev/workspace";
    type Case = (
        &'static str,
        Workspace,
        workspace::WorkspaceInput,
        Vec<String>,
    );
    let then = |rest: &[&str]| -> Vec<String> {
        WORKSPACE_ACCESS_ELSEWHERE
            .iter()
            .chain(rest)
            .map(|s| s.to_string())
            .collect()
    };
    let cases: Vec<Case> = vec![
        (
            "Delete, no grace period: the namespace goes",
            with("{}"),
            input(Some(org()), None),
            then(&["delete Namespace acme--pay !NamespaceDeleted", "done"]),
        ),
        (
            "Delete with a grace period: kept until now + 24h, no access, no new work",
            with("{}"),
            input(Some(graceful()), Some(live_namespace("ws-uid", &recorded))),
            then(&[
                access_gone[0],
                access_gone[1],
                "stop work workspace-stop-work",
                NOT_ARCHIVED,
                "mark Namespace acme--pay@7 [] [workspaces.dev/purge-at=2026-06-02T00:00:00Z]",
                "!PurgeScheduled",
                "done",
            ]),
        ),
        (
            "a retried deletion keeps the purge time it set first",
            with("{}"),
            input(
                Some(graceful()),
                Some(live_namespace("ws-uid", &kept_since)),
            ),
            then(&[
                access_gone[0],
                access_gone[1],
                "stop work workspace-stop-work",
                NOT_ARCHIVED,
                "!PurgeScheduled",
                "done",
            ]),
        ),
        (
            "Retain on a namespace already kept for its purge: the purge time stands, and no new work",
            with("{deletionPolicy: Retain}"),
            input(Some(org()), Some(live_namespace("ws-uid", &kept_since))),
            then(&[
                access_gone[0],
                access_gone[1],
                "stop work workspace-stop-work",
                NOT_ARCHIVED,
                "!PurgeScheduled",
                "done",
            ]),
        ),
        (
            "an earlier version's namespace (no record): the largest plan's quota is recorded to count",
            with("{}"),
            input(Some(graceful()), Some(live_namespace("ws-uid", &[]))),
            then(&[
                access_gone[0],
                access_gone[1],
                "stop work workspace-stop-work",
                NOT_ARCHIVED,
                "mark Namespace acme--pay@7 [] [workspaces.dev/purge-at=2026-06-02T00:00:00Z,workspaces.dev/quota={\"pods\":\"5\"}]",
                "!PurgeScheduled",
                "done",
            ]),
        ),
        (
            "a grace period while the organization goes: nobody would purge it, deleted now",
            with("{}"),
            input(
                Some({
                    let mut o = deleting(graceful());
                    o.metadata.uid = Some("org-uid".into());
                    o
                }),
                None,
            ),
            then(&["delete Namespace acme--pay !NamespaceDeleted", "done"]),
        ),
        (
            "a namespace that is not its own is never kept or marked",
            with("{}"),
            input(
                Some(graceful()),
                Some(live_namespace("someone-else", &recorded)),
            ),
            then(&["done"]),
        ),
        (
            "Retain: kept with its guardrails, no stop on work unless archived",
            with("{deletionPolicy: Retain}"),
            input(Some(org()), Some(live_namespace("ws-uid", &recorded))),
            then(&[
                access_gone[0],
                access_gone[1],
                UNSTOPPED,
                NOT_ARCHIVED,
                "mark Namespace acme--pay@7 [] [workspaces.dev/retained-at=2026-06-01T00:00:00Z]",
                "!NamespaceRetained",
                "done",
            ]),
        ),
        (
            "Retain an archive: its stop on new work stays",
            with("{deletionPolicy: Retain, archived: true}"),
            input(Some(org()), Some(live_namespace("ws-uid", &recorded))),
            then(&[
                access_gone[0],
                access_gone[1],
                "stop work workspace-stop-work",
                "describe workspace-info WORKSPACE_ARCHIVED=true",
                "mark Namespace acme--pay@7 [] [workspaces.dev/retained-at=2026-06-01T00:00:00Z]",
                "!NamespaceRetained",
                "done",
            ]),
        ),
        (
            "Retain while the organization goes: kept and released in one write",
            with("{deletionPolicy: Retain}"),
            input(going(), Some(live_namespace("ws-uid", &recorded))),
            then(&[
                access_gone[0],
                access_gone[1],
                UNSTOPPED,
                NOT_ARCHIVED,
                &format!(
                    "mark Namespace acme--pay@7 [{released}] [-workspaces.dev/desired-hash,workspaces.dev/released-from=acme/pay,workspaces.dev/retained-at=2026-06-01T00:00:00Z]"
                ),
                "!NamespaceRetained",
                "!NamespaceReleased",
                "done",
            ]),
        ),
        (
            "Retain, retried, with the organization gone: released, its time kept",
            with("{deletionPolicy: Retain}"),
            input(None, Some(live_namespace("ws-uid", &retained_since))),
            then(&[
                access_gone[0],
                access_gone[1],
                UNSTOPPED,
                NOT_ARCHIVED,
                &format!(
                    "mark Namespace acme--pay@7 [{released}] [-workspaces.dev/desired-hash,workspaces.dev/released-from=acme/pay]"
                ),
                "!NamespaceRetained",
                "!NamespaceReleased",
                "done",
            ]),
        ),
        (
            "a namespace to keep that was not read: waited for, never taken for none",
            with("{deletionPolicy: Retain}"),
            workspace::WorkspaceInput {
                organization: Some(org()),
                ..ws_input()
            },
            then(&["wait Deleting"]),
        ),
        (
            "Retain, the namespace gone already: nothing to keep",
            with("{deletionPolicy: Retain}"),
            input(Some(org()), None),
            then(&["done"]),
        ),
    ];
    for (name, w, input, expected) in cases {
        let got = teardown_of(&workspace::decide(&w, &input, &policy));
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn a_new_workspace_takes_back_a_kept_namespace_of_its_name() {
    let policy = TenantPolicy::default();
    let kept = [
        (
            crate::resources::guardrails::PURGE_AT,
            "2026-06-02T00:00:00Z",
        ),
        (
            crate::resources::guardrails::APPLIED_QUOTA,
            r#"{"pods":"5"}"#,
        ),
    ];
    let restoring = |live| workspace::WorkspaceInput {
        namespace: NamespaceOwner::Other,
        restore_from: Some("old-uid".into()),
        namespace_now: Live::read(live),
        ..ws_input()
    };
    let remarks = [
        "RoleBinding",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "ConfigMap",
    ]
    .map(|k| format!("remark {k} in acme--pay old-uid->ws-uid"));
    let mut expected: Vec<String> = remarks.to_vec();
    expected.push("mark Namespace acme--pay@7 [workspaces.dev/owner-uid=ws-uid] [-workspaces.dev/purge-at,-workspaces.dev/retained-at] !Restored".into());
    expected.push("wait Restoring".into());
    let got = teardown_of(&workspace::decide(
        &pay(),
        &restoring(Some(live_namespace("old-uid", &kept))),
        &policy,
    ));
    assert_eq!(got, expected);
    // Taken back already, the caches not there yet: it waits, writing nothing.
    let got = teardown_of(&workspace::decide(
        &pay(),
        &restoring(Some(live_namespace("ws-uid", &[]))),
        &policy,
    ));
    assert_eq!(got, ["wait Restoring"]);
    // Kept for another workspace's UID (or gone): nothing taken back; the
    // namespace is someone else's, so the workspace converges to a conflict.
    for live in [Some(live_namespace("third-uid", &kept)), None] {
        let decision = workspace::decide(&pay(), &restoring(live), &policy);
        assert!(matches!(decision, Decision::Converge(_)), "{decision:?}");
    }
}

#[test]
fn workspace_decisions_in_the_states_of_the_precedence_rule() {
    let policy = TenantPolicy::default();
    let with = with_spec;
    let over = |namespace| workspace::WorkspaceInput {
        namespace,
        budget_refusal: Some("the organization's budget limits pods to 5".into()),
        ..ws_input()
    };
    type Case = (
        &'static str,
        Workspace,
        workspace::WorkspaceInput,
        &'static str,
        bool,
    );
    let cases: Vec<Case> = vec![
        (
            "over budget with its namespace: access still follows",
            pay(),
            over(NamespaceOwner::ThisWorkspace),
            "stalled:OverBudget",
            true,
        ),
        (
            "over budget, no namespace yet: nothing is made",
            pay(),
            over(NamespaceOwner::NotYet),
            "stalled:OverBudget",
            false,
        ),
        (
            "archived",
            with("{archived: true}"),
            ws_input(),
            "ready",
            true,
        ),
        (
            "lifting the organization's isolation is refused, the rest applies",
            with("{networkIsolation: false}"),
            ws_input(),
            "stalled:SettingNotAllowed",
            true,
        ),
        (
            "a kept namespace of its name to take back, deleting: never restored",
            deleting(pay()),
            workspace::WorkspaceInput {
                restore_from: Some("old-uid".into()),
                ..ws_input()
            },
            "delete",
            false,
        ),
    ];
    for (name, w, input, expected, writes) in cases {
        let decision = workspace::decide(&w, &input, &policy);
        let (got, children, _) = verdict(&decision);
        assert_eq!((got.as_str(), children), (expected, writes), "{name}");
        if name == "archived" {
            let Decision::Converge(plan) = &decision else {
                unreachable!()
            };
            assert!(
                matches!(
                    plan.outcome,
                    Outcome::Ready {
                        reason: "Archived",
                        ..
                    }
                ),
                "archived has its own Ready reason"
            );
        }
    }
    // The plan a namespace holds stays in effect over budget (a tenant's
    // plan change never relaxes it), and is what status reports.
    let input = workspace::WorkspaceInput {
        budget_refusal: Some("over".into()),
        ..holding_free()
    };
    let Decision::Converge(plan) = workspace::decide(&with("{plan: gold}"), &input, &policy) else {
        panic!("converges")
    };
    assert_eq!(plan.facts.plan.as_deref(), Some("free"));
    assert_eq!(
        pods_quota(&plan.children.unwrap().settings),
        Some("5".into())
    );
}

#[test]
fn organization_member_and_role_teardowns() {
    let policy = TenantPolicy::default();
    let input = |workspaces: Vec<Workspace>, live: Vec<kube::api::ObjectMeta>| {
        organization::OrganizationInput {
            workspaces: workspaces
                .into_iter()
                .map(|w| std::sync::Arc::new(kube::core::DeserializeGuard(Ok(w))))
                .collect(),
            members: vec![],
            kept: vec![],
            namespaces_now: Some(live),
            usage: None,
            usage_due_in: None,
            now: NOW.parse().unwrap(),
        }
    };
    let default = || {
        let mut w = pay();
        w.metadata.name = Some("default".into());
        w
    };
    let got = teardown_of(&organization::decide(
        &deleting(org()),
        &input(vec![default()], vec![]),
        &policy,
    ));
    assert_eq!(got, ["delete workspace acme/default", "wait Deleting"]);
    let got = teardown_of(&organization::decide(
        &deleting(org()),
        &input(vec![deleting(default())], vec![]),
        &policy,
    ));
    assert_eq!(got, ["wait Deleting"], "deleted already: waited for");
    // A protected default workspace: its delete would be refused at
    // admission; the organization says so, and sends nothing.
    let mut protected = default();
    protected.spec.deletion_protection = Some(true);
    let (got, writes, _) = verdict(&organization::decide(
        &deleting(org()),
        &input(vec![protected], vec![]),
        &policy,
    ));
    assert!(
        got.starts_with("blocked:the default workspace default is protected from deletion")
            && got.contains("deletionProtection\":false"),
        "{got}"
    );
    assert!(!writes);
    let not_listed = organization::OrganizationInput {
        namespaces_now: None,
        ..input(vec![], vec![])
    };
    let got = teardown_of(&organization::decide(
        &deleting(org()),
        &not_listed,
        &policy,
    ));
    assert_eq!(
        got,
        ["wait Deleting"],
        "its namespaces not listed: never taken for none"
    );
    // Nothing left but kept namespaces: purged (if still the one read) or,
    // retained, released; then its copies and its namespace.
    let purge = live_namespace(
        "gone-uid",
        &[(
            crate::resources::guardrails::PURGE_AT,
            "2026-07-01T00:00:00Z",
        )],
    );
    let mut retained = live_namespace(
        "old-uid",
        &[(
            crate::resources::guardrails::RETAINED_AT,
            "2026-05-01T00:00:00Z",
        )],
    );
    retained.name = Some("acme--keep".into());
    retained
        .labels
        .as_mut()
        .unwrap()
        .insert(crate::ownership::WORKSPACE.into(), "keep".into());
    let got = teardown_of(&organization::decide(
        &deleting(org()),
        &input(vec![], vec![purge, retained]),
        &policy,
    ));
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[0], "delete Namespace acme--pay if ns-uid");
    assert!(
        got[1].starts_with("mark Namespace acme--keep@7 [-app.kubernetes.io/managed-by,"),
        "{}",
        got[1]
    );
    assert!(
        got[1].ends_with("workspaces.dev/released-from=acme/keep] !NamespaceReleased"),
        "{}",
        got[1]
    );
    assert_eq!(
        got[2..],
        [
            "delete credential-copy Secret in *",
            "delete Namespace acme !NamespaceDeleted",
            "done"
        ]
    );

    let got = teardown_of(&member::decide(
        &deleting(a_member("")),
        &member_input(),
        &policy,
    ));
    assert_eq!(
        got,
        [
            "delete member-access RoleBinding in acme--pay",
            "delete RoleBinding acme/workspaces.dev:member:pay-bob",
            "delete ClusterRoleBinding workspaces.dev:member-visitor:acme:pay-bob (cached)",
            "delete Role acme/workspaces.dev:member:pay-bob",
            "done"
        ]
    );
    let mut role_input = role_input();
    role_input.members = 0;
    let got = teardown_of(&role::decide(
        &deleting(a_role("auditor", Some("Ready"))),
        &role_input,
        &policy,
    ));
    assert_eq!(
        got,
        [
            "delete ClusterRole workspaces.dev:role:acme:auditor",
            "delete role ClusterRole in *",
            "done"
        ]
    );
}
