//! What the platform puts around workspaces, as real users meet it: Pod
//! Security levels, placement and class policies, organization budgets, an
//! archive that stops new work, and the deletion grace period with restore.
//! (The network exceptions are evaluated in `network_exceptions.rs`.)

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Pod};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use workspace_operator::api::{Organization, Workspace};

use crate::organizations::workspace;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// An organization whose admin is alice, with `plans` and `extra` spec
/// fields, and `defaults` added to its workspace defaults.
async fn guarded_organization(
    admin: &Client,
    scope: &Scope,
    defaults: &str,
    extra: &str,
    plans: &str,
) {
    apply_yaml(
        admin,
        &format!(
            r#"
apiVersion: workspaces.dev/v1alpha1
kind: Organization
metadata: {{name: {org}}}
spec:
  admins: [{{kind: User, name: alice}}]
  defaults: {{plan: free{defaults}}}
  plans:
    free: {{quota: {{pods: 10}}}}
{plans}
{extra}
"#,
            org = scope.id
        ),
    )
    .await;
    wait_organization_ready(admin, &scope.id).await;
}

fn pod(name: &str, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["containers"] = json!([{"name": "c", "image": "busybox"}]);
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

/// The API server's refusal of `result`, or a panic when it was admitted.
fn refusal<T: std::fmt::Debug>(result: kube::Result<T>, what: &str) -> String {
    match result {
        Err(kube::Error::Api(s)) => s.message,
        other => panic!("{what} was admitted: {other:?}"),
    }
}

#[tokio::test]
async fn pod_security_levels_come_from_plan_organization_and_platform_and_stay_put() {
    let Opening { admin, scope, .. } = opening("podsec").await;
    let cluster = cluster();
    guarded_organization(
        &admin,
        &scope,
        "",
        "  workspaceNamespace: {podSecurity: {warn: restricted}, labels: {example.com/tier: gold}, annotations: {example.com/owner: platform}}",
        "    open: {workspaceNamespace: {podSecurity: {enforce: privileged}}}",
    )
    .await;
    let org = &scope.id;
    workspace(&admin, org, "locked", "{owner: {kind: User, name: carol}}").await;
    workspace(
        &admin,
        org,
        "open",
        "{owner: {kind: User, name: carol}, plan: open}",
    )
    .await;
    let (locked, open) = (format!("{org}--locked"), format!("{org}--open"));
    let namespaces = Api::<Namespace>::all(admin.clone());
    let labels = namespaces.get(&locked).await.unwrap().labels().clone();
    // enforce from the platform (the operator's flag), warn from the Organization.
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
    assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");
    assert_eq!(labels["example.com/tier"], "gold");
    let ns = namespaces.get(&open).await.unwrap();
    assert_eq!(
        ns.labels()["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
    assert_eq!(ns.annotations()["example.com/owner"], "platform");

    // The owner, admin in both workspaces, asks for a privileged Pod.
    let carol = cluster.user("carol").await;
    wait_access(&carol, "create", "pods", &locked, true).await;
    wait_access(&carol, "create", "pods", &open, true).await;
    let privileged = pod("root", json!({"containers": [], "hostNetwork": true}));
    let mut privileged = privileged;
    privileged.spec.as_mut().unwrap().containers[0].security_context =
        Some(serde_json::from_value(json!({"privileged": true})).unwrap());
    let why = refusal(
        Api::<Pod>::namespaced(carol.clone(), &locked)
            .create(&PostParams::default(), &privileged)
            .await,
        "a privileged Pod in a baseline workspace",
    );
    assert!(why.contains("violates PodSecurity \"baseline"), "{why}");
    Api::<Pod>::namespaced(carol.clone(), &open)
        .create(&PostParams::default(), &privileged)
        .await
        .expect("the plan's privileged level admits it");

    // Out of tenants' reach: neither the owner nor the organization admin
    // may change the namespace.
    let alice = cluster.user("alice").await;
    let relax =
        json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}});
    for (who, client) in [("carol", &carol), ("alice", &alice)] {
        let err = Api::<Namespace>::all(client.clone())
            .patch(&locked, &PatchParams::default(), &Patch::Merge(&relax))
            .await
            .expect_err("tenants cannot write namespaces");
        assert!(
            matches!(&err, kube::Error::Api(s) if s.code == 403),
            "{who}: {err}"
        );
    }
    // Nor may the organization admin loosen the Organization's levels
    // (it may edit its admins list, and only that).
    let loosen =
        json!({"spec": {"workspaceNamespace": {"podSecurity": {"enforce": "privileged"}}}});
    let err = Api::<Organization>::all(alice.clone())
        .patch(org, &PatchParams::default(), &Patch::Merge(&loosen))
        .await
        .expect_err("the platform's levels are not the organization admin's");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err}"
    );
    // Changed by someone who may (the cluster admin): put back.
    namespaces
        .patch(&locked, &PatchParams::default(), &Patch::Merge(&relax))
        .await
        .unwrap();
    eventually("the enforce level put back", LIMIT, || async {
        let ns = namespaces.get(&locked).await.map_err(|e| e.to_string())?;
        match ns.labels().get("pod-security.kubernetes.io/enforce") {
            Some(level) if level == "baseline" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn placement_and_classes_are_refused_at_admission_also_with_the_operator_stopped() {
    let operator = operator().await;
    let cluster = cluster();
    let admin = cluster.admin().await;
    let scope = Scope::new("placement");
    guarded_organization(
        &admin,
        &scope,
        "",
        "",
        r#"    pinned:
      placement:
        nodeSelector: {example.com/pool: tenants}
        tolerations: [{key: example.com/dedicated, value: tenants, effect: NoSchedule}]
        storageClasses: [fast]
        ingressClasses: [nginx]"#,
    )
    .await;
    let org = &scope.id;
    workspace(
        &admin,
        org,
        "pinned",
        "{owner: {kind: User, name: carol}, plan: pinned}",
    )
    .await;
    let ns = format!("{org}--pinned");
    let carol = cluster.user("carol").await;
    for resource in [
        "pods",
        "persistentvolumeclaims",
        "networking.k8s.io/ingresses",
    ] {
        wait_access(&carol, "create", resource, &ns, true).await;
    }
    let (pods, claims, ingresses, config_maps) = (
        Api::<Pod>::namespaced(carol.clone(), &ns),
        Api::<PersistentVolumeClaim>::namespaced(carol.clone(), &ns),
        Api::<Ingress>::namespaced(carol.clone(), &ns),
        Api::<ConfigMap>::namespaced(carol.clone(), &ns),
    );
    let toleration = json!({"key": "example.com/dedicated", "operator": "Equal", "value": "tenants", "effect": "NoSchedule"});
    let claim = |name: &str, class: &str| -> PersistentVolumeClaim {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
            "accessModes": ["ReadWriteOnce"], "storageClassName": class,
            "resources": {"requests": {"storage": "1Gi"}}}}))
        .unwrap()
    };
    let ingress = |name: &str, class: &str| -> Ingress {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
            "ingressClassName": class,
            "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}}))
        .unwrap()
    };
    let post = PostParams::default();

    let paused = OperatorPaused::new(operator.pid());
    let why = refusal(
        pods.create(&post, &pod("anywhere", json!({}))).await,
        "a Pod without the node selector",
    );
    assert!(
        why.contains("spec.nodeSelector example.com/pool=tenants"),
        "{why}"
    );
    let why = refusal(
        pods.create(
            &post,
            &pod(
                "untolerated",
                json!({"nodeSelector": {"example.com/pool": "tenants"}}),
            ),
        )
        .await,
        "a Pod without the toleration",
    );
    assert!(
        why.contains("example.com/dedicated|Equal|tenants|NoSchedule"),
        "{why}"
    );
    pods.create(
        &post,
        &pod(
            "placed",
            json!({"nodeSelector": {"example.com/pool": "tenants", "zone": "a"}, "tolerations": [toleration]}),
        ),
    )
    .await
    .expect("a Pod with the plan's placement");
    let why = refusal(
        claims.create(&post, &claim("slow", "slow")).await,
        "a claim of another class",
    );
    assert!(why.contains("one of fast"), "{why}");
    claims
        .create(&post, &claim("fast", "fast"))
        .await
        .expect("a claim of an allowed class");
    let why = refusal(
        ingresses.create(&post, &ingress("other", "traefik")).await,
        "an Ingress of another class",
    );
    assert!(why.contains("one of nginx"), "{why}");
    ingresses
        .create(&post, &ingress("web", "nginx"))
        .await
        .expect("an Ingress of an allowed class");
    // The parameters are the operator's: the owner (who may write other
    // ConfigMaps) can neither loosen nor delete them.
    let why = refusal(
        config_maps
            .patch(
                "workspace-placement",
                &PatchParams::default(),
                &Patch::Merge(&json!({"data": {"nodeSelector": ""}})),
            )
            .await,
        "an edit of the placement parameters",
    );
    assert!(why.contains("only workspace-operator writes it"), "{why}");
    let why = refusal(
        config_maps
            .delete("workspace-placement", &DeleteParams::default())
            .await,
        "deleting the placement parameters",
    );
    assert!(why.contains("only workspace-operator writes it"), "{why}");
    drop(paused);

    // A plan without placement: the namespace loses the policy's label
    // and Pods go anywhere again.
    workspace(
        &admin,
        org,
        "pinned",
        "{owner: {kind: User, name: carol}, plan: free}",
    )
    .await;
    eventually("a Pod without placement admitted", LIMIT, || async {
        match pods.create(&post, &pod("free", json!({}))).await {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let labels = Api::<Namespace>::all(admin.clone())
        .get(&ns)
        .await
        .unwrap()
        .labels()
        .clone();
    assert!(
        !labels.contains_key("workspaces.dev/placement"),
        "{labels:?}"
    );
}

#[tokio::test]
async fn the_fifth_workspace_over_a_budget_of_four_gets_no_namespace_until_it_is_raised() {
    let Opening { admin, scope, .. } = opening("budget").await;
    let budget = |max: u32, pods: u32| {
        format!("  budget: {{maxWorkspaces: {max}, quota: {{pods: {pods}}}}}")
    };
    let big = "    big: {quota: {pods: 100}}";
    guarded_organization(&admin, &scope, "", &budget(4, 1000), big).await;
    let org = &scope.id;
    for name in ["one", "two", "three"] {
        workspace(&admin, org, name, "{}").await;
    }
    apply_yaml(
        &admin,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: five, namespace: {org}}}, spec: {{}}}}"),
    )
    .await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), org);
    let why = wait_not_ready(&workspaces, "five", "OverBudget", LIMIT).await;
    assert!(
        why.contains("allows 4 workspace namespace(s) and 4 are taken"),
        "{why}"
    );
    let namespaces = Api::<Namespace>::all(admin.clone());
    assert!(
        namespaces
            .get_opt(&format!("{org}--five"))
            .await
            .unwrap()
            .is_none(),
        "no namespace over the budget"
    );
    let stalled = workspaces.get("five").await.unwrap();
    assert!(
        stalled
            .status
            .unwrap()
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True"),
        "Stalled says it waits for a change"
    );

    // Raised: it gets its namespace. Then the quota total holds the next
    // (five workspaces of the free plan's 10 pods take 50).
    guarded_organization(&admin, &scope, "", &budget(10, 50), big).await;
    wait_ready(&workspaces, "five", "True", LIMIT).await;
    assert!(
        namespaces
            .get_opt(&format!("{org}--five"))
            .await
            .unwrap()
            .is_some()
    );
    apply_yaml(
        &admin,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: six, namespace: {org}}}, spec: {{}}}}"),
    )
    .await;
    let why = wait_not_ready(&workspaces, "six", "OverBudget", LIMIT).await;
    assert!(
        why.contains("limits pods to 50 in all: 50 are taken and plan free asks 10"),
        "{why}"
    );
    // A workspace that has its place cannot grow past the budget either:
    // its plan's quota is not applied, and it says why. Asked by the
    // organization admin, who may write Workspaces, with its own credentials.
    let alice = cluster().user("alice").await;
    apply_yaml(
        &alice,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: two, namespace: {org}}}, spec: {{plan: big}}}}"),
    )
    .await;
    let why = wait_not_ready(&workspaces, "two", "OverBudget", LIMIT).await;
    assert!(why.contains("plan big asks 100"), "{why}");
    let quota = Api::<k8s_openapi::api::core::v1::ResourceQuota>::namespaced(
        admin.clone(),
        &format!("{org}--two"),
    )
    .get("workspace-quota")
    .await
    .unwrap();
    assert_eq!(
        quota.spec.unwrap().hard.unwrap()["pods"].0,
        "10",
        "the quota it had stays"
    );
    // (Back to the default plan by naming it: an apply that empties the
    // spec is refused by the API server.)
    workspace(&admin, org, "two", "{plan: free}").await;
    // A workspace deleted makes room (no grace period here).
    workspaces
        .delete("one", &DeleteParams::default())
        .await
        .unwrap();
    wait_ready(&workspaces, "six", "True", LIMIT).await;
}

