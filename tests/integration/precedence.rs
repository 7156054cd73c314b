//! What the platform sets, tenants can only tighten: each of the ways the
//! issue "no tenant write switches a guardrail off" found, tried again as
//! the attacker with its own credentials (alice, an organization admin;
//! carol, a workspace owner), each now failing; asserted on the access or
//! the object itself. The generative suite is in `invariants`.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, Pod, ResourceQuota, Secret, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use workspace_operator::api::common::parse_quantity;
use workspace_operator::api::{Organization, Workspace, WorkspaceMember};

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Organization `scope.id` with alice as its admin and `spec` (YAML lines
/// indented by two) added, applied by the platform (the cluster admin).
pub async fn platform_organization(admin: &Client, scope: &Scope, spec: &str) {
    apply_yaml(
        admin,
        &format!(
            "apiVersion: workspaces.dev/v1alpha1\nkind: Organization\nmetadata: {{name: {org}}}\nspec:\n  admins: [{{kind: User, name: alice}}]\n{spec}\n",
            org = scope.id
        ),
    )
    .await;
    wait_organization_ready(admin, &scope.id).await;
}

/// What each test here starts from: the platform's admin, alice (the
/// organization's admin, with her own credentials), and an organization the
/// platform made with `spec` (YAML lines indented by two).
pub struct Tenancy {
    pub admin: Client,
    pub alice: Client,
    pub scope: Scope,
    pub org: String,
    pub workspaces: Api<Workspace>,
}

pub async fn tenancy(base: &str, spec: &str) -> Tenancy {
    let Opening { admin, scope, org } = opening(base).await;
    platform_organization(&admin, &scope, spec).await;
    Tenancy {
        alice: cluster().user("alice").await,
        workspaces: Api::<Workspace>::namespaced(admin.clone(), &scope.id),
        admin,
        scope,
        org,
    }
}

/// Applies Workspace `name` of `org` as `who` (server-side apply).
pub async fn write_workspace(who: &Client, org: &str, name: &str, spec: &str) {
    apply_yaml(
        who,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: {name}, namespace: {org}}}, spec: {spec}}}"),
    )
    .await;
}

/// Waits until Workspace `name` reports its current generation with Ready
/// reason `reason`, and returns it.
pub async fn wait_reason(api: &Api<Workspace>, name: &str, reason: &str) -> Workspace {
    eventually(&format!("{name}: Ready reason {reason}"), LIMIT, || async {
        let ws = api.get(name).await.map_err(|e| e.to_string())?;
        let status = ws.status.clone().unwrap_or_default();
        let current = status.observed_generation == ws.metadata.generation;
        match ready_condition(&ws) {
            Some((_, r, _)) if current && r == reason => Ok(ws),
            other => Err(format!("{other:?} (observed {current})")),
        }
    })
    .await
}

/// The API server's refusal of `result`, or a panic when it was admitted.
pub fn refused<T: std::fmt::Debug>(result: kube::Result<T>, what: &str) -> String {
    match result {
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 => s.message,
        other => panic!("{what} was admitted: {other:?}"),
    }
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": "10m"}, "limits": {"cpu": "10m", "memory": "16Mi"}}}]}
    }))
    .unwrap()
}

/// A Pod on the placement the tests' plans require.
fn placed_pod(name: &str) -> Pod {
    let mut placed = pod(name);
    if let Some(spec) = placed.spec.as_mut() {
        spec.node_selector = Some(BTreeMap::from([(
            "example.com/pool".to_string(),
            "tenants".to_string(),
        )]));
    }
    placed
}

/// The names of the NetworkPolicies the operator made in `ns`.
async fn operator_policies(admin: &Client, ns: &str) -> Vec<String> {
    let mut names: Vec<String> = Api::<NetworkPolicy>::namespaced(admin.clone(), ns)
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=workspace-operator"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    names.sort();
    names
}

/// The sum over the organization's namespaces (live or kept) of the hard
/// quota of `key` in their `workspace-quota`.
async fn quota_total(admin: &Client, org: &str, key: &str) -> f64 {
    let namespaces = Api::<Namespace>::all(admin.clone())
        .list(&ListParams::default().labels(&format!("workspaces.dev/organization={org}")))
        .await
        .unwrap();
    let mut total = 0.0;
    for ns in namespaces.items {
        let quota = Api::<ResourceQuota>::namespaced(admin.clone(), &ns.name_any())
            .get_opt("workspace-quota")
            .await
            .unwrap();
        total += quota
            .and_then(|q| q.spec?.hard?.get(key).cloned())
            .and_then(|q| parse_quantity(&q.0))
            .unwrap_or(0.0);
    }
    total
}

