//! `berth compose`: multi-container projects from compose files, as a client of the Docker
//! Engine API (like docker compose v2), so it drives berthd and dockerd alike. The model,
//! interpolation, merge, validation and planning are the `compose` crate's; this module is
//! the command line and the calls to the daemon.

mod api;
mod down;
mod info;
mod logs;
mod run;
mod up;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use crate::client::Client;

/// `berth compose [-f FILE…] [-p NAME] [--project-directory DIR] [--env-file F] [--profile P] COMMAND`.
#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// Compose configuration files
    #[arg(short = 'f', long = "file", value_name = "stringArray")]
    pub files: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "string")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the first compose file's directory)
    #[arg(long = "project-directory", value_name = "string")]
    pub project_directory: Option<String>,
    /// Alternate environment files
    #[arg(long = "env-file", value_name = "stringArray")]
    pub env_files: Vec<String>,
    /// Profiles to enable
    #[arg(long = "profile", value_name = "stringArray")]
    pub profiles: Vec<String>,
    /// The compose command.
    #[command(subcommand)]
    pub command: ComposeCommand,
}

/// The compose verbs.
#[derive(Subcommand, Debug)]
pub enum ComposeCommand {
    /// Create and start containers
    Up(up::UpArgs),
    /// Stop and remove containers, networks
    Down(down::DownArgs),
    /// List containers
    Ps(info::PsArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// Parse, resolve and render the compose file in canonical format
    Config(info::ConfigArgs),
    /// Build or rebuild services
    Build(up::BuildArgs),
    /// Pull service images
    Pull(Services),
    /// Start services
    Start(Services),
    /// Stop services
    Stop(down::StopArgs),
    /// Restart service containers
    Restart(down::StopArgs),
    /// Force stop service containers
    Kill(down::KillArgs),
    /// Removes stopped service containers
    Rm(down::RmArgs),
    /// Execute a command in a running container
    Exec(run::ExecArgs),
    /// Run a one-off command on a service
    Run(run::RunArgs),
    /// Display the running processes
    Top(Services),
    /// List images used by the created containers
    Images(Services),
    /// Print the public port for a port binding
    Port(info::PortArgs),
}

/// Just a list of services (all when empty).
#[derive(Args, Debug)]
pub struct Services {
    /// Services (default: all)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Loads the project the global flags describe.
fn load(args: &ComposeArgs) -> Result<compose::Project> {
    let opts = compose::Options {
        files: args.files.iter().map(PathBuf::from).collect(),
        project_name: args.project_name.clone(),
        project_dir: args.project_directory.as_ref().map(PathBuf::from),
        env_files: args.env_files.iter().map(PathBuf::from).collect(),
        profiles: args.profiles.clone(),
    };
    let shell: indexmap::IndexMap<String, String> = std::env::vars().collect();
    let cwd = std::env::current_dir()?;
    let p = compose::load(&opts, &shell, &cwd)?;
    for w in &p.warnings {
        eprintln!("WARN[0000] {}: {w}", p.files[0].display());
    }
    Ok(p)
}

/// Checks that every named service exists (an empty list means all of them).
fn selected(p: &compose::Project, names: &[String]) -> Result<Vec<String>> {
    for n in names {
        if !p.model.services.contains_key(n) {
            if p.disabled.contains(n) {
                bail!("service {n:?} is in an inactive profile: enable it with --profile");
            }
            bail!("no such service: {n}");
        }
    }
    Ok(if names.is_empty() {
        p.model.services.keys().cloned().collect()
    } else {
        names.to_vec()
    })
}

/// Runs one `berth compose` command.
pub async fn compose(client: Arc<Client>, args: ComposeArgs) -> Result<i32> {
    let project = load(&args)?;
    let p = &project;
    match args.command {
        ComposeCommand::Up(a) => up::up(&client, p, a).await,
        ComposeCommand::Down(a) => down::down(&client, p, a).await,
        ComposeCommand::Ps(a) => info::ps(&client, p, a).await,
        ComposeCommand::Logs(a) => logs::logs(&client, p, a).await,
        ComposeCommand::Config(a) => info::config(p, a),
        ComposeCommand::Build(a) => up::build_cmd(&client, p, a).await,
        ComposeCommand::Pull(a) => up::pull_cmd(&client, p, a).await,
        ComposeCommand::Start(a) => up::start_cmd(&client, p, a).await,
        ComposeCommand::Stop(a) => down::stop_cmd(&client, p, a, false).await,
        ComposeCommand::Restart(a) => down::stop_cmd(&client, p, a, true).await,
        ComposeCommand::Kill(a) => down::kill_cmd(&client, p, a).await,
        ComposeCommand::Rm(a) => down::rm_cmd(&client, p, a).await,
        ComposeCommand::Exec(a) => run::exec(client.clone(), p, a).await,
        ComposeCommand::Run(a) => run::run(client.clone(), p, a).await,
        ComposeCommand::Top(a) => info::top(&client, p, a).await,
        ComposeCommand::Images(a) => info::images(&client, p, a).await,
        ComposeCommand::Port(a) => info::port(&client, p, a).await,
    }
}
