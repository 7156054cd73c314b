//! What the platform puts around a workspace (pure): namespace labels and
//! Pod Security levels, network exceptions, the placement parameters the
//! admission policy reads, the quota that stops new work, the organization
//! budget and the deletion grace period.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ObjectMeta;

use crate::api::Organization;
use crate::api::guardrails::{NamespaceSettings, NetworkExceptions, PodSecurity};
use crate::api::organization::Plan;
use crate::ownership::names::workspace_namespace;

/// The namespace label the placement policy binding selects: the namespace's
/// workspace has placement rules (then a missing parameter object refuses
/// everything rather than nothing).
pub const PLACEMENT_LABEL: &str = "workspaces.dev/placement";
pub const PLACEMENT_ENFORCED: &str = "enforced";
/// The label of a workspace namespace whose network isolation the platform
/// enforces: tenants' own NetworkPolicies there may not reach past it (the
/// admission policy `workspaces.dev-workspace-isolation` selects it).
pub const ISOLATION_LABEL: &str = "workspaces.dev/network-isolation";
pub const ISOLATION_ENFORCED: &str = "enforced";
/// The annotation of a deleted workspace's namespace kept until its purge.
pub const PURGE_AT: &str = "workspaces.dev/purge-at";
/// The annotation of a deleted workspace's namespace kept because its
/// deletion policy was Retain: kept with no purge time, until the platform
/// deletes it or the Workspace is made again.
pub const RETAINED_AT: &str = "workspaces.dev/retained-at";
/// On a retained namespace released when its organization went: where it
/// came from (`<organization>/<workspace>`).
pub const RELEASED_FROM: &str = "workspaces.dev/released-from";
/// The plan whose children a workspace namespace holds (its name; absent
/// when it follows no plan) and the quota that plan gave it (JSON), written
/// with them: what the budget counts, and what the namespace keeps while its
/// Workspace names a plan that cannot be applied. Tenants cannot write
/// namespaces, so neither can be forged.
pub const APPLIED_PLAN: &str = "workspaces.dev/plan";
pub const APPLIED_QUOTA: &str = "workspaces.dev/quota";
/// The quota a namespace kept by an earlier version recorded (JSON).
const LEGACY_KEPT_QUOTA: &str = "workspaces.dev/kept-quota";

/// Labels and annotations of a workspace namespace besides the marks: the
/// Organization's, then the plan's over them key by key, and the Pod
/// Security levels (plan, Organization, platform default, mode by mode).
pub fn namespace_metadata(
    org: &Organization,
    plan: Option<&Plan>,
    platform: &PodSecurity,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let org_settings = org.spec.workspace_namespace.as_ref();
    let plan_settings = plan.and_then(|p| p.workspace_namespace.as_ref());
    let layers = [org_settings, plan_settings];
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    for settings in layers.iter().flatten() {
        labels.extend(settings.labels.clone().unwrap_or_default());
        annotations.extend(settings.annotations.clone().unwrap_or_default());
    }
    let level = |pick: fn(&PodSecurity) -> Option<crate::api::guardrails::PodSecurityLevel>| {
        let of =
            |s: Option<&NamespaceSettings>| s.and_then(|s| s.pod_security.as_ref().and_then(pick));
        of(plan_settings)
            .or_else(|| of(org_settings))
            .or_else(|| pick(platform))
    };
    for (mode, pick) in [
        (
            "enforce",
            (|p: &PodSecurity| p.enforce) as fn(&PodSecurity) -> _,
        ),
        ("warn", |p: &PodSecurity| p.warn),
        ("audit", |p: &PodSecurity| p.audit),
    ] {
        if let Some(level) = level(pick) {
            labels.insert(
                format!("pod-security.kubernetes.io/{mode}"),
                level.as_str().to_string(),
            );
        }
    }
    if plan.is_some_and(|p| p.placement.is_some()) {
        labels.insert(PLACEMENT_LABEL.into(), PLACEMENT_ENFORCED.into());
    }
    (labels, annotations)
}

