//! `kubectl workspace`: the kubectl plugin for workspace users (binary
//! `kubectl-workspace`). Find the workspaces you can use, switch the
//! kubeconfig context to one, see who has access and what your roles
//! allow, invite and remove.
//!
//! It talks to the API server only with the caller's own credentials and
//! needs no server of its own. It uses `api` and `ownership` (marks and
//! names), never the controllers or the runtime.

pub mod error;
pub mod expiry;
pub mod identity;
pub mod kubeconfig;
pub mod list;
pub mod members;
pub mod membership;
pub mod output;
pub mod roles;
pub mod state;
pub mod subject;
pub mod switch;
pub mod usage;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use error::{Error, Result};
use output::Format;
use switch::WorkspaceRef;

/// Find, enter and share the workspaces you can use.
#[derive(Parser, Debug)]
#[command(
    name = "kubectl-workspace",
    bin_name = "kubectl workspace",
    version,
    after_help = "Examples:\n  kubectl workspace list\n  kubectl workspace use acme/payments\n  kubectl workspace use -\n  kubectl workspace members\n  kubectl workspace roles\n  kubectl workspace usage\n  kubectl workspace usage --organization\n  kubectl workspace invite user:bob --role editor --expires 7d\n  kubectl workspace remove user:bob"
)]
pub struct Cli {
    /// Path to the kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Every workspace you can use, across organizations: your roles, its
    /// phase, when your access expires, its namespace.
    #[command(visible_alias = "ls")]
    List {
        /// Also every workspace of the organizations where you may list
        /// workspaces (organization admins), and of every organization you
        /// may list (platform admins).
        #[arg(long)]
        all: bool,
    },
    /// Point the kubeconfig context at a workspace's namespace (`-` goes
    /// back to where it was before).
    Use {
        /// ORG/WS, or WS when only one of your workspaces has that name, or -.
        #[arg(value_name = "ORG/WS|WS|-", allow_hyphen_values = true)]
        workspace: String,
    },
    /// The workspace the kubeconfig context points at.
    Current,
    /// Who has access to a workspace and through what.
    Members {
        /// ORG/WS or WS (default: the current namespace's workspace).
        #[arg(value_name = "ORG/WS|WS")]
        workspace: Option<String>,
    },
    /// What each of your roles in a workspace lets you do, the limits of its
    /// plan and what is used of them, and whether it is archived.
    Roles {
        /// ORG/WS or WS (default: the current namespace's workspace).
        #[arg(value_name = "ORG/WS|WS")]
        workspace: Option<String>,
    },
    /// What a workspace's plan gives and what is used of it; with
    /// --organization, the organization's totals, what is left of its
    /// budget and each workspace's use (organization admins).
    Usage {
        /// ORG/WS or WS (default: the current namespace's workspace).
        #[arg(value_name = "ORG/WS|WS", conflicts_with = "organization")]
        workspace: Option<String>,
        /// An organization's usage (default: the current namespace's organization).
        #[arg(long, value_name = "ORG", num_args = 0..=1, default_missing_value = "")]
        organization: Option<String>,
    },
    /// Make someone a member of a workspace (creates or updates its
    /// WorkspaceMember).
    Invite {
        /// user:NAME (or just NAME), group:NAME, serviceaccount:NAMESPACE:NAME.
        subject: String,
        /// A WorkspaceRole to give (repeat for several).
        #[arg(long = "role", short = 'r', required = true, value_name = "ROLE")]
        roles: Vec<String>,
        /// When the membership ends: 12h, 7d, 2w, 2027-01-31 or an RFC 3339 time.
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
        /// ORG/WS or WS (default: the current namespace's workspace).
        #[arg(short = 'w', long, value_name = "ORG/WS|WS")]
        workspace: Option<String>,
        /// Take over fields another manager (GitOps, kubectl apply) set.
        #[arg(long)]
        force: bool,
    },
    /// End someone's membership of a workspace (deletes its WorkspaceMembers).
    Remove {
        /// user:NAME (or just NAME), group:NAME, serviceaccount:NAMESPACE:NAME.
        subject: String,
        /// ORG/WS or WS (default: the current namespace's workspace).
        #[arg(short = 'w', long, value_name = "ORG/WS|WS")]
        workspace: Option<String>,
    },
}

