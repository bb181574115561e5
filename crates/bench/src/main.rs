//! `meoktong-bench`: benchmark programs that print figures (never timed assertions in tests).
//!
//! `cargo run --release -p meoktong-bench -- <probes|schedule|fanout|web|import>` prints a
//! Markdown table with the machine, the load, and the figures beside their targets.
#![forbid(unsafe_code)]

mod dbs;
mod fanout;
mod fixtures;
mod import;
mod load;
mod local;
mod machine;
mod national;
mod probes;
mod reach;
mod report;
mod schedule;
mod sms_server;
mod smtp_sink;
mod web;

use clap::{Parser, Subcommand};

/// The allocator of the `meoktong` binary, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Parser)]
#[command(
    name = "meoktong-bench",
    about = "Benchmarks of Meoktong; each prints a table of figures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Probes per second against a local nginx, beside blackbox_exporter.
    Probes(probes::Args),
    /// 100,000 checks at 60 s intervals through the real probe loop: lateness and memory.
    Schedule(schedule::Args),
    /// The probe loop's own process for `schedule` (started by it).
    #[command(hide = true)]
    ScheduleLoop(schedule::LoopArgs),
    /// 100,000 merchants, one dependency down: planning, dispatch, time to first SMS.
    Fanout(fanout::Args),
    /// Status page and merchant overview under 64 connections.
    Web(web::Args),
    /// A 100,000-row merchant CSV through decode, parse and import.
    Import(import::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Probes(a) => probes::run(a).await,
            Command::Schedule(a) => schedule::run(a).await,
            Command::ScheduleLoop(a) => schedule::run_loop(a).await,
            Command::Fanout(a) => fanout::run(a).await,
            Command::Web(a) => web::run(a).await,
            Command::Import(a) => import::run(a).await,
        }
    })
}
