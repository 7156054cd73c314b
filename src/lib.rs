//! workspace-operator: organizations, workspaces, roles and members as
//! Kubernetes objects, turned into namespaces, RBAC, quotas, network
//! isolation and shared credentials.

pub mod api;
pub mod apply;
pub mod conditions;
pub mod controllers;
pub mod crds;
pub mod error;
pub mod labels;
pub mod leader;
pub mod metrics;
pub mod resources;
