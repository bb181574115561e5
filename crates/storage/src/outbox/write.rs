//! Writing notices: a notice, its (merchant, incident, kind) keys and its first messages,
//! one at a time or many per transaction; messages added to a notice later (escalation).
use crate::Db;
use crate::entity::{notice_incidents, notices, outbox};
use crate::error::{StorageError, is_unique_violation};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryTrait, Set,
};
use std::collections::{HashMap, HashSet};

use super::{Channel, LinkKey, MessageState, NoticeStatus};
use meoktong_domain::message::NoticeKind;

pub struct NewNotice {
    pub merchant_id: i64,
    pub kind: NoticeKind,
    pub dedupe_key: String,
    pub dependency_ids: Vec<i64>,
    pub incident_ids: Vec<i64>,
    /// The key recorded per (merchant, incident), one per `incident_ids` entry and in its
    /// order — `down`, `relapse:N`, `recovery:N` — whose unique key makes a second notice for
    /// the same thing impossible.
    pub incident_keys: Vec<String>,
    pub since: i64,
    /// What is stored of the alert-link token.
    pub link: LinkKey,
    pub token_expires_at: i64,
    pub escalate_at: Option<i64>,
    /// `Open` when the notice waits for an acknowledgement, `Closed` when it needs none.
    pub status: NoticeStatus,
    pub now: i64,
}

impl NewNotice {
    /// The (incident, key) pairs this notice records.
    pub fn keys(&self) -> impl Iterator<Item = (i64, &str)> {
        self.incident_ids
            .iter()
            .copied()
            .zip(self.incident_keys.iter().map(String::as_str))
    }
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: Channel,
    pub contact_id: Option<i64>,
    pub contact_position: i32,
    pub recipient_enc: String,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
    pub priority: i32,
    pub state: MessageState,
    pub next_attempt_at: i64,
    pub expires_at: i64,
    /// Unique per message; `{notice dedupe}:{position}:{channel}`.
    pub dedupe_key: String,
}

fn message_model(
    notice_id: i64,
    merchant_id: i64,
    m: &NewMessage,
    now: i64,
) -> outbox::ActiveModel {
    let r = MessageRow::new(notice_id, merchant_id, m, now);
    outbox::ActiveModel {
        id: NotSet,
        notice_id: Set(r.notice_id),
        merchant_id: Set(r.merchant_id),
        dedupe_key: Set(r.dedupe_key.to_string()),
        channel: Set(r.channel.to_string()),
        contact_id: Set(r.contact_id),
        contact_position: Set(r.contact_position),
        recipient_enc: Set(r.recipient_enc.to_string()),
        subject: Set(r.subject.map(str::to_string)),
        body: Set(r.body.to_string()),
        html: Set(r.html.map(str::to_string)),
        priority: Set(r.priority),
        state: Set(r.state.to_string()),
        attempts: Set(r.attempts),
        next_attempt_at: Set(r.next_attempt_at),
        claimed_by: Set(None),
        claim_expires_at: Set(None),
        provider_index: Set(None),
        provider_message_id: Set(None),
        last_error: Set(None),
        created_at: Set(r.created_at),
        expires_at: Set(r.expires_at),
        accepted_at: Set(None),
        delivered_at: Set(None),
        fallback_at: Set(None),
    }
}

fn notice_model(n: &NewNotice, messages: &[NewMessage]) -> notices::ActiveModel {
    let r = NoticeRow::new(n, messages);
    notices::ActiveModel {
        id: NotSet,
        merchant_id: Set(r.merchant_id),
        kind: Set(r.kind.to_string()),
        dedupe_key: Set(r.dedupe_key.to_string()),
        dependency_ids: Set(r.dependency_ids),
        incident_ids: Set(r.incident_ids),
        since: Set(r.since),
        token_hash: Set(r.token_hash.to_string()),
        token_locator: Set(r.token_locator.map(str::to_string)),
        token_expires_at: Set(r.token_expires_at),
        status: Set(r.status.to_string()),
        contact_position: Set(r.contact_position),
        escalate_at: Set(r.escalate_at),
        acked_at: Set(None),
        acked_via: Set(None),
        created_at: Set(r.created_at),
    }
}

