//! The dispatcher: the command line, checked into a command's settings (`config`), handed to
//! that command (`commands`). Nothing else happens here.

use anyhow::{Context, Result};

use crate::cli::{Cli, Command};
use crate::commands;
use crate::config::{
    CheckSettings, ReconcileSettings, ReportSettings, RunSettings, SandboxSettings,
    ValidateSettings,
};
use crate::exit::Exit;

pub fn main(cli: Cli) -> Result<Exit> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Validate(args) => commands::validate::validate(ValidateSettings::new(args)?),
        Command::Run(args) => commands::run::run(RunSettings::new(args)?).await,
        Command::Status { journal, json } => commands::status::status(&journal.journal, json),
        Command::Report(args) => commands::report::report(ReportSettings::new(args)?),
        Command::Reconcile(args) => {
            commands::reconcile::reconcile(ReconcileSettings::new(args)?).await
        }
        Command::Sandbox(args) => commands::sandbox::serve(SandboxSettings::new(args)).await,
        Command::Check(args) => commands::check::check(CheckSettings::new(args)?).await,
        Command::Demo(args) => commands::demo::demo(args.workdir, args.keep).await,
        Command::Completions { shell } => commands::manual::completions(shell),
        Command::Man => commands::manual::man(),
    }
}
