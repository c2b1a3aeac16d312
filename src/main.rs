//! The `sockwatch` binary: parses the command line and runs the subcommand.

use std::process::ExitCode;

use clap::Parser;
use sockwatch::cli::{Cli, Command};
use sockwatch::cmd;
use sockwatch::io::log;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Packaging generates pages on build hosts; no host's configuration matters.
    if let Command::Generate(args) = &cli.command {
        return finish(cmd::generate::main(args));
    }
    // A configuration error stops every command: nothing falls back silently.
    // It exits 2, a usage error, apart from 1 (it did not work on this host).
    let cfg = match sockwatch::config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return finish(Err(e)),
    };
    let level = cli.global.log_level.or(cfg.global.log_level);
    log::set_level(level.unwrap_or(log::Level::Info));
    let result = match &cli.command {
        Command::Run(args) => sockwatch::daemon::main(args, &cfg),
        Command::Rules(args) => cmd::rules::main(args, &cfg),
        Command::Doctor(args) => cmd::doctor::main(args, &cfg),
        Command::Scan(args) => cmd::scan::main(args, &cfg),
        Command::Test(args) => cmd::test::main(args, &cfg),
        Command::Release(args) => cmd::release::main(args, &cfg),
        Command::Generate(_) => unreachable!("handled before the configuration is read"),
    };
    finish(result)
}

fn finish(result: sockwatch::error::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sockwatch: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
