//! Operator marks on incidents: declared by hand (the probes missed it), resolved by hand,
//! false alarm. One row per marked incident.
use crate::entity::{incident_marks, incidents, notice_incidents, notices, outbox};
use crate::error::StorageError;
use crate::{Db, audit, incidents as incident_store};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use std::collections::HashMap;

use super::updates::{self, NewUpdate, UpdateStatus};

pub async fn of(db: &Db, ids: &[i64]) -> Result<HashMap<i64, incident_marks::Model>, StorageError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(incident_marks::Entity::find()
        .filter(incident_marks::Column::IncidentId.is_in(ids.iter().copied()))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|m| (m.incident_id, m))
        .collect())
}

/// Every incident marked a false alarm (left out of uptime and the damage-report flow).
pub async fn false_alarms(db: &Db) -> Result<Vec<i64>, StorageError> {
    Ok(incident_marks::Entity::find()
        .filter(incident_marks::Column::FalseAlarmAt.is_not_null())
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|m| m.incident_id)
        .collect())
}

async fn upsert<C: ConnectionTrait>(
    conn: &C,
    incident_id: i64,
    change: impl FnOnce(&mut incident_marks::Model),
) -> Result<(), StorageError> {
    let existing = incident_marks::Entity::find()
        .filter(incident_marks::Column::IncidentId.eq(incident_id))
        .one(conn)
        .await?;
    let mut m = existing.clone().unwrap_or(incident_marks::Model {
        id: 0,
        incident_id,
        declared_by: None,
        declared_text: None,
        false_alarm_at: None,
        false_alarm_by: None,
        resolved_by: None,
    });
    change(&mut m);
    let am = incident_marks::ActiveModel {
        id: if existing.is_some() {
            Set(m.id)
        } else {
            NotSet
        },
        incident_id: Set(m.incident_id),
        declared_by: Set(m.declared_by),
        declared_text: Set(m.declared_text),
        false_alarm_at: Set(m.false_alarm_at),
        false_alarm_by: Set(m.false_alarm_by),
        resolved_by: Set(m.resolved_by),
    };
    if existing.is_some() {
        incident_marks::Entity::update(am).exec(conn).await?;
    } else {
        incident_marks::Entity::insert(am).exec(conn).await?;
    }
    Ok(())
}

pub struct Declaration<'a> {
    pub dependency_ids: &'a [i64],
    pub started_at: i64,
    pub text: &'a str,
    pub user_id: i64,
    pub actor: &'a str,
}

