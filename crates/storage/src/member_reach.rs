//! Live reach during an outage: for an association's members subscribed to something that is
//! down now, whether our alert reached them (SMS delivered, email accepted, a call answered),
//! whether they acknowledged it, and the number to call when it did not.
use crate::Db;
use crate::crypto::Crypto;
use crate::entity::{contacts, incidents, merchants, notices, outbox, subscriptions};
use crate::error::StorageError;
use crate::members::member_ids;
use crate::outbox::{Channel, MessageState};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::{HashMap, HashSet};

/// Alert notices count from this long before the earliest open incident started (a notice is
/// written after its incident opens; the margin only guards clock skew between replicas).
const NOTICE_MARGIN_MS: i64 = 60_000;

/// What reached one member, from the outbox's own states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberReach {
    pub merchant_id: i64,
    pub business_name: String,
    /// Ids of the down dependencies the member subscribes to.
    pub down_dependency_ids: Vec<i64>,
    /// An alert notice exists for this outage.
    pub notified: bool,
    /// An SMS was delivered (the carrier's report).
    pub sms_delivered: bool,
    /// An SMS is on its way (queued or accepted, no delivery report yet).
    pub sms_pending: bool,
    /// An email was accepted by the mail server.
    pub email_sent: bool,
    /// An alert call was answered.
    pub voice_answered: bool,
    pub acknowledged_at: Option<i64>,
    /// The first contact's mobile number (E.164), for the association's staff to call.
    pub phone: Option<String>,
}

impl MemberReach {
    /// Reached by any channel (or acknowledged).
    pub fn reached(&self) -> bool {
        self.acknowledged_at.is_some()
            || self.sms_delivered
            || self.email_sent
            || self.voice_answered
    }
}

/// The outage now: open incidents, and the reach of every member subscribed to one of them.
#[derive(Debug, Clone, Default)]
pub struct LiveReach {
    pub open_incidents: Vec<incidents::Model>,
    pub members: Vec<MemberReach>,
}

/// Live reach for one association's members (only its own).
pub async fn live_reach(
    db: &Db,
    crypto: &Crypto,
    association_id: i64,
) -> Result<LiveReach, StorageError> {
    let open = incidents::Entity::find()
        .filter(incidents::Column::ResolvedAt.is_null())
        .filter(incidents::Column::Severity.eq("down"))
        .order_by_asc(incidents::Column::StartedAt)
        .all(&db.conn)
        .await?;
    if open.is_empty() {
        return Ok(LiveReach::default());
    }
    let down: HashSet<i64> = open.iter().map(|i| i.dependency_id).collect();
    let since = open.iter().map(|i| i.started_at).min().unwrap_or_default() - NOTICE_MARGIN_MS;
    let members = member_ids(&db.conn, association_id).await?;
    if members.is_empty() {
        return Ok(LiveReach {
            open_incidents: open,
            members: Vec::new(),
        });
    }
    let mut affected: HashMap<i64, Vec<i64>> = HashMap::new();
    for s in subscriptions::Entity::find()
        .filter(subscriptions::Column::MerchantId.is_in(members))
        .filter(subscriptions::Column::DependencyId.is_in(down.iter().copied()))
        .all(&db.conn)
        .await?
    {
        affected
            .entry(s.merchant_id)
            .or_default()
            .push(s.dependency_id);
    }
    let ids: Vec<i64> = affected.keys().copied().collect();
    let mut out: HashMap<i64, MemberReach> = merchants::Entity::find()
        .filter(merchants::Column::Id.is_in(ids.clone()))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|m| {
            let mut deps = affected.remove(&m.id).unwrap_or_default();
            deps.sort_unstable();
            let r = MemberReach {
                merchant_id: m.id,
                business_name: m.business_name,
                down_dependency_ids: deps,
                ..MemberReach::default()
            };
            (m.id, r)
        })
        .collect();
    let alerts = ["down", "relapse", "followup"];
    let notices = notices::Entity::find()
        .filter(notices::Column::MerchantId.is_in(ids.clone()))
        .filter(notices::Column::Kind.is_in(alerts))
        .filter(notices::Column::CreatedAt.gte(since))
        .all(&db.conn)
        .await?;
    let mut notice_owner = HashMap::new();
    for n in &notices {
        notice_owner.insert(n.id, n.merchant_id);
        if let Some(r) = out.get_mut(&n.merchant_id) {
            r.notified = true;
            if let Some(at) = n.acked_at {
                r.acknowledged_at = Some(r.acknowledged_at.map_or(at, |a| a.min(at)));
            }
        }
    }
    for m in outbox::Entity::find()
        .filter(outbox::Column::NoticeId.is_in(notice_owner.keys().copied()))
        .all(&db.conn)
        .await?
    {
        let Some(r) = notice_owner.get(&m.notice_id).and_then(|o| out.get_mut(o)) else {
            continue;
        };
        let (Ok(channel), Ok(state)) = (Channel::parse(&m.channel), MessageState::parse(&m.state))
        else {
            continue;
        };
        match (channel, state) {
            (Channel::Sms, MessageState::Delivered) => r.sms_delivered = true,
            (
                Channel::Sms,
                MessageState::Pending | MessageState::Sending | MessageState::Accepted,
            ) => r.sms_pending = true,
            (Channel::Email, MessageState::Accepted | MessageState::Delivered) => {
                r.email_sent = true
            }
            (Channel::Voice, MessageState::Delivered) => r.voice_answered = true,
            _ => {}
        }
    }
    for c in contacts::Entity::find()
        .filter(contacts::Column::MerchantId.is_in(ids))
        .order_by_asc(contacts::Column::Position)
        .all(&db.conn)
        .await?
    {
        if let Some(r) = out.get_mut(&c.merchant_id)
            && r.phone.is_none()
            && let Some(enc) = &c.phone_enc
        {
            r.phone = Some(crypto.decrypt(enc).map_err(StorageError::Crypto)?);
        }
    }
    let mut members: Vec<MemberReach> = out.into_values().collect();
    // Whom to call first: not reached, then reached but not acknowledged, then the rest.
    members.sort_by(|a, b| {
        (a.reached(), a.acknowledged_at.is_some(), &a.business_name).cmp(&(
            b.reached(),
            b.acknowledged_at.is_some(),
            &b.business_name,
        ))
    });
    Ok(LiveReach {
        open_incidents: open,
        members,
    })
}
