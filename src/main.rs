use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::time::Duration;

use workspace_operator::error::StartupError;
use workspace_operator::{controllers, crds};

/// Manages organizations, workspaces, roles and members declaratively.
#[derive(Parser)]
#[command(name = "workspace-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every controller against the cluster of the current kubeconfig
    /// (or the in-cluster ServiceAccount).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML, or write one file per kind.
    Crds {
        /// Write `<kind>.yaml` files into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Reconciles in flight at once, per kind.
    #[arg(long, env = "WSOP_CONCURRENCY", default_value_t = 8)]
    concurrency: u16,
    /// Most API requests per second the operator sends (client-side limit).
    #[arg(long, env = "WSOP_QPS", default_value_t = 50)]
    qps: u64,
    /// How often a converged object is checked again anyway, in seconds.
    #[arg(long, env = "WSOP_RESYNC_SECONDS", default_value_t = 3600)]
    resync_seconds: u64,
    /// Log format: text or json.
    #[arg(long, env = "WSOP_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(args: RunArgs) -> Result<(), StartupError> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| StartupError::Config(e.to_string()))?;
    // kube-rs has no client-side rate limit of its own: bound it here.
    let limit = tower::limit::RateLimitLayer::new(args.qps.max(1), Duration::from_secs(1));
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| StartupError::Config(e.to_string()))?
        .with_layer(&limit)
        .build();
    controllers::check_crds(&client).await?;
    let settings = controllers::Settings {
        concurrency: args.concurrency.max(1),
        resync: Duration::from_secs(args.resync_seconds.max(10)),
        ..Default::default()
    };
    controllers::run(client, settings).await
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            init_logging(args.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match runtime.block_on(run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
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
