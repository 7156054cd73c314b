//! Access reviews: what the API server's authorizer says a user may do,
//! asked with that user's own credentials (SelfSubjectAccessReview).

use std::fmt;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

/// One question for the authorizer: may the asking user `verb` this?
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ask {
    pub verb: String,
    pub group: String,
    /// `resource` or `resource/subresource`.
    pub resource: String,
    pub name: Option<String>,
    /// None: cluster-wide (a ClusterRoleBinding would be needed).
    pub namespace: Option<String>,
}

impl Ask {
    pub fn new(verb: &str, group: &str, resource: &str) -> Ask {
        Ask {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            name: None,
            namespace: None,
        }
    }

    pub fn named(mut self, name: &str) -> Ask {
        self.name = Some(name.into());
        self
    }

    pub fn within(mut self, namespace: &str) -> Ask {
        self.namespace = Some(namespace.into());
        self
    }

    /// `verb` on the Namespace object `ns` itself, as the API server files
    /// such a request: a namespaced grant of `namespaces` inside `ns` applies
    /// to `ns`, so the review names `ns` as its own namespace.
    pub fn the_namespace(verb: &str, ns: &str) -> Ask {
        Ask::new(verb, "", "namespaces").named(ns).within(ns)
    }
}

impl fmt::Display for Ask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{} {group}/{}", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, " named {name}")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in {ns}"),
            None => write!(f, " cluster-wide"),
        }
    }
}

/// Whether `client`'s user may do `ask`, as the API server decides for that
/// user (SelfSubjectAccessReview with the user's own credentials).
pub async fn may(client: &Client, ask: &Ask) -> bool {
    let (resource, subresource) = match ask.resource.split_once('/') {
        Some((r, s)) => (r.to_string(), Some(s.to_string())),
        None => (ask.resource.clone(), None),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(ask.group.clone()),
                resource: Some(resource),
                subresource,
                verb: Some(ask.verb.clone()),
                name: ask.name.clone(),
                namespace: ask.namespace.clone(),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap_or_else(|e| panic!("access review {ask}: {e}"))
        .status
        .is_some_and(|s| s.allowed)
}

/// Whether `client`'s user may `verb` the Namespace `ns` itself, by a grant
/// inside it or a cluster-wide one.
pub async fn may_on_namespace(client: &Client, verb: &str, ns: &str) -> bool {
    may(client, &Ask::the_namespace(verb, ns)).await
        || may(client, &Ask::new(verb, "", "namespaces").named(ns)).await
}
