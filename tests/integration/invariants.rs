//! Precedence, generatively: random sequences of writes by tenants with
//! their own credentials (alice, an organization admin; the owners of its
//! workspaces), over every field of Workspace, WorkspaceMember and
//! WorkspaceRole they may write (unknown names, empty values, switching
//! back and forth, deleting and recreating, Retain), and after each step the
//! guardrails the platform set, checked on the real control plane:
//!
//! - every namespace of the organization that can run Pods is isolated as
//!   the Organization requires, and no tenant's policy reaches past it;
//! - the quotas of its namespaces, kept and retained ones included, stay
//!   within the budget, and their number within `maxWorkspaces`;
//! - an archived workspace (also when retained), and a namespace kept for
//!   its purge, admits no new Pod;
//! - Pod Security is at least the platform's level;
//! - nobody keeps access to a workspace they have no tie to, through any
//!   identity: no ServiceAccount membership a manager wrote, no token that
//!   never expires;
//! - no namespace is left unusable (placement label without parameters).
//!
//! The seed is printed and replayable (`WSOP_INVARIANTS_SEED`); the number
//! of steps is `WSOP_INVARIANTS_STEPS` (a few dozen in `make test`, more in
//! `make faults`). Like the ceiling suite, both outcomes must occur: writes
//! admitted and refused, workspaces Ready and held back.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use workspace_operator::api::common::parse_quantity;
use workspace_operator::api::{Workspace, WorkspaceMember, WorkspaceRole};

use crate::precedence::platform_organization;
use crate::support::*;

/// The platform's guardrails for the organization under test.
const BUDGET_CPU: f64 = 6.0;
const MAX_WORKSPACES: usize = 5;
const ORGANIZATION: &str = r#"  memberGroups: [acme-contractors]
  defaults: {plan: small, networkIsolation: true, deletionGracePeriod: 20s}
  budget: {maxWorkspaces: 5, quota: {requests.cpu: "6"}}
  plans:
    small: {quota: {requests.cpu: "1", pods: 10}}
    big: {quota: {requests.cpu: "3", pods: 30}, network: {ingressFromWorkspaces: [w1]}}
    pinned: {quota: {requests.cpu: "1", pods: 10}, placement: {nodeSelector: {example.com/pool: tenants}}}
    strict: {quota: {requests.cpu: "1", pods: 10}, workspaceNamespace: {podSecurity: {enforce: restricted}}}"#;

const WORKSPACES: [&str; 4] = ["w1", "w2", "w3", "w4"];
/// Test users and their groups (tests/control-plane/users.txt).
const PEOPLE: [(&str, &[&str]); 4] = [
    ("bob", &["acme-staff"]),
    ("carol", &["acme-staff", "acme-contractors"]),
    ("frank", &["acme-staff", "globex-staff"]),
    ("mallory", &["outsiders"]),
];

/// One tenant write, as drawn.
#[derive(Clone, Debug)]
enum Step {
    /// alice applies a Workspace.
    Workspace {
        name: &'static str,
        spec: Value,
    },
    DeleteWorkspace {
        name: &'static str,
    },
    /// alice applies a WorkspaceMember.
    Member {
        name: String,
        spec: Value,
    },
    DeleteMember {
        name: String,
    },
    /// alice applies a WorkspaceRole.
    Role {
        name: &'static str,
        spec: Value,
    },
    DeleteRole {
        name: &'static str,
    },
    /// A workspace's owner (a manager) writes a membership: of a person (may
    /// pass), of itself or of a ServiceAccount (must be refused).
    ManagerMember {
        workspace: &'static str,
        subject: Value,
        must_refuse: bool,
    },
    /// A workspace's owner tries to open its namespace with a policy of its
    /// own, or to mint a never-expiring token: must be refused.
    OwnerOpens {
        workspace: &'static str,
    },
    OwnerMintsToken {
        workspace: &'static str,
    },
}

