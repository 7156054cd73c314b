//! workspace-operator: organizations, workspaces, roles and members as
//! Kubernetes objects, turned into namespaces, RBAC, quotas, network
//! isolation and shared credentials.
//!
//! Rooms, from the bottom up (arrows point down only; docs/architecture.md):
//! `api` (the four kinds) ← `ownership` (marks and derived names) ←
//! `resources` (pure: decide and build) ← `runtime` (caches, applying,
//! the reconcile driver, leader election, metrics) ← `controllers` ← main.
//! `plugin` (the `kubectl workspace` binary) uses only `api` and `ownership`.
//! `conditions` and `digest` sit below them all.

pub mod api;
#[cfg(test)]
mod architecture_tests;
pub mod conditions;
pub mod controllers;
pub mod crds;
pub mod digest;
pub mod ownership;
pub mod plugin;
pub mod resources;
pub mod runtime;
