//! The Helm chart on a control plane of its own: lint, template accepted by
//! the API server, install, the operator running as the chart's
//! ServiceAccount reconciling every example, the admission policies (also
//! bounding the operator itself, and keeping its mark unforgeable), a
//! missing permission failing visibly, upgrade updating CRDs, and uninstall
//! keeping CRDs and workspaces. Also: deploy/'s tenant ceiling and admission
//! policies never drift from the chart's.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use workspace_operator::api::{Organization, Workspace, WorkspaceMember};

use crate::support::*;

const CHART: &str = "charts/workspace-operator";
const NS: &str = "wsop-system";
const LIMIT: Duration = Duration::from_secs(90);
/// The user the API server sees for the chart's ServiceAccount.
const OPERATOR_SA: &str = "system:serviceaccount:wsop-system:wsop-workspace-operator";

fn chart() -> String {
    repo_root().join(CHART).to_string_lossy().into_owned()
}

/// helm (3) without a control plane (lint, template).
fn helm(args: &[&str]) -> String {
    helm_of("helm", args)
}

/// `binary` ("helm" for Helm 3, "helm4") without a control plane.
fn helm_of(binary: &str, args: &[&str]) -> String {
    let out = Command::new(cluster().bin_dir.join(binary))
        .args(args)
        .output()
        .unwrap();
    ok_stdout(out, &format!("{binary} {args:?}"))
}

/// The non-empty YAML documents of a stream, as JSON values.
fn documents(text: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Asserts that a command was refused by one of `policies` (name, message).
fn refused_by_one_of(out: Output, policies: &[(&str, &str)]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && policies.iter().any(|(policy, why)| {
                err.contains(&format!("ValidatingAdmissionPolicy '{policy}'")) && err.contains(why)
            }),
        "expected one of {policies:?} to refuse; got {}: {err}",
        out.status
    );
}

/// Asserts that a command was refused by admission policy `policy`, with a
/// message containing `why`.
fn refused_by(out: Output, policy: &str, why: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains(&format!("ValidatingAdmissionPolicy '{policy}'"))
            && err.contains(why),
        "expected {policy} to refuse ({why}); got {}: {err}",
        out.status
    );
}

/// The chart Deployment's flags that shape what the operator may grant.
fn tenancy_flags(plane: &ControlPlane) -> Vec<String> {
    let args = ok_stdout(
        plane.kubectl(
            &[
                "get",
                "deployment",
                "-n",
                NS,
                "wsop-workspace-operator",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].args}",
            ],
            None,
        ),
        "deployment args",
    );
    let args: Vec<String> = serde_json::from_str(&args).unwrap();
    let flags: Vec<String> = args
        .into_iter()
        .filter(|a| {
            a.starts_with("--tenant-ceiling")
                || a.starts_with("--allow")
                || a.starts_with("--pod-security")
                || a.starts_with("--cluster-network")
        })
        .collect();
    assert!(
        flags.contains(&"--tenant-ceiling=wsop-workspace-operator:tenant-ceiling".to_string()),
        "{flags:?}"
    );
    assert!(
        flags.contains(&"--pod-security-enforce=baseline".to_string()),
        "the chart's default Pod Security level: {flags:?}"
    );
    flags
}

fn start_operator_as(kubeconfig: &Path, log: &Path, flags: &[String]) -> KillOnDrop {
    let mut operator = Command::new(operator_binary());
    operator
        .args(["run", "--leader-election", "--lease-seconds", "6"])
        .args(flags)
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAMESPACE", NS)
        .env("POD_NAME", "chart-operator")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    KillOnDrop::spawn(operator)
}

