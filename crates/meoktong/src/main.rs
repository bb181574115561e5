//! Entry point: parse the command line, run the command, turn errors into one line on stderr.
use clap::Parser;
use meoktong::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("meoktong: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    runtime.block_on(meoktong::commands::run(cli))
}
