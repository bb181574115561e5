//! Notices waiting for an acknowledgement: acknowledging, escalating to the next contact,
//! and closing them when the outage is over.
use super::{Channel, MessageState, NoticeStatus};
use crate::Db;
use crate::entity::{acknowledgements, notice_incidents, notices, outbox};
use crate::error::StorageError;
use meoktong_domain::message::NoticeKind;
use sea_orm::{ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

/// The stored kinds of the notices that are outage alerts waiting for an acknowledgement
/// ([`NoticeKind::is_outage_alert`]). Acknowledging one of them acknowledges every open one of
/// the merchant's: "everything stops once acknowledged".
pub fn outage_alert_kinds() -> Vec<&'static str> {
    NoticeKind::ALL
        .into_iter()
        .filter(|k| k.is_outage_alert())
        .map(NoticeKind::as_str)
        .collect()
}

/// Acknowledges a notice and, when it is an outage alert, every other open outage alert of
/// the same merchant (down, follow-up, relapse): records each, stops every message of theirs
/// not yet sent, and ends their escalation. False if the notice was already acknowledged.
pub async fn acknowledge(
    db: &Db,
    notice_id: i64,
    via: &str,
    contact_id: Option<i64>,
    now: i64,
) -> Result<bool, StorageError> {
    let txn = db.begin_write().await?;
    let Some(notice) = notices::Entity::find_by_id(notice_id).one(&txn).await? else {
        return Ok(false);
    };
    if notice.status == NoticeStatus::Acked.as_str() {
        return Ok(false);
    }
    let mut ids = vec![notice_id];
    if NoticeKind::parse(&notice.kind).is_ok_and(NoticeKind::is_outage_alert) {
        ids.extend(
            notices::Entity::find()
                .filter(notices::Column::MerchantId.eq(notice.merchant_id))
                .filter(notices::Column::Status.eq(NoticeStatus::Open))
                .filter(notices::Column::Kind.is_in(outage_alert_kinds()))
                .filter(notices::Column::Id.ne(notice_id))
                .all(&txn)
                .await?
                .into_iter()
                .map(|n| n.id),
        );
    }
    // Only notices still unacknowledged: the first acknowledgement is the one recorded.
    let acked: Vec<i64> = notices::Entity::find()
        .filter(notices::Column::Id.is_in(ids))
        .filter(notices::Column::Status.ne(NoticeStatus::Acked))
        .all(&txn)
        .await?
        .into_iter()
        .map(|n| n.id)
        .collect();
    notices::Entity::update_many()
        .col_expr(notices::Column::Status, NoticeStatus::Acked.into())
        .col_expr(notices::Column::AckedAt, Some(now).into())
        .col_expr(notices::Column::AckedVia, Some(via.to_string()).into())
        .col_expr(notices::Column::EscalateAt, Option::<i64>::None.into())
        .filter(notices::Column::Id.is_in(acked.clone()))
        .exec(&txn)
        .await?;
    let rows: Vec<acknowledgements::ActiveModel> = acked
        .iter()
        .map(|id| acknowledgements::ActiveModel {
            id: NotSet,
            notice_id: Set(*id),
            at: Set(now),
            via: Set(via.to_string()),
            contact_id: Set(contact_id),
        })
        .collect();
    acknowledgements::Entity::insert_many(rows)
        .exec_without_returning(&txn)
        .await?;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::State, MessageState::Cancelled.into())
        .filter(outbox::Column::NoticeId.is_in(acked))
        .filter(outbox::Column::State.is_in([MessageState::Waiting, MessageState::Pending]))
        // A merchant's own system is told whatever the people did.
        .filter(outbox::Column::Channel.ne(Channel::Webhook))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(true)
}

/// The merchant's latest notice still waiting for an acknowledgement.
pub async fn latest_open_notice(
    db: &Db,
    merchant_ids: &[i64],
) -> Result<Option<notices::Model>, StorageError> {
    Ok(notices::Entity::find()
        .filter(notices::Column::MerchantId.is_in(merchant_ids.to_vec()))
        .filter(notices::Column::Status.eq(NoticeStatus::Open))
        .order_by_desc(notices::Column::CreatedAt)
        .order_by_desc(notices::Column::Id)
        .one(&db.conn)
        .await?)
}

/// Open notices whose acknowledgement deadline passed.
pub async fn due_escalations(db: &Db, now: i64) -> Result<Vec<notices::Model>, StorageError> {
    Ok(notices::Entity::find()
        .filter(notices::Column::Status.eq(NoticeStatus::Open))
        .filter(notices::Column::EscalateAt.lte(now))
        .all(&db.conn)
        .await?)
}

/// Moves a notice to its next contact (or marks it exhausted when there is none).
pub async fn escalate(
    db: &Db,
    notice_id: i64,
    position: Option<i32>,
    escalate_at: Option<i64>,
) -> Result<(), StorageError> {
    let mut q = notices::Entity::update_many().filter(notices::Column::Id.eq(notice_id));
    match position {
        Some(p) => {
            q = q
                .col_expr(notices::Column::ContactPosition, p.into())
                .col_expr(notices::Column::EscalateAt, escalate_at.into());
        }
        None => {
            q = q
                .col_expr(notices::Column::Status, NoticeStatus::Exhausted.into())
                .col_expr(notices::Column::EscalateAt, Option::<i64>::None.into());
        }
    }
    q.exec(&db.conn).await?;
    Ok(())
}

/// An outage is over: its earlier notices stop waiting for acknowledgement and escalating.
pub async fn close_notices_for_incidents(
    db: &Db,
    merchant_id: i64,
    incident_ids: &[i64],
) -> Result<u64, StorageError> {
    let notice_ids: Vec<i64> = notice_incidents::Entity::find()
        .filter(notice_incidents::Column::MerchantId.eq(merchant_id))
        .filter(notice_incidents::Column::IncidentId.is_in(incident_ids.to_vec()))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    if notice_ids.is_empty() {
        return Ok(0);
    }
    let res = notices::Entity::update_many()
        .col_expr(notices::Column::Status, NoticeStatus::Closed.into())
        .col_expr(notices::Column::EscalateAt, Option::<i64>::None.into())
        .filter(notices::Column::Id.is_in(notice_ids))
        .filter(notices::Column::Status.eq(NoticeStatus::Open))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}
