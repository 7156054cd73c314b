//! `use` and `current`: the workspace the kubeconfig context points at is
//! the context's namespace, and nothing else.

use kube::Client;
use kube::api::Api;
use serde::Serialize;

use super::error::{Error, Request, Result};
use super::kubeconfig::{self, Target};
use super::list;
use super::output::{self, Format};
use super::state::State;
use crate::api::{GROUP, Workspace};
use crate::ownership::names;

/// A workspace named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceRef {
    pub organization: String,
    pub workspace: String,
}

impl WorkspaceRef {
    pub fn namespace(&self) -> String {
        names::workspace_namespace(&self.organization, &self.workspace)
    }

    /// The workspace whose namespace `namespace` is, if any.
    pub fn of_namespace(namespace: &str) -> Option<WorkspaceRef> {
        names::split_workspace_namespace(namespace).map(|(org, ws)| WorkspaceRef {
            organization: org.into(),
            workspace: ws.into(),
        })
    }
}

impl std::fmt::Display for WorkspaceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.organization, self.workspace)
    }
}

/// `ORG/WS` as given, or None for a bare `WS`.
pub fn parse_full(text: &str) -> Result<Option<WorkspaceRef>> {
    match text.split_once('/') {
        Some((org, ws)) if !org.is_empty() && !ws.is_empty() && !ws.contains('/') => {
            Ok(Some(WorkspaceRef {
                organization: org.into(),
                workspace: ws.into(),
            }))
        }
        Some(_) => Err(Error::Usage(format!(
            "{text:?}: name a workspace as ORG/WS or WS"
        ))),
        None if text.is_empty() => Err(Error::Usage("an empty workspace name".into())),
        None => Ok(None),
    }
}

/// The one workspace the caller can use called `name`: an error when
/// there is none, or several (listing them).
pub fn unique(rows: &[list::Listed], name: &str) -> Result<WorkspaceRef> {
    let matching: Vec<WorkspaceRef> = rows
        .iter()
        .filter(|r| r.workspace == name)
        .map(|r| WorkspaceRef {
            organization: r.organization.clone(),
            workspace: r.workspace.clone(),
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::NoSuchWorkspace(name.into())),
        several => Err(Error::Ambiguous(format!(
            "{name:?} is a workspace of several organizations; name one of: {}",
            several
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Reads the Workspace: it exists and the caller may use it.
pub async fn check(client: &Client, target: &WorkspaceRef) -> Result<Workspace> {
    let ns = names::organization_namespace(&target.organization);
    let request = Request::new("get", "workspaces", GROUP)
        .named(&target.workspace)
        .within(&ns);
    match Api::<Workspace>::namespaced(client.clone(), &ns)
        .get(&target.workspace)
        .await
    {
        Ok(ws) => Ok(ws),
        Err(e) => match Error::from_api(request, e) {
            // The authorizer hides what the caller may not read: both
            // answers mean "not one of yours".
            e if e.is_not_found() || e.is_forbidden() => {
                Err(Error::NoSuchWorkspace(target.to_string()))
            }
            e => Err(e),
        },
    }
}

/// What `use` and `current` report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub context: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

impl Location {
    fn of(context: &str, namespace: Option<&str>) -> Location {
        let ws = namespace.and_then(WorkspaceRef::of_namespace);
        Location {
            context: context.into(),
            namespace: namespace.map(String::from),
            organization: ws.as_ref().map(|w| w.organization.clone()),
            workspace: ws.map(|w| w.workspace),
        }
    }

    fn describe(&self) -> String {
        match (&self.organization, &self.workspace, &self.namespace) {
            (Some(org), Some(ws), Some(ns)) => format!(
                "context {:?} is in workspace {org}/{ws} (namespace {ns})",
                self.context
            ),
            (_, _, Some(ns)) => format!(
                "context {:?} is in namespace {ns}, not a workspace's",
                self.context
            ),
            _ => format!(
                "context {:?} has no namespace (default), not a workspace's",
                self.context
            ),
        }
    }
}

/// `use ORG/WS`, `use WS`, `use -`.
pub async fn use_workspace(target: &Target, given: &str, format: Format) -> Result<()> {
    let file = target.file_defining_context()?;
    let state = State::of_user()?;
    let current = target.namespace.as_deref();
    let next: Option<String> = if given == "-" {
        state.previous(&file, &target.context).ok_or_else(|| {
            Error::Usage(format!(
                "no earlier namespace to go back to for context {:?} of {}",
                target.context,
                file.display()
            ))
        })?
    } else {
        let client = target.client().await?;
        let wanted = match parse_full(given)? {
            Some(full) => full,
            None => unique(&list::discover(&client, false).await?, given)?,
        };
        check(&client, &wanted).await?;
        // Always the name the operator derives, never what a status says:
        // whoever can write a Workspace's status could otherwise point the
        // user's kubeconfig at any namespace.
        Some(wanted.namespace())
    };
    state.remember(&file, &target.context, current)?;
    kubeconfig::edit_namespace(&file, &target.context, next.as_deref())?;
    let now = Location::of(&target.context, next.as_deref());
    let line = match (&now.organization, &now.workspace) {
        (Some(org), Some(ws)) => format!(
            "Switched to workspace {org}/{ws}: context {:?} now uses namespace {}.",
            target.context,
            next.as_deref().unwrap_or_default()
        ),
        _ => format!(
            "Switched back: context {:?} now uses namespace {}.",
            target.context,
            next.as_deref().unwrap_or("default (none set)")
        ),
    };
    output::print_one(format, &now, &line)
}

/// `current`: where the context points; an error when that is not a
/// workspace's namespace.
pub fn current(target: &Target, format: Format) -> Result<()> {
    let here = Location::of(&target.context, target.namespace.as_deref());
    match (&here.organization, &here.workspace) {
        (Some(org), Some(ws)) => output::print_one(format, &here, &format!("{org}/{ws}")),
        _ => Err(Error::NotFound(here.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(org: &str, ws: &str) -> list::Listed {
        list::Listed {
            organization: org.into(),
            workspace: ws.into(),
            roles: vec![],
            phase: None,
            expires_at: None,
            namespace: names::workspace_namespace(org, ws),
            members: vec![],
        }
    }

    #[test]
    fn a_bare_name_must_be_unambiguous() {
        let rows = [row("acme", "lab"), row("globex", "lab"), row("acme", "pay")];
        assert_eq!(unique(&rows, "pay").unwrap().to_string(), "acme/pay");
        let e = unique(&rows, "lab").unwrap_err().to_string();
        assert!(e.contains("acme/lab, globex/lab"), "{e}");
        assert!(matches!(
            unique(&rows, "nope"),
            Err(Error::NoSuchWorkspace(_))
        ));
        assert_eq!(
            parse_full("acme/lab").unwrap().unwrap().namespace(),
            "acme--lab"
        );
        assert_eq!(parse_full("lab").unwrap(), None);
        assert!(parse_full("acme/").is_err() && parse_full("a/b/c").is_err());
    }

    #[test]
    fn current_tells_workspace_namespaces_apart() {
        let l = Location::of("ctx", Some("acme--lab"));
        assert_eq!(
            (l.organization.as_deref(), l.workspace.as_deref()),
            (Some("acme"), Some("lab"))
        );
        assert!(
            Location::of("ctx", Some("kube-system"))
                .describe()
                .contains("not a workspace's")
        );
        assert!(
            Location::of("ctx", None)
                .describe()
                .contains("no namespace")
        );
    }
}