/// Writes a notice, its (merchant, incident, kind) keys and its first messages in one
/// transaction. `Ok(None)` when the notice already exists (another planner or an earlier run).
pub async fn create_notice(
    db: &Db,
    n: NewNotice,
    messages: &[NewMessage],
) -> Result<Option<i64>, StorageError> {
    let txn = db.begin_write().await?;
    let notice_id = match notices::Entity::insert(notice_model(&n, messages))
        .exec(&txn)
        .await
    {
        Ok(r) => r.last_insert_id,
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    for (incident_id, kind) in n.keys() {
        let key = KeyRow {
            notice_id,
            merchant_id: n.merchant_id,
            incident_id,
            kind,
        };
        match notice_incidents::Entity::insert(key.model())
            .exec(&txn)
            .await
        {
            Ok(_) => {}
            // Already told about this incident: drop the whole notice.
            Err(e) if is_unique_violation(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    for m in messages {
        outbox::Entity::insert(message_model(notice_id, n.merchant_id, m, n.now))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Some(notice_id))
}

/// How many notices a planner should hand to [`create_notices`] at once.
pub const NOTICES_PER_TRANSACTION: usize = 500;
/// Rows per multi-row `INSERT`, so its bound parameters stay far below SQLite's 32,766
/// (the outbox has 25 columns).
pub(crate) const ROWS_PER_INSERT: usize = 400;

/// Rows per statement on PostgreSQL, where a batch is one JSON parameter (see [`json_insert`]).
const JSON_ROWS: usize = 1_000;

/// `INSERT INTO table (columns) SELECT columns FROM json_populate_recordset(NULL::table, $1)`:
/// on PostgreSQL a batch of rows goes as one JSON document instead of a `VALUES` list with a
/// parameter per column and row, which PostgreSQL parses and binds at about twice the cost of
/// the insert itself (measured with 200,000 outbox rows: 11 s of server time against 5.4 s).
/// Column types come from the table's own row type; `rows` serialize with the column names.
fn json_insert<T: serde::Serialize>(
    table: &str,
    columns: &[&str],
    rows: &[T],
    suffix: &str,
) -> Result<sea_orm::Statement, StorageError> {
    let json = serde_json::to_string(rows)
        .map_err(|e| StorageError::Data(format!("cannot encode {table} rows: {e}")))?;
    let cols = columns.join(", ");
    Ok(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        format!(
            "INSERT INTO {table} ({cols}) SELECT {cols} \
             FROM json_populate_recordset(NULL::{table}, $1::json) {suffix}"
        ),
        [json.into()],
    ))
}

/// A `notices` row as planned: what [`json_insert`] writes on PostgreSQL and [`notice_model`]
/// on SQLite.
#[derive(serde::Serialize)]
struct NoticeRow<'a> {
    merchant_id: i64,
    kind: &'a str,
    dedupe_key: &'a str,
    dependency_ids: String,
    incident_ids: String,
    since: i64,
    token_hash: &'a str,
    token_locator: Option<&'a str>,
    token_expires_at: i64,
    status: &'a str,
    contact_position: i32,
    escalate_at: Option<i64>,
    created_at: i64,
}

impl<'a> NoticeRow<'a> {
    const COLUMNS: &'static [&'static str] = &[
        "merchant_id",
        "kind",
        "dedupe_key",
        "dependency_ids",
        "incident_ids",
        "since",
        "token_hash",
        "token_locator",
        "token_expires_at",
        "status",
        "contact_position",
        "escalate_at",
        "created_at",
    ];

    fn new(n: &'a NewNotice, messages: &[NewMessage]) -> NoticeRow<'a> {
        NoticeRow {
            merchant_id: n.merchant_id,
            kind: n.kind.as_str(),
            dedupe_key: &n.dedupe_key,
            dependency_ids: serde_json::to_string(&n.dependency_ids).unwrap_or_default(),
            incident_ids: serde_json::to_string(&n.incident_ids).unwrap_or_default(),
            since: n.since,
            token_hash: &n.link.hash,
            token_locator: n.link.locator.as_deref(),
            token_expires_at: n.token_expires_at,
            status: n.status.as_str(),
            contact_position: messages
                .iter()
                .map(|m| m.contact_position)
                .min()
                .unwrap_or(0),
            escalate_at: n.escalate_at,
            created_at: n.now,
        }
    }
}

/// A `notice_incidents` row: a notice's (merchant, incident, kind) key.
#[derive(serde::Serialize)]
struct KeyRow<'a> {
    notice_id: i64,
    merchant_id: i64,
    incident_id: i64,
    kind: &'a str,
}

impl KeyRow<'_> {
    const COLUMNS: &'static [&'static str] = &["notice_id", "merchant_id", "incident_id", "kind"];

    fn model(&self) -> notice_incidents::ActiveModel {
        notice_incidents::ActiveModel {
            id: NotSet,
            notice_id: Set(self.notice_id),
            merchant_id: Set(self.merchant_id),
            incident_id: Set(self.incident_id),
            kind: Set(self.kind.to_string()),
        }
    }
}

