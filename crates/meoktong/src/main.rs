//! Entry point: parse the command line, run the command, turn errors into one line on stderr.
use clap::Parser;

/// mimalloc instead of glibc's allocator: less CPU in the allocation-heavy paths (a fan-out's
/// HTTP requests and rows) and less fragmentation across the SQLite worker threads (README,
/// design notes).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
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