// ---- 1: isolation ---------------------------------------------------------

#[tokio::test]
async fn a_workspace_cannot_lift_the_isolation_its_organization_requires() {
    let plans = "  plans:\n    web: {quota: {pods: 10}, network: {ingressFromNamespaces: [{matchLabels: {kubernetes.io/metadata.name: ingress}}]}}";
    let Tenancy {
        admin,
        alice,
        scope,
        org,
        workspaces,
    } = tenancy(
        "prec-iso",
        &format!("  defaults: {{plan: web, networkIsolation: true}}\n{plans}"),
    )
    .await;
    let carol = cluster().user("carol").await;
    let ns = format!("{org}--pay");
    write_workspace(&alice, &org, "pay", "{owner: {kind: User, name: carol}}").await;
    wait_reason(&workspaces, "pay", "Ready").await;
    let both = vec![
        "workspace-isolation".to_string(),
        "workspace-network-exceptions".to_string(),
    ];
    assert_eq!(operator_policies(&admin, &ns).await, both);

    // The organization admin turns it off on the Workspace: refused by the
    // operator, reported, and both policies stay.
    write_workspace(
        &alice,
        &org,
        "pay",
        "{owner: {kind: User, name: carol}, networkIsolation: false}",
    )
    .await;
    let ws = wait_reason(&workspaces, "pay", "SettingNotAllowed").await;
    let (_, _, message) = ready_condition(&ws).unwrap();
    assert!(message.contains("requires network isolation"), "{message}");
    assert_eq!(ws.status.unwrap().network_isolation, Some(true));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(operator_policies(&admin, &ns).await, both);
    let events = events_for(&admin, &org, "pay").await;
    assert!(
        events.iter().any(|e| e.starts_with("SettingNotAllowed: ")),
        "{events:?}"
    );

    // The owner (admin in the workspace, with networkpolicies writes)
    // cannot open it with a policy of its own, nor change or delete the
    // operator's; a policy among its own pods is fine.
    wait_access(
        &carol,
        "create",
        "networking.k8s.io/networkpolicies",
        &ns,
        true,
    )
    .await;
    let policies = Api::<NetworkPolicy>::namespaced(carol.clone(), &ns);
    let post = PostParams::default();
    let policy = |name: &str, spec: serde_json::Value| -> NetworkPolicy {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
    };
    for (name, spec) in [
        (
            "all-egress",
            json!({"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]}),
        ),
        ("all-ingress", json!({"podSelector": {}, "ingress": [{}]})),
        (
            "metadata",
            json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}]}], "policyTypes": ["Egress"]}),
        ),
        (
            "other-namespaces",
            json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
        ),
    ] {
        let why = refused(policies.create(&post, &policy(name, spec)).await, name);
        assert!(why.contains("isolated by its organization"), "{why}");
    }
    policies
        .create(
            &post,
            &policy(
                "web-to-db",
                json!({"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]}),
            ),
        )
        .await
        .expect("a policy among the namespace's own pods");
    for name in ["workspace-isolation", "workspace-network-exceptions"] {
        let why = refused(
            policies.delete(name, &DeleteParams::default()).await,
            &format!("deleting {name}"),
        );
        assert!(
            why.contains("only the operator changes or deletes it"),
            "{why}"
        );
        let why = refused(
            policies
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"spec": {"ingress": [{}]}})),
                )
                .await,
            &format!("opening {name}"),
        );
        // Refused twice over (the operator's object; a rule open to
        // everyone): the API server names whichever policy it asked first.
        assert!(
            why.contains("only the operator changes or deletes it")
                || why.contains("isolated by its organization"),
            "{why}"
        );
    }

    // Only the platform lowers it: with the organization's default off,
    // the workspace's false takes effect, and tenants' own policies are
    // theirs to write again.
    platform_organization(
        &admin,
        &scope,
        &format!("  defaults: {{plan: web, networkIsolation: false}}\n{plans}"),
    )
    .await;
    wait_reason(&workspaces, "pay", "Ready").await;
    eventually("isolation removed", LIMIT, || async {
        let left = operator_policies(&admin, &ns).await;
        left.is_empty().then_some(()).ok_or(format!("{left:?}"))
    })
    .await;
    eventually("the owner may open its own namespace", LIMIT, || async {
        let open = policy("all-ingress", json!({"podSelector": {}, "ingress": [{}]}));
        policies
            .create(&post, &open)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await;
    // Required again: isolation is back, and the policy written meanwhile
    // (not the operator's to delete) is named in a Warning.
    platform_organization(
        &admin,
        &scope,
        &format!("  defaults: {{plan: web, networkIsolation: true}}\n{plans}"),
    )
    .await;
    wait_reason(&workspaces, "pay", "SettingNotAllowed").await;
    eventually(
        "isolation back, and the open policy named",
        LIMIT,
        || async {
            let left = operator_policies(&admin, &ns).await;
            let events = events_for(&admin, &org, "pay").await;
            let named = events
                .iter()
                .any(|e| e.starts_with("OpenNetworkPolicies: ") && e.contains("all-ingress"));
            (left == both && named)
                .then_some(())
                .ok_or(format!("{left:?} {events:?}"))
        },
    )
    .await;
}

// ---- 2: the budget and an unknown plan ------------------------------------

#[tokio::test]
async fn an_unknown_plan_does_not_take_its_quota_out_of_the_budget() {
    let Tenancy { admin, alice, org, workspaces, .. } = tenancy(
        "prec-budget",
        "  defaults: {plan: small, deletionGracePeriod: 10m}\n  budget: {quota: {requests.cpu: \"4\"}}\n  plans:\n    small: {quota: {requests.cpu: \"2\"}}",
    )
    .await;
    write_workspace(&alice, &org, "b1", "{}").await;
    wait_reason(&workspaces, "b1", "Ready").await;
    write_workspace(&alice, &org, "b2", "{}").await;
    wait_reason(&workspaces, "b2", "OverBudget").await;

    // b1 names a plan that does not exist: it keeps the quota it has, and
    // the budget still counts it.
    write_workspace(&alice, &org, "b1", "{plan: no-such-plan}").await;
    let b1 = wait_reason(&workspaces, "b1", "UnknownPlan").await;
    assert_eq!(
        b1.status.unwrap().plan.as_deref(),
        Some("small"),
        "the plan in effect"
    );
    write_workspace(&alice, &org, "b2", "{displayName: again}").await;
    let b2 = wait_reason(&workspaces, "b2", "OverBudget").await;
    let (_, _, why) = ready_condition(&b2).unwrap();
    assert!(why.contains("4 are taken"), "{why}");
    let namespaces = Api::<Namespace>::all(admin.clone());
    assert!(
        namespaces
            .get_opt(&format!("{org}--b2"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(quota_total(&admin, &org, "requests.cpu").await, 4.0);

    // Deleted while on the unknown plan: its kept namespace still counts
    // what it holds.
    Api::<Workspace>::namespaced(alice.clone(), &org)
        .delete("b1", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "b1", LIMIT).await;
    let kept = namespaces.get(&format!("{org}--b1")).await.unwrap();
    assert!(kept.annotations().contains_key("workspaces.dev/purge-at"));
    write_workspace(&alice, &org, "b2", "{displayName: once more}").await;
    let b2 = wait_reason(&workspaces, "b2", "OverBudget").await;
    let (_, _, why) = ready_condition(&b2).unwrap();
    assert!(
        why.contains("4 are taken (1 kept for deleted workspaces"),
        "{why}"
    );
    assert_eq!(quota_total(&admin, &org, "requests.cpu").await, 4.0);
}

// ---- 3: a manager's access through a ServiceAccount -----------------------

#[tokio::test]
async fn a_removed_manager_keeps_no_access_through_a_service_account() {
    let Tenancy {
        alice,
        org,
        workspaces,
        ..
    } = tenancy("prec-sa", "  defaults: {acceptAnonymous: false}").await;
    let carol = cluster().user("carol").await;
    let ns = format!("{org}--team");
    write_workspace(&alice, &org, "team", "{owner: {kind: User, name: carol}}").await;
    wait_reason(&workspaces, "team", "Ready").await;
    wait_access(&carol, "create", "serviceaccounts", &ns, true).await;
    wait_access(
        &carol,
        "create",
        "workspaces.dev/workspacemembers",
        &org,
        true,
    )
    .await;

    // The owner makes a ServiceAccount and tries to give it admin.
    Api::<ServiceAccount>::namespaced(carol.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "helper"}})).unwrap(),
        )
        .await
        .unwrap();
    let member = |name: &str, subject: serde_json::Value| -> WorkspaceMember {
        serde_json::from_value(json!({
            "apiVersion": "workspaces.dev/v1alpha1", "kind": "WorkspaceMember",
            "metadata": {"name": name, "namespace": org},
            "spec": {"workspace": "team", "subject": subject, "roles": ["admin"]}
        }))
        .unwrap()
    };
    let as_carol = Api::<WorkspaceMember>::namespaced(carol.clone(), &org);
    // Neither of one in its own namespace, nor of one in the organization
    // namespace.
    for (name, sa, sa_namespace) in [
        ("team-helper", "helper", ns.as_str()),
        ("team-default", "default", org.as_str()),
    ] {
        let subject = json!({"kind": "ServiceAccount", "name": sa, "namespace": sa_namespace});
        let why = refused(
            as_carol
                .create(&PostParams::default(), &member(name, subject))
                .await,
            &format!("a manager's membership of ServiceAccount {sa_namespace}/{sa}"),
        );
        assert!(why.contains("may not give ServiceAccount"), "{why}");
    }
    // A person still may be given one (both outcomes occur).
    as_carol
        .create(
            &PostParams::default(),
            &member("team-bob", json!({"kind": "User", "name": "bob"})),
        )
        .await
        .expect("a manager adds a person");
    // Nor can she mint a token that never expires.
    let token: Secret = serde_json::from_value(json!({
        "metadata": {"name": "helper-token", "annotations": {"kubernetes.io/service-account.name": "helper"}},
        "type": "kubernetes.io/service-account-token"
    }))
    .unwrap();
    let why = refused(
        Api::<Secret>::namespaced(carol.clone(), &ns)
            .create(&PostParams::default(), &token)
            .await,
        "a legacy ServiceAccount token",
    );
    assert!(why.contains("no service-account-token Secrets"), "{why}");
    // Nor can the organization admin, in the organization namespace (where
    // its ServiceAccounts, which it may make members, live).
    let org_token: Secret = serde_json::from_value(json!({
        "metadata": {"name": "default-token", "annotations": {"kubernetes.io/service-account.name": "default"}},
        "type": "kubernetes.io/service-account-token"
    }))
    .unwrap();
    let why = refused(
        Api::<Secret>::namespaced(alice.clone(), &org)
            .create(&PostParams::default(), &org_token)
            .await,
        "a legacy token in the organization namespace",
    );
    assert!(why.contains("no service-account-token Secrets"), "{why}");

    // An organization admin may make a ServiceAccount a member (a decision
    // of the level above): the owner then replaced.
    Api::<WorkspaceMember>::namespaced(alice.clone(), &org)
        .create(
            &PostParams::default(),
            &member(
                "team-helper",
                json!({"kind": "ServiceAccount", "name": "helper", "namespace": ns}),
            ),
        )
        .await
        .expect("an organization admin adds a ServiceAccount");
    write_workspace(&alice, &org, "team", "{owner: {kind: User, name: frank}}").await;
    wait_reason(&workspaces, "team", "Ready").await;
    for (verb, resource, namespace) in [
        ("create", "secrets", ns.as_str()),
        ("create", "pods", ns.as_str()),
        ("create", "workspaces.dev/workspacemembers", org.as_str()),
    ] {
        wait_access(&carol, verb, resource, namespace, false).await;
    }
    let why = refused(
        as_carol
            .create(
                &PostParams::default(),
                &member("team-carol", json!({"kind": "User", "name": "carol"})),
            )
            .await,
        "the removed owner writing herself back",
    );
    assert!(!why.is_empty());
}