/// Opens one `down` incident per dependency, marked declared, each with a first "조사 중"
/// update carrying the operator's text; audited. The notification planner then tells the
/// subscribed merchants exactly as for a probe-detected incident. Returns the incident ids.
pub async fn declare(db: &Db, d: Declaration<'_>, now: i64) -> Result<Vec<i64>, StorageError> {
    let txn = db.begin_write().await?;
    let mut ids = Vec::new();
    for dep in d.dependency_ids {
        let evidence = serde_json::json!({ "declared": true, "text": d.text });
        let id = incident_store::open(&*txn, *dep, "down", d.started_at, now, &evidence).await?;
        incident_store::add_event(&*txn, id, now, "declared", None, None, &evidence).await?;
        upsert(&*txn, id, |m| {
            m.declared_by = Some(d.user_id);
            m.declared_text = Some(d.text.to_string());
        })
        .await?;
        updates::add(
            &*txn,
            NewUpdate {
                dependency_id: *dep,
                incident_id: Some(id),
                maintenance_id: None,
                status: UpdateStatus::Investigating,
                body: d.text,
                author_user_id: Some(d.user_id),
                dedupe_key: format!("open:{id}"),
                at: now,
            },
        )
        .await?;
        ids.push(id);
    }
    audit::record(
        &*txn,
        now,
        audit::AuditEntry {
            actor_user_id: Some(d.user_id),
            actor: d.actor,
            action: "incident.declare",
            target_type: "incident",
            target_id: ids.first().copied(),
            detail: serde_json::json!({ "incidents": ids, "dependencies": d.dependency_ids,
                "started_at": d.started_at, "text": d.text }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(ids)
}

/// Posts an operator's update; a `resolved` update also resolves the incident by hand.
/// Audited. `None` when the incident does not exist (or is a store's own heartbeat).
pub async fn post_update(
    db: &Db,
    incident_id: i64,
    status: UpdateStatus,
    body: &str,
    user_id: i64,
    actor: &str,
    now: i64,
) -> Result<Option<i64>, StorageError> {
    let Some(inc) = incident_store::get_public(db, incident_id).await? else {
        return Ok(None);
    };
    let txn = db.begin_write().await?;
    let key = match status {
        UpdateStatus::Resolved if inc.resolved_at.is_none() => format!("resolved:{incident_id}"),
        _ => format!("op:{incident_id}:{now}:{:08x}", rand::random::<u32>()),
    };
    if status == UpdateStatus::Resolved && inc.resolved_at.is_none() {
        incident_store::resolve(&*txn, incident_id, now, now).await?;
        incident_store::add_event(
            &*txn,
            incident_id,
            now,
            "resolved_by_hand",
            None,
            None,
            &serde_json::json!({ "user": user_id }),
        )
        .await?;
        upsert(&*txn, incident_id, |m| m.resolved_by = Some(user_id)).await?;
    }
    let id = updates::add(
        &*txn,
        NewUpdate {
            dependency_id: inc.dependency_id,
            incident_id: Some(incident_id),
            maintenance_id: None,
            status,
            body,
            author_user_id: Some(user_id),
            dedupe_key: key,
            at: now,
        },
    )
    .await?;
    audit::record(
        &*txn,
        now,
        audit::AuditEntry {
            actor_user_id: Some(user_id),
            actor,
            action: "incident.update",
            target_type: "incident",
            target_id: Some(incident_id),
            detail: serde_json::json!({ "status": status.as_str(), "body": body }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// One message that told a merchant about an incident: who got it and how, for the
/// false-alarm correction.
#[derive(Debug, Clone)]
pub struct Told {
    pub merchant_id: i64,
    pub notice_id: i64,
    pub channel: String,
    pub recipient_enc: String,
    pub contact_id: Option<i64>,
}

/// Marks an incident a false alarm (resolving it if open, closing its open notices so
/// nothing escalates), audited, and returns, per merchant notice about it, the first message
/// that actually went out (accepted, sent or delivered): exactly those who were told.
/// `None` when the incident does not exist; an empty list when nobody was told.
pub async fn false_alarm(
    db: &Db,
    incident_id: i64,
    user_id: i64,
    actor: &str,
    now: i64,
) -> Result<Option<(incidents::Model, Vec<Told>)>, StorageError> {
    let Some(inc) = incident_store::get_public(db, incident_id).await? else {
        return Ok(None);
    };
    let txn = db.begin_write().await?;
    if inc.resolved_at.is_none() {
        incident_store::resolve(&*txn, incident_id, now, now).await?;
    }
    upsert(&*txn, incident_id, |m| {
        if m.false_alarm_at.is_none() {
            m.false_alarm_at = Some(now);
            m.false_alarm_by = Some(user_id);
        }
    })
    .await?;
    incident_store::add_event(
        &*txn,
        incident_id,
        now,
        "false_alarm",
        None,
        None,
        &serde_json::json!({ "user": user_id }),
    )
    .await?;
    let notice_ids: Vec<i64> = notice_incidents::Entity::find()
        .filter(notice_incidents::Column::IncidentId.eq(incident_id))
        .all(&*txn)
        .await?
        .into_iter()
        .map(|k| k.notice_id)
        .collect();
    let mut told = Vec::new();
    if !notice_ids.is_empty() {
        notices::Entity::update_many()
            .col_expr(notices::Column::Status, "closed".into())
            .col_expr(notices::Column::EscalateAt, Option::<i64>::None.into())
            .filter(notices::Column::Id.is_in(notice_ids.iter().copied()))
            .filter(notices::Column::Status.eq("open"))
            .exec(&*txn)
            .await?;
        // Messages not yet sent are not sent at all.
        outbox::Entity::update_many()
            .col_expr(outbox::Column::State, "cancelled".into())
            .filter(outbox::Column::NoticeId.is_in(notice_ids.iter().copied()))
            .filter(outbox::Column::State.is_in(["pending", "waiting"]))
            .exec(&*txn)
            .await?;
        let sent = outbox::Entity::find()
            .filter(outbox::Column::NoticeId.is_in(notice_ids.iter().copied()))
            .filter(outbox::Column::State.is_in(["accepted", "sending", "delivered"]))
            .filter(outbox::Column::Channel.is_in(["sms", "email"]))
            .order_by_asc(outbox::Column::Id)
            .all(&*txn)
            .await?;
        for m in sent {
            if told.iter().any(|t: &Told| t.notice_id == m.notice_id) {
                continue;
            }
            told.push(Told {
                merchant_id: m.merchant_id,
                notice_id: m.notice_id,
                channel: m.channel,
                recipient_enc: m.recipient_enc,
                contact_id: m.contact_id,
            });
        }
    }
    updates::add(
        &*txn,
        NewUpdate {
            dependency_id: inc.dependency_id,
            incident_id: Some(incident_id),
            maintenance_id: None,
            status: UpdateStatus::FalseAlarm,
            body: "",
            author_user_id: Some(user_id),
            dedupe_key: format!("false_alarm:{incident_id}"),
            at: now,
        },
    )
    .await?;
    audit::record(
        &*txn,
        now,
        audit::AuditEntry {
            actor_user_id: Some(user_id),
            actor,
            action: "incident.false_alarm",
            target_type: "incident",
            target_id: Some(incident_id),
            detail: serde_json::json!({ "merchants_told": told.len() }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Some((inc, told)))
}