/// The workspace a command names, or the one of the current namespace.
async fn resolve(
    target: &kubeconfig::Target,
    client: &kube::Client,
    given: Option<&str>,
) -> Result<WorkspaceRef> {
    let here = target
        .namespace
        .as_deref()
        .and_then(WorkspaceRef::of_namespace);
    match given {
        Some(text) => match switch::parse_full(text)? {
            Some(full) => Ok(full),
            // A bare name: in the current organization, else the one
            // workspace of that name the caller can use.
            None => match here {
                Some(h) => Ok(WorkspaceRef {
                    organization: h.organization,
                    workspace: text.to_string(),
                }),
                None => switch::unique(&list::discover(client, false).await?, text),
            },
        },
        None => here.ok_or_else(|| {
            Error::Usage(format!(
                "context {:?} is not in a workspace namespace ({}): name the workspace (ORG/WS), or `kubectl workspace use` one first",
                target.context,
                target.namespace.as_deref().unwrap_or("default")
            ))
        }),
    }
}

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<()> {
    let selection = kubeconfig::Selection {
        kubeconfig: cli.kubeconfig.clone(),
        context: cli.context.clone(),
    };
    let target = kubeconfig::load(&selection)?;
    let format = cli.output;
    match cli.command {
        Command::Current => switch::current(&target, format),
        Command::Use { workspace } => switch::use_workspace(&target, &workspace, format).await,
        Command::List { all } => {
            let client = target.client().await?;
            let rows = list::discover(&client, all).await?;
            output::print(format, &rows, "No workspaces found that you can use.")
        }
        Command::Members { workspace } => {
            let client = target.client().await?;
            let ws = resolve(&target, &client, workspace.as_deref()).await?;
            let rows = members::members(&client, &ws).await?;
            output::print(format, &rows, &format!("Nobody has access to {ws}."))
        }
        Command::Roles { workspace } => {
            let client = target.client().await?;
            let ws = resolve(&target, &client, workspace.as_deref()).await?;
            roles::print(format, &roles::roles(&client, &ws).await?)
        }
        Command::Usage {
            workspace,
            organization: Some(org),
        } if workspace.is_none() => {
            let client = target.client().await?;
            let org = match org.as_str() {
                "" => resolve(&target, &client, None).await?.organization,
                named => named.to_string(),
            };
            usage::print_organization(format, &usage::organization(&client, &org).await?)
        }
        Command::Usage { workspace, .. } => {
            let client = target.client().await?;
            let ws = resolve(&target, &client, workspace.as_deref()).await?;
            let rows = usage::workspace(&client, &ws).await?;
            output::print(format, &rows, &format!("The quota of {ws} limits nothing."))
        }
        Command::Invite {
            subject,
            roles,
            expires,
            workspace,
            force,
        } => {
            let who = subject::parse(&subject)?;
            let expires_at = expires
                .as_deref()
                .map(|e| expiry::parse(e, jiff::Timestamp::now()))
                .transpose()?;
            let client = target.client().await?;
            let ws = resolve(&target, &client, workspace.as_deref()).await?;
            let done = membership::invite(&client, &ws, &who, &roles, expires_at, force).await?;
            let until = done
                .expires_at
                .as_deref()
                .map(|t| format!(" until {t}"))
                .unwrap_or_default();
            let line = format!(
                "{} invited to {ws} as {}{until} (WorkspaceMember {}/{}).",
                done.subject,
                done.roles.join(", "),
                ws.organization,
                done.member
            );
            output::print_one(format, &done, &line)
        }
        Command::Remove { subject, workspace } => {
            let who = subject::parse(&subject)?;
            let client = target.client().await?;
            let ws = resolve(&target, &client, workspace.as_deref()).await?;
            let done = membership::remove(&client, &ws, &who).await?;
            let line = format!(
                "{} removed from {ws} (WorkspaceMember {} deleted).",
                done.subject,
                done.members.join(", ")
            );
            output::print_one(format, &done, &line)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "kubectl-workspace",
            "invite",
            "group:devs",
            "--role",
            "editor",
            "-r",
            "viewer",
            "-w",
            "acme/lab",
            "-o",
            "json",
            "--context",
            "c",
        ])
        .unwrap();
        assert_eq!(cli.output, Format::Json);
        assert_eq!(cli.context.as_deref(), Some("c"));
        match cli.command {
            Command::Invite {
                roles, workspace, ..
            } => {
                assert_eq!(roles, vec!["editor", "viewer"]);
                assert_eq!(workspace.as_deref(), Some("acme/lab"));
            }
            other => panic!("{other:?}"),
        }
        let back = Cli::try_parse_from(["kubectl-workspace", "use", "-"]).unwrap();
        assert!(matches!(back.command, Command::Use { workspace } if workspace == "-"));
        assert!(
            Cli::try_parse_from(["kubectl-workspace", "invite", "bob"]).is_err(),
            "a role is required"
        );
    }
}
