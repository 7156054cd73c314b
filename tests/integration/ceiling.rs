//! The tenant ceiling, attacked the way the issue "seal the tenant ceiling"
//! describes, each time by the tenant with that tenant's own credentials:
//! a WorkspaceRole over the namespace itself, one including the operator's
//! own ClusterRole, names chosen to collide with another tenant's access,
//! and a refused role left alone while idle and across a restart. Then a
//! generative test: random roles, and for each what its member can really
//! do, asked of the API server as that member.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use workspace_operator::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use workspace_operator::ownership::OWNER_UID;

use crate::isolation::two_tenants;
use crate::organizations::{organization, workspace};
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(90);
/// How long an access review may disagree before it counts: RBAC changes
/// reach the authorizer's caches within moments.
const SETTLE: Duration = Duration::from_secs(10);
const RBAC: &str = "rbac.authorization.k8s.io";
/// Why the operator refuses a role (Ready=False).
const REFUSALS: [&str; 2] = ["BeyondCeiling", "ClusterRoleNotAllowed"];

/// Asks every question (a few at a time) and returns the ones whose answer
/// differs from the expected one for longer than `SETTLE`, as messages.
/// `reviews` counts the access reviews made.
async fn disagreements(
    client: &Client,
    expected: Vec<(Ask, bool)>,
    reviews: &AtomicUsize,
) -> Vec<String> {
    let mut pending = expected;
    let start = Instant::now();
    loop {
        let answers: Vec<bool> = futures::stream::iter(pending.iter())
            .map(|(ask, _)| may(client, ask))
            .buffered(8)
            .collect()
            .await;
        reviews.fetch_add(pending.len(), Ordering::Relaxed);
        pending = pending
            .into_iter()
            .zip(answers)
            .filter(|((_, want), got)| want != got)
            .map(|(e, _)| e)
            .collect();
        if pending.is_empty() {
            return vec![];
        }
        if start.elapsed() > SETTLE {
            return pending
                .iter()
                .map(|(ask, want)| {
                    format!(
                        "{ask}: {}",
                        if *want {
                            "denied, should be allowed"
                        } else {
                            "ALLOWED, should be denied"
                        }
                    )
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What no tenant may ever be given in workspace namespace `ws_ns` of
/// organization namespace `org_ns`, whatever the ceiling says: its
/// namespace, its quota and limits, the workspaces.dev API, cluster-wide
/// access control, bind and escalate; and, by the local ceiling, RBAC writes
/// and other tenants' Secrets.
pub fn hard_limits(ws_ns: &str, org_ns: &str) -> Vec<Ask> {
    let mut asks = vec![];
    for verb in ["get", "update", "patch", "delete"] {
        asks.push(Ask::the_namespace(verb, ws_ns));
        asks.push(Ask::new(verb, "", "namespaces").named(ws_ns));
    }
    asks.push(Ask::new("create", "", "namespaces"));
    asks.push(Ask::new("list", "", "namespaces"));
    for resource in ["resourcequotas", "limitranges"] {
        for verb in ["create", "update", "patch", "delete"] {
            asks.push(Ask::new(verb, "", resource).within(ws_ns));
        }
    }
    for resource in [
        "organizations",
        "workspaces",
        "workspaceroles",
        "workspacemembers",
    ] {
        for verb in ["create", "update", "patch", "delete"] {
            for ns in [ws_ns, org_ns] {
                asks.push(Ask::new(verb, "workspaces.dev", resource).within(ns));
            }
        }
    }
    for resource in ["clusterroles", "clusterrolebindings"] {
        for verb in ["create", "update", "delete", "bind", "escalate"] {
            asks.push(Ask::new(verb, RBAC, resource));
            asks.push(Ask::new(verb, RBAC, resource).within(ws_ns));
        }
    }
    for resource in ["roles", "rolebindings"] {
        for verb in ["create", "update", "delete", "bind", "escalate"] {
            asks.push(Ask::new(verb, RBAC, resource).within(ws_ns));
        }
    }
    for verb in ["get", "list"] {
        asks.push(Ask::new(verb, "", "secrets").within("kube-system"));
        asks.push(Ask::new(verb, "", "secrets"));
        asks.push(Ask::new(verb, "", "nodes"));
    }
    asks
}

// ---- restarts, audit log -------------------------------------------------

/// Restarts the shared operator, one test at a time (a second restart would
/// land in the middle of the first one's settling), and waits until a fresh
/// organization becomes Ready: the restarted operator has worked through its
/// start-up queue.
pub async fn restart_operator_and_settle(admin: &Client) {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _alone = ONE_AT_A_TIME.lock().await;
    restart_operator().await;
    let probe = Scope::new("restartprobe");
    organization(admin, &probe).await;
}

/// The operator's writes (failed ones included) about each marker, in the
/// audit log's order.
pub fn writes_about_each(markers: &[String]) -> Vec<Vec<String>> {
    markers.iter().map(|m| operator_writes_about(m)).collect()
}

/// The writes about `markers` that came after `before` (from `writes_about_each`).
pub fn writes_since(markers: &[String], before: &[Vec<String>]) -> Vec<String> {
    markers
        .iter()
        .zip(before)
        .flat_map(|(marker, before)| {
            let now = operator_writes_about(marker);
            now[before.len().min(now.len())..]
                .iter()
                .map(|w| format!("[{marker}] {w}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

// ---- objects -------------------------------------------------------------

fn role(org: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "WorkspaceRole",
        "metadata": {"name": name, "namespace": org},
        "spec": spec,
    })
}

fn member(org: &str, name: &str, ws: &str, user: &str, roles: &[&str]) -> Value {
    json!({
        "apiVersion": "workspaces.dev/v1alpha1",
        "kind": "WorkspaceMember",
        "metadata": {"name": name, "namespace": org},
        "spec": {"workspace": ws, "subject": {"kind": "User", "name": user}, "roles": roles},
    })
}

async fn apply_as(client: &Client, value: &Value) {
    apply_value(client, value)
        .await
        .unwrap_or_else(|e| panic!("apply refused: {e}\n{value}"));
}

async fn cluster_role(admin: &Client, name: &str) -> Option<ClusterRole> {
    Api::<ClusterRole>::all(admin.clone())
        .get_opt(name)
        .await
        .unwrap()
}

/// The ClusterRoles the RoleBindings of `ns` that name `user` grant.
async fn granted_to(admin: &Client, ns: &str, user: &str) -> BTreeSet<String> {
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|b| {
            b.subjects
                .iter()
                .flatten()
                .any(|s| s.kind == "User" && s.name == user)
        })
        .map(|b| b.role_ref.name)
        .collect()
}

/// The role's outcome: granted (Ready=True) or refused (Ready=False with a
/// refusal reason), for its current generation.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Granted,
    Refused { reason: String, message: String },
}

async fn outcome(api: &Api<WorkspaceRole>, name: &str) -> Outcome {
    eventually(
        &format!("role {name} granted or refused (a CeilingNotFound here means deploy/operator-rbac.yaml has no tenant ceiling yet)"),
        LIMIT,
        || async {
            let r = api.get(name).await.map_err(|e| e.to_string())?;
            match ready_condition(&r) {
                Some((s, _, _)) if s == "True" => Ok(Outcome::Granted),
                Some((s, reason, message)) if s == "False" && REFUSALS.contains(&reason.as_str()) => {
                    Ok(Outcome::Refused { reason, message })
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

// ---- the paths ---------------------------------------------------

/// (a) The organization admin defines a role over the namespace itself, or
/// one including the operator's own ClusterRole, and makes herself a member:
/// refused, nothing made, and she still cannot touch her workspace's
/// namespace (nor anything the operator could).
#[tokio::test]
async fn org_admin_cannot_take_her_workspace_namespace_through_a_role() {
    let Opening { admin, scope, .. } = opening("ceil-ns").await;
    let t = two_tenants(&admin, &scope).await;
    let alice = cluster().user("alice").await;
    let ws_ns = format!("{}--private", t.a);
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &t.a);
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &t.a);
    let ws_uid = Api::<Workspace>::namespaced(admin.clone(), &t.a)
        .get("private")
        .await
        .unwrap()
        .uid()
        .unwrap();

    let attempts = [
        (
            "ns-owner",
            json!({"rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "patch", "update", "delete"]}]}),
            "BeyondCeiling",
            "namespaces",
        ),
        (
            "operator-powers",
            json!({"clusterRoles": ["workspace-operator"]}),
            "ClusterRoleNotAllowed",
            "workspace-operator",
        ),
    ];
    for (name, spec, reason, named) in attempts {
        apply_as(&alice, &role(&t.a, name, spec)).await;
        let self_member = format!("alice-{name}");
        apply_as(
            &alice,
            &member(&t.a, &self_member, "private", "alice", &[name]),
        )
        .await;

        let message = wait_not_ready(&roles, name, reason, LIMIT).await;
        assert!(
            message.contains(named),
            "{name}: the message should name {named}: {message}"
        );
        let cr_name = format!("workspaces.dev:role:{}:{name}", t.a);
        assert!(
            cluster_role(&admin, &cr_name).await.is_none(),
            "{name}: ClusterRole {cr_name} was made"
        );
        wait_not_ready(&members, &self_member, "RoleNotReady", LIMIT).await;
        let bound: Vec<String> = Api::<RoleBinding>::namespaced(admin.clone(), &ws_ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|b| b.role_ref.name == cr_name)
            .map(|b| b.name_any())
            .collect();
        assert!(bound.is_empty(), "{name}: bindings to {cr_name}: {bound:?}");

        // As alice: not the namespace, not the operator's powers.
        for ns in [&ws_ns, &t.a] {
            for verb in ["patch", "update", "delete"] {
                assert!(
                    !may_on_namespace(&alice, verb, ns).await,
                    "{name}: alice may {verb} namespace {ns}"
                );
            }
        }
        for ask in [
            Ask::new("create", "", "namespaces"),
            Ask::new("create", RBAC, "clusterroles"),
            Ask::new("create", RBAC, "clusterrolebindings"),
            Ask::new("create", RBAC, "rolebindings").within(&ws_ns),
            Ask::new("escalate", RBAC, "clusterroles"),
            Ask::new("get", "", "secrets").within("kube-system"),
            Ask::new("list", "", "secrets"),
            Ask::new("update", "workspaces.dev", "workspaceroles/status").within(&t.a),
            Ask::new("create", "", "resourcequotas").within(&ws_ns),
        ] {
            assert!(!may(&alice, &ask).await, "{name}: alice may {ask}");
        }
        // And really: the API server refuses her edit and her delete.
        let namespaces = Api::<Namespace>::all(alice.clone());
        let unmark = json!({"metadata": {"labels": {OWNER_UID: null}}});
        match namespaces
            .patch(&ws_ns, &PatchParams::default(), &Patch::Merge(&unmark))
            .await
        {
            Err(kube::Error::Api(e)) => assert_eq!(e.code, 403, "{name}: {}", e.message),
            other => panic!("{name}: alice's patch of {ws_ns} was not refused: {other:?}"),
        }
        let dry_run = DeleteParams {
            dry_run: true,
            ..Default::default()
        };
        match namespaces.delete(&ws_ns, &dry_run).await {
            Err(kube::Error::Api(e)) => assert_eq!(e.code, 403, "{name}: {}", e.message),
            other => panic!("{name}: alice's delete of {ws_ns} was not refused: {other:?}"),
        }
        let ns = Api::<Namespace>::all(admin.clone())
            .get(&ws_ns)
            .await
            .unwrap_or_else(|e| panic!("{name}: namespace {ws_ns} is gone: {e}"));
        assert!(
            ns.metadata.deletion_timestamp.is_none(),
            "{ws_ns} is being deleted"
        );
        assert_eq!(
            ns.labels().get(OWNER_UID),
            Some(&ws_uid),
            "{name}: {ws_ns} lost its owner mark"
        );
    }
}

/// (b) Names chosen to collide with access the operator gives others: an
/// Organization named `organization` whose admin defines a WorkspaceRole
/// `organization` (under the earlier naming scheme, the ClusterRole of both
/// was `workspaces.dev:organization:organization`, bound cluster-wide to her)
/// and a role named after another organization (whose reader ClusterRole was
/// `workspaces.dev:organization:<that org>`). Nothing of anyone's access
/// changes.
///
/// The name `organization` is the attack itself, so it is not scope-derived:
/// applying it again (a second run on the same cluster) changes nothing.
#[tokio::test]
async fn role_names_cannot_collide_with_organization_access() {
    let Opening { admin, scope, .. } = opening("ceil-names").await;
    let attacker = "organization";
    let victim = scope.name("y");
    let org = |name: &str, admins: Value| {
        json!({
            "apiVersion": "workspaces.dev/v1alpha1",
            "kind": "Organization",
            "metadata": {"name": name},
            // Member groups alice is in none of: through them she would
            // find (read) the organization, which is not the attack here.
            "spec": {"admins": admins, "memberGroups": ["globex-staff"]},
        })
    };
    apply_as(
        &admin,
        &org(attacker, json!([{"kind": "User", "name": "alice"}])),
    )
    .await;
    apply_as(
        &admin,
        &org(&victim, json!([{"kind": "Group", "name": "globex-admins"}])),
    )
    .await;
    let orgs = Api::<Organization>::all(admin.clone());
    wait_ready(&orgs, attacker, "True", LIMIT).await;
    wait_ready(&orgs, &victim, "True", LIMIT).await;

    let crs = Api::<ClusterRole>::all(admin.clone());
    let crbs = Api::<ClusterRoleBinding>::all(admin.clone());
    let reader = |o: &str| format!("workspaces.dev:organization:{o}");
    let snapshot = |o: String| {
        let (crs, crbs) = (crs.clone(), crbs.clone());
        async move {
            let cr = crs.get(&o).await.unwrap_or_else(|e| panic!("{o}: {e}"));
            let crb = crbs.get(&o).await.unwrap_or_else(|e| panic!("{o}: {e}"));
            (
                cr.resource_version(),
                serde_json::to_value(&cr.rules).unwrap(),
                crb.resource_version(),
                serde_json::to_value((&crb.role_ref, &crb.subjects)).unwrap(),
            )
        }
    };
    let before_attacker = snapshot(reader(attacker)).await;
    let before_victim = snapshot(reader(&victim)).await;
    // What a reader ClusterRole holds: get and watch of its own Organization.
    for (o, (_, rules, _, binding)) in [
        (attacker, &before_attacker),
        (victim.as_str(), &before_victim),
    ] {
        assert_eq!(
            rules,
            &json!([{"apiGroups": ["workspaces.dev"], "resources": ["organizations", "organizations/status"], "resourceNames": [o], "verbs": ["get", "watch"]}]),
            "reader of {o}"
        );
        assert_eq!(binding[0]["name"], reader(o), "reader binding of {o}");
    }
    let victim_reader_writes = operator_writes_about(&reader(&victim));

    // The attack, by alice with her own credentials: two roles well inside
    // the ceiling, so the operator does make their ClusterRoles.
    let alice = cluster().user("alice").await;
    let wide = json!({"rules": [
        {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "create", "delete"]},
    ]});
    apply_as(&alice, &role(attacker, attacker, wide.clone())).await;
    apply_as(&alice, &role(attacker, &victim, wide)).await;
    apply_as(
        &alice,
        &member(
            attacker,
            &scope.name("bob"),
            "default",
            "bob",
            &[attacker, &victim],
        ),
    )
    .await;
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), attacker);
    for name in [attacker, victim.as_str()] {
        wait_ready(&roles, name, "True", LIMIT).await;
        let cr_name = format!("workspaces.dev:role:{attacker}:{name}");
        let cr = cluster_role(&admin, &cr_name)
            .await
            .unwrap_or_else(|| panic!("the role's own ClusterRole {cr_name} is missing"));
        assert!(
            serde_json::to_string(&cr.rules)
                .unwrap()
                .contains("secrets"),
            "{cr_name}: {:?}",
            cr.rules
        );
    }
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), attacker);
    wait_ready(&members, &scope.name("bob"), "True", LIMIT).await;
    // Let any write the attack could cause arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Both readers and their bindings: untouched, not even rewritten.
    assert_eq!(
        snapshot(reader(attacker)).await,
        before_attacker,
        "the attacker's own reader access changed"
    );
    assert_eq!(
        snapshot(reader(&victim)).await,
        before_victim,
        "{victim}'s reader access changed"
    );
    assert_eq!(
        operator_writes_about(&reader(&victim)),
        victim_reader_writes,
        "the operator wrote {victim}'s reader access during the attack"
    );

    // As alice: she reads (and, with organization admins managing admins,
    // may update) her own Organization only.
    let yes = [
        Ask::new("get", "workspaces.dev", "organizations").named(attacker),
        Ask::new("get", "", "secrets").within(&format!("{attacker}--default")),
    ];
    let no = [
        Ask::new("get", "", "secrets").within("kube-system"),
        Ask::new("list", "", "secrets").within("kube-system"),
        Ask::new("list", "", "secrets"),
        Ask::new("get", "", "secrets").within(&victim),
        Ask::new("get", "", "secrets").within(&format!("{victim}--default")),
        Ask::new("get", "workspaces.dev", "organizations").named(&victim),
        Ask::new("list", "workspaces.dev", "organizations"),
        Ask::new("update", "workspaces.dev", "organizations").named(&victim),
        Ask::new("create", "apps", "deployments").within("kube-system"),
        Ask::new("create", "apps", "deployments"),
    ];
    let reviews = AtomicUsize::new(0);
    let expected = yes
        .iter()
        .map(|a| (a.clone(), true))
        .chain(no.iter().map(|a| (a.clone(), false)))
        .collect();
    let wrong = disagreements(&alice, expected, &reviews).await;
    assert!(wrong.is_empty(), "alice: {wrong:#?}");
    // The roles work where they should (bob, in the attacker's default
    // workspace) and nowhere else; dave still reads his organization.
    let bob = cluster().user("bob").await;
    let expected = vec![
        (
            Ask::new("get", "", "secrets").within(&format!("{attacker}--default")),
            true,
        ),
        (Ask::new("get", "", "secrets").within("kube-system"), false),
        (Ask::new("list", "", "secrets"), false),
        (
            Ask::new("get", "", "secrets").within(&format!("{victim}--default")),
            false,
        ),
        (
            Ask::new("get", "workspaces.dev", "organizations").named(&victim),
            false,
        ),
    ];
    let wrong = disagreements(&bob, expected, &reviews).await;
    assert!(wrong.is_empty(), "bob: {wrong:#?}");
    let dave = cluster().user("dave").await;
    assert!(
        may(
            &dave,
            &Ask::new("get", "workspaces.dev", "organizations").named(&victim)
        )
        .await,
        "dave lost read access to his organization {victim}"
    );
}

/// (c) A refused role (and a member given it) is reported once and then left
/// alone: no write about it while idle, and none after a restart. Counted in
/// the API server's audit log, failed writes included.
#[tokio::test]
async fn a_refused_role_causes_no_writes_idle_or_after_restart() {
    let Opening { admin, org, .. } = opening_with_organization("ceil-quiet").await;
    workspace(&admin, &org, "w", "{acceptAnonymous: false}").await;
    let alice = cluster().user("alice").await;
    // Every object of this test carries `marker` in its name.
    let marker = format!("quiet-{}", random_suffix(6));
    let beyond = format!("{marker}-ns");
    let included = format!("{marker}-incl");
    let member_name = format!("{marker}-bob");
    apply_as(
        &alice,
        &role(
            &org,
            &beyond,
            json!({"rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "patch", "update", "delete"]}]}),
        ),
    )
    .await;
    apply_as(
        &alice,
        &role(
            &org,
            &included,
            json!({"clusterRoles": ["workspace-operator"]}),
        ),
    )
    .await;
    apply_as(
        &alice,
        &member(
            &org,
            &member_name,
            "w",
            "bob",
            &["viewer", &beyond, &included],
        ),
    )
    .await;
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &org);
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
    wait_not_ready(&roles, &beyond, "BeyondCeiling", LIMIT).await;
    wait_not_ready(&roles, &included, "ClusterRoleNotAllowed", LIMIT).await;
    wait_not_ready(&members, &member_name, "RoleNotReady", LIMIT).await;

    tokio::time::sleep(Duration::from_secs(5)).await;
    let markers = vec![marker.clone()];
    let converged = writes_about_each(&markers);
    assert!(
        !converged[0].is_empty(),
        "the audit log shows the operator's status writes about {marker}"
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    let idle = writes_since(&markers, &converged);
    assert!(idle.is_empty(), "writes while idle: {idle:#?}");

    restart_operator_and_settle(&admin).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = writes_since(&markers, &converged);
    assert!(after.is_empty(), "writes after a restart: {after:#?}");

    // Still refused, still nothing made, still nothing granted.
    wait_not_ready(&roles, &beyond, "BeyondCeiling", LIMIT).await;
    wait_not_ready(&roles, &included, "ClusterRoleNotAllowed", LIMIT).await;
    for name in [&beyond, &included] {
        let cr = format!("workspaces.dev:role:{org}:{name}");
        assert!(cluster_role(&admin, &cr).await.is_none(), "{cr} exists");
    }
    let ws_ns = format!("{org}--w");
    assert_eq!(
        granted_to(&admin, &ws_ns, "bob").await,
        BTreeSet::from([format!("workspaces.dev:role:{org}:viewer")]),
        "bob's bindings in {ws_ns}"
    );
    let bob = cluster().user("bob").await;
    for verb in ["patch", "delete"] {
        assert!(
            !may_on_namespace(&bob, verb, &ws_ns).await,
            "bob may {verb} {ws_ns}"
        );
    }
}

// ---- generative ----------------------------------------------------------

const GROUPS: [&str; 4] = ["", "apps", RBAC, "*"];
const RESOURCES: [&str; 10] = [
    "pods",
    "secrets",
    "namespaces",
    "nodes",
    "rolebindings",
    "clusterroles",
    "resourcequotas",
    "deployments",
    "deployments/scale",
    "*",
];
/// Verbs and how often they are drawn: the dangerous ones less often, so
/// that some roles stay inside the ceiling.
const VERBS: [(&str, usize); 8] = [
    ("get", 6),
    ("list", 6),
    ("create", 4),
    ("delete", 4),
    ("patch", 4),
    ("bind", 1),
    ("escalate", 1),
    ("*", 1),
];
const INCLUDABLE: [&str; 4] = ["view", "edit", "admin", "cluster-admin"];

#[derive(Clone, Debug)]
struct DrawnRule {
    groups: Vec<&'static str>,
    resources: Vec<&'static str>,
    verbs: Vec<&'static str>,
    names: Vec<&'static str>,
}

#[derive(Clone, Debug)]
struct DrawnRole {
    name: String,
    rules: Vec<DrawnRule>,
    cluster_roles: Vec<&'static str>,
}

fn weighted<T: Copy>(items: &[T]) -> Vec<(T, usize)> {
    items.iter().map(|i| (*i, 1)).collect()
}

impl DrawnRule {
    /// Mostly "plausible" rules (one group with its own resources, the core
    /// group most often), sometimes any mix of the alphabets. The weights
    /// make about a third of the drawn roles fit the local ceiling.
    fn draw(rng: &mut Rng) -> DrawnRule {
        const CORE: &[(&str, usize)] = &[
            ("pods", 4),
            ("secrets", 4),
            ("namespaces", 1),
            ("nodes", 1),
            ("resourcequotas", 1),
        ];
        const APPS: &[(&str, usize)] = &[("deployments", 2), ("deployments/scale", 2)];
        const RBAC_OWN: &[(&str, usize)] = &[("rolebindings", 2), ("clusterroles", 1)];
        let (groups, resources) = if rng.percent(85) {
            let (group, own) = rng.subset(
                &[(("", CORE), 3), (("apps", APPS), 2), ((RBAC, RBAC_OWN), 1)],
                1,
                1,
            )[0];
            (vec![group], rng.subset(own, 1, 2))
        } else {
            (
                rng.subset(&weighted(&GROUPS), 1, 2),
                rng.subset(&weighted(&RESOURCES), 1, 3),
            )
        };
        let verbs = rng.subset(&VERBS, 1, 3);
        let names = if rng.percent(20) {
            rng.subset(&weighted(&["alpha", "beta"]), 1, 2)
        } else {
            vec![]
        };
        DrawnRule {
            groups,
            resources,
            verbs,
            names,
        }
    }

    /// A rule the issue says can never be granted, and why.
    fn must_refuse(&self) -> Option<&'static str> {
        let has_resource = |r: &str| self.resources.contains(&r);
        let has_verb = |v: &str| self.verbs.contains(&v);
        let write = self
            .verbs
            .iter()
            .any(|v| !matches!(*v, "get" | "list" | "watch"));
        [
            (has_resource("namespaces"), "namespaces"),
            (has_resource("clusterroles"), "clusterroles"),
            (has_resource("nodes"), "nodes"),
            (has_resource("*"), "every resource"),
            (has_verb("bind"), "bind"),
            (has_verb("escalate"), "escalate"),
            (
                has_resource("resourcequotas") && write,
                "resourcequotas writes",
            ),
        ]
        .into_iter()
        .find(|(hit, _)| *hit)
        .map(|(_, why)| why)
    }

    fn json(&self) -> Value {
        let mut rule =
            json!({"apiGroups": self.groups, "resources": self.resources, "verbs": self.verbs});
        if !self.names.is_empty() {
            rule["resourceNames"] = json!(self.names);
        }
        rule
    }

    /// Every (verb, group, resource) it names, without and (if it has
    /// names) with each name, in `namespace` (None: cluster-wide).
    fn asks(&self, namespace: Option<&str>, named_only: bool) -> Vec<Ask> {
        let mut asks = vec![];
        for group in &self.groups {
            for resource in &self.resources {
                for verb in &self.verbs {
                    let mut ask = Ask::new(verb, group, resource);
                    ask.namespace = namespace.map(String::from);
                    if self.names.is_empty() || !named_only {
                        asks.push(ask.clone());
                    }
                    for name in &self.names {
                        asks.push(ask.clone().named(name));
                    }
                }
            }
        }
        asks
    }
}

impl fmt::Display for DrawnRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<String> = self.groups.iter().map(|g| format!("{g:?}")).collect();
        write!(
            f,
            "{{[{}] [{}] [{}]",
            groups.join(","),
            self.resources.join(","),
            self.verbs.join(",")
        )?;
        if !self.names.is_empty() {
            write!(f, " names [{}]", self.names.join(","))?;
        }
        write!(f, "}}")
    }
}

impl DrawnRole {
    fn draw(rng: &mut Rng, name: String) -> DrawnRole {
        let count = rng.subset(&[(1, 7), (2, 2), (3, 1)], 1, 1)[0];
        let rules = (0..count).map(|_| DrawnRule::draw(rng)).collect();
        let cluster_roles = if rng.percent(10) {
            vec![rng.pick(&INCLUDABLE)]
        } else {
            vec![]
        };
        DrawnRole {
            name,
            rules,
            cluster_roles,
        }
    }

    /// A role inside the local ceiling by construction: core pods and
    /// Secrets with everyday verbs.
    fn tame(rng: &mut Rng, name: String) -> DrawnRole {
        let rule = DrawnRule {
            groups: vec![""],
            resources: rng.subset(&weighted(&["pods", "secrets"]), 1, 2),
            verbs: rng.subset(
                &weighted(&["get", "list", "create", "delete", "patch"]),
                1,
                3,
            ),
            names: vec![],
        };
        DrawnRole {
            name,
            rules: vec![rule],
            cluster_roles: vec![],
        }
    }

    /// A role with at least one rule that must be refused.
    fn wild(rng: &mut Rng, name: String) -> DrawnRole {
        let mut role = DrawnRole::draw(rng, name);
        if role.must_refuse().is_none() {
            let mut rule = DrawnRule::draw(rng);
            let over = rng.pick(&["namespaces", "nodes", "clusterroles", "*"]);
            if !rule.resources.contains(&over) {
                rule.resources.push(over);
            }
            role.rules.push(rule);
        }
        role
    }

    fn must_refuse(&self) -> Option<&'static str> {
        if self.cluster_roles.contains(&"cluster-admin") {
            return Some("cluster-admin");
        }
        self.rules.iter().find_map(DrawnRule::must_refuse)
    }

    fn spec(&self) -> Value {
        let mut spec = json!({"rules": self.rules.iter().map(DrawnRule::json).collect::<Vec<_>>()});
        if !self.cluster_roles.is_empty() {
            spec["clusterRoles"] = json!(self.cluster_roles);
        }
        spec
    }
}

impl fmt::Display for DrawnRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self.rules.iter().map(ToString::to_string).collect();
        write!(f, "{}: {}", self.name, rules.join(" "))?;
        if !self.cluster_roles.is_empty() {
            write!(f, " + clusterRoles [{}]", self.cluster_roles.join(","))?;
        }
        Ok(())
    }
}

/// What a member of `ws_ns` given only `role` (with `outcome`) must and must
/// not be able to do.
fn expectations(role: &DrawnRole, outcome: &Outcome, ws_ns: &str, org: &str) -> Vec<(Ask, bool)> {
    let mut expected: Vec<(Ask, bool)> = vec![];
    let granted = *outcome == Outcome::Granted;
    for rule in &role.rules {
        // Granted: each of its rules inside the workspace (by name, if the
        // rule names objects); refused: none of it, anywhere.
        for ask in rule.asks(Some(ws_ns), granted) {
            expected.push((ask, granted));
        }
        for ask in rule
            .asks(Some("kube-system"), false)
            .into_iter()
            .chain(rule.asks(None, false))
        {
            expected.push((ask, false));
        }
    }
    for ask in hard_limits(ws_ns, org) {
        expected.push((ask, false));
    }
    expected.sort();
    // An ask both expected and forbidden (a granted rule over a hard limit)
    // stays in twice: the test then fails, as it should.
    expected.dedup();
    expected
}

/// Where the drawn roles are tried: workspace `ws` of organization `org`,
/// whose admin is alice.
struct Bench<'a> {
    admin: &'a Client,
    alice: &'a Client,
    org: &'a str,
    ws: &'a str,
    /// Access reviews made so far.
    reviews: AtomicUsize,
}

/// Gives `user` (member `member_name` of the bench's workspace) each role of
/// `roles` in turn, alone, and checks what the user can do. Returns the
/// failures.
async fn walk(
    bench: &Bench<'_>,
    user: &str,
    member_name: &str,
    roles: &[(DrawnRole, Outcome)],
) -> Vec<String> {
    let Bench {
        admin,
        alice,
        org,
        ws,
        ref reviews,
    } = *bench;
    let client = cluster().user(user).await;
    let ws_ns = format!("{org}--{ws}");
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), org);
    let mut failures = vec![];
    for (role, outcome) in roles {
        apply_as(alice, &member(org, member_name, ws, user, &[&role.name])).await;
        let (status, reason) = match outcome {
            Outcome::Granted => ("True", "Ready"),
            Outcome::Refused { .. } => ("False", "RoleNotReady"),
        };
        eventually(
            &format!("{member_name} with {}: Ready={status} {reason}", role.name),
            LIMIT,
            || async {
                let m = members.get(member_name).await.map_err(|e| e.to_string())?;
                match ready_condition(&m) {
                    Some((s, r, _)) if s == status && r == reason => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
        let want: BTreeSet<String> = match outcome {
            Outcome::Granted => [format!("workspaces.dev:role:{org}:{}", role.name)].into(),
            Outcome::Refused { .. } => BTreeSet::new(),
        };
        eventually(
            &format!("{user}'s bindings in {ws_ns} to be {want:?}"),
            LIMIT,
            || async {
                let got = granted_to(admin, &ws_ns, user).await;
                if got == want {
                    Ok(())
                } else {
                    Err(format!("{got:?}"))
                }
            },
        )
        .await;
        let wrong = disagreements(&client, expectations(role, outcome, &ws_ns, org), reviews).await;
        if !wrong.is_empty() {
            failures.push(format!(
                "{user} given only {role} ({outcome:?}):\n  {}",
                wrong.join("\n  ")
            ));
        }
    }
    failures
}

#[tokio::test]
async fn random_roles_grant_exactly_their_rules_or_nothing() {
    operator().await;
    let admin = cluster().admin().await;
    let alice = cluster().user("alice").await;
    let seed = seed_from("WSOP_CEILING_SEED");
    eprintln!("random roles: seed {seed} (replay with WSOP_CEILING_SEED={seed})");
    let mut rng = Rng(seed);
    let count = 12 + rng.below(9);
    // One role surely inside the local ceiling and one surely over it, so
    // that neither "everything refused" nor "everything granted" can pass;
    // the rest as drawn.
    let drawn: Vec<DrawnRole> = (0..count)
        .map(|i| {
            let name = format!("gen-{i}");
            match i {
                0 => DrawnRole::tame(&mut rng, name),
                1 => DrawnRole::wild(&mut rng, name),
                _ => DrawnRole::draw(&mut rng, name),
            }
        })
        .collect();

    let scope = Scope::new("ceil-gen");
    organization(&admin, &scope).await;
    let org = scope.id.clone();
    let ws = "gen";
    workspace(&admin, &org, ws, "{acceptAnonymous: false}").await;

    // All roles at once (as the organization admin), then their outcomes.
    for role in &drawn {
        apply_as(&alice, &self::role(&org, &role.name, role.spec())).await;
    }
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &org);
    let mut judged = vec![];
    let mut failures = vec![];
    for role in drawn {
        let outcome = outcome(&roles, &role.name).await;
        let cr_name = format!("workspaces.dev:role:{org}:{}", role.name);
        let made = cluster_role(&admin, &cr_name).await.is_some();
        match (&outcome, role.must_refuse()) {
            (Outcome::Granted, Some(why)) => {
                failures.push(format!("granted despite {why}: {role}"));
            }
            (Outcome::Granted, None) if !made => {
                failures.push(format!("granted, but no ClusterRole {cr_name}: {role}"));
            }
            (Outcome::Refused { .. }, _) if made => {
                failures.push(format!("refused, but ClusterRole {cr_name} exists: {role}"));
            }
            _ => {}
        }
        if let Outcome::Refused { reason, message } = &outcome
            && !role.cluster_roles.is_empty()
            && reason != "ClusterRoleNotAllowed"
        {
            failures.push(format!(
                "the local control plane allows no included ClusterRole, but {role} is {reason}: {message}"
            ));
        }
        judged.push((role, outcome));
    }
    let granted = judged
        .iter()
        .filter(|(_, o)| *o == Outcome::Granted)
        .count();
    let refused = judged.len() - granted;
    eprintln!(
        "random roles: {} drawn, {granted} granted, {refused} refused",
        judged.len()
    );
    for (role, outcome) in &judged {
        let verdict = match outcome {
            Outcome::Granted => "granted".to_string(),
            Outcome::Refused { reason, .. } => reason.clone(),
        };
        eprintln!("  {verdict:<22} {role}");
    }

    // Each role alone, given to a member; two users walk half each.
    let bench = Bench {
        admin: &admin,
        alice: &alice,
        org: &org,
        ws,
        reviews: AtomicUsize::new(0),
    };
    let (first, second) = judged.split_at(judged.len() / 2);
    let (a, b) = futures::join!(
        walk(&bench, "bob", "gen-bob", first),
        walk(&bench, "carol", "gen-carol", second),
    );
    failures.extend(a);
    failures.extend(b);
    eprintln!(
        "random roles: {} access reviews as bob and carol",
        bench.reviews.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "seed {seed} (replay with WSOP_CEILING_SEED={seed}):\n{}",
        failures.join("\n")
    );
    assert!(
        granted > 0 && refused > 0,
        "seed {seed}: {granted} granted, {refused} refused: the ceiling must tell roles apart"
    );
}
