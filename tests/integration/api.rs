//! The v1alpha1 API as the real API server serves it: the CRDs install, every
//! example is accepted, invalid input is refused with a message naming the
//! offending field, and kubectl explains every field.

use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::params::ValidationDirective;
use kube::{Client, Resource};
use serde_json::Value;
use workspace_operator::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};

use crate::support::{
    FIELD_MANAGER, Opening, cluster, eventually, ok_stdout, opening, operator, repo_root,
};

fn api_resource(kind: &str) -> Option<(ApiResource, bool)> {
    Some(match kind {
        "Organization" => (ApiResource::erase::<Organization>(&()), false),
        "Workspace" => (ApiResource::erase::<Workspace>(&()), true),
        "WorkspaceRole" => (ApiResource::erase::<WorkspaceRole>(&()), true),
        "WorkspaceMember" => (ApiResource::erase::<WorkspaceMember>(&()), true),
        _ => return None,
    })
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| serde_yaml::with::singleton_map_recursive::deserialize::<Value, _>(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Applies one object with server-side apply, dry run and strict field
/// validation, as `kubectl apply --server-side --dry-run=server` does.
async fn dry_run_apply(client: &Client, namespace: &str, mut obj: Value) -> Result<(), String> {
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pp = PatchParams {
        dry_run: true,
        force: true,
        field_manager: Some(FIELD_MANAGER.into()),
        field_validation: Some(ValidationDirective::Strict),
    };
    let result = match api_resource(&kind) {
        Some((ar, namespaced)) => {
            let api: Api<DynamicObject> = if namespaced {
                obj["metadata"]["namespace"] = namespace.into();
                Api::namespaced_with(client.clone(), namespace, &ar)
            } else {
                Api::all_with(client.clone(), &ar)
            };
            api.patch(&name, &pp, &Patch::Apply(&obj)).await.map(|_| ())
        }
        None => {
            // Core objects in the examples (Secrets) go to the same namespace.
            obj["metadata"]["namespace"] = namespace.into();
            let ar = ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&());
            assert_eq!(
                kind, "Secret",
                "examples hold only workspaces.dev kinds and Secrets"
            );
            Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &ar)
                .patch(&name, &pp, &Patch::Apply(&obj))
                .await
                .map(|_| ())
        }
    };
    result.map_err(|e| format!("{kind}/{name}: {e}"))
}