/// Raises each Pod Security label of `labels` to the level `floor` sets for
/// that mode, when `floor` is stricter (or `labels` sets none).
pub fn raise_pod_security(labels: &mut BTreeMap<String, String>, floor: &BTreeMap<String, String>) {
    let rank = |level: &str| match level {
        "privileged" => 0,
        "baseline" => 1,
        "restricted" => 2,
        // Unknown to Pod Security admission: it treats the label as absent.
        _ => -1,
    };
    for mode in ["enforce", "warn", "audit"] {
        let key = format!("pod-security.kubernetes.io/{mode}");
        if let Some(want) = floor.get(&key)
            && labels.get(&key).is_none_or(|have| rank(have) < rank(want))
        {
            labels.insert(key, want.clone());
        }
    }
}

/// The labels and annotations of a live workspace namespace that the
/// platform may have set through its Organization or plans: all but the
/// operator's marks and isolation label, the name label the API server
/// sets, and annotations under the prefixes admission keeps them out of.
pub fn platform_metadata(
    meta: &ObjectMeta,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let labels = meta
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| {
            !crate::ownership::is_mark(k)
                && k.as_str() != "kubernetes.io/metadata.name"
                && k.as_str() != ISOLATION_LABEL
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let reserved = |key: &str| {
        let prefix = key.split_once('/').map_or("", |(p, _)| p);
        ["workspaces.dev", "kubernetes.io", "k8s.io"]
            .iter()
            .any(|kept| prefix == *kept || prefix.ends_with(&format!(".{kept}")))
    };
    let annotations = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !reserved(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (labels, annotations)
}

/// The plan's network exceptions as one additive NetworkPolicy (None
/// without any). `cluster_network` are the cluster's own ranges, kept out of
/// "everything outside the cluster". `reaches` are the workspaces of the
/// organization whose plans admit this one: it may open connections to them
/// (both ends must allow a connection, and this end is isolated too).
pub fn network_exceptions(
    plan: Option<&Plan>,
    organization: &str,
    cluster_network: &[String],
    reaches: &[String],
    metadata: ObjectMeta,
) -> Option<NetworkPolicy> {
    let none = Default::default();
    let network = plan.and_then(|p| p.network.as_ref()).unwrap_or(&none);
    let from = ingress_peers(network, organization);
    let to = egress_peers(network, organization, cluster_network, reaches);
    if from.is_empty() && to.is_empty() {
        return None;
    }
    Some(NetworkPolicy {
        metadata,
        spec: Some(exceptions_spec(from, to)),
    })
}

/// A peer: the namespaces carrying `labels`.
fn namespaces_labelled(labels: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(labels),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A peer: the namespace of workspace `ws` of `organization`.
fn workspace_peer(organization: &str, ws: &str) -> NetworkPolicyPeer {
    // Workspaces by their namespace's name: always this organization's.
    namespaces_labelled(BTreeMap::from([(
        "kubernetes.io/metadata.name".to_string(),
        workspace_namespace(organization, ws),
    )]))
}

/// A peer: the addresses of `cidr` but those of `except`.
fn ip_block(cidr: &str, except: Vec<String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_string(),
            except: (!except.is_empty()).then_some(except),
        }),
        ..Default::default()
    }
}

/// The peers `network` lets in: namespaces by labels, then workspaces.
fn ingress_peers(network: &NetworkExceptions, organization: &str) -> Vec<NetworkPolicyPeer> {
    let mut from: Vec<NetworkPolicyPeer> = network
        .ingress_from_namespaces
        .iter()
        .flatten()
        .map(|s| namespaces_labelled(s.match_labels.clone()))
        .collect();
    from.extend(
        network
            .ingress_from_workspaces
            .iter()
            .flatten()
            .map(|ws| workspace_peer(organization, ws)),
    );
    from
}

