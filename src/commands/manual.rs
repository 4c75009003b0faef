//! `completions SHELL` and `man`: the command line described for shells and for `man`, both
//! generated from the clap definition in `cli`, so they never disagree with `--help`.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Exit;

/// The completion script of `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<Exit> {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    let mut script = String::from_utf8(script).context("the completion script is not UTF-8")?;
    if shell == clap_complete::Shell::Bash {
        // clap_complete 4.6 names a command's case label by escaping the "-" of our name
        // twice (cartevo__subcmd__enroll__subcmd__run) but looks it up escaped once
        // (cartevo__enroll__subcmd__run), so no command's flags ever completed
        // (clap-rs/clap#6421): the labels are written as the lookup spells them.
        script = script.replace("cartevo__subcmd__enroll", "cartevo__enroll");
    }
    super::print_stdout(&script)?;
    Ok(Exit::Done)
}

/// The man page, roff, on stdout: the program's page with a section per command.
pub fn man() -> Result<Exit> {
    super::print_stdout(&page()?)?;
    Ok(Exit::Done)
}

/// `cartevo-enroll(1)`: clap_mangen's page of the top command (name, synopsis, description,
/// options, the list of commands, the top command's long help), then for each command a
/// section with its synopsis, description, arguments and long help. clap_mangen writes one
/// page per command; one page here keeps `man cartevo-enroll` whole.
fn page() -> Result<String> {
    let mut command = Cli::command();
    command.build();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut out)
        .context("could not write the man page")?;
    let mut page = String::from_utf8(out).context("the man page is not UTF-8")?;
    // clap's own `help` command is left out: `--help` says the same of every command.
    for sub in command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        page.push_str(&subcommand_section(&command, sub)?);
    }
    Ok(page)
}

/// One command's section: `.SH "COMMAND: CARTEVO-ENROLL RUN"` and, below it, what its own
/// page would hold under SYNOPSIS, DESCRIPTION, OPTIONS and EXTRA. `build` gave each command
/// its full name (`cartevo-enroll run`), which the synopsis shows.
fn subcommand_section(top: &clap::Command, sub: &clap::Command) -> Result<String> {
    let full = format!("{} {}", top.get_name(), sub.get_name());
    let man = clap_mangen::Man::new(sub.clone());
    let mut section = format!(".SH \"COMMAND: {}\"\n", full.to_uppercase());
    let mut out = Vec::new();
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_extra_section(&mut out)?;
    // Each part opens with its own .SH; inside a command's section they are subsections.
    let body = String::from_utf8(out).context("the man page is not UTF-8")?;
    for line in body.lines() {
        match line.strip_prefix(".SH ") {
            Some(title) => section.push_str(&format!(".SS {title}\n")),
            None => {
                section.push_str(line);
                section.push('\n');
            }
        }
    }
    Ok(section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_a_section_per_command() {
        let page = page().unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH cartevo-enroll 1"),
            "{page}"
        );
        for name in [
            "validate",
            "run",
            "status",
            "report",
            "reconcile",
            "check",
            "sandbox",
        ] {
            let heading = format!(".SH \"COMMAND: CARTEVO-ENROLL {}\"", name.to_uppercase());
            assert!(page.contains(&heading), "no {heading}");
        }
    }
}
