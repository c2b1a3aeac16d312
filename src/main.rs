//! The `sockwatch` binary: parses the command line and runs the subcommand.

use std::process::ExitCode;

use clap::Parser;
use sockwatch::cli::{Cli, Command};
use sockwatch::cmd;
use sockwatch::io::log;

fn main() -> ExitCode {
    let cli = Cli::parse();
    log::set_level(cli.log_level);
    let result = match &cli.command {
        Command::Run(args) => cmd::run::main(args),
        Command::Rules(args) => cmd::rules::main(args),
    };
    match result {
        Ok(code) => code,
        Err(cmd::Failure(msg)) => {
            eprintln!("sockwatch: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