fn draw_workspace_spec(rng: &mut Rng) -> Value {
    let mut spec = serde_json::Map::new();
    let mut maybe = |rng: &mut Rng, key: &str, values: &[Value]| {
        if rng.percent(60) {
            spec.insert(key.into(), rng.pick(values));
        }
    };
    maybe(
        rng,
        "plan",
        &[
            json!("small"),
            json!("big"),
            json!("pinned"),
            json!("strict"),
            json!("no-such-plan"),
        ],
    );
    maybe(rng, "networkIsolation", &[json!(true), json!(false)]);
    maybe(rng, "archived", &[json!(true), json!(false)]);
    maybe(rng, "deletionPolicy", &[json!("Delete"), json!("Retain")]);
    maybe(rng, "deletionGracePeriod", &[json!("0s"), json!("20s")]);
    maybe(rng, "acceptAnonymous", &[json!(true), json!(false)]);
    maybe(
        rng,
        "anonymousRole",
        &[json!("viewer"), json!("editor"), json!("ghost")],
    );
    maybe(
        rng,
        "owner",
        &[
            json!({"kind": "User", "name": "carol"}),
            json!({"kind": "User", "name": "bob"}),
            json!({"kind": "Group", "name": "acme-contractors"}),
        ],
    );
    maybe(rng, "timeZone", &[json!("UTC"), json!("Mars/Olympus")]);
    maybe(rng, "variables", &[json!({}), json!({"REGION": "eu"})]);
    Value::Object(spec)
}

fn draw_member(rng: &mut Rng, org: &str) -> (String, Value) {
    let ws = rng.pick(&WORKSPACES);
    let subject = match rng.below(5) {
        0 => json!({"kind": "User", "name": "bob"}),
        1 => json!({"kind": "User", "name": "frank"}),
        2 => json!({"kind": "User", "name": "mallory"}),
        3 => json!({"kind": "Group", "name": "acme-staff"}),
        _ => {
            json!({"kind": "ServiceAccount", "name": "robot", "namespace": format!("{org}--{ws}")})
        }
    };
    let who = subject["name"].as_str().unwrap_or_default().to_string();
    let all = ["viewer", "editor", "admin", "custom", "ghost"];
    let mut roles: Vec<&str> = all.iter().copied().filter(|_| rng.percent(35)).collect();
    if roles.is_empty() {
        roles.push(rng.pick(&all));
    }
    let mut spec = json!({"workspace": ws, "subject": subject, "roles": roles});
    if rng.percent(15) {
        // Expires during the run.
        let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(20);
        spec["expiresAt"] = json!(at.round(jiff::Unit::Second).unwrap().to_string());
    }
    (format!("{ws}-{who}"), spec)
}

fn draw_role(rng: &mut Rng) -> Value {
    let resources = rng.pick(&[
        json!(["configmaps"]),
        json!(["pods", "services"]),
        json!(["secrets"]),
        json!(["networkpolicies"]),
    ]);
    let group = if resources[0] == "networkpolicies" {
        "networking.k8s.io"
    } else {
        ""
    };
    let verbs = rng.pick(&[
        json!(["get", "list"]),
        json!(["*"]),
        json!(["create", "delete"]),
    ]);
    let mut spec =
        json!({"rules": [{"apiGroups": [group], "resources": resources, "verbs": verbs}]});
    if rng.percent(30) {
        spec["manageMembers"] = json!({"assignableRoles": ["viewer"]});
    }
    spec
}

fn draw(rng: &mut Rng, org: &str) -> Step {
    match rng.below(100) {
        0..=29 => Step::Workspace {
            name: rng.pick(&WORKSPACES),
            spec: draw_workspace_spec(rng),
        },
        30..=37 => Step::DeleteWorkspace {
            name: rng.pick(&WORKSPACES),
        },
        38..=59 => {
            let (name, spec) = draw_member(rng, org);
            Step::Member { name, spec }
        }
        60..=69 => {
            let (name, _) = draw_member(rng, org);
            Step::DeleteMember { name }
        }
        70..=74 => Step::Role {
            name: "custom",
            spec: draw_role(rng),
        },
        75..=76 => Step::DeleteRole { name: "custom" },
        77..=89 => {
            let workspace = rng.pick(&WORKSPACES);
            match rng.below(3) {
                0 => Step::ManagerMember {
                    workspace,
                    subject: json!({"kind": "ServiceAccount", "name": "robot", "namespace": format!("{org}--{workspace}")}),
                    must_refuse: true,
                },
                1 => Step::ManagerMember {
                    workspace,
                    subject: json!({"kind": "User", "name": "$owner"}),
                    must_refuse: true,
                },
                _ => Step::ManagerMember {
                    workspace,
                    subject: json!({"kind": "User", "name": "frank"}),
                    must_refuse: false,
                },
            }
        }
        90..=94 => Step::OwnerOpens {
            workspace: rng.pick(&WORKSPACES),
        },
        _ => Step::OwnerMintsToken {
            workspace: rng.pick(&WORKSPACES),
        },
    }
}