// ---- 4 and 6: Retain --------------------------------------------------------

#[tokio::test]
async fn a_retained_namespace_keeps_every_guardrail_and_its_place_in_the_budget() {
    let Tenancy { admin, alice, org, workspaces, .. } = tenancy(
        "prec-retain",
        "  defaults: {plan: pinned}\n  budget: {maxWorkspaces: 2}\n  plans:\n    pinned: {quota: {pods: 10}, limitRange: {default: {cpu: 100m}}, placement: {nodeSelector: {example.com/pool: tenants}}}",
    )
    .await;
    write_workspace(
        &alice,
        &org,
        "keep",
        "{deletionPolicy: Retain, owner: {kind: User, name: carol}}",
    )
    .await;
    wait_reason(&workspaces, "keep", "Ready").await;
    let ns = format!("{org}--keep");
    let carol = cluster().user("carol").await;
    wait_access(&carol, "create", "configmaps", &ns, true).await;
    Api::<ConfigMap>::namespaced(carol.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "ledger"}, "data": {"balance": "42"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();

    Api::<Workspace>::namespaced(alice.clone(), &org)
        .delete("keep", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "keep", LIMIT).await;
    // Kept, granting nothing, every guardrail in place, no new work.
    wait_access(&carol, "get", "configmaps", &ns, false).await;
    // Every guardrail in place, no access; no new work when it was
    // archived, else new work only as the guardrails allow (a Pod off the
    // plan's placement refused, one on it admitted: a dry run).
    let guarded = |ns: String, archived: bool| {
        let admin = admin.clone();
        async move {
            let quotas = Api::<ResourceQuota>::namespaced(admin.clone(), &ns);
            assert!(
                quotas.get_opt("workspace-quota").await.unwrap().is_some(),
                "{ns}: quota"
            );
            assert_eq!(
                quotas
                    .get_opt("workspace-stop-work")
                    .await
                    .unwrap()
                    .is_some(),
                archived,
                "{ns}: the stop on new work as its archive said"
            );
            let policies = Api::<NetworkPolicy>::namespaced(admin.clone(), &ns);
            assert!(
                policies
                    .get_opt("workspace-isolation")
                    .await
                    .unwrap()
                    .is_some(),
                "{ns}: isolation"
            );
            let limits =
                Api::<k8s_openapi::api::core::v1::LimitRange>::namespaced(admin.clone(), &ns);
            assert!(
                limits.get_opt("workspace-limits").await.unwrap().is_some(),
                "{ns}: limits"
            );
            let namespace = Api::<Namespace>::all(admin.clone()).get(&ns).await.unwrap();
            let labels = namespace.labels();
            assert_eq!(
                labels
                    .get("pod-security.kubernetes.io/enforce")
                    .map(String::as_str),
                Some("baseline"),
                "{ns}"
            );
            // Placement: the label and its parameters together, never one alone.
            let params = Api::<ConfigMap>::namespaced(admin.clone(), &ns)
                .get_opt("workspace-placement")
                .await
                .unwrap();
            assert!(
                labels.contains_key("workspaces.dev/placement") && params.is_some(),
                "{ns}: placement"
            );
            let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &ns)
                .list(&ListParams::default())
                .await
                .unwrap();
            assert!(bindings.items.is_empty(), "{ns}: no access binding");
            let dry = PostParams {
                dry_run: true,
                ..Default::default()
            };
            let pods = Api::<Pod>::namespaced(admin.clone(), &ns);
            let why = refused(pods.create(&dry, &pod("unplaced")).await, "an unplaced Pod");
            assert!(
                why.contains("must set spec.nodeSelector") || archived,
                "{why}"
            );
            let placed = placed_pod("placed");
            let result = pods.create(&dry, &placed).await;
            if archived {
                let why = refused(result, "new work where it stopped");
                assert!(why.contains("workspace-stop-work"), "{why}");
            } else {
                result.expect("a Pod on the plan's placement");
            }
            namespace
        }
    };
    let kept = guarded(ns.clone(), false).await;
    assert!(
        kept.annotations()
            .contains_key("workspaces.dev/retained-at")
    );
    let orgs = Api::<Organization>::all(admin.clone());
    eventually("the retained namespace listed", LIMIT, || async {
        let o = orgs.get(&org).await.map_err(|e| e.to_string())?;
        let retained = o.status.map(|s| s.retained_namespaces).unwrap_or_default();
        (retained.len() == 1 && retained[0].namespace == ns)
            .then_some(())
            .ok_or(format!("{retained:?}"))
    })
    .await;
    // It keeps its place: the budget of two (default and keep) has none.
    write_workspace(&alice, &org, "extra", "{}").await;
    let extra = wait_reason(&workspaces, "extra", "OverBudget").await;
    let (_, _, why) = ready_condition(&extra).unwrap();
    assert!(why.contains("kept for deleted workspaces"), "{why}");

    // Made again: restored with its data.
    Api::<Workspace>::namespaced(alice.clone(), &org)
        .delete("extra", &DeleteParams::default())
        .await
        .unwrap();
    write_workspace(
        &alice,
        &org,
        "keep",
        "{deletionPolicy: Retain, owner: {kind: User, name: carol}}",
    )
    .await;
    wait_reason(&workspaces, "keep", "Ready").await;
    wait_access(&carol, "get", "configmaps", &ns, true).await;
    let ledger = Api::<ConfigMap>::namespaced(carol.clone(), &ns)
        .get("ledger")
        .await
        .unwrap();
    assert_eq!(ledger.data.unwrap()["balance"], "42");

    // The organization goes with a retained default workspace: released,
    // marks off, and still guarded (and usable by the platform).
    let defaults = Api::<Workspace>::namespaced(alice.clone(), &org);
    defaults
        .patch(
            "default",
            &PatchParams::apply("precedence-test").force(),
            &Patch::Apply(json!({"apiVersion": "workspaces.dev/v1alpha1", "kind": "Workspace", "metadata": {"name": "default"}, "spec": {"deletionPolicy": "Retain", "archived": true}})),
        )
        .await
        .unwrap();
    wait_reason(&workspaces, "default", "Archived").await;
    defaults
        .delete("keep", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "keep", LIMIT).await;
    orgs.delete(&org, &DeleteParams::default()).await.unwrap();
    wait_gone(&orgs, &org, Duration::from_secs(150)).await;
    for (ns, archived) in [(format!("{org}--default"), true), (ns.clone(), false)] {
        let released = guarded(ns.clone(), archived).await;
        for mark in [
            "app.kubernetes.io/managed-by",
            "workspaces.dev/owner-uid",
            "workspaces.dev/component",
        ] {
            assert!(
                !released.labels().contains_key(mark),
                "{ns}: {:?}",
                released.labels()
            );
        }
        assert!(
            released
                .annotations()
                .contains_key("workspaces.dev/released-from"),
            "{ns}: {:?}",
            released.annotations()
        );
        // The platform's to use: its objects are no longer protected, so
        // without the archive's stop a Pod on the placement is admitted.
        if archived {
            Api::<ResourceQuota>::namespaced(admin.clone(), &ns)
                .delete("workspace-stop-work", &DeleteParams::default())
                .await
                .unwrap();
        }
        eventually(
            &format!("{ns}: the platform's Pod admitted"),
            LIMIT,
            || async {
                Api::<Pod>::namespaced(admin.clone(), &ns)
                    .create(&PostParams::default(), &placed_pod("platform"))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        delete_namespace(&admin, &ns).await;
    }
}

// ---- 5: archive in every state --------------------------------------------

#[tokio::test]
async fn an_archive_stops_new_work_also_with_an_unknown_plan_or_over_budget() {
    let spec = |cpu: &str| {
        format!(
            "  defaults: {{plan: small}}\n  budget: {{quota: {{requests.cpu: \"{cpu}\"}}}}\n  plans:\n    small: {{quota: {{requests.cpu: \"1\", limits.cpu: \"1\", limits.memory: 1Gi}}}}"
        )
    };
    let Tenancy {
        admin,
        alice,
        scope,
        org,
        workspaces,
    } = tenancy("prec-archive", &spec("10")).await;
    for ws in ["lost", "squeezed"] {
        write_workspace(&alice, &org, ws, "{}").await;
        wait_reason(&workspaces, ws, "Ready").await;
    }
    // An unknown plan, then archived.
    write_workspace(&alice, &org, "lost", "{plan: no-such-plan}").await;
    wait_reason(&workspaces, "lost", "UnknownPlan").await;
    write_workspace(&alice, &org, "lost", "{plan: no-such-plan, archived: true}").await;
    // Pushed over the budget by the platform, then archived.
    platform_organization(&admin, &scope, &spec("1")).await;
    write_workspace(
        &alice,
        &org,
        "squeezed",
        "{plan: small, displayName: squeezed}",
    )
    .await;
    wait_reason(&workspaces, "squeezed", "OverBudget").await;
    write_workspace(&alice, &org, "squeezed", "{plan: small, archived: true}").await;
    for ws in ["lost", "squeezed"] {
        let ns = format!("{org}--{ws}");
        eventually(&format!("{ns}: no new Pod"), LIMIT, || async {
            match Api::<Pod>::namespaced(admin.clone(), &ns)
                .create(&PostParams::default(), &pod("new-work"))
                .await
            {
                Err(kube::Error::Api(s)) if s.message.contains("workspace-stop-work") => Ok(()),
                Ok(p) => {
                    let _ = Api::<Pod>::namespaced(admin.clone(), &ns)
                        .delete(&p.name_any(), &DeleteParams::default())
                        .await;
                    Err("admitted".into())
                }
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
    }
}

// ---- 7: the plugin ---------------------------------------------------------

#[tokio::test]
async fn the_plugin_points_kubectl_only_at_the_namespace_the_operator_derives() {
    let Tenancy {
        alice,
        org,
        workspaces,
        ..
    } = tenancy("prec-plugin", "").await;
    let operator = operator().await;
    write_workspace(&alice, &org, "lab", "{owner: {kind: User, name: carol}}").await;
    wait_reason(&workspaces, "lab", "Ready").await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::copy(cluster().user_kubeconfig("carol"), &kubeconfig).unwrap();
    let paused = OperatorPaused::new(operator.pid());
    workspaces
        .patch_status(
            "lab",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"namespace": "kube-system"}})),
        )
        .await
        .unwrap();
    let out = std::process::Command::new(crate::plugin::plugin_binary())
        .args(["use", &format!("{org}/lab")])
        .env("KUBECONFIG", &kubeconfig)
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .output()
        .expect("the plugin runs");
    drop(paused);
    let said = ok_stdout(out, "kubectl workspace use");
    assert!(said.contains(&format!("{org}--lab")), "{said}");
    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(config.contains(&format!("{org}--lab")), "{config}");
    assert!(!config.contains("kube-system"), "{config}");
}

// ---- review: a namespace still terminating ---------------------------------

#[tokio::test]
async fn a_namespace_still_terminating_keeps_its_place_in_the_budget() {
    let Tenancy { admin, alice, org, workspaces, .. } = tenancy(
        "prec-going",
        "  defaults: {plan: small}\n  budget: {maxWorkspaces: 3, quota: {requests.cpu: \"2\"}}\n  plans:\n    small: {quota: {requests.cpu: \"1\"}}",
    )
    .await;
    write_workspace(&alice, &org, "a", "{}").await;
    wait_reason(&workspaces, "a", "Ready").await;
    // Something in a's namespace takes its time to go (as Pods that stop
    // slowly would): held by a finalizer the platform put there.
    let ns = format!("{org}--a");
    let held: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "slow", "finalizers": ["example.com/slow"]}
    }))
    .unwrap();
    let config_maps = Api::<ConfigMap>::namespaced(admin.clone(), &ns);
    config_maps
        .create(&PostParams::default(), &held)
        .await
        .unwrap();
    Api::<Workspace>::namespaced(alice.clone(), &org)
        .delete("a", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "a", LIMIT).await;
    let namespaces = Api::<Namespace>::all(admin.clone());
    let going = namespaces.get(&ns).await.unwrap();
    assert!(going.metadata.deletion_timestamp.is_some(), "terminating");
    // Its place and its quota are still taken.
    write_workspace(&alice, &org, "b", "{}").await;
    let b = wait_reason(&workspaces, "b", "OverBudget").await;
    let (_, _, why) = ready_condition(&b).unwrap();
    assert!(why.contains("kept for deleted workspaces"), "{why}");
    assert!(
        namespaces
            .get_opt(&format!("{org}--b"))
            .await
            .unwrap()
            .is_none()
    );
    // Gone: b gets its namespace.
    config_maps
        .patch(
            "slow",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    wait_gone(&namespaces, &ns, LIMIT).await;
    wait_reason(&workspaces, "b", "Ready").await;
}

