//! WorkspaceRole: a named set of permissions, granted only inside workspaces.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, conditions_schema};
use super::names;

/// A named set of permissions. Never granted to a person directly: a
/// WorkspaceMember grants it inside one workspace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "workspaces.dev",
    version = "v1alpha1",
    kind = "WorkspaceRole",
    plural = "workspaceroles",
    shortname = "wsrole",
    category = "tenancy",
    namespaced,
    status = "WorkspaceRoleStatus",
    derive = "PartialEq",
    doc = "A named set of permissions that WorkspaceMembers grant inside a workspace. Lives in the organization's namespace; several roles add up.",
    printcolumn(name = "Description", type_ = "string", json_path = ".spec.description"),
    printcolumn(name = "Members", type_ = "integer", json_path = ".status.members"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", priority = "1"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(names::OBJECT_DNS_LABEL_RULE).message("metadata.name: a role name must be a DNS label: at most 63 lowercase letters, digits and '-'")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.rules) && size(self.rules) > 0) || (has(self.clusterRoles) && size(self.clusterRoles) > 0) || has(self.manageMembers)").message("a role needs at least one entry in rules or clusterRoles, or manageMembers"))]
pub struct WorkspaceRoleSpec {
    /// What the role is for, shown to people choosing roles.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub description: Option<String>,

    /// Permissions of the role, as in an RBAC Role: namespaced resources only,
    /// since they apply inside the workspace namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = ListMerge::Atomic)]
    pub rules: Option<Vec<RoleRule>>,

    /// Existing ClusterRoles whose permissions this role includes (for example
    /// `view`). They are granted only inside workspace namespaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub cluster_roles: Option<Vec<String>>,

    /// Lets holders of this role manage the members of the workspace where
    /// they hold it: add, change and remove its WorkspaceMembers (of that
    /// workspace only), giving and taking back only the roles listed here.
    /// The API server enforces it (admission policy
    /// `workspaces.dev-delegated-membership`) when the platform turns
    /// delegated membership on. Leave out for a role that manages nobody.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_members: Option<ManageMembers>,
}

/// What holders of a role may do to a workspace's members.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManageMembers {
    /// The WorkspaceRoles (names in this namespace) holders may give to
    /// members and take back; `*` for every role of the organization. A
    /// member holding a role not listed here can be neither changed nor
    /// removed by them.
    #[schemars(length(min = 1, max = 32), inner(length(min = 1, max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new("self.all(r, r == '*' || r.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("assignableRoles: each entry is a WorkspaceRole name (a DNS label) or *"))]
    pub assignable_roles: Vec<String>,
}

impl ManageMembers {
    /// Whether every role may be given.
    pub fn any_role(&self) -> bool {
        self.assignable_roles.iter().any(|r| r == "*")
    }
}

/// One RBAC rule: these verbs on these resources.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
// The operator checks every (group, resource, verb, name) combination against
// the tenant ceiling, as Kubernetes' escalation check does: a bound keeps a
// hostile role from costing the operator seconds of CPU per edit.
#[x_kube(validation = Rule::new("self.apiGroups.size() * self.resources.size() * self.verbs.size() * (has(self.resourceNames) && self.resourceNames.size() > 0 ? self.resourceNames.size() : 1) <= 1024").message("a rule may combine at most 1024 permissions (apiGroups × resources × verbs × resourceNames); split it into several rules"))]
pub struct RoleRule {
    /// API groups of the resources; `""` is the core group, `*` all groups.
    #[schemars(length(min = 1, max = 32), inner(length(max = 253)))]
    pub api_groups: Vec<String>,

    /// Resources (plural, lowercase, optionally `resource/subresource`); `*` all.
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 253)))]
    pub resources: Vec<String>,

    /// Limits the rule to objects with these names.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 253)))]
    pub resource_names: Option<Vec<String>>,

    /// Verbs allowed: get, list, watch, create, update, patch, delete,
    /// deletecollection, or `*`.
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 32)))]
    #[x_kube(validation = Rule::new("self.all(v, v in ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'bind', 'escalate', 'impersonate', 'use', 'approve', 'sign', '*'])").message("verbs must be Kubernetes verbs: get, list, watch, create, update, patch, delete, deletecollection, bind, escalate, impersonate, use, approve, sign or *"))]
    pub verbs: Vec<String>,
}

/// What the operator observed and did for a role.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceRoleStatus {
    /// The ClusterRole that holds this role's permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_role: Option<String>,

    /// How many WorkspaceMembers grant this role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<i32>,

    /// The latest observations of the role's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