/// An `outbox` row as planned: what [`json_insert`] writes on PostgreSQL (the other columns
/// are NULL or their defaults) and [`message_model`] on SQLite.
#[derive(serde::Serialize)]
struct MessageRow<'a> {
    notice_id: i64,
    merchant_id: i64,
    dedupe_key: &'a str,
    channel: &'a str,
    contact_id: Option<i64>,
    contact_position: i32,
    recipient_enc: &'a str,
    subject: Option<&'a str>,
    body: &'a str,
    html: Option<&'a str>,
    priority: i32,
    state: &'a str,
    attempts: i32,
    next_attempt_at: i64,
    created_at: i64,
    expires_at: i64,
}

impl<'a> MessageRow<'a> {
    const COLUMNS: &'static [&'static str] = &[
        "notice_id",
        "merchant_id",
        "dedupe_key",
        "channel",
        "contact_id",
        "contact_position",
        "recipient_enc",
        "subject",
        "body",
        "html",
        "priority",
        "state",
        "attempts",
        "next_attempt_at",
        "created_at",
        "expires_at",
    ];

    fn new(notice_id: i64, merchant_id: i64, m: &'a NewMessage, now: i64) -> MessageRow<'a> {
        MessageRow {
            notice_id,
            merchant_id,
            dedupe_key: &m.dedupe_key,
            channel: m.channel.as_str(),
            contact_id: m.contact_id,
            contact_position: m.contact_position,
            recipient_enc: &m.recipient_enc,
            subject: m.subject.as_deref(),
            body: &m.body,
            html: m.html.as_deref(),
            priority: m.priority,
            state: m.state.as_str(),
            attempts: 0,
            next_attempt_at: m.next_attempt_at,
            created_at: now,
            expires_at: m.expires_at,
        }
    }
}

#[derive(FromQueryResult)]
struct InsertedNotice {
    id: i64,
    dedupe_key: String,
}

#[derive(FromQueryResult)]
struct InsertedKey {
    notice_id: i64,
}

