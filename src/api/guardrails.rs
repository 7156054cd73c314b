//! What the platform sets around its tenants' workspaces: namespace labels
//! and Pod Security levels, network exceptions, placement, budgets and the
//! deletion grace period. Every one of these lives on the Organization (a
//! platform object tenants cannot write) or in its plans.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::common::QuantityValue;
use super::names;

/// Label and annotation keys workspace namespaces may carry from the
/// platform: a qualified name, not under the prefixes Kubernetes and the
/// operator keep. (One size check and two regular expressions: CEL's cost
/// budget allows no more per map entry.)
pub const NAMESPACE_KEYS_RULE: &str = "self.all(k, k.size() <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && !k.matches('^([^/]*[.])?(workspaces[.]dev|kubernetes[.]io|k8s[.]io)/'))";
pub const NAMESPACE_KEYS_MESSAGE: &str = "keys must be qualified names (an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' and '.'), not under workspaces.dev/, kubernetes.io/ or k8s.io/ (kept by the operator and Kubernetes; set Pod Security levels with podSecurity)";

/// Node label keys: qualified names (any prefix).
pub const NODE_LABEL_KEYS_RULE: &str = "self.all(k, k.size() <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))";
pub const NODE_LABEL_KEYS_MESSAGE: &str = "keys must be label keys: an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' and '.'";

/// A label value, as Kubernetes accepts them.
pub const LABEL_VALUE_PATTERN: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

/// A map of label values (checked by OpenAPI pattern and length: free at admission).
fn label_map(max: u32) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": max,
        "additionalProperties": {"type": "string", "maxLength": 63, "pattern": LABEL_VALUE_PATTERN}
    })
}

fn namespace_labels_schema(_: &mut SchemaGenerator) -> Schema {
    label_map(32)
}

fn node_selector_schema(_: &mut SchemaGenerator) -> Schema {
    let mut schema = label_map(8);
    schema.insert("minProperties".into(), 1.into());
    schema
}

fn match_labels_schema(_: &mut SchemaGenerator) -> Schema {
    let mut schema = label_map(8);
    schema.insert("minProperties".into(), 1.into());
    schema
}

fn annotations_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": 32,
        "additionalProperties": {"type": "string", "maxLength": 4096}
    })
}

/// A Go duration of at most one year, as Kubernetes writes them (`720h`, `90m`, `30s`).
pub const GRACE_PERIOD_RULE: &str =
    "self.matches('^([0-9]+(h|m|s))+$') && duration(self) <= duration('8760h')";
pub const GRACE_PERIOD_MESSAGE: &str = "must be a duration in hours, minutes and seconds such as 720h (30 days), 90m or 30s, at most 8760h (one year)";

/// A plan's default run timeout: a Go duration of 1s to 8760h.
pub const RUN_TIMEOUT_RULE: &str = "self.matches('^([0-9]+(h|m|s))+$') && duration(self) >= duration('1s') && duration(self) <= duration('8760h')";
pub const RUN_TIMEOUT_MESSAGE: &str =
    "must be a duration in hours, minutes and seconds such as 2h, 90m or 30s, from 1s to 8760h";

/// A Pod Security Standard level.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    /// Unrestricted.
    Privileged,
    /// Prevents known privilege escalations (no host namespaces, no privileged containers).
    Baseline,
    /// Current Pod hardening best practice.
    Restricted,
}

impl PodSecurityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Privileged => "privileged",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }
}

/// Pod Security admission levels for workspace namespaces (the
/// `pod-security.kubernetes.io/<mode>` labels). Each mode left out comes from
/// the next level up: plan, then Organization, then the platform default
/// (the operator's `--pod-security-*` flags).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurity {
    /// Pods violating this level are refused at admission.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforce: Option<PodSecurityLevel>,
    /// Pods violating this level are admitted with a warning to the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn: Option<PodSecurityLevel>,
    /// Pods violating this level are admitted and recorded in the audit log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<PodSecurityLevel>,
}

/// Labels, annotations and Pod Security levels of workspace namespaces.
/// Applied by the operator, put back if changed; tenants cannot write namespaces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSettings {
    /// Pod Security admission levels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<PodSecurity>,

    /// Labels every workspace namespace gets (for example for a monitoring
    /// stack's or a gateway's namespace selectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "namespace_labels_schema")]
    #[x_kube(validation = Rule::new(NAMESPACE_KEYS_RULE).message(NAMESPACE_KEYS_MESSAGE))]
    pub labels: Option<BTreeMap<String, String>>,

    /// Annotations every workspace namespace gets (for example a node
    /// selector annotation read by the scheduler's PodNodeSelector plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "annotations_schema")]
    #[x_kube(validation = Rule::new(NAMESPACE_KEYS_RULE).message(NAMESPACE_KEYS_MESSAGE))]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Traffic a plan lets through the workspace's network isolation, beyond