#[tokio::test]
async fn an_archived_workspace_admits_no_new_pods_or_jobs_until_unarchived() {
    let Opening { admin, scope, .. } = opening("stopwork").await;
    guarded_organization(&admin, &scope, "", "", "").await;
    let org = &scope.id;
    workspace(&admin, org, "old", "{}").await;
    let ns = format!("{org}--old");
    let (pods, jobs) = (
        Api::<Pod>::namespaced(admin.clone(), &ns),
        Api::<Job>::namespaced(admin.clone(), &ns),
    );
    let post = PostParams::default();
    pods.create(&post, &pod("before", json!({})))
        .await
        .expect("a Pod before the archive");
    let job = |name: &str| -> Job {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}),
        )
        .unwrap()
    };

    workspace(&admin, org, "old", "{archived: true}").await;
    // Even the cluster admin (whom no RBAC stops) starts nothing new: the
    // quota refuses it at admission.
    eventually("a new Pod refused", LIMIT, || async {
        match pods.create(&post, &pod("during", json!({}))).await {
            Err(kube::Error::Api(s)) if s.message.contains("workspace-stop-work") => Ok(()),
            Ok(_) => {
                let _ = pods.delete("during", &DeleteParams::default()).await;
                Err("admitted".to_string())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let why = refusal(
        jobs.create(&post, &job("during")).await,
        "a Job while archived",
    );
    assert!(why.contains("workspace-stop-work"), "{why}");
    assert!(
        pods.get_opt("before").await.unwrap().is_some(),
        "what ran before is left alone"
    );

    workspace(&admin, org, "old", "{archived: false}").await;
    eventually("a new Pod and Job admitted", LIMIT, || async {
        let pod = pods.create(&post, &pod("after", json!({}))).await;
        let job = jobs.create(&post, &job("after")).await;
        match (pod, job) {
            (Ok(_), Ok(_)) => Ok(()),
            other => {
                let _ = pods.delete("after", &DeleteParams::default()).await;
                let _ = jobs.delete("after", &DeleteParams::background()).await;
                Err(format!("{other:?}"))
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_deleted_workspace_is_kept_without_access_then_purged_or_restored_with_its_data() {
    let Opening { admin, scope, .. } = opening("purge").await;
    let cluster = cluster();
    guarded_organization(&admin, &scope, ", deletionGracePeriod: 10m", "", "").await;
    let org = &scope.id;
    let owner = "{owner: {kind: User, name: carol}}";
    workspace(&admin, org, "back", owner).await;
    workspace(
        &admin,
        org,
        "gone",
        "{owner: {kind: User, name: carol}, deletionGracePeriod: 8s}",
    )
    .await;
    let carol = cluster.user("carol").await;
    for ws in ["back", "gone"] {
        let ns = format!("{org}--{ws}");
        wait_access(&carol, "create", "configmaps", &ns, true).await;
        let data: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": "ledger"}, "data": {"balance": "42"}}),
        )
        .unwrap();
        Api::<ConfigMap>::namespaced(carol.clone(), &ns)
            .create(&PostParams::default(), &data)
            .await
            .unwrap();
    }
    // Deleted, and later made again, by the organization admin with its
    // own credentials.
    let alice = cluster.user("alice").await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), org);
    for ws in ["back", "gone"] {
        Api::<Workspace>::namespaced(alice.clone(), org)
            .delete(ws, &DeleteParams::default())
            .await
            .unwrap();
        wait_gone(&workspaces, ws, LIMIT).await;
    }
    // Every access goes at once; the namespace and its data stay.
    let back = format!("{org}--back");
    wait_access(&carol, "list", "configmaps", &back, false).await;
    let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &back)
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=workspace-operator"))
        .await
        .unwrap();
    assert!(bindings.items.is_empty(), "no access binding left");
    let orgs = Api::<Organization>::all(admin.clone());
    let pending_purges = || async {
        let o = orgs.get(org).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(o.status.map(|s| s.pending_purges).unwrap_or_default())
    };
    let pending = eventually("both purges listed", LIMIT, || async {
        let pending = pending_purges().await?;
        if pending.len() == 2 {
            Ok(pending)
        } else {
            Err(format!("{pending:?}"))
        }
    })
    .await;
    let kept = pending.iter().find(|p| p.workspace == "back").unwrap();
    assert_eq!(kept.namespace, back);
    let at: jiff::Timestamp = kept.purge_at.parse().unwrap();
    let left = at.duration_since(jiff::Timestamp::now()).as_secs();
    assert!((500..=600).contains(&left), "purge in ~10 minutes: {left}s");
    let events = events_for(&admin, org, "back").await;
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("PurgeScheduled: ") && e.contains(&kept.purge_at)),
        "{events:?}"
    );
    let listed = cluster.kubectl(&["get", "organization", org]);
    let listed = ok_stdout(listed, "kubectl get organization");
    assert!(listed.contains("PENDING PURGE"), "{listed}");

    // Recreated within its grace period: restored with its data.
    apply_yaml(
        &alice,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: back, namespace: {org}}}, spec: {owner}}}"),
    )
    .await;
    wait_ready(&workspaces, "back", "True", LIMIT).await;
    wait_access(&carol, "list", "configmaps", &back, true).await;
    let ledger = Api::<ConfigMap>::namespaced(carol.clone(), &back)
        .get("ledger")
        .await
        .unwrap();
    assert_eq!(ledger.data.unwrap()["balance"], "42");
    let events = events_for(&admin, org, "back").await;
    assert!(
        events.iter().any(|e| e.starts_with("Restored: ")),
        "{events:?}"
    );

    // The other one's period ends: purged, and no longer listed.
    let namespaces = Api::<Namespace>::all(admin.clone());
    let gone = format!("{org}--gone");
    eventually("the namespace purged", LIMIT, || async {
        match namespaces.get_opt(&gone).await.map_err(|e| e.to_string())? {
            Some(ns) if ns.metadata.deletion_timestamp.is_none() => Err("still there".into()),
            _ => Ok(()),
        }
    })
    .await;
    eventually("no purge listed", LIMIT, || async {
        let pending = pending_purges().await?;
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("{pending:?}"))
        }
    })
    .await;
    let events = events_for(&admin, "default", org).await;
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Purged: ") && e.contains(&gone)),
        "{events:?}"
    );
}