/// What happened to the writes, over the run.
#[derive(Default)]
struct Tally {
    admitted: usize,
    refused: usize,
    /// Ready reasons seen after a step, by reason.
    reasons: BTreeMap<String, usize>,
    /// Dry-run Pods admitted where work may start, and stopped elsewhere.
    pods_admitted: usize,
    pods_stopped: usize,
}

fn object(kind: &str, org: &str, name: &str, spec: &Value) -> Value {
    json!({
        "apiVersion": "workspaces.dev/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": org},
        "spec": spec,
    })
}

/// Applies `value` as `who`, replacing its spec (a field left out is
/// removed): Ok, or the API server's refusal.
async fn apply_as(who: &Client, value: &Value) -> Result<(), String> {
    let ns = value["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = value["metadata"]["name"].as_str().unwrap_or_default();
    let kind = value["kind"].as_str().unwrap_or_default();
    let ar = kube::api::ApiResource {
        group: "workspaces.dev".into(),
        version: "v1alpha1".into(),
        api_version: "workspaces.dev/v1alpha1".into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    };
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(who.clone(), ns, &ar);
    api.patch(
        name,
        &kube::api::PatchParams::apply("invariants-test").force(),
        &kube::api::Patch::Apply(value),
    )
    .await
    .map(drop)
    .map_err(|e| e.to_string())
}

async fn delete_as<K>(api: &Api<K>, name: &str) -> Result<(), String>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// The owner of `ws` if it is a person, as its live spec says.
async fn owner_of(admin: &Client, org: &str, ws: &str) -> Option<String> {
    let w = Api::<Workspace>::namespaced(admin.clone(), org)
        .get_opt(ws)
        .await
        .ok()??;
    let owner = w.spec.owner?;
    (owner.kind == workspace_operator::api::SubjectKind::User).then_some(owner.name)
}

/// Carries out `step`. Returns a failure when a write that must be
/// refused was admitted.
async fn perform(
    step: &Step,
    admin: &Client,
    alice: &Client,
    org: &str,
    tally: &mut Tally,
) -> Option<String> {
    let mut count = |r: &Result<(), String>| match r {
        Ok(()) => tally.admitted += 1,
        Err(_) => tally.refused += 1,
    };
    match step {
        Step::Workspace { name, spec } => {
            count(&apply_as(alice, &object("Workspace", org, name, spec)).await);
        }
        Step::DeleteWorkspace { name } => {
            count(&delete_as(&Api::<Workspace>::namespaced(alice.clone(), org), name).await);
        }
        Step::Member { name, spec } => {
            count(&apply_as(alice, &object("WorkspaceMember", org, name, spec)).await);
        }
        Step::DeleteMember { name } => {
            count(
                &delete_as(
                    &Api::<WorkspaceMember>::namespaced(alice.clone(), org),
                    name,
                )
                .await,
            );
        }
        Step::Role { name, spec } => {
            count(&apply_as(alice, &object("WorkspaceRole", org, name, spec)).await);
        }
        Step::DeleteRole { name } => {
            count(&delete_as(&Api::<WorkspaceRole>::namespaced(alice.clone(), org), name).await);
        }
        Step::ManagerMember {
            workspace,
            subject,
            must_refuse,
        } => {
            let owner = owner_of(admin, org, workspace).await?;
            let mut subject = subject.clone();
            if subject["name"] == "$owner" {
                subject["name"] = json!(owner);
            }
            let who = subject["name"].as_str().unwrap_or_default().to_string();
            let spec = json!({"workspace": workspace, "subject": subject, "roles": ["viewer"]});
            let manager = cluster().user(&owner).await;
            let name = format!("{workspace}-by-manager-{who}");
            let result = apply_as(&manager, &object("WorkspaceMember", org, &name, &spec)).await;
            count(&result);
            if *must_refuse && result.is_ok() {
                return Some(format!(
                    "{owner} (manager of {workspace}) was let write a membership of {subject}"
                ));
            }
        }
        Step::OwnerOpens { workspace } => {
            let owner = owner_of(admin, org, workspace).await?;
            let client = cluster().user(&owner).await;
            let ns = format!("{org}--{workspace}");
            let open: NetworkPolicy = serde_json::from_value(json!({
                "metadata": {"name": "open-everything"},
                "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Ingress", "Egress"]}
            }))
            .unwrap();
            let result = Api::<NetworkPolicy>::namespaced(client, &ns)
                .create(&PostParams::default(), &open)
                .await;
            count(&result.as_ref().map(drop).map_err(|e| e.to_string()));
            if result.is_ok() {
                return Some(format!(
                    "{owner} opened {ns} with a NetworkPolicy of its own"
                ));
            }
        }
        Step::OwnerMintsToken { workspace } => {
            let owner = owner_of(admin, org, workspace).await?;
            let client = cluster().user(&owner).await;
            let ns = format!("{org}--{workspace}");
            let token: Secret = serde_json::from_value(json!({
                "metadata": {"name": "robot-token", "annotations": {"kubernetes.io/service-account.name": "robot"}},
                "type": "kubernetes.io/service-account-token"
            }))
            .unwrap();
            let result = Api::<Secret>::namespaced(client, &ns)
                .create(&PostParams::default(), &token)
                .await;
            count(&result.as_ref().map(drop).map_err(|e| e.to_string()));
            if result.is_ok() {
                return Some(format!("{owner} minted a never-expiring token in {ns}"));
            }
        }
    }
    None
}

