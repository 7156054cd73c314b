//! What can go wrong below the controllers: a request, or a name held by
//! someone else, or a child on its way out. Each has a stable `category()`,
//! used as the metric label and the status reason.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a request: usually transient.
    #[error("Kubernetes API request failed while {action}: {source}")]
    Request {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// A name the operator needs is held by an object it did not make for
    /// this owner: never taken over, looked at again now and then (the
    /// other object may go).
    #[error("{message}")]
    NotOwned {
        reason: &'static str,
        message: String,
    },
    /// A child is being deleted by someone else: made again once it is gone.
    #[error("{kind} {name} is being deleted; it is made again once it is gone")]
    BeingDeleted { kind: String, name: String },
    /// What the caches said turned out stale when checked against the API
    /// server: looked at again shortly, once they caught up.
    #[error("{message}")]
    Waiting {
        reason: &'static str,
        message: String,
    },
}

impl Error {
    /// An `Error::Request` for `action`, to use with `map_err`.
    pub fn request(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let action = action.into();
        move |source| Error::Request { action, source }
    }

    /// PascalCase, stable: the metric label and the status reason.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Request { .. } => "ApiError",
            Error::NotOwned { reason, .. } => reason,
            Error::BeingDeleted { .. } => "ChildBeingDeleted",
            Error::Waiting { reason, .. } => reason,
        }
    }

    /// Whether retrying without any change can help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Request { .. })
    }

    /// The HTTP status the API server answered with, if it answered.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Request {
                source: kube::Error::Api(s),
                ..
            } => Some(s.code),
            _ => None,
        }
    }

    /// Whether the API server refused the write for good (invalid, or
    /// forbidden by RBAC or an admission policy): asking again without a
    /// change cannot help.
    pub fn is_refusal(&self) -> bool {
        matches!(self.status_code(), Some(400 | 403 | 422))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
