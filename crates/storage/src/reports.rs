//! Damage reports: intake (one report per merchant per incident; a second submission edits
//! the first), read models scoped to a merchant or an association, and attachments.
//!
//! The business registration number, the contact and every attachment are encrypted at rest.
//! The review workflow (received → verified | rejected → forwarded) is in [`review`].
use crate::crypto::Crypto;
use crate::entity::{associations, damage_reports, memberships, report_attachments};
use crate::error::StorageError;
use crate::{Db, audit};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

pub mod lookup;
pub mod review;

pub use review::{ReviewAction, next_status};

/// A validated report, in plaintext; encrypted on the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportData {
    pub incident_id: i64,
    pub merchant_id: Option<i64>,
    pub association_id: i64,
    pub business_name: String,
    /// `123-45-67890`.
    pub brn: String,
    pub contact: Option<String>,
    pub region_sido: String,
    pub region_sigungu: Option<String>,
    pub trade: String,
    pub affected_services: Vec<String>,
    pub damage_kinds: Vec<String>,
    pub estimated_loss_krw: i64,
    pub lost_orders: Option<i32>,
    pub description: String,
    pub outage_start: i64,
    pub outage_end: Option<i64>,
    pub consent: bool,
}

/// An attachment whose type was sniffed from its content.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Created(i64),
    Updated(i64),
}

impl Saved {
    pub fn id(self) -> i64 {
        match self {
            Saved::Created(id) | Saved::Updated(id) => id,
        }
    }
}

/// A stored report with its personal data decrypted and its lists parsed.
#[derive(Debug, Clone)]
pub struct Report {
    pub row: damage_reports::Model,
    pub brn: Option<String>,
    pub contact: Option<String>,
    pub affected_services: Vec<String>,
    pub damage_kinds: Vec<String>,
}