/// The peers `network` lets the workspace reach: its CIDRs, the workspaces
/// in `reaches`, and everything outside the cluster if it asks so.
fn egress_peers(
    network: &NetworkExceptions,
    organization: &str,
    cluster_network: &[String],
    reaches: &[String],
) -> Vec<NetworkPolicyPeer> {
    let mut to: Vec<NetworkPolicyPeer> = network
        .egress_to_cidrs
        .iter()
        .flatten()
        .map(|c| ip_block(&c.cidr, c.except.clone().unwrap_or_default()))
        .collect();
    to.extend(reaches.iter().map(|ws| workspace_peer(organization, ws)));
    // Without the cluster's own ranges the rule could reach other pods: left
    // out (the workspace reports ClusterNetworkUnknown).
    if network.egress_to_internet == Some(true) && !cluster_network.is_empty() {
        let (v6, v4): (Vec<String>, Vec<String>) = cluster_network
            .iter()
            .cloned()
            .partition(|c| c.contains(':'));
        to.push(ip_block("0.0.0.0/0", v4));
        to.push(ip_block("::/0", v6));
    }
    to
}

/// The spec of all pods of the namespace, with one ingress rule for `from`
/// and one egress rule for `to` (each left out when empty).
fn exceptions_spec(from: Vec<NetworkPolicyPeer>, to: Vec<NetworkPolicyPeer>) -> NetworkPolicySpec {
    let mut types = vec![];
    if !from.is_empty() {
        types.push("Ingress".to_string());
    }
    if !to.is_empty() {
        types.push("Egress".to_string());
    }
    NetworkPolicySpec {
        pod_selector: Some(LabelSelector::default()),
        policy_types: Some(types),
        ingress: (!from.is_empty()).then(|| {
            vec![NetworkPolicyIngressRule {
                from: Some(from),
                ports: None,
            }]
        }),
        egress: (!to.is_empty()).then(|| {
            vec![NetworkPolicyEgressRule {
                to: Some(to),
                ports: None,
            }]
        }),
    }
}

/// Whether `policy` admits traffic from or to anywhere but its own
/// namespace's pods: a rule open to everyone, or a peer with a namespace
/// selector or an IP block. The admission policy
/// `workspaces.dev-workspace-isolation` refuses such policies from tenants
/// where isolation is enforced; one written before is reported.
pub fn reaches_outside(policy: &NetworkPolicy) -> bool {
    let outside = |peers: Option<&Vec<NetworkPolicyPeer>>| {
        peers.is_none_or(|peers| {
            peers.is_empty()
                || peers
                    .iter()
                    .any(|p| p.namespace_selector.is_some() || p.ip_block.is_some())
        })
    };
    let Some(spec) = &policy.spec else {
        return false;
    };
    spec.ingress
        .iter()
        .flatten()
        .any(|r| outside(r.from.as_ref()))
        || spec.egress.iter().flatten().any(|r| outside(r.to.as_ref()))
}

/// The parameters the placement admission policy reads in the workspace
/// namespace (None without placement rules): one line per node selector
/// label (`key=value`) and required toleration (`key|operator|value|effect`),
/// and comma-separated class names.
pub fn placement_parameters(plan: Option<&Plan>, metadata: ObjectMeta) -> Option<ConfigMap> {
    let placement = plan?.placement.as_ref()?;
    let mut data = BTreeMap::new();
    if let Some(selector) = &placement.node_selector {
        let lines: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        data.insert("nodeSelector".to_string(), lines.join("\n"));
    }
    if let Some(tolerations) = &placement.tolerations {
        let lines: Vec<String> = tolerations
            .iter()
            .map(|t| {
                format!(
                    "{}|{}|{}|{}",
                    t.key,
                    t.operator.as_deref().unwrap_or("Equal"),
                    t.value.as_deref().unwrap_or(""),
                    t.effect.as_deref().unwrap_or("")
                )
            })
            .collect();
        data.insert("tolerations".to_string(), lines.join("\n"));
    }
    if let Some(classes) = &placement.storage_classes {
        data.insert("storageClasses".to_string(), classes.join(","));
    }
    if let Some(classes) = &placement.ingress_classes {
        data.insert("ingressClasses".to_string(), classes.join(","));
    }
    Some(ConfigMap {
        metadata,
        data: Some(data),
        ..Default::default()
    })
}

