//! What can go wrong, said so that the user knows what to do next.

use std::path::PathBuf;

/// The request a refusal answers, so the error can name the permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub verb: &'static str,
    /// `resource.group`, as kubectl prints it (`workspaces.workspaces.dev`).
    pub resource: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

impl Request {
    pub fn new(verb: &'static str, resource: &str, group: &str) -> Request {
        let resource = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        Request {
            verb,
            resource,
            name: None,
            namespace: None,
        }
    }

    pub fn named(mut self, name: &str) -> Request {
        self.name = Some(name.to_string());
        self
    }

    pub fn within(mut self, namespace: &str) -> Request {
        self.namespace = Some(namespace.to_string());
        self
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns:?}"),
            None => write!(f, " (cluster-wide)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not logged in: {0}")]
    NotLoggedIn(String),
    #[error("not allowed: you may not {request}; the API server said: {message}")]
    Forbidden { request: Request, message: String },
    #[error("no workspace {0} that you may use (see `kubectl workspace list`)")]
    NoSuchWorkspace(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Ambiguous(String),
    /// Refused by RBAC where the refusal has a plain meaning to say instead.
    #[error("{0}")]
    NotShown(String),
    #[error("{0}")]
    Usage(String),
    #[error("refused by the API server ({request}): {message}")]
    Refused { request: Request, message: String },
    #[error("{request} failed: {source}")]
    Api {
        request: Request,
        // Boxed: kube's error is large and this is the rare case.
        #[source]
        source: Box<kube::Error>,
    },
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the output: {0}")]
    Output(String),
}

impl Error {
    /// The error for a failed `request`: who is refused and for what, or not
    /// logged in, or the API server's own words for anything else.
    pub fn from_api(request: Request, error: kube::Error) -> Error {
        match &error {
            kube::Error::Api(status) => match status.code {
                401 => Error::NotLoggedIn(format!(
                    "the API server does not accept your credentials ({}); log in again or check --kubeconfig/--context",
                    status.message
                )),
                // RBAC says "cannot <verb> resource ..."; anything else with
                // 403 is an admission policy speaking: print it as it is.
                403 if status.message.contains("cannot ") => Error::Forbidden {
                    request,
                    message: status.message.clone(),
                },
                403 | 409 | 422 | 400 => Error::Refused {
                    request,
                    message: status.message.clone(),
                },
                404 => Error::NotFound(format!("not found: {request}")),
                _ => Error::Api {
                    request,
                    source: Box::new(error),
                },
            },
            _ => Error::Api {
                request,
                source: Box::new(error),
            },
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }

    pub fn is_forbidden(&self) -> bool {
        matches!(self, Error::Forbidden { .. })
    }

    /// The process exit code: 1 for refusals and lookups, 2 for usage.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> kube::Error {
        let mut s = kube::core::Status::failure(message, "");
        s.code = code;
        kube::Error::Api(Box::new(s))
    }

    #[test]
    fn a_refusal_names_the_missing_permission() {
        let request = Request::new("list", "rolebindings", "rbac.authorization.k8s.io")
            .within("acme--payments");
        let e = Error::from_api(
            request,
            status(403, "User \"bob\" cannot list resource \"rolebindings\""),
        );
        assert!(e.is_forbidden());
        let text = e.to_string();
        assert!(
            text.contains(
                "you may not list rolebindings.rbac.authorization.k8s.io in namespace \"acme--payments\""
            ),
            "{text}"
        );
    }

    #[test]
    fn unauthorized_is_not_logged_in_and_policies_speak_for_themselves() {
        let r = Request::new("get", "workspaces", "workspaces.dev");
        assert!(matches!(
            Error::from_api(r.clone(), status(401, "Unauthorized")),
            Error::NotLoggedIn(_)
        ));
        let policy = Error::from_api(
            r,
            status(
                403,
                "ValidatingAdmissionPolicy 'x' denied request: only roles you may give",
            ),
        );
        assert!(matches!(policy, Error::Refused { .. }));
        assert!(policy.to_string().contains("only roles you may give"));
    }
}