/// [`create_notice`] for many notices in one transaction, with a few multi-row statements
/// instead of several statements per notice. Each notice is written with its keys and
/// messages, or not at all when its dedupe key or one of its (merchant, incident, kind) keys
/// already exists — the same unique keys decide, so concurrent planners still write each
/// notice once. Returns each notice's id (`None`: not written), in input order.
pub async fn create_notices(
    db: &Db,
    batch: &[(NewNotice, Vec<NewMessage>)],
) -> Result<Vec<Option<i64>>, StorageError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.db_backend();
    let txn = db.begin_write().await?;
    let mut ids: HashMap<String, i64> = HashMap::new();
    let postgres = db.backend == crate::Backend::Postgres;
    for chunk in batch.chunks(if postgres { JSON_ROWS } else { ROWS_PER_INSERT }) {
        let st = if postgres {
            let rows: Vec<NoticeRow> = chunk.iter().map(|(n, m)| NoticeRow::new(n, m)).collect();
            json_insert(
                "notices",
                NoticeRow::COLUMNS,
                &rows,
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
            )?
        } else {
            let mut q = notices::Entity::insert_many(chunk.iter().map(|(n, m)| notice_model(n, m)))
                .into_query();
            q.on_conflict(
                OnConflict::column(notices::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            );
            q.returning(
                Query::returning().columns([notices::Column::Id, notices::Column::DedupeKey]),
            );
            backend.build(&q)
        };
        for r in InsertedNotice::find_by_statement(st).all(&txn).await? {
            ids.insert(r.dedupe_key, r.id);
        }
    }
    // The (merchant, incident, kind) keys of the notices just written. A notice one of whose
    // keys already exists was told before: it is dropped, as `create_notice` would drop it.
    let keys: Vec<KeyRow> = batch
        .iter()
        .filter_map(|(n, _)| ids.get(&n.dedupe_key).map(|id| (n, *id)))
        .flat_map(|(n, notice_id)| {
            n.keys().map(move |(incident_id, kind)| KeyRow {
                notice_id,
                merchant_id: n.merchant_id,
                incident_id,
                kind,
            })
        })
        .collect();
    let mut keys_written: HashMap<i64, usize> = HashMap::new();
    for chunk in keys.chunks(if postgres {
        JSON_ROWS
    } else {
        ROWS_PER_INSERT * 4
    }) {
        let st = if postgres {
            json_insert(
                "notice_incidents",
                KeyRow::COLUMNS,
                chunk,
                "ON CONFLICT (merchant_id, incident_id, kind) DO NOTHING RETURNING notice_id",
            )?
        } else {
            let mut q =
                notice_incidents::Entity::insert_many(chunk.iter().map(KeyRow::model)).into_query();
            q.on_conflict(
                OnConflict::columns([
                    notice_incidents::Column::MerchantId,
                    notice_incidents::Column::IncidentId,
                    notice_incidents::Column::Kind,
                ])
                .do_nothing()
                .to_owned(),
            );
            q.returning(Query::returning().columns([notice_incidents::Column::NoticeId]));
            backend.build(&q)
        };
        for r in InsertedKey::find_by_statement(st).all(&txn).await? {
            *keys_written.entry(r.notice_id).or_default() += 1;
        }
    }
    let dropped: Vec<i64> = batch
        .iter()
        .filter_map(|(n, _)| {
            let id = *ids.get(&n.dedupe_key)?;
            (keys_written.get(&id).copied().unwrap_or(0) < n.incident_ids.len()).then_some(id)
        })
        .collect();
    let dropped_set: HashSet<i64> = dropped.iter().copied().collect();
    for chunk in dropped.chunks(ROWS_PER_INSERT) {
        notice_incidents::Entity::delete_many()
            .filter(notice_incidents::Column::NoticeId.is_in(chunk.to_vec()))
            .exec(&txn)
            .await?;
        notices::Entity::delete_many()
            .filter(notices::Column::Id.is_in(chunk.to_vec()))
            .exec(&txn)
            .await?;
    }
    let written: Vec<Option<i64>> = batch
        .iter()
        .map(|(n, _)| {
            ids.get(&n.dedupe_key)
                .copied()
                .filter(|id| !dropped_set.contains(id))
        })
        .collect();
    let to_write = batch
        .iter()
        .zip(&written)
        .filter_map(|((n, m), id)| id.map(|id| (n, m, id)));
    if postgres {
        let rows: Vec<MessageRow> = to_write
            .flat_map(|(n, m, id)| {
                m.iter()
                    .map(move |m| MessageRow::new(id, n.merchant_id, m, n.now))
            })
            .collect();
        for chunk in rows.chunks(JSON_ROWS) {
            txn.execute_raw(json_insert("outbox", MessageRow::COLUMNS, chunk, "")?)
                .await?;
        }
    } else {
        let messages: Vec<outbox::ActiveModel> = to_write
            .flat_map(|(n, m, id)| {
                m.iter()
                    .map(move |m| message_model(id, n.merchant_id, m, n.now))
            })
            .collect();
        for chunk in messages.chunks(ROWS_PER_INSERT) {
            outbox::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(written)
}

/// Refreshes PostgreSQL's statistics of the outbox tables after a large fan-out was written.
/// Without it the dispatchers' claim is planned from statistics taken when almost nothing was
/// pending (autovacuum comes a minute later at best), and PostgreSQL sorts every pending row
/// on each claim instead of walking `ix_outbox_claim` to its LIMIT: 30× slower at 20,000
/// pending. SQLite keeps no statistics here; nothing to do.
pub async fn refresh_statistics(db: &Db) -> Result<(), StorageError> {
    if db.backend == crate::Backend::Postgres {
        db.conn
            .execute_unprepared("ANALYZE outbox, notices, notice_incidents")
            .await?;
    }
    Ok(())
}

/// Adds messages to an existing notice (escalation to the next contact); duplicates by
/// dedupe key are ignored.
pub async fn add_messages(
    db: &Db,
    notice: &notices::Model,
    messages: &[NewMessage],
    now: i64,
) -> Result<(), StorageError> {
    for m in messages {
        match outbox::Entity::insert(message_model(notice.id, notice.merchant_id, m, now))
            .exec(&db.conn)
            .await
        {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
