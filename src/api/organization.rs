//! Organization: owns workspaces; its admins manage everything in it.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, QuantityValue, Subject, conditions_schema};
use super::guardrails::{NamespaceSettings, NetworkExceptions, OrganizationBudget, Placement};
use super::names;

/// An organization: a namespace of its own where its admins manage its
/// workspaces, roles and members, and a default workspace that cannot be deleted.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "workspaces.dev",
    version = "v1alpha1",
    kind = "Organization",
    plural = "organizations",
    shortname = "org",
    category = "tenancy",
    status = "OrganizationStatus",
    derive = "PartialEq",
    doc = "An organization owns workspaces. Its admins manage every workspace, role and member in the organization's namespace and are admins inside every workspace.",
    printcolumn(name = "Display Name", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Namespace", type_ = "string", json_path = ".status.namespace"),
    printcolumn(name = "Workspaces", type_ = "integer", json_path = ".status.workspaces"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Pending Purge", type_ = "string", json_path = ".status.pendingPurges[*].workspace"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", priority = "1"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(names::ORGANIZATION_NAME_RULE).message(names::ORGANIZATION_NAME_MESSAGE),
    validation = Rule::new(names::NOT_RESERVED_RULE).message(names::NOT_RESERVED_MESSAGE)
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.defaultWorkspace) ? self.defaultWorkspace.name : 'default') == (has(oldSelf.defaultWorkspace) ? oldSelf.defaultWorkspace.name : 'default')").message("defaultWorkspace.name cannot change after creation: the default workspace is protected; create a new Organization instead").field_path(".defaultWorkspace"))]
#[x_kube(validation = Rule::new("!has(self.defaults) || !has(self.defaults.plan) || (has(self.plans) && self.defaults.plan in self.plans)").message("defaults.plan must name a plan defined in spec.plans").field_path(".defaults.plan"))]
pub struct OrganizationSpec {
    /// Human-readable name shown in tools, for example "Acme Inc.".
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub display_name: Option<String>,

    /// Free text about the organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// While true, the API server refuses to delete this Organization (set
    /// it to false first, then delete). The platform's choice: organization
    /// admins cannot change it. Defaults to false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<bool>,

    /// Users, groups or ServiceAccounts that administer the organization: they
    /// manage its Workspaces, WorkspaceRoles, WorkspaceMembers, Secrets and
    /// ConfigMaps in the organization namespace, and are admins inside every
    /// workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub admins: Option<Vec<Subject>>,

    /// Groups whose members count as "anyone in the organization": in a
    /// workspace that accepts anonymous access they get the anonymous role.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub member_groups: Option<Vec<String>>,

    /// The workspace the operator creates for the organization and protects
    /// from deletion. Defaults to a workspace named `default`. Cannot change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_workspace: Option<DefaultWorkspace>,

    /// Values a workspace gets when its own spec leaves them out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defaults: Option<WorkspaceDefaults>,

    /// Named resource plans that workspaces choose with `spec.plan`: a
    /// ResourceQuota and optionally a LimitRange for the workspace namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 32))]
    #[x_kube(validation = Rule::new(names::MAP_KEYS_ARE_DNS_LABELS_RULE).message("plan names must be DNS labels: lowercase letters, digits and '-', at most 63 characters"))]
    pub plans: Option<BTreeMap<String, Plan>>,

    /// Secrets in the organization namespace shared, read-only, with every
    /// workspace of the organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["secretName".into()]))]
    pub shared_credentials: Option<Vec<OrganizationSharedCredential>>,

    /// Labels, annotations and Pod Security levels of every workspace
    /// namespace of the organization (a plan's own settings win, key by key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_namespace: Option<NamespaceSettings>,

    /// Limits on the whole organization: how many workspaces, and quota totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<OrganizationBudget>,
}