/// An attachment's description, without its content.
#[derive(Debug, Clone)]
pub struct AttachmentMeta {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

fn decrypt_opt(crypto: &Crypto, v: &Option<String>) -> Result<Option<String>, StorageError> {
    v.as_deref()
        .map(|c| crypto.decrypt(c).map_err(StorageError::Crypto))
        .transpose()
}

fn open(crypto: &Crypto, row: damage_reports::Model) -> Result<Report, StorageError> {
    let list = |s: &str| {
        serde_json::from_str::<Vec<String>>(s).map_err(|e| StorageError::Data(e.to_string()))
    };
    Ok(Report {
        brn: decrypt_opt(crypto, &row.brn_enc)?,
        contact: decrypt_opt(crypto, &row.contact_enc)?,
        affected_services: list(&row.affected_services)?,
        damage_kinds: list(&row.damage_kinds)?,
        row,
    })
}

fn json_list(v: &[String]) -> String {
    serde_json::Value::from(v.to_vec()).to_string()
}

/// The columns a submission writes; review columns start (again) empty.
fn fill(am: &mut damage_reports::ActiveModel, crypto: &Crypto, d: &ReportData, now: i64) {
    am.incident_id = Set(d.incident_id);
    am.merchant_id = Set(d.merchant_id);
    am.association_id = Set(Some(d.association_id));
    am.status = Set("received".into());
    am.business_name = Set(d.business_name.clone());
    am.brn_enc = Set(Some(crypto.encrypt(&d.brn)));
    am.contact_enc = Set(d.contact.as_deref().map(|c| crypto.encrypt(c)));
    am.region_sido = Set(d.region_sido.clone());
    am.region_sigungu = Set(d.region_sigungu.clone());
    am.trade = Set(d.trade.clone());
    am.affected_services = Set(json_list(&d.affected_services));
    am.damage_kinds = Set(json_list(&d.damage_kinds));
    am.estimated_loss_krw = Set(d.estimated_loss_krw);
    am.lost_orders = Set(d.lost_orders);
    am.description = Set(d.description.clone());
    am.outage_start = Set(d.outage_start);
    am.outage_end = Set(d.outage_end);
    am.consent = Set(d.consent);
    am.review_reason = Set(None);
    am.reviewed_by = Set(None);
    am.reviewed_at = Set(None);
    am.forwarded_at = Set(None);
    am.updated_at = Set(now);
}

async fn existing<C: ConnectionTrait>(
    conn: &C,
    d: &ReportData,
) -> Result<Option<damage_reports::Model>, StorageError> {
    let Some(merchant_id) = d.merchant_id else {
        return Ok(None);
    };
    Ok(damage_reports::Entity::find()
        .filter(damage_reports::Column::MerchantId.eq(merchant_id))
        .filter(damage_reports::Column::IncidentId.eq(d.incident_id))
        .one(conn)
        .await?)
}

/// Stores a submission with its attachments and an audit entry, in one transaction. A
/// merchant's second report on the same incident edits the first and sends it back to
/// `received`; a report already forwarded can no longer change (`Conflict`).
pub async fn save(
    db: &Db,
    crypto: &Crypto,
    data: &ReportData,
    files: &[NewAttachment],
    actor: &str,
    now: i64,
) -> Result<Saved, StorageError> {
    // Two submissions racing past the look-up meet the unique key; the loser retries as an edit.
    for _ in 0..2 {
        match try_save(db, crypto, data, files, actor, now).await {
            Err(e) if e.is_unique_violation() => continue,
            other => return other,
        }
    }
    Err(StorageError::Conflict(
        "the report changed while it was being saved; submit again".into(),
    ))
}

async fn try_save(
    db: &Db,
    crypto: &Crypto,
    data: &ReportData,
    files: &[NewAttachment],
    actor: &str,
    now: i64,
) -> Result<Saved, StorageError> {
    let txn = db.begin_write().await?;
    let saved = match existing(&txn, data).await? {
        Some(row) if row.status == "forwarded" => {
            return Err(StorageError::Conflict("already forwarded".into()));
        }
        Some(row) => {
            let mut am: damage_reports::ActiveModel = row.clone().into();
            fill(&mut am, crypto, data, now);
            damage_reports::Entity::update(am).exec(&txn).await?;
            Saved::Updated(row.id)
        }
        None => {
            let mut am = damage_reports::ActiveModel {
                id: NotSet,
                created_at: Set(now),
                ..Default::default()
            };
            fill(&mut am, crypto, data, now);
            Saved::Created(
                damage_reports::Entity::insert(am)
                    .exec(&txn)
                    .await?
                    .last_insert_id,
            )
        }
    };
    for f in files {
        let am = report_attachments::ActiveModel {
            id: NotSet,
            report_id: Set(saved.id()),
            filename: Set(f.filename.clone()),
            content_type: Set(f.content_type.clone()),
            size: Set(i64::try_from(f.data.len()).unwrap_or(i64::MAX)),
            data_enc: Set(crypto.encrypt_bytes(&f.data)),
            created_at: Set(now),
        };
        report_attachments::Entity::insert(am).exec(&txn).await?;
    }
    let action = if matches!(saved, Saved::Created(_)) {
        "report.create"
    } else {
        "report.update"
    };
    let entry = audit::AuditEntry {
        actor_user_id: None,
        actor,
        action,
        target_type: "damage_report",
        target_id: Some(saved.id()),
        detail: serde_json::json!({"incident_id": data.incident_id, "attachments": files.len()}),
    };
    audit::record(&txn, now, entry).await?;
    txn.commit().await?;
    Ok(saved)
}

/// A merchant's own reports, newest first.
pub async fn of_merchant(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
) -> Result<Vec<Report>, StorageError> {
    let rows = damage_reports::Entity::find()
        .filter(damage_reports::Column::MerchantId.eq(merchant_id))
        .order_by_desc(damage_reports::Column::CreatedAt)
        .order_by_desc(damage_reports::Column::Id)
        .all(&db.conn)
        .await?;
    rows.into_iter().map(|r| open(crypto, r)).collect()
}

/// One of a merchant's reports; `None` for anybody else's.
pub async fn one_of_merchant(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
    id: i64,
) -> Result<Option<Report>, StorageError> {
    let row = damage_reports::Entity::find_by_id(id)
        .filter(damage_reports::Column::MerchantId.eq(merchant_id))
        .one(&db.conn)
        .await?;
    row.map(|r| open(crypto, r)).transpose()
}

/// The merchant's report on an incident, if they filed one (the form edits it).
pub async fn of_merchant_incident(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
    incident_id: i64,
) -> Result<Option<Report>, StorageError> {
    let row = damage_reports::Entity::find()
        .filter(damage_reports::Column::MerchantId.eq(merchant_id))
        .filter(damage_reports::Column::IncidentId.eq(incident_id))
        .one(&db.conn)
        .await?;
    row.map(|r| open(crypto, r)).transpose()
}

/// What an association's staff asks for.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<String>,
    pub incident_id: Option<i64>,
}