/// its own namespace and DNS. Each exception is an extra NetworkPolicy the
/// operator owns; none is made while isolation is off (everything is open then).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkExceptions {
    /// Admit traffic from pods in namespaces with these labels (each entry
    /// is one selector, all of its labels must match), for example an
    /// ingress controller's or a monitoring stack's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub ingress_from_namespaces: Option<Vec<NamespaceLabels>>,

    /// Admit traffic from these workspaces of the same organization (by name).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 31)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new("self.all(w, w.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && !w.contains('--'))").message(names::WORKSPACE_NAME_MESSAGE))]
    pub ingress_from_workspaces: Option<Vec<String>>,

    /// Let pods open connections to these IP ranges.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub egress_to_cidrs: Option<Vec<CidrBlock>>,

    /// Let pods open connections to everything outside the cluster: every
    /// address except the cluster's own networks (the operator's
    /// `--cluster-network` flag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_to_internet: Option<bool>,
}

/// Namespaces selected by their labels.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceLabels {
    /// Labels the namespace must all carry, for example
    /// `kubernetes.io/metadata.name: ingress-nginx`.
    #[schemars(schema_with = "match_labels_schema")]
    #[x_kube(validation = Rule::new(NODE_LABEL_KEYS_RULE).message(NODE_LABEL_KEYS_MESSAGE))]
    pub match_labels: BTreeMap<String, String>,
}

/// An IP range, optionally with holes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.except) || self.except.all(e, cidr(e).ip().family() == cidr(self.cidr).ip().family() && cidr(self.cidr).containsCIDR(e))").message("every except range must lie inside cidr").field_path(".except"))]
pub struct CidrBlock {
    /// The range, for example `203.0.113.0/24` or `2001:db8::/32`.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("isCIDR(self) && cidr(self) == cidr(self).masked()").message("must be a CIDR with no bits set after the prefix, such as 203.0.113.0/24"))]
    pub cidr: String,

    /// Ranges inside `cidr` that stay closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 64)))]
    #[x_kube(validation = Rule::new("self.all(e, isCIDR(e))").message("every except entry must be a CIDR"))]
    pub except: Option<Vec<String>>,
}

/// Where a workspace's Pods run and which classes it may use; refused at
/// admission by the API server (a ValidatingAdmissionPolicy), also while the
/// operator is stopped.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Labels every Pod's `spec.nodeSelector` must carry with these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "node_selector_schema")]
    #[x_kube(validation = Rule::new(NODE_LABEL_KEYS_RULE).message(NODE_LABEL_KEYS_MESSAGE))]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// Tolerations every Pod must carry (exactly, among its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8))]
    pub tolerations: Option<Vec<RequiredToleration>>,

    /// The StorageClasses PersistentVolumeClaims may name; a claim naming
    /// none (or another) is refused. Left out: any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new("self.all(c, !c.contains(','))").message("class names cannot contain ','"))]
    pub storage_classes: Option<Vec<String>>,

    /// The IngressClasses Ingresses may name; an Ingress naming none (or
    /// another) is refused. Left out: any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new("self.all(c, !c.contains(','))").message("class names cannot contain ','"))]
    pub ingress_classes: Option<Vec<String>>,
}

/// A toleration a Pod must carry, as in a Pod's `spec.tolerations`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.operator) || self.operator != 'Exists' || !has(self.value)").message("a toleration with operator Exists takes no value").field_path(".value"))]
pub struct RequiredToleration {
    /// The taint key.
    #[schemars(length(min = 1, max = 316))]
    #[x_kube(validation = Rule::new("!self.contains('|') && !self.contains('\\n')").message("cannot contain '|' or line breaks"))]
    pub key: String,
    /// `Equal` (default) or `Exists`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in ['Equal', 'Exists']").message("must be Equal or Exists"))]
    pub operator: Option<String>,
    /// The taint value (with `Equal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[x_kube(validation = Rule::new("!self.contains('|') && !self.contains('\\n')").message("cannot contain '|' or line breaks"))]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; left out, all effects.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in ['NoSchedule', 'PreferNoSchedule', 'NoExecute']").message("must be NoSchedule, PreferNoSchedule or NoExecute"))]
    pub effect: Option<String>,
}

/// How much an organization may take in all.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationBudget {
    /// How many workspaces may have a namespace, the default workspace and
    /// namespaces waiting for their purge included. A workspace beyond it
    /// gets no namespace and says why; raising it releases the workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub max_workspaces: Option<i32>,

    /// Totals across the organization's workspaces, keyed like a plan's
    /// quota: the sum of the plans' quotas for each key here may not exceed
    /// it. A workspace whose plan sets no quota for such a key does not fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 32))]
    #[x_kube(validation = Rule::new(names::MAP_KEYS_ARE_RESOURCE_NAMES_RULE).message(names::RESOURCE_NAME_MESSAGE))]
    pub quota: Option<BTreeMap<String, QuantityValue>>,
}
