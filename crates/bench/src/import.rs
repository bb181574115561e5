//! `import`: a 100,000-row merchant CSV through the logic of `meoktong merchant import`
//! (`decode`, `parse` with validation, `merchants::import` in one transaction), then the same
//! file again (every row an update).
use crate::dbs::{self, Backend, FreshDb};
use crate::machine::{Meter, rss_mib};
use crate::report::{Table, secs, thousands};
use crate::{POSTGRES_URL, fixtures};
use meoktong_config::Settings;
use meoktong_storage::{catalog, merchants, now_ms};
use std::collections::HashSet;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// One backend only (default: SQLite, then PostgreSQL).
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    #[arg(long, default_value = POSTGRES_URL)]
    postgres_url: String,
    /// Skip the second import of the same file (every row an update).
    #[arg(long)]
    skip_reimport: bool,
}

const SLUGS: [&str; 3] = ["bench-kakaotalk", "bench-kakaopay", "bench-kakao-map"];

struct Pass {
    decode: Duration,
    parse: Duration,
    import: Duration,
    cpu: Duration,
    created: usize,
    updated: usize,
}

async fn pass(
    db: &meoktong_storage::Db,
    crypto: &meoktong_storage::Crypto,
    bytes: &[u8],
    known: &HashSet<String>,
) -> anyhow::Result<Pass> {
    let settings = Settings::default();
    let meter = Meter::start("self");
    let t = std::time::Instant::now();
    let text = meoktong::import::decode(bytes);
    let decode = t.elapsed();
    let t = std::time::Instant::now();
    let records = meoktong::import::parse(&text, known, &settings.channels.platform_domains)
        .map_err(|errors| {
            anyhow::anyhow!(
                "{} bad rows, first: {}",
                errors.len(),
                errors.first().map(|e| e.to_string()).unwrap_or_default()
            )
        })?;
    let parse = t.elapsed();
    let t = std::time::Instant::now();
    let summary = merchants::import(db, crypto, &records, now_ms()).await?;
    let import = t.elapsed();
    let (_, cpu) = meter.read();
    Ok(Pass {
        decode,
        parse,
        import,
        cpu,
        created: summary.created,
        updated: summary.updated,
    })
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    crate::report::header("import", "cargo run --release -p meoktong-bench -- import");
    let csv = fixtures::merchants_csv(a.rows, &SLUGS);
    let mut table = Table::new(
        &format!(
            "import: {} rows ({:.1} MiB of CSV), validated then imported in one transaction",
            thousands(a.rows as f64),
            csv.len() as f64 / 1048576.0
        ),
        &[
            "backend",
            "pass",
            "decode",
            "parse + validate",
            "merchants::import",
            "total",
            "rows/s",
            "CPU (bench process)",
        ],
    );
    for backend in dbs::selected(a.backend) {
        let fresh = FreshDb::create(backend, &a.postgres_url).await?;
        let (db, crypto) = fresh
            .connect(Settings::default().database.max_connections)
            .await?;
        catalog::sync_dependencies(
            &db,
            &fixtures::catalog("http://127.0.0.1:9/health", 1, 60)?,
            "config",
        )
        .await?;
        let known: HashSet<String> = catalog::list_dependencies(&db)
            .await?
            .into_iter()
            .map(|d| d.slug)
            .collect();
        let passes = if a.skip_reimport { 1 } else { 2 };
        for n in 0..passes {
            let p = pass(&db, &crypto, csv.as_bytes(), &known).await?;
            let total = p.decode + p.parse + p.import;
            table.row(vec![
                backend.name().into(),
                if n == 0 {
                    format!("first ({} created)", thousands(p.created as f64))
                } else {
                    format!("again ({} updated)", thousands(p.updated as f64))
                },
                secs(p.decode),
                secs(p.parse),
                secs(p.import),
                secs(total),
                thousands(a.rows as f64 / total.as_secs_f64().max(1e-9)),
                secs(p.cpu),
            ]);
            eprintln!("{} pass {}: {}", backend.name(), n + 1, secs(total));
        }
        db.conn.clone().close().await.ok();
        fresh.drop_database().await;
    }
    table.note("rows: Korean business names, local mobile notation (010-…), email, three dependencies, every tenth with a backup mobile");
    table.note("CPU is the bench process's (parsing, encryption, SQLite itself); PostgreSQL's server CPU is not in it");
    table.note(format!(
        "peak RSS of the bench process: {:.0} MiB",
        rss_mib("self").1
    ));
    table.print();
    crate::report::footer();
    Ok(())
}
