//! The object under reconcile, named once: its organization, name, UID
//! and the namespace it has, as every step of its reconcile refers to it.

use kube::ResourceExt;

use crate::api::Workspace;
use crate::ownership::names::workspace_namespace;

/// Who the object is.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Identity {
    /// The organization it belongs to (the namespace it lives in).
    pub organization: String,
    pub name: String,
    /// Its UID: the owner mark on everything it makes.
    pub uid: String,
    /// The namespace it has of its own (a workspace's `<org>--<name>`).
    pub namespace: String,
}

impl Identity {
    /// A Workspace's identity.
    pub fn of_workspace(ws: &Workspace) -> Self {
        let organization = ws.namespace().unwrap_or_default();
        let name = ws.name_any();
        Identity {
            namespace: workspace_namespace(&organization, &name),
            uid: ws.uid().unwrap_or_default(),
            organization,
            name,
        }
    }
}