/// Waits (up to `limit`) until the operator has seen every Workspace and
/// WorkspaceMember of `org` as it is now.
async fn settle(admin: &Client, org: &str, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        let workspaces = Api::<Workspace>::namespaced(admin.clone(), org)
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let members = Api::<WorkspaceMember>::namespaced(admin.clone(), org)
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let seen_ws = workspaces.iter().all(|w| {
            w.status.as_ref().and_then(|s| s.observed_generation) == w.metadata.generation
        });
        let seen_members = members.iter().all(|m| {
            m.status.as_ref().and_then(|s| s.observed_generation) == m.metadata.generation
        });
        if seen_ws && seen_members {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A namespace of the organization as the checks see it.
struct Room {
    name: String,
    labels: BTreeMap<String, String>,
    /// The workspace it belongs to now (its marks carry that UID).
    workspace: Option<Workspace>,
    /// Kept for its purge, or retained: nobody may have access.
    kept: bool,
    /// Kept for its purge (retained ones stop new work only if archived).
    purge: bool,
}

/// A Pod every guardrail but the stop on new work admits.
fn probe_pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "new-work"},
        "spec": {
            "nodeSelector": {"example.com/pool": "tenants"},
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "c", "image": "busybox",
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "10m", "memory": "16Mi"}}
            }]
        }
    }))
    .unwrap()
}

/// What the dry-run Pods met in one check: admitted where work may start,
/// stopped where it may not (both must occur over a run).
#[derive(Default, Clone, Copy)]
struct Probes {
    admitted: usize,
    stopped: usize,
}

