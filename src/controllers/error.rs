//! Why `workspace-operator run` could not start. (A reconcile's errors are
//! `runtime::pipeline::Error`, by step; below it, `runtime::Error`.)

use thiserror::Error;

/// Why `workspace-operator run` could not start.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),
    #[error(
        "cannot list {plural}.workspaces.dev ({source}); are the CRDs installed? `kubectl apply --server-side -f crds/`"
    )]
    CrdMissing {
        plural: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("the cache of {kind} did not fill: {message}")]
    Cache { kind: &'static str, message: String },
}
