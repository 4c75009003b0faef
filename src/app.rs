//! The dispatcher: the command line, checked into a command's settings (`config`), handed to
//! that command (`commands`). Nothing else happens here.

use anyhow::{Context, Result};

use crate::cli::{Cli, Command};
use crate::commands;
use crate::config::{
    InputSettings, ReconcileSettings, ReportSettings, RunSettings, SandboxSettings,
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
        Command::Validate { files, common } => commands::validate::validate(ValidateSettings {
            files,
            input: InputSettings::new(common),
        }),
        Command::Run {
            files,
            common,
            journal,
            api,
            send,
        } => {
            let settings = RunSettings {
                files,
                input: InputSettings::new(common),
                journal: journal.journal,
                api: crate::config::api(&api, &send)?,
                send: crate::config::policy(&send)?,
            };
            commands::run::run(settings).await
        }
        Command::Status { journal } => commands::status::status(&journal.journal),
        Command::Report {
            file,
            journal,
            report_dir,
            delimiter,
        } => commands::report::report(ReportSettings {
            file,
            journal: journal.journal,
            report_dir,
            delimiter,
        }),
        Command::Reconcile {
            files,
            journal,
            api,
            send,
            cards,
            transactions,
            resolve_duplicates,
            report_dir,
            delimiter,
        } => {
            let settings = ReconcileSettings {
                api: crate::config::api(&api, &send)?,
                reconcile: crate::reconcile::Settings {
                    files,
                    journal: journal.journal,
                    report_dir,
                    delimiter,
                    cards,
                    transactions,
                    resolve_duplicates,
                    send: crate::config::policy(&send)?,
                },
            };
            commands::reconcile::reconcile(settings).await
        }
        Command::Sandbox(args) => commands::sandbox::serve(SandboxSettings::new(args)).await,
        Command::Demo { workdir } => commands::demo::demo(workdir).await,
    }
}