/// Every check, once; the violations found.
async fn violations(admin: &Client, org: &str, probes: &mut Probes) -> Vec<String> {
    let mut out = vec![];
    let workspaces: BTreeMap<String, Workspace> = Api::<Workspace>::namespaced(admin.clone(), org)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|w| (w.name_any(), w))
        .collect();
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), org)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let namespaces = Api::<Namespace>::all(admin.clone())
        .list(&ListParams::default().labels(&format!(
            "workspaces.dev/organization={org},workspaces.dev/component=workspace-namespace"
        )))
        .await
        .unwrap()
        .items;
    let rooms: Vec<Room> = namespaces
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .map(|n| {
            let labels = n.labels().clone();
            let ws_name = labels
                .get("workspaces.dev/workspace")
                .cloned()
                .unwrap_or_default();
            let uid = labels.get("workspaces.dev/owner-uid").cloned();
            let workspace = workspaces.get(&ws_name).filter(|w| w.uid() == uid).cloned();
            let annotations = n.annotations();
            Room {
                name: n.name_any(),
                kept: annotations.contains_key("workspaces.dev/purge-at")
                    || annotations.contains_key("workspaces.dev/retained-at"),
                purge: annotations.contains_key("workspaces.dev/purge-at"),
                labels,
                workspace,
            }
        })
        .collect();

    // The budget: how many, and the quotas' total.
    if rooms.len() > MAX_WORKSPACES {
        out.push(format!(
            "{} workspace namespaces, the budget allows {MAX_WORKSPACES}: {:?}",
            rooms.len(),
            rooms.iter().map(|r| &r.name).collect::<Vec<_>>()
        ));
    }
    let mut cpu = 0.0;
    for room in &rooms {
        let quota = Api::<ResourceQuota>::namespaced(admin.clone(), &room.name)
            .get_opt("workspace-quota")
            .await
            .unwrap();
        match quota
            .and_then(|q| q.spec?.hard?.get("requests.cpu").cloned())
            .and_then(|q| parse_quantity(&q.0))
        {
            Some(c) => cpu += c,
            None => out.push(format!("{}: no requests.cpu quota (unbounded)", room.name)),
        }
    }
    if cpu > BUDGET_CPU + 1e-9 {
        out.push(format!(
            "quotas total {cpu} CPU, the budget allows {BUDGET_CPU}"
        ));
    }

    for room in &rooms {
        let ns = &room.name;
        // Isolation as the organization requires, and nobody else's policy
        // reaching past it.
        let policies = Api::<NetworkPolicy>::namespaced(admin.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let inside = |p: &NetworkPolicyPeer| p.namespace_selector.is_none() && p.ip_block.is_none();
        match policies
            .iter()
            .find(|p| p.name_any() == "workspace-isolation")
        {
            None => out.push(format!("{ns}: not isolated (no workspace-isolation)")),
            Some(p) => {
                let spec = p.spec.clone().unwrap_or_default();
                let ingress_inside = spec.ingress.iter().flatten().all(|r| {
                    r.from
                        .as_ref()
                        .is_some_and(|f| !f.is_empty() && f.iter().all(inside))
                });
                if !ingress_inside || spec.policy_types.unwrap_or_default().len() != 2 {
                    out.push(format!(
                        "{ns}: workspace-isolation is not what the operator makes: {:?}",
                        p.spec
                    ));
                }
            }
        }
        for p in &policies {
            let operators = p
                .labels()
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str)
                == Some("workspace-operator");
            let spec = p.spec.clone().unwrap_or_default();
            let reaches_out = spec.ingress.iter().flatten().any(|r| {
                r.from
                    .as_ref()
                    .is_none_or(|f| f.is_empty() || !f.iter().all(inside))
            }) || spec.egress.iter().flatten().any(|r| {
                r.to.as_ref()
                    .is_none_or(|t| t.is_empty() || !t.iter().all(inside))
            });
            if !operators && reaches_out {
                out.push(format!(
                    "{ns}: a tenant's NetworkPolicy {} reaches past the isolation",
                    p.name_any()
                ));
            }
        }
        // Pod Security at least the platform's level.
        match room
            .labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str)
        {
            Some("baseline" | "restricted") => {}
            other => out.push(format!(
                "{ns}: Pod Security enforce {other:?}, below baseline"
            )),
        }
        // Placement: its label and its parameters together.
        let params = Api::<ConfigMap>::namespaced(admin.clone(), ns)
            .get_opt("workspace-placement")
            .await
            .unwrap();
        if room.labels.contains_key("workspaces.dev/placement") != params.is_some() {
            out.push(format!(
                "{ns}: the placement label and its parameters disagree (unusable or unplaced)"
            ));
        }
        // No token that never expires.
        let tokens = Api::<Secret>::namespaced(admin.clone(), ns)
            .list(&ListParams::default().fields("type=kubernetes.io/service-account-token"))
            .await
            .unwrap();
        if !tokens.items.is_empty() {
            out.push(format!("{ns}: a service-account-token Secret exists"));
        }
        // No new work where there must be none, asked of admission with a
        // dry run of a Pod every other guardrail admits (restricted Pod
        // Security, the placement, requests within the quota), so that only
        // the stop on new work can refuse it.
        // (Archived also while its deletion waits for its members; a
        // retained namespace as its archive was, which its info says.)
        let archived = match &room.workspace {
            Some(w) => w.spec.archived == Some(true),
            None => Api::<ConfigMap>::namespaced(admin.clone(), ns)
                .get_opt("workspace-info")
                .await
                .unwrap()
                .and_then(|c| c.data?.get("WORKSPACE_ARCHIVED").cloned())
                .is_some_and(|a| a == "true"),
        };
        let stopped = room.purge || archived;
        let dry = PostParams {
            dry_run: true,
            ..Default::default()
        };
        match Api::<Pod>::namespaced(admin.clone(), ns)
            .create(&dry, &probe_pod())
            .await
        {
            Ok(_) if stopped => out.push(format!(
                "{ns}: a new Pod is admitted (archived, or kept for its purge)"
            )),
            Ok(_) => probes.admitted += 1,
            Err(kube::Error::Api(s)) if s.message.contains("workspace-stop-work") => {
                probes.stopped += 1;
                if !stopped {
                    out.push(format!(
                        "{ns}: new work stopped, but the workspace is neither archived nor kept"
                    ));
                }
            }
            // Another refusal (a quota's usage not counted yet): no answer.
            Err(_) => {}
        }
    }

    // Access: nobody without a tie to a workspace can use its namespace,
    // and nobody at all a kept one.
    let everyone = PEOPLE
        .iter()
        .copied()
        .chain([("alice", &["acme-platform", "acme-staff"][..])]);
    for room in &rooms {
        for (person, groups) in everyone.clone() {
            // alice, the organization's admin, is tied to every workspace.
            if person == "alice" && !room.kept {
                continue;
            }
            let tied = room.workspace.as_ref().is_some_and(|w| {
                let owner = w.spec.owner.as_ref().is_some_and(|o| {
                    (o.kind == workspace_operator::api::SubjectKind::User && o.name == person)
                        || (o.kind == workspace_operator::api::SubjectKind::Group
                            && groups.contains(&o.name.as_str()))
                });
                let open =
                    w.spec.accept_anonymous != Some(false) && groups.contains(&"acme-contractors");
                let member = members.iter().any(|m| {
                    m.spec.workspace == w.name_any()
                        && match m.spec.subject.kind {
                            workspace_operator::api::SubjectKind::User => {
                                m.spec.subject.name == person
                            }
                            workspace_operator::api::SubjectKind::Group => {
                                groups.contains(&m.spec.subject.name.as_str())
                            }
                            workspace_operator::api::SubjectKind::ServiceAccount => false,
                        }
                });
                owner || open || member
            });
            if tied && !room.kept {
                continue;
            }
            let client = cluster().user(person).await;
            for (verb, resource) in [
                ("list", "pods"),
                ("get", "configmaps"),
                ("create", "secrets"),
            ] {
                if can(&client, verb, resource, Some(&room.name)).await {
                    out.push(format!(
                        "{person} may {verb} {resource} in {} without any tie to it{}",
                        room.name,
                        if room.kept { " (kept or retained)" } else { "" }
                    ));
                }
            }
        }
    }
    out
}