/// A workspace's time zone and its plan's run timeout reach its workloads
/// as they are created (the MutatingAdmissionPolicy
/// workspaces.dev-workload-defaults, where the API server serves it): a
/// CronJob without a time zone gets the workspace's, a Job without
/// activeDeadlineSeconds the plan's; what a workload sets itself is kept.
/// Created by the workspace's owner, with her own credentials, as dry runs
/// (admission runs all the same; nothing is scheduled).
#[tokio::test]
async fn workloads_get_the_workspace_time_zone_and_the_plans_run_timeout() {
    let Opening { admin, scope, .. } = opening("wl-defaults").await;
    let org = scope.id.clone();
    apply_yaml(
        &admin,
        &format!(
            "apiVersion: workspaces.dev/v1alpha1\nkind: Organization\nmetadata: {{name: {org}}}\nspec:\n  admins: [{{kind: User, name: alice}}]\n  defaults: {{plan: timed}}\n  plans:\n    timed: {{quota: {{pods: 5}}, runTimeout: 2h}}\n"
        ),
    )
    .await;
    wait_organization_ready(&admin, &org).await;
    workspace(
        &admin,
        &org,
        "cron",
        "{owner: {kind: User, name: carol}, timeZone: Europe/Paris}",
    )
    .await;
    let ns = format!("{org}--cron");
    let info = Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .get("workspace-info")
        .await
        .unwrap()
        .data
        .unwrap_or_default();
    assert_eq!(
        info.get("WORKSPACE_RUN_TIMEOUT_SECONDS")
            .map(String::as_str),
        Some("7200")
    );
    assert_eq!(
        info.get("WORKSPACE_TIME_ZONE").map(String::as_str),
        Some("Europe/Paris")
    );

    let carol = cluster().user("carol").await;
    let cronjobs = Api::<CronJob>::namespaced(carol.clone(), &ns);
    let jobs = Api::<Job>::namespaced(carol, &ns);
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let template = json!({"spec": {"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}});
    let cronjob = |name: &str, zone: Option<&str>| -> CronJob {
        let mut v = json!({"metadata": {"name": name}, "spec": {"schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": template.clone()}}}});
        if let Some(z) = zone {
            v["spec"]["timeZone"] = json!(z);
        }
        serde_json::from_value(v).unwrap()
    };
    let job = |name: &str, deadline: Option<i64>| -> Job {
        let mut v = json!({"metadata": {"name": name}, "spec": {"template": template.clone()}});
        if let Some(d) = deadline {
            v["spec"]["activeDeadlineSeconds"] = json!(d);
        }
        serde_json::from_value(v).unwrap()
    };
    if !serves_mutating_policies() {
        // Before 1.36: no defaults, and nothing refused.
        let made = cronjobs
            .create(&dry, &cronjob("nightly", None))
            .await
            .unwrap();
        assert_eq!(made.spec.unwrap().time_zone, None);
        return;
    }
    // The API server matches by the namespace's labels and reads the
    // ConfigMap from its own caches: wait until both know the new ones.
    let zone = eventually(
        "the workspace's time zone on a new CronJob",
        LIMIT,
        || async {
            let made = cronjobs
                .create(&dry, &cronjob("nightly", None))
                .await
                .map_err(|e| e.to_string())?;
            match made.spec.and_then(|s| s.time_zone) {
                Some(z) => Ok(z),
                None => Err("no time zone yet".to_string()),
            }
        },
    )
    .await;
    assert_eq!(zone, "Europe/Paris");
    let own = cronjobs
        .create(&dry, &cronjob("utc", Some("UTC")))
        .await
        .unwrap();
    assert_eq!(
        own.spec.unwrap().time_zone.as_deref(),
        Some("UTC"),
        "its own is kept"
    );

    let deadline = eventually("the plan's run timeout on a new Job", LIMIT, || async {
        let made = jobs
            .create(&dry, &job("once", None))
            .await
            .map_err(|e| e.to_string())?;
        made.spec
            .and_then(|s| s.active_deadline_seconds)
            .ok_or_else(|| "no deadline yet".to_string())
    })
    .await;
    assert_eq!(deadline, 7200);
    let own = jobs.create(&dry, &job("short", Some(60))).await.unwrap();
    assert_eq!(
        own.spec.unwrap().active_deadline_seconds,
        Some(60),
        "its own is kept"
    );
}