/// A quota of zero Pods and Jobs: nothing new runs (what runs keeps running).
pub fn stop_work_quota(metadata: ObjectMeta) -> ResourceQuota {
    ResourceQuota {
        metadata,
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([
                ("pods".to_string(), Quantity("0".into())),
                ("count/jobs.batch".to_string(), Quantity("0".into())),
            ])),
            ..Default::default()
        }),
        status: None,
    }
}

/// A Go duration of hours, minutes and seconds (`720h`, `1h30m`, `45s`), as
/// admission accepts it.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total = total.checked_add(n.checked_mul(match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        })?)?;
    }
    number.is_empty().then_some(Duration::from_secs(total))
}

/// How long the namespace of `ws` is kept after its deletion: its own
/// setting, else its organization's, else none.
pub fn grace_period(ws: &crate::api::Workspace, org: &Organization) -> Duration {
    ws.spec
        .deletion_grace_period
        .as_deref()
        .or_else(|| {
            org.spec
                .defaults
                .as_ref()
                .and_then(|d| d.deletion_grace_period.as_deref())
        })
        .and_then(parse_duration)
        .unwrap_or_default()
}

/// A deleted workspace's namespace kept until its purge (or, retained,
/// until the platform deletes it), as its marks and annotations say.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptNamespace {
    pub organization: String,
    pub workspace: String,
    pub namespace: String,
    /// The deleted Workspace's UID, which its namespace and children still carry.
    pub owner_uid: String,
    /// When the organization purges it; None when it was retained
    /// (`deletionPolicy: Retain`): never purged by the operator.
    pub purge_at: Option<jiff::Timestamp>,
    /// The quota its plan gave it: counted in the organization's budget.
    pub quota: BTreeMap<String, crate::api::common::QuantityValue>,
}

/// `meta` as a kept namespace, if it is one: a workspace namespace with the
/// operator's consistent marks (tenants cannot write namespaces) and a
/// purge time or a retained mark, not being deleted (purged) already.
pub fn kept_namespace(meta: &ObjectMeta) -> Option<KeptNamespace> {
    if meta.deletion_timestamp.is_some() {
        return None;
    }
    let crate::ownership::Owner::Workspace { organization, name } =
        crate::ownership::owner_of(meta)?
    else {
        return None;
    };
    let labels = meta.labels.as_ref()?;
    (labels.get(crate::ownership::COMPONENT)?.as_str()
        == crate::ownership::Component::WorkspaceNamespace.as_str())
    .then_some(())?;
    let annotations = meta.annotations.as_ref()?;
    let purge_at = match annotations.get(PURGE_AT) {
        Some(at) => Some(at.parse().ok()?),
        None => {
            annotations.get(RETAINED_AT)?;
            None
        }
    };
    let quota = held_quota(meta).unwrap_or_default();
    Some(KeptNamespace {
        quota,
        namespace: meta.name.clone()?,
        owner_uid: labels.get(crate::ownership::OWNER_UID)?.clone(),
        organization,
        workspace: name,
        purge_at,
    })
}

/// The plan whose children a workspace namespace holds, as its annotations
/// record it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AppliedPlan {
    /// None: the namespace follows no plan (no quota, no limits).
    pub name: Option<String>,
    /// The quota that plan gave it (what the budget counts).
    pub quota: BTreeMap<String, crate::api::common::QuantityValue>,
}

/// The quota `meta` (a workspace namespace) records it holds, from its
/// plan record or, kept by an earlier version, its kept quota; None when it
/// records neither.
pub fn held_quota(
    meta: &ObjectMeta,
) -> Option<BTreeMap<String, crate::api::common::QuantityValue>> {
    let annotations = meta.annotations.as_ref()?;
    if let Some(quota) = annotations.get(APPLIED_QUOTA) {
        return serde_json::from_str(quota).ok();
    }
    // An earlier version recorded nothing for a plan it could not apply:
    // an empty kept quota says nothing, it is not "no quota".
    annotations
        .get(LEGACY_KEPT_QUOTA)
        .and_then(|q| serde_json::from_str::<BTreeMap<_, _>>(q).ok())
        .filter(|q| !q.is_empty())
}

