//! The `workspaces.dev/v1alpha1` API: one module per kind, plus shared types.

// Several `printcolumn(type_ = "string", ...)` in one #[kube] attribute look
// like duplicates to clippy; they are distinct columns.
#![allow(clippy::duplicated_attributes)]

pub mod common;
pub mod guardrails;
pub mod member;
pub mod names;
pub mod organization;
pub mod role;
pub mod workspace;

pub use common::{QuantityValue, Subject, SubjectKind};
pub use member::{MemberPhase, WorkspaceMember, WorkspaceMemberSpec, WorkspaceMemberStatus};
pub use organization::{Organization, OrganizationSpec, OrganizationStatus};
pub use role::{WorkspaceRole, WorkspaceRoleSpec, WorkspaceRoleStatus};
pub use workspace::{Workspace, WorkspacePhase, WorkspaceSpec, WorkspaceStatus};

/// The API group of every kind.
pub const GROUP: &str = "workspaces.dev";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";
