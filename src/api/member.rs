//! WorkspaceMember: one subject's membership in one workspace.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Subject, conditions_schema};
use super::names;

/// One subject's membership in one workspace, with roles and an optional expiry.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "workspaces.dev",
    version = "v1alpha1",
    kind = "WorkspaceMember",
    plural = "workspacemembers",
    shortname = "wsm",
    category = "tenancy",
    namespaced,
    status = "WorkspaceMemberStatus",
    derive = "PartialEq",
    doc = "Links a User, Group or ServiceAccount to one workspace with one or more WorkspaceRoles, optionally until an expiry. Lives in the organization's namespace.",
    printcolumn(name = "Workspace", type_ = "string", json_path = ".spec.workspace"),
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.subject.kind"),
    printcolumn(name = "Subject", type_ = "string", json_path = ".spec.subject.name"),
    printcolumn(name = "Roles", type_ = "string", json_path = ".spec.roles"),
    printcolumn(name = "Granted", type_ = "string", json_path = ".status.grantedRoles"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expiresAt"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    validation = Rule::new(names::MEMBER_OBJECT_NAME_RULE).message(names::MEMBER_OBJECT_NAME_MESSAGE)
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceMemberSpec {
    /// Name of the Workspace (in this namespace) the subject is a member of.
    /// Cannot change: create a new WorkspaceMember instead.
    #[schemars(length(min = 1, max = 31))]
    #[x_kube(validation = Rule::new(names::WORKSPACE_NAME_RULE).message(names::WORKSPACE_NAME_MESSAGE))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("workspace cannot change: create a new WorkspaceMember for the other workspace and delete this one"))]
    pub workspace: String,

    /// Who the member is. Cannot change: create a new WorkspaceMember instead.
    #[x_kube(validation = Rule::new("self == oldSelf").message("subject cannot change: create a new WorkspaceMember for the other subject and delete this one"))]
    pub subject: Subject,

    /// Names of the WorkspaceRoles (in this namespace) granted in the
    /// workspace. Several roles add up.
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    #[x_kube(validation = Rule::new("self.all(r, r.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("role names must be DNS labels: lowercase letters, digits and '-'"))]
    pub roles: Vec<String>,

    /// When the membership ends by itself (RFC 3339, for example
    /// `2027-01-31T00:00:00Z`). The access is removed at that moment and the
    /// phase becomes Expired. Leave out for a membership without end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
}

/// Where a membership is in its life.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MemberPhase {
    /// Grants nothing yet: waiting for its workspace or its roles.
    Pending,
    /// At least one role is granted (`grantedRoles` says which; the Ready
    /// condition names any that are not).
    Active,
    /// `expiresAt` has passed; the access is removed.
    Expired,
    /// Grants nothing, and waiting will not help (its roles are unknown or
    /// refused, its subject is not allowed): see the Ready condition.
    Failed,
}

/// What the operator observed and did for a membership.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceMemberStatus {
    /// Where the membership is in its life.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<MemberPhase>,

    /// The namespace where the member's RoleBindings live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// The roles currently granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granted_roles: Option<Vec<String>>,

    /// The UID of the Workspace the membership was granted in. A workspace
    /// deleted and made again under the same name is another workspace:
    /// this membership grants nothing there (Ready reason
    /// WorkspaceRecreated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_uid: Option<String>,

    /// The latest observations of the membership's state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
