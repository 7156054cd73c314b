//! A plan's network exceptions, judged by an upstream NetworkPolicy
//! evaluator (cyclonus, built from pinned modules by build.sh; the project
//! the network-policy-api's policy-assistant grew from) on the
//! NetworkPolicies the operator made on the control plane: no CNI runs
//! there, so the evaluator, not a reimplementation, says who reaches whom.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use workspace_operator::api::Workspace;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// `cyclonus analyze` with `args`; its standard output.
fn cyclonus(args: &[&str]) -> String {
    let bin = cluster().bin_dir.join("cyclonus");
    let out = Command::new(&bin)
        .args(["analyze", "-v", "error"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "cyclonus {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The first "Combined" table of a probe run: (from, to) → allowed, by
/// namespace (one pod per namespace).
fn combined(output: &str) -> BTreeMap<(String, String), bool> {
    let mut lines = output.lines().skip_while(|l| !l.starts_with("Combined:"));
    let rows: Vec<Vec<String>> = lines
        .by_ref()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    let header = &rows[0];
    let mut table = BTreeMap::new();
    for row in &rows[1..] {
        let from = row[0].split('/').next().unwrap().to_string();
        for (i, cell) in row.iter().enumerate().skip(1) {
            let to = header[i].split('/').next().unwrap().to_lowercase();
            table.insert((from.clone(), to), cell == ".");
        }
    }
    table
}

/// The "IS ALLOWED?" answers of a query-traffic run, in order.
fn answers(output: &str) -> Vec<bool> {
    output
        .lines()
        .filter(|l| l.contains("IS ALLOWED?"))
        .map(|l| l.contains("TRUE"))
        .collect()
}

/// Writes every NetworkPolicy of `namespaces` (one file each, as cyclonus
/// reads them) into `dir`.
async fn write_policies(admin: &Client, namespaces: &[String], dir: &Path) -> usize {
    let mut count = 0;
    for ns in namespaces {
        let list = Api::<NetworkPolicy>::namespaced(admin.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap();
        for np in list.items {
            let doc = json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": np.name_any(), "namespace": ns},
                "spec": np.spec,
            });
            let file = dir.join(format!("{ns}.{}.yaml", np.name_any()));
            std::fs::write(file, serde_yaml::to_string(&doc).unwrap()).unwrap();
            count += 1;
        }
    }
    count
}

#[tokio::test]
async fn network_exceptions_admit_exactly_what_each_plan_names() {
    let Opening { admin, scope, .. } = opening("netx").await;
    let other = Scope::new("netx-other");
    let org = scope.id.clone();
    let ingress_ns = scope.namespace(&admin, "ingress").await;
    apply_yaml(
        &admin,
        &format!(
            r#"
apiVersion: workspaces.dev/v1alpha1
kind: Organization
metadata: {{name: {org}}}
spec:
  admins: [{{kind: User, name: alice}}]
  plans:
    web:
      network:
        ingressFromNamespaces: [{{matchLabels: {{kubernetes.io/metadata.name: {ingress_ns}}}}}]
        ingressFromWorkspaces: [gateway]
    partner:
      network:
        egressToCidrs: [{{cidr: 203.0.113.0/24, except: [203.0.113.8/29]}}]
    internet:
      network: {{egressToInternet: true}}
"#
        ),
    )
    .await;
    apply_yaml(
        &admin,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: {}}}, spec: {{admins: [{{kind: User, name: dave}}]}}}}", other.id),
    )
    .await;
    let workspaces = [
        ("gateway", "{}"),
        ("web", "{plan: web}"),
        ("partner", "{plan: partner}"),
        ("internet", "{plan: internet}"),
    ];
    for (name, spec) in workspaces {
        apply_yaml(
            &admin,
            &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: {name}, namespace: {org}}}, spec: {spec}}}"),
        )
        .await;
    }
    for (name, _) in workspaces.iter().chain([&("default", "")]) {
        wait_ready(
            &Api::<Workspace>::namespaced(admin.clone(), &org),
            name,
            "True",
            LIMIT,
        )
        .await;
    }
    wait_organization_ready(&admin, &other.id).await;
    let theirs = format!("{}--default", other.id);
    wait_ready(
        &Api::<Workspace>::namespaced(admin.clone(), &other.id),
        "default",
        "True",
        LIMIT,
    )
    .await;

    let ns = |ws: &str| format!("{org}--{ws}");
    let mut all: Vec<String> = ["default", "gateway", "web", "partner", "internet"]
        .iter()
        .map(|w| ns(w))
        .collect();
    all.push(theirs.clone());
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let written = write_policies(&admin, &all, &policies).await;
    // Isolation in each of the six, exceptions in web, gateway (its way to
    // web), partner and internet.
    assert_eq!(written, 6 + 4, "the operator's NetworkPolicies");

    // One pod per namespace, addresses inside the cluster network the
    // operator was given (10.0.0.0/24), as the namespaces' real labels say.
    let mut probed = all.clone();
    probed.push(ingress_ns.clone());
    probed.push("kube-system".into());
    let namespaces = Api::<Namespace>::all(admin.clone());
    let mut ns_labels = serde_json::Map::new();
    let mut pods = vec![];
    for (i, name) in probed.iter().enumerate() {
        let live = namespaces.get(name).await.unwrap();
        ns_labels.insert(name.clone(), json!(live.labels()));
        let labels = if name == "kube-system" {
            json!({"k8s-app": "kube-dns"})
        } else {
            json!({"app": "a"})
        };
        pods.push(json!({
            "Namespace": name, "Name": "p", "Labels": labels, "IP": format!("10.0.0.{}", 10 + i),
            "Containers": [
                {"Name": "web", "Port": 80, "Protocol": "TCP", "PortName": "web"},
                {"Name": "dns", "Port": 53, "Protocol": "UDP", "PortName": "dns"}
            ]
        }));
    }
    let probe = dir.path().join("probe.json");
    let resources = json!({"Namespaces": ns_labels, "Pods": pods});
    let write_probe = |protocol: &str, port: u16| {
        let doc = json!({"Probes": [{"Protocol": protocol, "Port": port}], "Resources": resources});
        std::fs::write(&probe, doc.to_string()).unwrap();
    };
    write_probe("TCP", 80);
    let run_probe = || {
        cyclonus(&[
            "--mode",
            "probe",
            "--policy-path",
            policies.to_str().unwrap(),
            "--probe-path",
            probe.to_str().unwrap(),
        ])
    };
    let output = run_probe();
    println!("TCP/80, who reaches whom (rows: from, columns: to; . allowed, X denied):\n{output}");
    let table = combined(&output);
    let workspaces_and_theirs: Vec<&String> = all.iter().collect();
    for from in &probed {
        for to in &workspaces_and_theirs {
            let allowed = table[&(from.clone(), to.to_string())];
            let expected = from == *to
                || (**to == ns("web") && (*from == ingress_ns || *from == ns("gateway")));
            assert_eq!(
                allowed, expected,
                "{from} → {to} on TCP/80: allowed {allowed}, expected {expected}"
            );
        }
    }

    // DNS stays open to every workspace, only to kube-dns in kube-system.
    write_probe("UDP", 53);
    let output = run_probe();
    println!("UDP/53:\n{output}");
    let table = combined(&output);
    for from in &all {
        assert!(
            table[&(from.clone(), "kube-system".to_string())],
            "{from} → DNS"
        );
        assert!(
            !table[&(from.clone(), ingress_ns.clone())],
            "{from} → {ingress_ns} on UDP/53"
        );
    }

    // Outside the cluster: only the partner's range (not its hole), and
    // only the internet plan everywhere but the cluster network.
    let source = |ws: &str| {
        let name = ns(ws);
        json!({"Internal": {"Namespace": name, "NamespaceLabels": resources["Namespaces"][&name], "PodLabels": {"app": "a"}}, "IP": "10.0.0.99"})
    };
    let flows: Vec<(&str, &str, bool)> = vec![
        ("partner", "203.0.113.20", true),
        ("partner", "203.0.113.9", false),
        ("partner", "198.51.100.7", false),
        ("internet", "198.51.100.7", true),
        ("internet", "203.0.113.9", true),
        ("internet", "10.0.0.5", false),
        ("web", "198.51.100.7", false),
        ("default", "203.0.113.20", false),
    ];
    let traffic: Vec<_> = flows
        .iter()
        .map(|(ws, ip, _)| {
            json!({"Source": source(ws), "Destination": {"IP": ip}, "Protocol": "TCP",
                   "ResolvedPort": 443, "ResolvedPortName": ""})
        })
        .collect();
    let traffic_file = dir.path().join("traffic.json");
    std::fs::write(&traffic_file, json!(traffic).to_string()).unwrap();
    let output = cyclonus(&[
        "--mode",
        "query-traffic",
        "--policy-path",
        policies.to_str().unwrap(),
        "--traffic-path",
        traffic_file.to_str().unwrap(),
    ]);
    let got = answers(&output);
    println!("TCP/443 to outside addresses:");
    for ((ws, ip, _), allowed) in flows.iter().zip(&got) {
        println!(
            "  {ws:>8} → {ip:<14} {}",
            if *allowed { "allowed" } else { "denied" }
        );
    }
    let expected: Vec<bool> = flows.iter().map(|(_, _, e)| *e).collect();
    assert_eq!(got, expected, "{flows:?}\n{output}");
}