/// Checks until no violation is left for `settle` (RBAC and the caches
/// take a moment), and returns what is still violated then.
async fn check(admin: &Client, org: &str, settle: Duration) -> (Vec<String>, Probes) {
    let start = Instant::now();
    loop {
        let mut probes = Probes::default();
        let found = violations(admin, org, &mut probes).await;
        if found.is_empty() || start.elapsed() > settle {
            return (found, probes);
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

#[tokio::test]
async fn random_tenant_writes_never_switch_a_guardrail_off() {
    operator().await;
    let admin = cluster().admin().await;
    let alice = cluster().user("alice").await;
    let seed = seed_from("WSOP_INVARIANTS_SEED");
    let steps: usize = std::env::var("WSOP_INVARIANTS_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    eprintln!(
        "invariants: seed {seed}, {steps} steps (replay with WSOP_INVARIANTS_SEED={seed} WSOP_INVARIANTS_STEPS={steps})"
    );
    let mut rng = Rng(seed);
    let scope = Scope::new("invariants");
    let org = scope.id.clone();
    platform_organization(&admin, &scope, ORGANIZATION).await;
    // First a few fixed steps, so both outcomes surely occur: a workspace
    // made (work may start), a manager's ServiceAccount membership refused,
    // isolation asked off (refused by the operator) with an unknown plan,
    // then archived (no new work).
    let mut plan: Vec<Step> = vec![
        Step::Workspace {
            name: "w1",
            spec: json!({"owner": {"kind": "User", "name": "carol"}, "acceptAnonymous": false}),
        },
        Step::ManagerMember {
            workspace: "w1",
            subject: json!({"kind": "ServiceAccount", "name": "robot", "namespace": format!("{org}--w1")}),
            must_refuse: true,
        },
        Step::Workspace {
            name: "w1",
            spec: json!({"owner": {"kind": "User", "name": "carol"}, "networkIsolation": false, "plan": "no-such-plan"}),
        },
        Step::Workspace {
            name: "w1",
            spec: json!({"owner": {"kind": "User", "name": "carol"}, "plan": "no-such-plan", "archived": true}),
        },
    ];
    plan.extend((0..steps).map(|_| draw(&mut rng, &org)));

    let mut tally = Tally::default();
    let mut history = String::new();
    let mut failures: Vec<String> = vec![];
    for (i, step) in plan.iter().enumerate() {
        let _ = writeln!(history, "  {i:>3}. {step:?}");
        if let Some(f) = perform(step, &admin, &alice, &org, &mut tally).await {
            failures.push(format!("step {i}: {f}"));
        }
        settle(&admin, &org, Duration::from_secs(30)).await;
        for w in Api::<Workspace>::namespaced(admin.clone(), &org)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            if let Some((_, reason, _)) = ready_condition(&w) {
                *tally.reasons.entry(reason).or_default() += 1;
            }
        }
        let (found, probes) = check(&admin, &org, Duration::from_secs(15)).await;
        tally.pods_admitted += probes.admitted;
        tally.pods_stopped += probes.stopped;
        if !found.is_empty() {
            failures.push(format!("after step {i}:\n    {}", found.join("\n    ")));
            break;
        }
    }
    eprintln!(
        "invariants: {} writes admitted, {} refused; Ready reasons seen {:?}; dry-run Pods {} admitted, {} stopped",
        tally.admitted, tally.refused, tally.reasons, tally.pods_admitted, tally.pods_stopped
    );
    assert!(
        failures.is_empty(),
        "seed {seed} (replay with WSOP_INVARIANTS_SEED={seed} WSOP_INVARIANTS_STEPS={steps}):\n{}\nsteps:\n{history}",
        failures.join("\n")
    );
    let held_back: usize = [
        "UnknownPlan",
        "OverBudget",
        "SettingNotAllowed",
        "InvalidTimeZone",
    ]
    .iter()
    .map(|r| tally.reasons.get(*r).copied().unwrap_or(0))
    .sum();
    let ready: usize = ["Ready", "Archived"]
        .iter()
        .map(|r| tally.reasons.get(*r).copied().unwrap_or(0))
        .sum();
    assert!(
        tally.admitted > 0
            && tally.refused > 0
            && held_back > 0
            && ready > 0
            && tally.pods_admitted > 0
            && tally.pods_stopped > 0,
        "seed {seed}: both outcomes must occur: {} writes admitted, {} refused, {held_back} held back, {ready} ready, {} Pods admitted, {} stopped",
        tally.admitted,
        tally.refused,
        tally.pods_admitted,
        tally.pods_stopped
    );
}
