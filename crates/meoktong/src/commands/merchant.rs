//! `meoktong merchant import FILE.csv` and `meoktong merchant list`.
use super::{CmdResult, Failure};
use crate::app::open_database;
use crate::cli::ListFormat;
use meoktong_config::Settings;
use meoktong_storage::merchants::ImportedBy;
use meoktong_storage::{catalog, members, merchants, now_ms};
use meoktong_web::import::{AssociationRule, Scope};
use std::collections::HashSet;
use std::path::Path;

pub async fn import(settings: Settings, file: &Path, association: Option<&str>) -> CmdResult {
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::usage(format!("{}: cannot read: {e}", file.display())))?;
    let text = crate::import::decode(&bytes);
    let (db, crypto) = open_database(&settings).await?;
    let mut deps = settings.dependency.clone();
    deps.extend(
        crate::app::enabled_presets(&settings)
            .map_err(|e| super::Failure::usage(format!("{e:#}")))?,
    );
    // Validate before writing anything: the known slugs are the configured ones (file and
    // presets, about to be synced) and those already enabled in the database.
    let mut known: HashSet<String> = catalog::list_dependencies(&db)
        .await?
        .into_iter()
        .map(|d| d.slug)
        .collect();
    known.extend(deps.iter().map(|d| d.slug.clone()));
    let association_ids = members::association_ids_by_name(&db).await?;
    let names: HashSet<String> = association_ids.keys().cloned().collect();
    if let Some(a) = association.filter(|a| !names.contains(*a)) {
        return Err(Failure::usage(format!(
            "--association: unknown association `{a}` (create it with `meoktong user create --role association --association NAME`)"
        )));
    }
    let scope = Scope {
        known_slugs: &known,
        platform_domains: &settings.channels.platform_domains,
        associations: match association {
            Some(a) => AssociationRule::Only(a),
            None => AssociationRule::Known(&names),
        },
    };
    let rows = match crate::import::parse_members(&text, &scope) {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return Err(Failure::usage(format!(
                "{}: {} problem(s); nothing was imported",
                file.display(),
                errors.len()
            )));
        }
    };
    catalog::sync_dependencies(&db, &deps, "config").await?;
    let into: Vec<Option<i64>> = rows
        .iter()
        .map(|r| {
            r.association
                .as_ref()
                .and_then(|a| association_ids.get(a).copied())
        })
        .collect();
    let records: Vec<_> = rows.into_iter().map(|r| r.record).collect();
    let summary =
        merchants::import_members(&db, &crypto, &records, &into, ImportedBy::Cli, now_ms()).await?;
    println!("{} created, {} updated", summary.created, summary.updated);
    Ok(())
}

pub async fn list(settings: Settings, format: ListFormat) -> CmdResult {
    let (db, crypto) = open_database(&settings).await?;
    let rows = merchants::list(&db, &crypto).await?;
    match format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        ListFormat::Csv => {
            // The same guarded writer as the web export: a business name like `=cmd|…`
            // stays text in a spreadsheet (and `merchant import` reads it back unchanged).
            let mut w = meoktong_web::csv_out::SafeCsv::new(std::io::stdout());
            w.row([
                "id",
                "business_name",
                "phone",
                "email",
                "dependencies",
                "locale",
                "region",
                "trade",
            ])?;
            for m in rows {
                w.row([
                    m.id.to_string(),
                    m.business_name,
                    m.phone,
                    m.email.unwrap_or_default(),
                    m.dependencies.join(";"),
                    m.locale.unwrap_or_default(),
                    m.region.unwrap_or_default(),
                    m.trade.unwrap_or_default(),
                ])?;
            }
            w.flush()?;
        }
    }
    Ok(())
}