/// The organization's protected default workspace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefaultWorkspace {
    /// Name of the default Workspace object in the organization namespace.
    #[schemars(length(min = 1, max = 31))]
    #[x_kube(validation = Rule::new(names::WORKSPACE_NAME_RULE).message(names::WORKSPACE_NAME_MESSAGE))]
    pub name: String,
}

/// Organization-wide defaults for workspaces. Each applies only where the
/// workspace's own spec leaves the field out.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceDefaults {
    /// Whether anyone in the organization's member groups may enter a workspace
    /// with its anonymous role. The operator's default is true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_anonymous: Option<bool>,

    /// The WorkspaceRole anonymous members get. The operator's default is `viewer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new(names::DNS_LABEL_RULE).message(names::DNS_LABEL_MESSAGE))]
    pub anonymous_role: Option<String>,

    /// The plan a workspace gets when it names none. Must be a key of `spec.plans`.
    /// Without it, such workspaces get no quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub plan: Option<String>,

    /// Whether the organization's workspaces must be isolated: a
    /// NetworkPolicy admits only traffic from their own namespace (plus DNS
    /// and their plan's exceptions), and tenants' own NetworkPolicies there
    /// may not reach past it. True (the operator's default) is a floor no
    /// Workspace can lower; false leaves isolation off unless a Workspace
    /// turns it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_isolation: Option<bool>,

    /// How long a deleted workspace's namespace is kept, with every access
    /// removed and no new work admitted, before it is purged; recreating the
    /// Workspace within it restores the namespace with its data. A Go
    /// duration such as `720h` (30 days). The operator's default is `0s`:
    /// purged at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(super::guardrails::GRACE_PERIOD_RULE).message(super::guardrails::GRACE_PERIOD_MESSAGE))]
    #[schemars(length(min = 2, max = 32))]
    pub deletion_grace_period: Option<String>,
}

/// A resource budget for a workspace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// What the plan is for, shown to people choosing one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,

    /// ResourceQuota hard limits for the workspace namespace, keyed by resource
    /// name as in a ResourceQuota (`pods`, `requests.cpu`, `limits.memory`,
    /// `count/deployments.apps`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64))]
    #[x_kube(validation = Rule::new(names::MAP_KEYS_ARE_RESOURCE_NAMES_RULE).message(names::RESOURCE_NAME_MESSAGE))]
    pub quota: Option<BTreeMap<String, QuantityValue>>,

    /// Per-container defaults and bounds for the workspace namespace (a LimitRange).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_range: Option<ContainerLimits>,

    /// Labels, annotations and Pod Security levels of the workspace
    /// namespace; each key here wins over the Organization's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_namespace: Option<NamespaceSettings>,

    /// Traffic let through the workspace's network isolation beyond its
    /// own namespace and DNS. Left out: fully isolated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkExceptions>,

    /// Node placement and the storage and ingress classes the workspace's
    /// objects must use, enforced at admission.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,

    /// How long a Job in the workspace may run when it sets no
    /// `activeDeadlineSeconds` (a Go duration such as `2h`): given to it as
    /// it is created, by the MutatingAdmissionPolicy
    /// `workspaces.dev-workload-defaults` (Kubernetes 1.36 and later). A Job
    /// that sets its own keeps it. Left out: no default.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(super::guardrails::RUN_TIMEOUT_RULE).message(super::guardrails::RUN_TIMEOUT_MESSAGE))]
    #[schemars(length(min = 2, max = 32))]
    pub run_timeout: Option<String>,
}

