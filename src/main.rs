use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use workspace_operator::crds;

/// Manages organizations, workspaces, roles and members declaratively.
#[derive(Parser)]
#[command(name = "workspace-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write one file per kind.
    Crds {
        /// Write `<kind>.yaml` files into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds { write: None } => {
            print!("{}", crds::all_yaml());
            ExitCode::SUCCESS
        }
        Command::Crds { write: Some(dir) } => {
            for (file, crd) in crds::all() {
                let path = dir.join(file);
                if let Err(err) = std::fs::write(&path, crds::to_yaml(&crd)) {
                    eprintln!("cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("workspace-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}
