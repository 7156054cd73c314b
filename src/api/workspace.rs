//! Workspace: a locked room with a namespace of its own.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Subject, conditions_schema};
use super::names;

/// A workspace of an organization: a namespace with access for its owner, the
/// organization admins and its members, a resource plan, network isolation,
/// variables, shared credentials and an archive mode.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "workspaces.dev",
    version = "v1alpha1",
    kind = "Workspace",
    plural = "workspaces",
    shortname = "ws",
    category = "tenancy",
    namespaced,
    status = "WorkspaceStatus",
    derive = "PartialEq",
    doc = "A workspace: an isolated namespace of an organization with its own access, plan, network isolation, variables and shared credentials. Lives in the organization's namespace.",
    printcolumn(name = "Display Name", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Workspace Namespace", type_ = "string", json_path = ".status.namespace"),
    printcolumn(name = "Plan", type_ = "string", json_path = ".status.plan"),
    printcolumn(name = "Members", type_ = "integer", json_path = ".status.members"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", priority = "1"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(names::WORKSPACE_OBJECT_NAME_RULE).message(names::WORKSPACE_OBJECT_NAME_MESSAGE)
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSpec {
    /// Human-readable name shown in tools, for example "Payments".
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub display_name: Option<String>,

    /// Free text about the workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// IANA time zone of the workspace, for example `Europe/Bucharest`.
    /// Published in the workspace ConfigMap. Defaults to `UTC`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$')").message("must be an IANA time zone name such as UTC or Europe/Bucharest"))]
    pub time_zone: Option<String>,

    /// The workspace's owner: always an admin inside it and never unlinked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Subject>,

    /// Whether anyone in the organization's member groups may enter with the
    /// anonymous role (true), or only invited members (false, invite-only).
    /// When left out, the organization's default applies (true unless set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_anonymous: Option<bool>,

    /// The WorkspaceRole that anonymous members get. When left out, the
    /// organization's default applies (`viewer` unless set).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new(names::DNS_LABEL_RULE).message(names::DNS_LABEL_MESSAGE))]
    pub anonymous_role: Option<String>,

    /// The organization plan (a key of the Organization's `spec.plans`) that
    /// sets this workspace's quota and limits. When left out, the
    /// organization's default plan applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new(names::DNS_LABEL_RULE).message(names::DNS_LABEL_MESSAGE))]
    pub plan: Option<String>,

    /// Whether the namespace admits only traffic from itself (plus DNS
    /// egress and the plan's exceptions). The organization decides: where
    /// it requires isolation (`defaults.networkIsolation`, true unless set)
    /// a workspace stays isolated, and `false` here is reported as
    /// SettingNotAllowed; where it leaves isolation off, `true` here turns
    /// it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_isolation: Option<bool>,

    /// Variables published in the workspace's ConfigMap `workspace-info`,
    /// usable as environment variables (`envFrom`): at most 128, each value
    /// at most 4096 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 128))]
    #[x_kube(validation = Rule::new("self.all(k, k.size() <= 128 && k.matches('^[A-Za-z_][A-Za-z0-9_]*$') && !k.startsWith('WORKSPACE_'))").message("variable names must be environment variable names (letters, digits, '_'; not starting with a digit), at most 128 characters, not starting with WORKSPACE_ (reserved for the workspace's own facts)"))]
    #[x_kube(validation = Rule::new("self.all(k, self[k].size() <= 4096)").message("a variable's value is at most 4096 characters"))]
    pub variables: Option<BTreeMap<String, String>>,

    /// Secrets of this workspace shared, read-only, with other workspaces of
    /// the same organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["secretName".into()]))]
    pub shared_credentials: Option<Vec<WorkspaceSharedCredential>>,

    /// Archive mode: every access in the workspace becomes read-only. Setting
    /// it back to false restores the access. Defaults to false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,

    /// What happens to the namespace when the Workspace is deleted: Delete
    /// (default) removes it with everything in it (after the grace period,
    /// if any); Retain keeps it with its data, but with no access, its
    /// quota, limits, isolation, placement (and an archive's stop on new
    /// work) in place and its place in the organization's budget, until the
    /// platform deletes it or the Workspace is made again (which restores
    /// it). A retained namespace is released, marks removed, when the
    /// organization goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// While true, the API server refuses to delete this Workspace (a
    /// GitOps prune or a stray `kubectl delete` fails with a message saying
    /// so); set it to false first, then delete. Defaults to false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<bool>,

    /// How long the namespace is kept after the Workspace is deleted (with
    /// every access removed at once and no new work admitted) before it is
    /// purged; recreating the Workspace within it restores the namespace
    /// with its data. Overrides the organization's default; a Go duration
    /// such as `720h`. Only with deletionPolicy Delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(super::guardrails::GRACE_PERIOD_RULE).message(super::guardrails::GRACE_PERIOD_MESSAGE))]
    #[schemars(length(min = 2, max = 32))]
    pub deletion_grace_period: Option<String>,
}

/// What happens to a workspace's namespace when the Workspace is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum DeletionPolicy {
    /// Delete the namespace and everything in it.
    #[default]
    Delete,
    /// Keep the namespace, without access and with every guardrail, until
    /// the platform deletes it.
    Retain,
}

/// A Secret of this workspace shared with other workspaces.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSharedCredential {
    /// Name of the Secret in this workspace's namespace. Each target workspace
    /// gets a read-only copy with the same name.
    /// At most 63 characters: the copies carry it in a label.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new(names::DNS_SUBDOMAIN_RULE).message(names::DNS_SUBDOMAIN_MESSAGE))]
    pub secret_name: String,

    /// Names of the workspaces (of the same organization) that get the copy.
    #[schemars(length(min = 1, max = 256), inner(length(min = 1, max = 31)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new("self.all(w, w.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && !w.contains('--'))").message(names::WORKSPACE_NAME_MESSAGE))]
    pub workspaces: Vec<String>,
}

/// Where a workspace is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WorkspacePhase {
    /// Being set up, or waiting for something it needs.
    Pending,
    /// Everything is in place.
    Ready,
    /// Everything is in place, read-only.
    Archived,
    /// Being deleted (possibly blocked: see the DeletionBlocked condition).
    Terminating,
    /// Cannot be set up as specified: see the Ready condition.
    Failed,
}

/// What the operator observed and did for a workspace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatus {
    /// The organization this workspace belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,

    /// The workspace's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// Where the workspace is in its life.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<WorkspacePhase>,

    /// How many WorkspaceMembers are linked to the workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<i32>,

    /// The plan in effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,

    /// Whether anonymous access is in effect: false when the organization
    /// has no memberGroups, since nobody is anonymous then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_anonymous: Option<bool>,

    /// The anonymous role in effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_role: Option<String>,

    /// Whether network isolation is in effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_isolation: Option<bool>,

    /// Whether this is the organization's protected default workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,

    /// The latest observations of the workspace's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
