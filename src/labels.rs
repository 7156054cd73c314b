//! Labels and annotations the operator puts on what it makes: its ownership
//! marks. Nothing is deleted unless it carries the marks of that very object.

use std::collections::BTreeMap;

/// The one field manager for every server-side apply.
pub const FIELD_MANAGER: &str = "workspace-operator";
/// The finalizer on Organizations, Workspaces, WorkspaceRoles and WorkspaceMembers.
pub const FINALIZER: &str = "workspaces.dev/cleanup";

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "workspace-operator";
pub const ORGANIZATION: &str = "workspaces.dev/organization";
pub const WORKSPACE: &str = "workspaces.dev/workspace";
/// The UID of the object that made this one: the proof of ownership.
pub const OWNER_UID: &str = "workspaces.dev/owner-uid";
/// What the object is for (namespace, access, quota, ...), so a controller can
/// list exactly the children of one kind it made.
pub const COMPONENT: &str = "workspaces.dev/component";
/// On a Workspace: the organization's protected default workspace.
pub const DEFAULT_WORKSPACE: &str = "workspaces.dev/default";
/// On a WorkspaceRole: one of the predefined roles, kept as defined.
pub const PREDEFINED: &str = "workspaces.dev/predefined";

/// Selects everything this operator made.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE}")
}

/// The marks on every child of an organization (`workspace` None) or of a
/// workspace.
pub fn child_labels(
    organization: &str,
    workspace: Option<&str>,
    owner_uid: &str,
    component: &str,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (ORGANIZATION.to_string(), organization.to_string()),
        (OWNER_UID.to_string(), owner_uid.to_string()),
        (COMPONENT.to_string(), component.to_string()),
    ]);
    if let Some(ws) = workspace {
        labels.insert(WORKSPACE.to_string(), ws.to_string());
    }
    labels
}

/// Whether `labels` prove the object was made by the owner with `owner_uid`.
pub fn is_owned_by(labels: Option<&BTreeMap<String, String>>, owner_uid: &str) -> bool {
    labels.is_some_and(|l| {
        l.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
            && l.get(OWNER_UID).map(String::as_str) == Some(owner_uid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_needs_both_marks_and_the_same_uid() {
        let labels = child_labels("acme", Some("pay"), "uid-1", "namespace");
        assert!(is_owned_by(Some(&labels), "uid-1"));
        assert!(
            !is_owned_by(Some(&labels), "uid-2"),
            "a recreated owner is not the owner"
        );
        let mut forged = labels.clone();
        forged.remove(MANAGED_BY);
        assert!(!is_owned_by(Some(&forged), "uid-1"));
        assert!(!is_owned_by(None, "uid-1"));
    }
}
