//! `berth`: the docker-compatible command line client of berthd.

mod cli;
mod client;
mod cmd;
mod format;
mod stream;
mod template;
mod term;
mod transport;

use std::sync::Arc;

use clap::Parser;

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand, VolumeCommand};
use crate::client::{resolve_host, Client, ConnectError};
use crate::cmd::container::RunError;

/// Ends the process with this status after the message (if any) was printed.
#[derive(Debug)]
pub struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

fn dispatch(
    client: Arc<Client>,
    command: Command,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<i32>>>> {
    Box::pin(dispatch_inner(client, command))
}

async fn dispatch_inner(client: Arc<Client>, command: Command) -> anyhow::Result<i32> {
    use cmd::*;
    match command {
        Command::Run(a) => container::run_cmd(client, a).await,
        Command::Create(a) => container::create_cmd(&client, a).await,
        Command::Start(a) => container::start_cmd(client, a).await,
        Command::Ps(a) => ps::ps(&client, a).await,
        Command::Logs(a) => logs::logs(&client, a).await,
        Command::Exec(a) => exec::exec(client, a).await,
        Command::Stop(a) => manage::stop(&client, a).await,
        Command::Kill(a) => manage::kill(&client, a).await,
        Command::Rm(a) => manage::rm(&client, a).await,
        Command::Wait(a) => manage::wait(&client, a).await,
        Command::Inspect(a) => inspect::inspect(&client, a).await,
        Command::Images(a) => images::images(&client, a).await,
        Command::Rmi(a) => images::rmi(&client, a).await,
        Command::Import(a) => images::import(&client, a).await,
        Command::Build(a) => cmd::build::build(&client, a).await,
        Command::Tag(a) => images::tag(&client, a).await,
        Command::Restart(a) => extra::restart(&client, a).await,
        Command::Pause(a) => extra::pause(&client, a, "pause").await,
        Command::Unpause(a) => extra::pause(&client, a, "unpause").await,
        Command::Rename(a) => extra::rename(&client, a).await,
        Command::Top(a) => extra::top(&client, a).await,
        Command::Port(a) => extra::port(&client, a).await,
        Command::Attach(a) => extra::attach(client, a).await,
        Command::Container(c) => container_verb(client, c).await,
        Command::Image(c) => image_verb(client, c).await,
        Command::Volume(c) => match c {
            VolumeCommand::Create(a) => volume::create(&client, a).await,
            VolumeCommand::Ls(a) => volume::ls(&client, a).await,
            VolumeCommand::Inspect(a) => volume::inspect(&client, a).await,
            VolumeCommand::Rm(a) => volume::rm(&client, a).await,
            VolumeCommand::Prune(a) => volume::prune(&client, a).await,
        },
        Command::Network(c) => crate::cmd::network::run(&client, c).await,
        Command::Pull(a) => registry::pull(&client, a).await,
        Command::Push(a) => registry::push(&client, a).await,
        Command::Login(a) => registry::login(&client, a).await,
        Command::Logout(a) => registry::logout(a),
        Command::Save(a) => registry::save(&client, a).await,
        Command::Load(a) => registry::load(&client, a).await,
        Command::Export(a) => registry::export(&client, a).await,
        Command::Cp(a) => cp::cp(&client, a).await,
        Command::Commit(a) => commit::commit(&client, a).await,
        Command::Diff(a) => commit::diff(&client, a).await,
        Command::History(a) => registry::history(&client, a).await,
        Command::Update(a) => update::update(&client, a).await,
        Command::Stats(a) => stats::stats(client, a).await,
        Command::System(c) => sysdf::run(&client, c).await,
        Command::Events(a) => sysdf::events(&client, a).await,
        Command::Registry(c) => registry::registry(c).await,
        Command::Compose(a) => compose::compose(client, a).await,
        Command::Version => system::version(&client).await,
        Command::Info => system::info(&client).await,
    }
}

async fn container_verb(client: Arc<Client>, c: ContainerCommand) -> anyhow::Result<i32> {
    use cmd::*;
    match c {
        ContainerCommand::Ls(a) => dispatch(client, Command::Ps(a)).await,
        ContainerCommand::Run(a) => dispatch(client, Command::Run(a)).await,
        ContainerCommand::Create(a) => dispatch(client, Command::Create(a)).await,
        ContainerCommand::Start(a) => dispatch(client, Command::Start(a)).await,
        ContainerCommand::Stop(a) => dispatch(client, Command::Stop(a)).await,
        ContainerCommand::Restart(a) => dispatch(client, Command::Restart(a)).await,
        ContainerCommand::Kill(a) => dispatch(client, Command::Kill(a)).await,
        ContainerCommand::Rm(a) => dispatch(client, Command::Rm(a)).await,
        ContainerCommand::Logs(a) => dispatch(client, Command::Logs(a)).await,
        ContainerCommand::Exec(a) => dispatch(client, Command::Exec(a)).await,
        ContainerCommand::Inspect(mut a) => {
            a.kind = Some("container".into());
            dispatch(client, Command::Inspect(a)).await
        }
        ContainerCommand::Wait(a) => dispatch(client, Command::Wait(a)).await,
        ContainerCommand::Pause(a) => dispatch(client, Command::Pause(a)).await,
        ContainerCommand::Unpause(a) => dispatch(client, Command::Unpause(a)).await,
        ContainerCommand::Rename(a) => dispatch(client, Command::Rename(a)).await,
        ContainerCommand::Top(a) => dispatch(client, Command::Top(a)).await,
        ContainerCommand::Port(a) => dispatch(client, Command::Port(a)).await,
        ContainerCommand::Attach(a) => dispatch(client, Command::Attach(a)).await,
        ContainerCommand::Prune(a) => extra::container_prune(&client, a).await,
        ContainerCommand::Export(a) => dispatch(client, Command::Export(a)).await,
        ContainerCommand::Cp(a) => dispatch(client, Command::Cp(a)).await,
        ContainerCommand::Commit(a) => dispatch(client, Command::Commit(a)).await,
        ContainerCommand::Diff(a) => dispatch(client, Command::Diff(a)).await,
        ContainerCommand::Update(a) => dispatch(client, Command::Update(a)).await,
        ContainerCommand::Stats(a) => dispatch(client, Command::Stats(a)).await,
    }
}

async fn image_verb(client: Arc<Client>, c: ImageCommand) -> anyhow::Result<i32> {
    use cmd::*;
    match c {
        ImageCommand::Ls(a) => dispatch(client, Command::Images(a)).await,
        ImageCommand::Rm(a) => dispatch(client, Command::Rmi(a)).await,
        ImageCommand::Import(a) => dispatch(client, Command::Import(a)).await,
        ImageCommand::Tag(a) => dispatch(client, Command::Tag(a)).await,
        ImageCommand::Inspect(mut a) => {
            a.kind = Some("image".into());
            dispatch(client, Command::Inspect(a)).await
        }
        ImageCommand::Prune(a) => extra::image_prune(&client, a).await,
        ImageCommand::Pull(a) => dispatch(client, Command::Pull(a)).await,
        ImageCommand::Push(a) => dispatch(client, Command::Push(a)).await,
        ImageCommand::Save(a) => dispatch(client, Command::Save(a)).await,
        ImageCommand::Load(a) => dispatch(client, Command::Load(a)).await,
        ImageCommand::History(a) => dispatch(client, Command::History(a)).await,
    }
}

/// Prints an error the way docker does and returns the exit status.
fn report(err: anyhow::Error, verb: &str) -> i32 {
    if let Some(Exit(code)) = err.downcast_ref::<Exit>() {
        return *code;
    }
    if let Some(r) = err.downcast_ref::<RunError>() {
        eprintln!("berth: {}", r.error);
        eprintln!();
        eprintln!("Run 'berth {verb} --help' for more information");
        return r.code;
    }
    if err.downcast_ref::<ConnectError>().is_some() {
        eprintln!("{err}");
        return 1;
    }
    if err.downcast_ref::<client::DaemonError>().is_some() {
        eprintln!("{err}");
    } else {
        eprintln!("Error: {err:#}");
    }
    1
}

fn main() {
    // Like Go programs: die quietly on a closed stdout (`berth ps | head -1`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            // Like docker: help is 0, a missing argument 1, a bad flag or value 125.
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::MissingRequiredArgument
                | ErrorKind::TooFewValues
                | ErrorKind::MissingSubcommand
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 1,
                _ => 125,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let verb = match &cli.command {
        Command::Run(_) | Command::Container(ContainerCommand::Run(_)) => "run",
        Command::Create(_) | Command::Container(ContainerCommand::Create(_)) => "create",
        _ => "",
    };
    let host = resolve_host(cli.host.as_deref());
    let tls = transport::TlsFlags {
        tls: cli.tls,
        verify: cli.tlsverify,
        ca: cli.tlscacert.clone(),
        cert: cli.tlscert.clone(),
        key: cli.tlskey.clone(),
    }
    .with_env();
    let code = match Client::new(&host, &tls) {
        Err(e) => {
            eprintln!("{e}");
            125
        }
        Ok(client) => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("berth: cannot start the async runtime: {e}");
                    std::process::exit(125);
                }
            };
            match rt.block_on(dispatch(Arc::new(client), cli.command)) {
                Ok(code) => code,
                Err(e) => report(e, verb),
            }
        }
    };
    // Exit at once: a thread may still be blocked reading stdin.
    std::process::exit(code);
}