#[tokio::test]
async fn every_example_is_accepted_by_the_api_server() {
    let Opening { admin, scope, .. } = opening("examples").await;
    let ns = scope.namespace(&admin, "").await;

    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        // kustomization.yaml is the GitOps entry point, not an object.
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "examples/ holds the example manifests");

    let mut kinds = std::collections::BTreeSet::new();
    let mut failures = vec![];
    for file in files {
        for doc in documents(&std::fs::read_to_string(&file).unwrap()) {
            kinds.insert(doc["kind"].as_str().unwrap().to_string());
            if let Err(e) = dry_run_apply(&admin, &ns, doc).await {
                failures.push(format!("{}: {e}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "examples refused:\n{}",
        failures.join("\n")
    );
    for kind in [
        "Organization",
        "Workspace",
        "WorkspaceRole",
        "WorkspaceMember",
    ] {
        assert!(kinds.contains(kind), "no example of {kind}");
    }
}

const MEMBER: &str = r#"
apiVersion: workspaces.dev/v1alpha1
kind: WorkspaceMember
metadata: {name: m}
spec:
  workspace: payments
  subject: {kind: User, name: bob}
  roles: [editor]
"#;

const WORKSPACE: &str = r#"
apiVersion: workspaces.dev/v1alpha1
kind: Workspace
metadata: {name: payments}
spec:
  displayName: Payments
"#;

const ORGANIZATION: &str = r#"
apiVersion: workspaces.dev/v1alpha1
kind: Organization
metadata: {name: ORG}
spec:
  plans:
    free:
      quota: {pods: 20}
"#;

const ROLE: &str = r#"
apiVersion: workspaces.dev/v1alpha1
kind: WorkspaceRole
metadata: {name: r}
spec:
  rules:
    - apiGroups: [apps]
      resources: [deployments]
      verbs: [get]
"#;

/// Sets `value` at a dotted `path` (creating objects on the way); a value of
/// `null` removes the field.
fn set(mut doc: Value, path: &str, value: Value) -> Value {
    let parts: Vec<&str> = path.split('.').collect();
    let mut at = &mut doc;
    for part in &parts[..parts.len() - 1] {
        at = at
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert(Value::Object(Default::default()));
    }
    let last = parts[parts.len() - 1];
    if value.is_null() {
        at.as_object_mut().unwrap().remove(last);
    } else {
        at[last] = value;
    }
    doc
}

fn base(yaml: &str, org: &str) -> Value {
    documents(&yaml.replace("ORG", org)).remove(0)
}

struct BadInput {
    what: &'static str,
    object: Value,
    /// The field the refusal must name.
    field: &'static str,
}

fn bad_inputs(org: &str) -> Vec<BadInput> {
    use serde_json::json;
    let m = || base(MEMBER, org);
    let w = || base(WORKSPACE, org);
    let o = || base(ORGANIZATION, org);
    let r = || base(ROLE, org);
    let case = |what, object, field| BadInput {
        what,
        object,
        field,
    };
    vec![
        case(
            "subject kind that RBAC does not know",
            set(m(), "spec.subject.kind", json!("Robot")),
            "spec.subject.kind",
        ),
        case(
            "ServiceAccount without namespace",
            set(m(), "spec.subject.kind", json!("ServiceAccount")),
            "spec.subject.namespace",
        ),
        case(
            "User with a namespace",
            set(m(), "spec.subject.namespace", json!("acme")),
            "spec.subject.namespace",
        ),
        case(
            "ServiceAccount name RBAC would refuse",
            set(
                set(
                    set(m(), "spec.subject.kind", json!("ServiceAccount")),
                    "spec.subject.namespace",
                    json!("acme"),
                ),
                "spec.subject.name",
                json!("Bad_Name"),
            ),
            "spec.subject.name",
        ),
        case(
            "empty subject name",
            set(m(), "spec.subject.name", json!("")),
            "spec.subject.name",
        ),
        case("no roles", set(m(), "spec.roles", json!([])), "spec.roles"),
        case(
            "role name not a DNS label",
            set(m(), "spec.roles", json!(["Editor"])),
            "spec.roles",
        ),
        case(
            "missing workspace",
            set(m(), "spec.workspace", Value::Null),
            "spec.workspace",
        ),
        case(
            "workspace name with underscore",
            set(m(), "spec.workspace", json!("pay_ments")),
            "spec.workspace",
        ),
        case(
            "expiresAt in words",
            set(m(), "spec.expiresAt", json!("next tuesday")),
            "spec.expiresAt",
        ),
        case(
            "expiresAt with month 13",
            set(m(), "spec.expiresAt", json!("2027-13-01T00:00:00Z")),
            "spec.expiresAt",
        ),
        case(
            "unknown member field (typo)",
            set(m(), "spec.role", json!("editor")),
            "spec.role",
        ),
        case(
            "workspace name over 31 characters",
            set(w(), "metadata.name", json!("a".repeat(32))),
            "metadata.name",
        ),
        case(
            "workspace name with --",
            set(w(), "metadata.name", json!("pay--ments")),
            "metadata.name",
        ),
        case(
            "workspace name with a dot",
            set(w(), "metadata.name", json!("pay.ments")),
            "metadata.name",
        ),
        case(
            "time zone that is no zone",
            set(w(), "spec.timeZone", json!("Mars Standard Time")),
            "spec.timeZone",
        ),
        case(
            "variable name starting with a digit",
            set(w(), "spec.variables", json!({"1REGION": "x"})),
            "spec.variables",
        ),
        case(
            "variable name in the reserved prefix",
            set(w(), "spec.variables", json!({"WORKSPACE_NAME": "x"})),
            "spec.variables",
        ),
        case(
            "unknown deletion policy",
            set(w(), "spec.deletionPolicy", json!("Destroy")),
            "spec.deletionPolicy",
        ),
        case(
            "share with no workspace",
            set(
                w(),
                "spec.sharedCredentials",
                json!([{"secretName": "k", "workspaces": []}]),
            ),
            "spec.sharedCredentials[0].workspaces",
        ),
        case(
            "shared secret name not an object name",
            set(
                w(),
                "spec.sharedCredentials",
                json!([{"secretName": "Bad_Name", "workspaces": ["x"]}]),
            ),
            "spec.sharedCredentials[0].secretName",
        ),
        case(
            "plan name with a space",
            set(w(), "spec.plan", json!("Pro Plan")),
            "spec.plan",
        ),
        case(
            "owner kind unknown",
            set(w(), "spec.owner", json!({"kind": "Team", "name": "x"})),
            "spec.owner.kind",
        ),
        case(
            "archived as a string",
            set(w(), "spec.archived", json!("yes")),
            "spec.archived",
        ),
        case(
            "organization name over 30 characters",
            set(o(), "metadata.name", json!("o".repeat(31))),
            "metadata.name",
        ),
        case(
            "organization name reserved by Kubernetes",
            set(o(), "metadata.name", json!("kube-tenants")),
            "metadata.name",
        ),
        case(
            "quota that is no quantity",
            set(o(), "spec.plans.free.quota", json!({"pods": "lots"})),
            "spec.plans.free.quota.pods",
        ),
        case(
            "negative quota",
            set(o(), "spec.plans.free.quota", json!({"requests.cpu": "-2"})),
            "spec.plans.free.quota.requests.cpu",
        ),
        case(
            "negative integer quota",
            set(o(), "spec.plans.free.quota", json!({"pods": -1})),
            "spec.plans.free.quota.pods",
        ),
        case(
            "quota key that is no resource name",
            set(o(), "spec.plans.free.quota", json!({"pods!": 1})),
            "spec.plans[free].quota",
        ),
        case(
            "limit that is no quantity",
            set(
                o(),
                "spec.plans.free.limitRange",
                json!({"max": {"cpu": "eight"}}),
            ),
            "spec.plans.free.limitRange.max.cpu",
        ),
        case(
            "default plan not defined",
            set(o(), "spec.defaults", json!({"plan": "gold"})),
            "spec.defaults.plan",
        ),
        case(
            "plan name with capitals",
            set(o(), "spec.plans", json!({"Free": {}})),
            "spec.plans",
        ),
        case(
            "admin kind unknown",
            set(o(), "spec.admins", json!([{"kind": "Robot", "name": "x"}])),
            "spec.admins[0].kind",
        ),
        case(
            "default workspace name with --",
            set(o(), "spec.defaultWorkspace", json!({"name": "a--b"})),
            "spec.defaultWorkspace.name",
        ),
        case(
            "role without rules or cluster roles",
            set(r(), "spec.rules", Value::Null),
            "spec",
        ),
        case(
            "verb that does not exist",
            set(
                r(),
                "spec.rules",
                json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["fly"]}]),
            ),
            "spec.rules[0].verbs",
        ),
        case(
            "rule without resources",
            set(
                r(),
                "spec.rules",
                json!([{"apiGroups": [""], "verbs": ["get"]}]),
            ),
            "spec.rules[0].resources",
        ),
        case(
            "role name with a dot",
            set(r(), "metadata.name", json!("con.figurator")),
            "metadata.name",
        ),
    ]
}