/// A kubeconfig for the chart's ServiceAccount, from a TokenRequest.
fn service_account_kubeconfig(plane: &ControlPlane) -> std::path::PathBuf {
    let token = ok_stdout(
        plane.kubectl(
            &[
                "create",
                "token",
                "-n",
                NS,
                "wsop-workspace-operator",
                "--duration",
                "2h",
            ],
            None,
        ),
        "kubectl create token",
    );
    let admin = std::fs::read_to_string(plane.admin_kubeconfig()).unwrap();
    let server = admin
        .lines()
        .find(|l| l.trim_start().starts_with("server:"))
        .unwrap()
        .trim()
        .trim_start_matches("server:")
        .trim()
        .to_string();
    let ca = plane.dir.join("pki/ca.crt");
    let path = plane.dir.join("chart-operator.kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: {server}, certificate-authority: {}}}}}]\n\
             contexts: [{{name: c, context: {{cluster: c, user: sa}}}}]\ncurrent-context: c\nusers: [{{name: sa, user: {{token: {}}}}}]\n",
            ca.display(),
            token.trim()
        ),
    )
    .unwrap();
    path
}

async fn apply_file(admin: &Client, file: &str) {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        if !value.is_null() {
            apply_value(admin, &value)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
}

#[test]
fn chart_lints() {
    let chart = chart();
    for extra in [
        &[][..],
        &["--set", "tenantCeiling.clusterRole=admin"],
        &["--set", "tenantCeiling.allowRBAC=true"],
        &["--set", "operatorUser=x"],
    ] {
        let mut args = vec!["lint", "--strict", chart.as_str()];
        args.extend(extra);
        for binary in ["helm", "helm4"] {
            helm_of(binary, &args);
        }
    }
    // extraArgs and extraEnv cannot set what the chart pairs with a safeguard
    // (a delegated-membership flag without its admission policy, say).
    for (value, says) in [
        (
            "operator.extraArgs[0]=--delegated-membership",
            "--delegated-membership is set by the chart",
        ),
        (
            "operator.extraArgs[0]=--tenant-ceiling=admin",
            "--tenant-ceiling is set by the chart",
        ),
        (
            "operator.extraEnv[0].name=WSOP_DELEGATED_MEMBERSHIP",
            "WSOP_DELEGATED_MEMBERSHIP stands for a flag",
        ),
        (
            "operator.extraEnv[0].name=POD_NAME",
            "POD_NAME stands for a flag",
        ),
    ] {
        for binary in ["helm", "helm4"] {
            let out = Command::new(cluster().bin_dir.join(binary))
                .args(["template", "wsop", &chart, "--set", value])
                .args(["--set", "delegatedMembership.enabled=false"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && stderr.contains(says),
                "{binary} {value}: {stderr}"
            );
        }
    }
    // Extra rules extend the chart's own ceiling only: with a named
    // ClusterRole they would be held but never allowed by the operator.
    let out = Command::new(cluster().bin_dir.join("helm"))
        .args([
            "template",
            "wsop",
            &chart,
            "--set",
            "tenantCeiling.clusterRole=admin",
        ])
        .args([
            "--set",
            "tenantCeiling.extraRules[0].apiGroups[0]=example.com",
        ])
        .args(["--set", "tenantCeiling.extraRules[0].resources[0]=widgets"])
        .args(["--set", "tenantCeiling.extraRules[0].verbs[0]=get"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("add them to that ClusterRole instead"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tenant ceiling has one source, files/tenant-ceiling-rules.yaml: the
/// chart renders it, and deploy/operator-rbac.yaml must carry the same rules.
#[test]
fn deploy_tenant_ceiling_is_the_charts() {
    let rendered = documents(&helm(&[
        "template",
        "wsop",
        &chart(),
        "--show-only",
        "templates/rbac.yaml",
    ]));
    let chart_rules = &find(
        &rendered,
        "ClusterRole",
        "wsop-workspace-operator:tenant-ceiling",
    )["rules"];
    let source: serde_json::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            repo_root()
                .join(CHART)
                .join("files/tenant-ceiling-rules.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        chart_rules, &source,
        "the chart renders the rules file as is"
    );
    let deploy =
        documents(&std::fs::read_to_string(repo_root().join("deploy/operator-rbac.yaml")).unwrap());
    assert_eq!(
        &find(&deploy, "ClusterRole", "workspace-operator:tenant-ceiling")["rules"],
        chart_rules,
        "deploy/operator-rbac.yaml's tenant ceiling drifted from \
         charts/workspace-operator/files/tenant-ceiling-rules.yaml: copy the file's rules into it"
    );
    // The operator does not hold the ceiling (that would give it, cluster-
    // wide, exec, tokens and ServiceAccount impersonation): it may bind and
    // escalate ClusterRoles, bounded by the admission policies.
    assert!(
        !deploy.iter().any(|d| d["kind"] == "ClusterRoleBinding"
            && d["roleRef"]["name"] == "workspace-operator:tenant-ceiling"),
        "the operator must not hold the tenant ceiling"
    );
    let own = find(&deploy, "ClusterRole", "workspace-operator");
    assert!(
        own["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resources"] == serde_json::json!(["clusterroles"])
                && r["verbs"] == serde_json::json!(["bind", "escalate"])),
        "the operator binds and escalates ClusterRoles: {own}"
    );
    assert!(!deploy.iter().any(|d| d["roleRef"]["name"] == "admin"));
}

/// deploy/admission-policies.yaml is the chart's rendering for the local
/// control plane's identities (install.sh renders the same and applies it).
#[test]
fn deploy_admission_policies_are_the_charts() {
    let rendered = documents(&helm(&[
        "template",
        "workspace-operator",
        &chart(),
        "--show-only",
        "templates/admission-policies.yaml",
        "--show-only",
        "templates/admission-policies-operator.yaml",
        "--set",
        "operatorUser=workspace-operator",
        "--set",
        "admissionPolicies.exemptUsers[0]=wsop-admin",
    ]));
    // The mutating ones in a file of their own: only 1.36 and later serve them.
    let finalizer = documents(&helm(&[
        "template",
        "workspace-operator",
        &chart(),
        "--show-only",
        "templates/finalizer-policy.yaml",
        "--show-only",
        "templates/workload-defaults-policy.yaml",
        "--api-versions",
        "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy",
        "--set",
        "operatorUser=workspace-operator",
        "--set",
        "admissionPolicies.exemptUsers[0]=wsop-admin",
    ]));
    assert_eq!(
        documents(
            &std::fs::read_to_string(repo_root().join("deploy/mutating-policies.yaml")).unwrap()
        ),
        finalizer,
        "deploy/mutating-policies.yaml drifted from the chart: run tests/control-plane/admission-policies.sh --write"
    );
    assert_eq!(
        finalizer
            .iter()
            .map(|d| d["kind"].clone())
            .collect::<Vec<_>>(),
        [
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicyBinding",
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicyBinding"
        ]
    );
    let deploy = documents(
        &std::fs::read_to_string(repo_root().join("deploy/admission-policies.yaml")).unwrap(),
    );
    assert_eq!(
        deploy, rendered,
        "deploy/admission-policies.yaml drifted from the chart: run tests/control-plane/admission-policies.sh --write"
    );
    assert_eq!(
        deploy
            .iter()
            .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
            .count(),
        17
    );
    // Organization admins editing their admins list: the policy compares
    // every other field of the spec, so a new field must be added to it.
    let policy = deploy
        .iter()
        .find(|d| d["metadata"]["name"] == "workspaces.dev-organization-admins-edit-admins")
        .expect("the organization admins policy");
    let fields_rule = policy["spec"]["validations"][0]["expression"]
        .as_str()
        .unwrap()
        .to_string();
    let crd = serde_json::to_value(
        <workspace_operator::api::Organization as kube::CustomResourceExt>::crd(),
    )
    .unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    for field in spec.as_object().expect("spec properties").keys() {
        let compared =
            fields_rule.contains(&format!("object.spec.{field} == oldObject.spec.{field}"));
        assert_eq!(
            compared,
            field != "admins",
            "Organization.spec.{field}: the policy workspaces.dev-organization-admins-edit-admins must compare every field but admins"
        );
    }
    // Owners editing their workspace's settings: likewise every field but
    // the owner's own settings (acceptAnonymous by a rule of its own).
    let policy = deploy
        .iter()
        .find(|d| d["metadata"]["name"] == "workspaces.dev-owners-edit-settings")
        .expect("the owners' settings policy");
    let fields_rule = policy["spec"]["validations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["expression"].as_str())
        .find(|e| e.contains("oldObject.spec.plan"))
        .expect("the rule comparing the spec's fields")
        .to_string();
    let crd = serde_json::to_value(
        <workspace_operator::api::Workspace as kube::CustomResourceExt>::crd(),
    )
    .unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    let owners = [
        "displayName",
        "description",
        "variables",
        "timeZone",
        "acceptAnonymous",
    ];
    for field in spec.as_object().expect("spec properties").keys() {
        let compared =
            fields_rule.contains(&format!("object.spec.{field} == oldObject.spec.{field}"));
        assert_eq!(
            compared,
            !owners.contains(&field.as_str()),
            "Workspace.spec.{field}: the policy workspaces.dev-owners-edit-settings must compare every field but the owner's settings"
        );
    }
}

#[tokio::test]
async fn chart_installs_runs_the_operator_as_its_service_account_and_guards_what_it_should() {
    let plane = ControlPlane::start("chart");
    ok_stdout(
        plane.kubectl(&["create", "namespace", NS], None),
        "namespace",
    );
    let chart = chart();

    // Templates with default and non-default values are accepted by the API server.
    for extra in [
        vec![],
        vec![
            "--set",
            "replicaCount=3",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
            "--set",
            "crds.keep=false",
            "--set",
            "admissionPolicies.exemptUsers[0]=someone",
            "--set",
            "tenantCeiling.clusterRole=admin",
            "--set",
            "tenantCeiling.allowedClusterRoles[0]=view",
            "--set",
            "subjects.allowSystem=true",
            "--set",
            "subjects.allowForeignServiceAccounts=true",
            "--set",
            "operatorUser=x",
        ],
        vec![
            "--set",
            "tenantCeiling.allowRBAC=true",
            "--set",
            "tenantCeiling.extraRules[0].apiGroups[0]=example.com",
            "--set",
            "tenantCeiling.extraRules[0].resources[0]=widgets",
            "--set",
            "tenantCeiling.extraRules[0].verbs[0]=get",
        ],
    ] {
        let mut args = vec!["template", "wsop", chart.as_str(), "-n", NS];
        args.extend(extra.iter().copied());
        let rendered = ok_stdout(plane.helm(&args), "helm template");
        ok_stdout(
            plane.kubectl(
                &["apply", "--dry-run=server", "--server-side", "-f", "-"],
                Some(&rendered),
            ),
            "server dry run",
        );
    }

    ok_stdout(
        plane.helm(&["install", "wsop", &chart, "-n", NS, "--wait=false"]),
        "helm install",
    );
    let admin = plane.admin().await;
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let crd = crds
        .get("workspaces.workspaces.dev")
        .await
        .expect("CRDs installed by the chart");
    assert_eq!(
        crd.annotations()
            .get("helm.sh/resource-policy")
            .map(String::as_str),
        Some("keep")
    );
    ok_stdout(
        plane.kubectl(
            &["wait", "--for=condition=Established", "crd", "--all"],
            None,
        ),
        "crds established",
    );
    for (kind, name, namespaced) in [
        ("deployment", "wsop-workspace-operator", true),
        ("serviceaccount", "wsop-workspace-operator", true),
        ("service", "wsop-workspace-operator-metrics", true),
        ("poddisruptionbudget", "wsop-workspace-operator", true),
        ("role", "wsop-workspace-operator:leader-election", true),
        ("clusterrole", "wsop-workspace-operator", false),
        (
            "clusterrole",
            "wsop-workspace-operator:tenant-ceiling",
            false,
        ),
        (
            "validatingadmissionpolicy",
            "workspaces.dev-protect-default-workspace",
            false,
        ),
        (
            "validatingadmissionpolicybinding",
            "workspaces.dev-read-only-credential-copies",
            false,
        ),
        (
            "validatingadmissionpolicy",
            "workspaces.dev-keep-cleanup-finalizer",
            false,
        ),
        (
            "validatingadmissionpolicybinding",
            "workspaces.dev-operator-namespaced-writes",
            false,
        ),
        (
            "validatingadmissionpolicybinding",
            "workspaces.dev-operator-cluster-rbac",
            false,
        ),
        (
            "validatingadmissionpolicybinding",
            "workspaces.dev-operator-namespaces",
            false,
        ),
        (
            "validatingadmissionpolicybinding",
            "workspaces.dev-unforgeable-marks",
            false,
        ),
    ] {
        let mut args = vec!["get", kind, name];
        if namespaced {
            args.extend(["-n", NS]);
        }
        ok_stdout(
            plane.kubectl(&args, None),
            &format!("helm install made {kind} {name}"),
        );
    }

    // The operator as the chart's ServiceAccount, with exactly the chart's
    // RBAC and the Deployment's tenancy flags.
    let kubeconfig = service_account_kubeconfig(&plane);
    let flags = tenancy_flags(&plane);
    let operator = start_operator_as(
        &kubeconfig,
        &plane.dir.join("logs/chart-operator.log"),
        &flags,
    );
    apply_file(&admin, "examples/01-organization.yaml").await;
    wait_ready(
        &Api::<Organization>::all(admin.clone()),
        "acme",
        "True",
        LIMIT,
    )
    .await;
    for file in [
        "examples/02-roles.yaml",
        "examples/03-workspaces.yaml",
        "examples/04-members.yaml",
    ] {
        apply_file(&admin, file).await;
    }
    let workspaces: Api<Workspace> = Api::namespaced(admin.clone(), "acme");
    for ws in ["default", "payments", "research", "legacy"] {
        wait_ready(&workspaces, ws, "True", LIMIT).await;
    }
    let members: Api<WorkspaceMember> = Api::namespaced(admin.clone(), "acme");
    for m in [
        "payments-bob",
        "payments-carol",
        "payments-deployer",
        "research-contractors",
    ] {
        wait_ready(&members, m, "True", LIMIT).await;
    }
    apply_file(&admin, "examples/05-credentials.yaml").await;
    let copies: Api<Secret> = Api::namespaced(admin.clone(), "acme--research");
    for name in ["registry-pull", "openai-key"] {
        eventually(&format!("copy {name}"), LIMIT, || async {
            copies
                .get_opt(name)
                .await
                .map_err(|e| e.to_string())?
                .map(drop)
                .ok_or_else(|| "missing".to_string())
        })
        .await;
    }

    // The admission policies refuse even a cluster admin, with what to do...
    let err = workspaces
        .delete("default", &DeleteParams::default())
        .await
        .expect_err("default workspace protected");
    assert!(
        err.to_string().contains("Delete the Organization instead"),
        "{err}"
    );
    let unlabel = serde_json::json!({"metadata": {"labels": {"workspaces.dev/default": null}}});
    let err = workspaces
        .patch("default", &PatchParams::default(), &Patch::Merge(&unlabel))
        .await
        .expect_err("mark protected");
    assert!(err.to_string().contains("workspaces.dev/default"), "{err}");
    let err = copies
        .delete("openai-key", &DeleteParams::default())
        .await
        .expect_err("copy protected");
    assert!(
        err.to_string().contains("read-only copy")
            && err.to_string().contains("acme--payments/openai-key"),
        "{err}"
    );
    let relabel = serde_json::json!({"metadata": {"labels": {"tampered": "yes"}}});
    copies
        .patch(
            "openai-key",
            &PatchParams::default(),
            &Patch::Merge(&relabel),
        )
        .await
        .expect_err("copy edit refused");
    // ... and let the operator through: a changed source reaches the copy.
    let source: Api<Secret> = Api::namespaced(admin.clone(), "acme--payments");
    let rotate = serde_json::json!({"stringData": {"api-key": "rotated"}});
    source
        .patch(
            "openai-key",
            &PatchParams::default(),
            &Patch::Merge(&rotate),
        )
        .await
        .unwrap();
    eventually("copy refreshed by the operator", LIMIT, || async {
        let s = copies.get("openai-key").await.map_err(|e| e.to_string())?;
        let v = s
            .data
            .unwrap_or_default()
            .get("api-key")
            .map(|b| b.0.clone())
            .unwrap_or_default();
        if v == b"rotated" {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&v).to_string())
        }
    })
    .await;

    // The operator itself is bounded by the API server: as its
    // ServiceAccount, nothing outside what it made can be written...
    let as_operator = format!("--as={OPERATOR_SA}");
    let op = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec![as_operator.as_str()];
        all.extend(args);
        plane.kubectl(&all, stdin)
    };
    refused_by(
        op(
            &[
                "create",
                "rolebinding",
                "evil",
                "-n",
                "kube-system",
                "--clusterrole=wsop-workspace-operator:tenant-ceiling",
                "--user=mallory",
            ],
            None,
        ),
        "workspaces.dev-operator-namespaced-writes",
        "may not create RoleBinding kube-system/evil: namespace kube-system was not made by workspace-operator",
    );
    refused_by(
        op(
            &["create", "-f", "-"],
            Some(
                "{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: evil, \
                 labels: {app.kubernetes.io/managed-by: workspace-operator}}, \
                 rules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]}",
            ),
        ),
        "workspaces.dev-operator-cluster-rbac",
        "may not create ClusterRole evil: the cluster-wide roles and bindings the operator makes are all named workspaces.dev:",
    );
    ok_stdout(
        plane.kubectl(&["create", "namespace", "theirs"], None),
        "plain namespace",
    );
    for args in [
        &["delete", "namespace", "theirs", "--wait=false"][..],
        &[
            "label",
            "namespace",
            "theirs",
            "app.kubernetes.io/managed-by=workspace-operator",
        ],
    ] {
        refused_by(
            op(args, None),
            "workspaces.dev-operator-namespaces",
            "Namespace theirs: it was not made by workspace-operator",
        );
    }
    // ... while what carries its marks can.
    ok_stdout(
        op(
            &["create", "-f", "-"],
            Some(
                "{apiVersion: v1, kind: Namespace, metadata: {name: marked, labels: \
                 {app.kubernetes.io/managed-by: workspace-operator, workspaces.dev/owner-uid: test}}}",
            ),
        ),
        "the operator creates a marked namespace",
    );
    ok_stdout(
        op(
            &["create", "-f", "-"],
            Some(
                "{apiVersion: v1, kind: ConfigMap, metadata: {name: marked, namespace: marked, \
                 labels: {app.kubernetes.io/managed-by: workspace-operator}}}",
            ),
        ),
        "the operator creates a marked ConfigMap in it",
    );

    // Nobody else can put the operator's mark on anything: not a member
    // allowed to write Secrets (bob edits payments)...
    let bob = plane.dir.join("users/bob.kubeconfig");
    refused_by(
        cluster().kubectl_with(
            &bob,
            &["create", "-f", "-"],
            Some(
                "{apiVersion: v1, kind: Secret, metadata: {name: forged, namespace: acme--payments, \
                 labels: {app.kubernetes.io/managed-by: workspace-operator}}}",
            ),
        ),
        "workspaces.dev-unforgeable-marks",
        "Secret acme--payments/forged: only workspace-operator may put the label app.kubernetes.io/managed-by=workspace-operator",
    );
    ok_stdout(
        cluster().kubectl_with(
            &bob,
            &[
                "create",
                "secret",
                "generic",
                "mine",
                "-n",
                "acme--payments",
            ],
            None,
        ),
        "bob writes Secrets in payments",
    );
    // ... nor fake a credential copy, which nobody could then delete.
    refused_by_one_of(
        cluster().kubectl_with(
            &bob,
            &[
                "label",
                "secret",
                "mine",
                "-n",
                "acme--payments",
                "workspaces.dev/component=credential-copy",
            ],
            None,
        ),
        // Two policies refuse this; the API server names whichever it
        // evaluated first.
        &[
            (
                "workspaces.dev-unforgeable-marks",
                "only workspace-operator makes shared-credential copies",
            ),
            (
                "workspaces.dev-read-only-credential-copies",
                "is a read-only copy",
            ),
        ],
    );

    // A namespace holding a credential copy really goes away: the namespace
    // controller is exempt from the policy protecting the copies. (The
    // example organization keeps deleted workspaces 30 days; this one
    // asks for none.)
    apply_yaml(&admin, "{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {name: scratch, namespace: acme}, spec: {deletionGracePeriod: 0s}}").await;
    wait_ready(&workspaces, "scratch", "True", LIMIT).await;
    let scratch_copies: Api<Secret> = Api::namespaced(admin.clone(), "acme--scratch");
    eventually("the organization's copy in scratch", LIMIT, || async {
        scratch_copies
            .get_opt("registry-pull")
            .await
            .map_err(|e| e.to_string())?
            .map(drop)
            .ok_or_else(|| "missing".to_string())
    })
    .await;
    workspaces
        .delete("scratch", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "scratch", LIMIT).await;
    wait_gone(
        &Api::<Namespace>::all(admin.clone()),
        "acme--scratch",
        LIMIT,
    )
    .await;

    // One needed permission removed: the failure is visible on the object.
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    let mut own = roles.get("wsop-workspace-operator").await.unwrap();
    let full = own.rules.clone();
    // resourcequotas: the tenant ceiling only reads them, so this
    // rule of the chart's own ClusterRole is the only one that lets it write.
    for rule in own.rules.as_mut().unwrap() {
        if let Some(resources) = rule.resources.as_mut() {
            resources.retain(|x| x != "resourcequotas");
        }
    }
    own.metadata.managed_fields = None;
    roles
        .replace("wsop-workspace-operator", &Default::default(), &own)
        .await
        .unwrap();
    apply_yaml(&admin, "{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {name: locked, namespace: acme}, spec: {}}").await;
    eventually("the missing permission shows", LIMIT, || async {
        let ws = workspaces.get("locked").await.map_err(|e| e.to_string())?;
        match ready_condition(&ws) {
            Some((s, _, m))
                if s == "False" && m.contains("resourcequotas") && m.contains("forbidden") =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        Api::<k8s_openapi::api::core::v1::ResourceQuota>::namespaced(admin.clone(), "acme--locked")
            .get_opt("workspace-quota")
            .await
            .unwrap()
            .is_none()
    );
    let mut restored = roles.get("wsop-workspace-operator").await.unwrap();
    restored.rules = full;
    restored.metadata.managed_fields = None;
    roles
        .replace("wsop-workspace-operator", &Default::default(), &restored)
        .await
        .unwrap();
    wait_ready(&workspaces, "locked", "True", LIMIT).await;

    // helm upgrade with a changed CRD updates it.
    let changed = plane.dir.join("chart");
    copy_dir(&repo_root().join(CHART), &changed);
    let file = changed.join("files/crds/workspace.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen(
            "metadata:\n  name: workspaces.workspaces.dev\n",
            "metadata:\n  name: workspaces.workspaces.dev\n  labels: {upgraded: \"yes\"}\n",
            1,
        ),
    )
    .unwrap();
    ok_stdout(
        plane.helm(&[
            "upgrade",
            "wsop",
            changed.to_str().unwrap(),
            "-n",
            NS,
            "--wait=false",
        ]),
        "helm upgrade",
    );
    let crd = crds.get("workspaces.workspaces.dev").await.unwrap();
    assert_eq!(
        crd.labels().get("upgraded").map(String::as_str),
        Some("yes"),
        "upgrade updated the CRD"
    );

    // helm uninstall keeps the CRDs and every workspace.
    ok_stdout(
        plane.helm(&["uninstall", "wsop", "-n", NS]),
        "helm uninstall",
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for name in [
        "organizations",
        "workspaces",
        "workspaceroles",
        "workspacemembers",
    ] {
        crds.get(&format!("{name}.workspaces.dev"))
            .await
            .expect("CRD kept");
    }
    for ws in ["default", "payments", "research", "legacy", "locked"] {
        workspaces.get(ws).await.expect("workspace kept");
    }
    drop(operator);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