/// What `meta` (a workspace namespace) records of the plan it holds; None
/// when it records nothing (made by an earlier version, not yet updated).
pub fn applied_plan(meta: &ObjectMeta) -> Option<AppliedPlan> {
    let annotations = meta.annotations.as_ref()?;
    let quota = serde_json::from_str(annotations.get(APPLIED_QUOTA)?).ok()?;
    Some(AppliedPlan {
        name: annotations.get(APPLIED_PLAN).cloned(),
        quota,
    })
}

/// The annotations that record `applied` on its namespace.
pub fn applied_plan_annotations(applied: &AppliedPlan) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::from([(
        APPLIED_QUOTA.to_string(),
        serde_json::to_string(&applied.quota).unwrap_or_else(|_| "{}".into()),
    )]);
    if let Some(name) = &applied.name {
        annotations.insert(APPLIED_PLAN.to_string(), name.clone());
    }
    annotations
}

/// The kept namespaces of `kept` still waiting for their purge: all but
/// one whose Workspace exists again and is not being deleted (that one is
/// restoring it; one being deleted, perhaps held by someone's finalizer,
/// hides nothing).
pub fn pending<'k>(
    kept: &'k [KeptNamespace],
    workspaces: &[&crate::api::Workspace],
) -> impl Iterator<Item = &'k KeptNamespace> {
    use kube::{Resource, ResourceExt};
    kept.iter().filter(|k| {
        !workspaces
            .iter()
            .any(|w| w.name_any() == k.workspace && w.meta().deletion_timestamp.is_none())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(yaml: &str) -> Organization {
        serde_yaml::from_str(&format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: acme}}, spec: {yaml}}}"
        ))
        .unwrap()
    }

    #[test]
    fn pod_security_comes_from_plan_then_organization_then_platform_mode_by_mode() {
        let o = org(
            "{workspaceNamespace: {podSecurity: {enforce: baseline, warn: restricted}, labels: {team: a, tier: x}}, \
              plans: {strict: {workspaceNamespace: {podSecurity: {enforce: restricted}, labels: {tier: y}}}}}",
        );
        let platform = PodSecurity {
            enforce: Some(crate::api::guardrails::PodSecurityLevel::Privileged),
            warn: None,
            audit: Some(crate::api::guardrails::PodSecurityLevel::Baseline),
        };
        let plan = o.spec.plans.as_ref().unwrap().get("strict");
        let (labels, _) = namespace_metadata(&o, plan, &platform);
        assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
        assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");
        assert_eq!(labels["pod-security.kubernetes.io/audit"], "baseline");
        assert_eq!(labels["team"], "a");
        assert_eq!(labels["tier"], "y", "the plan wins key by key");
        let (labels, _) = namespace_metadata(&o, None, &platform);
        assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
        let (labels, _) = namespace_metadata(&org("{}"), None, &PodSecurity::default());
        assert!(
            labels.is_empty(),
            "nothing set: no label, the cluster default applies"
        );
    }

    #[test]
    fn network_exceptions_name_only_the_organizations_own_workspaces() {
        let o = org(
            "{plans: {web: {network: {ingressFromNamespaces: [{matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}], \
              ingressFromWorkspaces: [gateway], egressToCidrs: [{cidr: 203.0.113.0/24, except: [203.0.113.8/29]}], egressToInternet: true}}}}",
        );
        let plan = o.spec.plans.as_ref().unwrap().get("web");
        let np = network_exceptions(
            plan,
            "acme",
            &["10.0.0.0/8".into(), "fd00::/8".into()],
            &[],
            ObjectMeta::default(),
        )
        .unwrap();
        let spec = np.spec.unwrap();
        assert_eq!(spec.policy_types.unwrap(), vec!["Ingress", "Egress"]);
        let from = spec.ingress.unwrap()[0].from.clone().unwrap();
        let names: Vec<_> = from
            .iter()
            .map(|p| p.namespace_selector.clone().unwrap().match_labels.unwrap())
            .collect();
        assert_eq!(names[1]["kubernetes.io/metadata.name"], "acme--gateway");
        let to = spec.egress.unwrap()[0].to.clone().unwrap();
        let blocks: Vec<_> = to.iter().map(|p| p.ip_block.clone().unwrap()).collect();
        assert_eq!(blocks[0].except.as_deref().unwrap(), ["203.0.113.8/29"]);
        assert_eq!(blocks[1].cidr, "0.0.0.0/0");
        assert_eq!(blocks[1].except.as_deref().unwrap(), ["10.0.0.0/8"]);
        assert_eq!(blocks[2].cidr, "::/0");
        assert_eq!(blocks[2].except.as_deref().unwrap(), ["fd00::/8"]);
        assert!(network_exceptions(None, "acme", &[], &[], ObjectMeta::default()).is_none());
        // Admitted by workspace web: it may connect there, and only there.
        let np =
            network_exceptions(None, "acme", &[], &["web".into()], ObjectMeta::default()).unwrap();
        let spec = np.spec.unwrap();
        assert_eq!(spec.policy_types.unwrap(), vec!["Egress"]);
        let to = spec.egress.unwrap()[0].to.clone().unwrap();
        assert_eq!(
            to[0]
                .namespace_selector
                .clone()
                .unwrap()
                .match_labels
                .unwrap()["kubernetes.io/metadata.name"],
            "acme--web"
        );
    }

    #[test]
    fn placement_parameters_are_lines_the_policy_splits() {
        let o = org(
            "{plans: {gpu: {placement: {nodeSelector: {pool: gpu, zone: a}, tolerations: [{key: gpu, effect: NoSchedule}, {key: spot, operator: Exists}], storageClasses: [fast, slow]}}}}",
        );
        let cm = placement_parameters(
            o.spec.plans.as_ref().unwrap().get("gpu"),
            ObjectMeta::default(),
        )
        .unwrap();
        let data = cm.data.unwrap();
        assert_eq!(data["nodeSelector"], "pool=gpu\nzone=a");
        assert_eq!(data["tolerations"], "gpu|Equal||NoSchedule\nspot|Exists||");
        assert_eq!(data["storageClasses"], "fast,slow");
        assert!(!data.contains_key("ingressClasses"));
    }

    #[test]
    fn pod_security_is_only_ever_raised_to_the_floor() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(m, l)| (format!("pod-security.kubernetes.io/{m}"), l.to_string()))
                .collect()
        };
        let mut live = labels(&[("enforce", "restricted"), ("warn", "privileged")]);
        raise_pod_security(
            &mut live,
            &labels(&[
                ("enforce", "baseline"),
                ("warn", "baseline"),
                ("audit", "baseline"),
            ]),
        );
        assert_eq!(
            live,
            labels(&[
                ("enforce", "restricted"),
                ("warn", "baseline"),
                ("audit", "baseline")
            ])
        );
    }

    #[test]
    fn policies_reaching_outside_their_namespace_are_told_apart() {
        let np = |spec: &str| -> NetworkPolicy {
            serde_yaml::from_str(&format!("{{metadata: {{name: p}}, spec: {spec}}}")).unwrap()
        };
        for open in [
            "{podSelector: {}, ingress: [{}]}",
            "{podSelector: {}, egress: [{to: []}]}",
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}}]}]}",
            "{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
            "{podSelector: {}, ingress: [{from: [{podSelector: {}, namespaceSelector: {matchLabels: {a: b}}}]}]}",
        ] {
            assert!(reaches_outside(&np(open)), "{open}");
        }
        for inside in [
            "{podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}",
            "{podSelector: {}, policyTypes: [Egress]}",
            "{podSelector: {}, egress: [{to: [{podSelector: {}}], ports: [{port: 53}]}]}",
        ] {
            assert!(!reaches_outside(&np(inside)), "{inside}");
        }
    }

    #[test]
    fn durations_parse_as_admission_accepts_them() {
        assert_eq!(
            parse_duration("720h"),
            Some(Duration::from_secs(720 * 3600))
        );
        assert_eq!(parse_duration("1h30m5s"), Some(Duration::from_secs(5405)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("30d"), None);
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration(""), Some(Duration::ZERO));
    }
}