#[tokio::test]
async fn invalid_objects_are_refused_naming_the_field() {
    let Opening { admin, scope, .. } = opening("badinput").await;
    let ns = scope.namespace(&admin, "").await;

    let cases = bad_inputs(&scope.id);
    assert!(cases.len() >= 25);
    let mut problems = vec![];
    for case in cases {
        match dry_run_apply(&admin, &ns, case.object).await {
            Ok(()) => problems.push(format!("ACCEPTED: {}", case.what)),
            Err(msg) if !msg.contains(case.field) => problems.push(format!(
                "refused without naming {}: {}: {msg}",
                case.field, case.what
            )),
            Err(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn valid_base_objects_are_accepted() {
    // The bad-input cases above each change one field of these; prove the
    // bases themselves pass, so every refusal is due to that one field.
    let Opening { admin, scope, .. } = opening("goodinput").await;
    let ns = scope.namespace(&admin, "").await;
    for yaml in [MEMBER, WORKSPACE, ORGANIZATION, ROLE] {
        dry_run_apply(&admin, &ns, base(yaml, &scope.id))
            .await
            .unwrap();
    }
    let sa = set(
        set(
            base(MEMBER, &scope.id),
            "spec.subject.kind",
            "ServiceAccount".into(),
        ),
        "spec.subject.namespace",
        "ci".into(),
    );
    dry_run_apply(&admin, &ns, sa).await.unwrap();
}

async fn create(client: &Client, ns: &str, obj: &Value) -> DynamicObject {
    let (ar, namespaced) = api_resource(obj["kind"].as_str().unwrap()).unwrap();
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(client.clone(), ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    };
    api.create(
        &PostParams::default(),
        &serde_json::from_value(obj.clone()).unwrap(),
    )
    .await
    .unwrap_or_else(|e| panic!("create {}: {e}", obj["kind"]))
}

/// Replaces the object's spec with `path` set to `value`, starting from the
/// live object each time: the operator may have updated it meanwhile (its
/// finalizer, its status), which would make a stale replace conflict.
async fn replace_spec(
    client: &Client,
    ns: &str,
    created: DynamicObject,
    path: &str,
    value: Value,
) -> Result<(), String> {
    let kind = created.types.as_ref().unwrap().kind.clone();
    let (ar, namespaced) = api_resource(&kind).unwrap();
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(client.clone(), ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    };
    let name = created.meta().name.clone().unwrap();
    for _ in 0..10 {
        let mut live = api.get(&name).await.map_err(|e| e.to_string())?;
        let data = set(
            serde_json::json!({ "spec": live.data["spec"].clone() }),
            path,
            value.clone(),
        );
        live.data["spec"] = data["spec"].clone();
        match api.replace(&name, &PostParams::default(), &live).await {
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            other => return other.map(|_| ()).map_err(|e| e.to_string()),
        }
    }
    Err("kept conflicting with concurrent updates".into())
}

#[tokio::test]
async fn fields_that_cannot_change_are_refused_with_what_to_do() {
    let Opening { admin, scope, .. } = opening("immutable").await;
    let ns = scope.namespace(&admin, "").await;

    let member = create(&admin, &ns, &base(MEMBER, &scope.id)).await;
    let err = replace_spec(
        &admin,
        &ns,
        member.clone(),
        "spec.workspace",
        "research".into(),
    )
    .await
    .expect_err("workspace change refused");
    assert!(
        err.contains("spec.workspace") && err.contains("create a new WorkspaceMember"),
        "{err}"
    );
    let err = replace_spec(
        &admin,
        &ns,
        member.clone(),
        "spec.subject.name",
        "carol".into(),
    )
    .await
    .expect_err("subject change refused");
    assert!(
        err.contains("spec.subject") && err.contains("create a new WorkspaceMember"),
        "{err}"
    );
    // What may change, does.
    replace_spec(
        &admin,
        &ns,
        member,
        "spec.roles",
        serde_json::json!(["viewer", "editor"]),
    )
    .await
    .expect("roles can change");

    let org = set(
        base(ORGANIZATION, &scope.name("org")),
        "spec.defaultWorkspace",
        serde_json::json!({"name": "main"}),
    );
    let org = create(&admin, &ns, &org).await;
    let err = replace_spec(
        &admin,
        &ns,
        org.clone(),
        "spec.defaultWorkspace.name",
        "other".into(),
    )
    .await
    .expect_err("default workspace change refused");
    assert!(
        err.contains("spec.defaultWorkspace") && err.contains("create a new Organization"),
        "{err}"
    );
    let err = replace_spec(&admin, &ns, org, "spec.defaultWorkspace", Value::Null)
        .await
        .expect_err("removing the default workspace name (back to 'default') refused");
    assert!(err.contains("spec.defaultWorkspace"), "{err}");
}

#[tokio::test]
async fn kubectl_explains_every_kind() {
    operator().await;
    let cluster = cluster();
    let explain = |what: &'static str, expect: &'static [&'static str]| async move {
        eventually(
            &format!("kubectl explain {what}"),
            Duration::from_secs(30),
            || async move {
                let out = cluster.kubectl(&["explain", what]);
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                let missing: Vec<_> = expect.iter().filter(|e| !text.contains(*e)).collect();
                if out.status.success() && missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "missing {missing:?} in:\n{text}{}",
                        String::from_utf8_lossy(&out.stderr)
                    ))
                }
            },
        )
        .await
    };
    explain(
        "workspace.spec",
        &[
            "owner",
            "acceptAnonymous",
            "IANA time zone",
            "deletionPolicy",
        ],
    )
    .await;
    explain(
        "workspacemember.spec.subject",
        &[
            "ServiceAccount",
            "namespace",
            "exactly as the API",
            "<string> -required-",
        ],
    )
    .await;
    explain("organization.spec.plans", &["ResourceQuota", "limitRange"]).await;
    explain("workspacerole.spec", &["clusterRoles", "rules"]).await;
    explain(
        "workspacemember.status",
        &["conditions", "observedGeneration", "phase"],
    )
    .await;
}

#[tokio::test]
async fn one_category_lists_all_four_kinds_with_short_names() {
    operator().await;
    let cluster = cluster();
    let out = ok_stdout(
        cluster.kubectl(&["api-resources", "--categories=tenancy", "--no-headers"]),
        "kubectl api-resources",
    );
    for (plural, short) in [
        ("organizations", "org"),
        ("workspaces", "ws"),
        ("workspaceroles", "wsrole"),
        ("workspacemembers", "wsm"),
    ] {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(plural))
            .unwrap_or_else(|| panic!("{plural} not in the tenancy category:\n{out}"));
        assert!(
            line.split_whitespace().any(|w| w == short),
            "{plural} lacks short name {short}: {line}"
        );
    }
}