/// An owner edits its own workspace's settings (display name, variables,
/// time zone; closing it to the member groups) with its own credentials,
/// and nothing the organization decides: not the plan, the owner, the
/// isolation, the archive, the deletion protection, nor its labels;
/// opening it is refused. Its edits reach what the workspace publishes.
#[tokio::test]
async fn an_owner_edits_its_workspace_settings_and_nothing_the_organization_decides() {
    let t = tenancy(
        "prec-owner",
        "  memberGroups: [acme-staff]\n  defaults: {plan: small}\n  plans:\n    small: {quota: {pods: 5}}\n    large: {quota: {pods: 50}}",
    )
    .await;
    let org = &t.org;
    write_workspace(
        &t.admin,
        org,
        "mine",
        "{owner: {kind: User, name: carol}, acceptAnonymous: true}",
    )
    .await;
    wait_ready(&t.workspaces, "mine", "True", LIMIT).await;
    let carol = &Api::<Workspace>::namespaced(cluster().user("carol").await, org);
    let merge = move |patch: serde_json::Value| async move {
        carol
            .patch("mine", &PatchParams::default(), &Patch::Merge(&patch))
            .await
    };

    // Her own settings: allowed (once the operator's owner Role is there).
    let settings = json!({"spec": {"displayName": "Carol's", "description": "mine",
        "timeZone": "Europe/Paris", "variables": {"TEAM": "carol"}}});
    eventually("carol edits her workspace's settings", LIMIT, || async {
        merge(settings.clone())
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await;
    let info = Api::<ConfigMap>::namespaced(t.admin.clone(), &format!("{org}--mine"));
    eventually("her settings published", LIMIT, || async {
        let data = info
            .get("workspace-info")
            .await
            .map_err(|e| e.to_string())?
            .data
            .unwrap_or_default();
        let want = [
            ("TEAM", "carol"),
            ("WORKSPACE_TIME_ZONE", "Europe/Paris"),
            ("WORKSPACE_DISPLAY_NAME", "Carol's"),
        ];
        if want
            .iter()
            .all(|(k, v)| data.get(*k).map(String::as_str) == Some(*v))
        {
            Ok(())
        } else {
            Err(format!("{data:?}"))
        }
    })
    .await;

    // What the organization decides: refused, each with the reason.
    for (what, patch) in [
        ("the plan", json!({"spec": {"plan": "large"}})),
        (
            "the owner",
            json!({"spec": {"owner": {"kind": "User", "name": "mallory"}}}),
        ),
        ("the isolation", json!({"spec": {"networkIsolation": true}})),
        ("the archive", json!({"spec": {"archived": true}})),
        (
            "the deletion protection",
            json!({"spec": {"deletionProtection": true}}),
        ),
        (
            "the anonymous role",
            json!({"spec": {"anonymousRole": "editor"}}),
        ),
    ] {
        let said = refused(merge(patch).await, what);
        assert!(
            said.contains("may change only the display name, description, variables and time zone"),
            "{what}: {said}"
        );
    }
    let said = refused(
        merge(json!({"metadata": {"labels": {"example.com/team": "carol"}}})).await,
        "a label",
    );
    assert!(said.contains("not its labels"), "{said}");

    // Closing to the member groups tightens: allowed; opening again is not.
    merge(json!({"spec": {"acceptAnonymous": false}}))
        .await
        .expect("closing it to the member groups");
    for reopen in [
        json!({"spec": {"acceptAnonymous": true}}),
        json!({"spec": {"acceptAnonymous": null}}),
    ] {
        let said = refused(merge(reopen.clone()).await, "opening it");
        assert!(said.contains("not open it"), "{reopen}: {said}");
    }
    let ws = t.workspaces.get("mine").await.unwrap();
    assert_eq!(ws.spec.plan, None);
    assert_eq!(ws.spec.accept_anonymous, Some(false));
    assert_eq!(ws.spec.owner.unwrap().name, "carol");

    // An organization admin is not bound by it.
    Api::<Workspace>::namespaced(t.alice.clone(), org)
        .patch(
            "mine",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"plan": "large", "acceptAnonymous": true}})),
        )
        .await
        .expect("an organization admin changes the plan");
    // Archived, the owner is read-only: its edits are refused (by the
    // policy at once, by RBAC once the operator took its Role away).
    Api::<Workspace>::namespaced(t.alice.clone(), org)
        .patch(
            "mine",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"archived": true}})),
        )
        .await
        .unwrap();
    eventually("carol read-only in the archive", LIMIT, || async {
        match merge(json!({"spec": {"description": "still mine?"}})).await {
            Err(kube::Error::Api(s))
                if s.code == 403
                    && (s.message.contains("cannot patch")
                        || s.message.contains("is archived")) =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