/// Per-container defaults and bounds, turned into a LimitRange of type Container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerLimits {
    /// Limits a container gets when it sets none, by resource (`cpu`, `memory`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    #[x_kube(validation = Rule::new(names::MAP_KEYS_ARE_RESOURCE_NAMES_RULE).message(names::RESOURCE_NAME_MESSAGE))]
    pub default: Option<BTreeMap<String, QuantityValue>>,

    /// Requests a container gets when it sets none, by resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    #[x_kube(validation = Rule::new(names::MAP_KEYS_ARE_RESOURCE_NAMES_RULE).message(names::RESOURCE_NAME_MESSAGE))]
    pub default_request: Option<BTreeMap<String, QuantityValue>>,

    /// The most a container may ask for, by resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    #[x_kube(validation = Rule::new(names::MAP_KEYS_ARE_RESOURCE_NAMES_RULE).message(names::RESOURCE_NAME_MESSAGE))]
    pub max: Option<BTreeMap<String, QuantityValue>>,

    /// The least a container may ask for, by resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    #[x_kube(validation = Rule::new(names::MAP_KEYS_ARE_RESOURCE_NAMES_RULE).message(names::RESOURCE_NAME_MESSAGE))]
    pub min: Option<BTreeMap<String, QuantityValue>>,
}

/// A Secret of the organization namespace shared with every workspace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSharedCredential {
    /// Name of the Secret in the organization namespace. Every workspace gets a
    /// read-only copy with the same name.
    /// At most 63 characters: the copies carry it in a label.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new(names::DNS_SUBDOMAIN_RULE).message(names::DNS_SUBDOMAIN_MESSAGE))]
    pub secret_name: String,
}

/// What the operator observed and did for an organization.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationStatus {
    /// The namespace that holds the organization's workspaces, roles and members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// How many Workspaces the organization has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<i32>,

    /// The name of the default workspace in effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_workspace: Option<String>,

    /// The workspace defaults in effect, after the operator's own defaults are applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_defaults: Option<WorkspaceDefaults>,

    /// Namespaces of deleted workspaces waiting for their purge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100000))]
    pub pending_purges: Vec<PendingPurge>,

    /// Namespaces of deleted workspaces with `deletionPolicy: Retain`: kept
    /// with no access, with their quota, limits, placement, isolation (and
    /// an archive's stop on new work) in place, counted in the budget, until
    /// the platform deletes them (or the Workspace is made again). Released
    /// with the organization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100000))]
    pub retained_namespaces: Vec<RetainedNamespace>,

    /// What its workspaces hold and use, summed from the quotas of their
    /// namespaces, and what is left of its budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<OrganizationUsage>,

    /// The latest observations of the organization's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// What an organization's workspaces hold and use: the quotas of their
/// namespaces summed. Taken at most once a minute, and written only when a
/// figure changed (`observedAt` says when they were taken).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationUsage {
    /// Workspace namespaces: its workspaces' and those kept for deleted
    /// ones (what `spec.budget.maxWorkspaces` counts).
    pub namespaces: i32,

    /// By resource, the sum of the quotas' limits (what the plans give).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub hard: BTreeMap<String, QuantityValue>,

    /// By resource, the sum of what is used of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub used: BTreeMap<String, QuantityValue>,

    /// What is left of `spec.budget`; absent without a budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_remaining: Option<BudgetRemaining>,

    /// When these figures were taken (RFC 3339).
    pub observed_at: String,
}

/// What is left of an organization's budget.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetRemaining {
    /// How many more workspaces may get a namespace (`maxWorkspaces` less
    /// the namespaces counted); absent when the budget sets no maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<i32>,

    /// By key of the budget's quota, what is not given to a namespace yet
    /// (the budget less the sum of the quotas' limits; negative when the
    /// budget was lowered below what namespaces already hold, so not a
    /// quantity a spec accepts).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub quota: BTreeMap<String, QuantityValue>,
}

/// The namespace of a deleted workspace, kept until its purge.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingPurge {
    /// The deleted Workspace's name; recreating it before `purgeAt` restores it.
    pub workspace: String,
    /// The kept namespace.
    pub namespace: String,
    /// When the namespace and everything in it is deleted (RFC 3339).
    pub purge_at: String,
}

/// The namespace of a deleted workspace retained by its deletion policy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetainedNamespace {
    /// The deleted Workspace's name; recreating it restores the namespace.
    pub workspace: String,
    /// The retained namespace.
    pub namespace: String,
}