/// The reports association `association_id` may see: those filed TO it, by one of its members
/// (membership as it is now: a merchant who left takes their reports along) or through the
/// public form without an account. Every association-scoped report query (queue, detail,
/// review, totals, exports, API) filters with this, and nothing else.
pub fn visible_to_association(association_id: i64) -> Condition {
    let members = Query::select()
        .column(memberships::Column::MerchantId)
        .from(memberships::Entity)
        .and_where(memberships::Column::AssociationId.eq(association_id))
        .to_owned();
    Condition::all()
        .add(damage_reports::Column::AssociationId.eq(association_id))
        .add(
            Condition::any()
                .add(damage_reports::Column::MerchantId.is_null())
                .add(damage_reports::Column::MerchantId.in_subquery(members)),
        )
}

/// Reports sent to one association, oldest first (a queue).
pub async fn of_association(
    db: &Db,
    crypto: &Crypto,
    association_id: i64,
    f: &Filter,
) -> Result<Vec<Report>, StorageError> {
    let mut q = damage_reports::Entity::find().filter(visible_to_association(association_id));
    if let Some(s) = &f.status {
        q = q.filter(damage_reports::Column::Status.eq(s.as_str()));
    }
    if let Some(i) = f.incident_id {
        q = q.filter(damage_reports::Column::IncidentId.eq(i));
    }
    let rows = q
        .order_by_asc(damage_reports::Column::CreatedAt)
        .order_by_asc(damage_reports::Column::Id)
        .all(&db.conn)
        .await?;
    rows.into_iter().map(|r| open(crypto, r)).collect()
}

/// One report of an association's scope; `None` for any other association's.
pub async fn one_of_association(
    db: &Db,
    crypto: &Crypto,
    association_id: i64,
    id: i64,
) -> Result<Option<Report>, StorageError> {
    let row = damage_reports::Entity::find_by_id(id)
        .filter(visible_to_association(association_id))
        .one(&db.conn)
        .await?;
    row.map(|r| open(crypto, r)).transpose()
}

/// Incidents with reports in an association's scope: (incident id, number of reports), newest
/// incident first.
pub async fn incidents_of_association(
    db: &Db,
    association_id: i64,
) -> Result<Vec<(i64, i64)>, StorageError> {
    let rows: Vec<(i64, i64)> = damage_reports::Entity::find()
        .select_only()
        .column(damage_reports::Column::IncidentId)
        .column_as(damage_reports::Column::Id.count(), "n")
        .filter(visible_to_association(association_id))
        .group_by(damage_reports::Column::IncidentId)
        .order_by_desc(damage_reports::Column::IncidentId)
        .into_tuple()
        .all(&db.conn)
        .await?;
    Ok(rows)
}

/// Every association, by name (the form's list of where to send a report).
pub async fn associations(db: &Db) -> Result<Vec<associations::Model>, StorageError> {
    Ok(associations::Entity::find()
        .order_by_asc(associations::Column::Name)
        .all(&db.conn)
        .await?)
}

/// A report's attachments, without their content.
pub async fn attachments(db: &Db, report_id: i64) -> Result<Vec<AttachmentMeta>, StorageError> {
    let rows: Vec<(i64, String, String, i64)> = report_attachments::Entity::find()
        .select_only()
        .columns([
            report_attachments::Column::Id,
            report_attachments::Column::Filename,
            report_attachments::Column::ContentType,
            report_attachments::Column::Size,
        ])
        .filter(report_attachments::Column::ReportId.eq(report_id))
        .order_by_asc(report_attachments::Column::Id)
        .into_tuple()
        .all(&db.conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, filename, content_type, size)| AttachmentMeta {
            id,
            filename,
            content_type,
            size,
        })
        .collect())
}

/// One attachment of a report, decrypted.
pub async fn attachment(
    db: &Db,
    crypto: &Crypto,
    report_id: i64,
    id: i64,
) -> Result<Option<(AttachmentMeta, Vec<u8>)>, StorageError> {
    let Some(row) = report_attachments::Entity::find_by_id(id)
        .filter(report_attachments::Column::ReportId.eq(report_id))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    let data = crypto
        .decrypt_bytes(&row.data_enc)
        .map_err(StorageError::Crypto)?;
    let meta = AttachmentMeta {
        id: row.id,
        filename: row.filename,
        content_type: row.content_type,
        size: row.size,
    };
    Ok(Some((meta, data)))
}
