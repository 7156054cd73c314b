//! Errors of the reconcilers. Each has a stable `category()`, used as the
//! metric label and the Event reason.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a request: usually transient.
    #[error("Kubernetes API request failed while {action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// The object's spec cannot be carried out as written; waits for a change.
    #[error("{message}")]
    Spec {
        reason: &'static str,
        message: String,
    },
    /// Something the object needs is held by someone else; waits for a change.
    #[error("{message}")]
    Conflict {
        reason: &'static str,
        message: String,
    },
    /// Something the object needs is not there yet (a role's ClusterRole):
    /// looked at again soon, and when it appears; no error backoff.
    #[error("{message}")]
    Waiting {
        reason: &'static str,
        message: String,
    },
    /// The object could not be decoded (a schema the operator does not know).
    #[error("object cannot be decoded: {0}")]
    InvalidObject(String),
}

impl Error {
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let action = action.into();
        move |source| Error::Kube { action, source }
    }

    /// PascalCase, stable: the metric label and the Event reason.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "ApiError",
            Error::Spec { reason, .. }
            | Error::Conflict { reason, .. }
            | Error::Waiting { reason, .. } => reason,
            Error::InvalidObject(_) => "InvalidObject",
        }
    }

    /// Whether retrying without a change can help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Kube { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
