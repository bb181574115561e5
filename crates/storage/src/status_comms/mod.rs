//! Status communication (issue 20): public subscribers, incident updates (each incident's
//! timeline, and what subscribers are told), operator marks (declared, false alarm) and
//! maintenance windows. See the README's "Status page subscribers and incident updates".
pub mod maintenance;
pub mod marks;
pub mod subscribers;
pub mod updates;

/// Whether an incident is maintenance rather than an outage: it opened during a scheduled
/// window (the engine records `"maintenance": true` in its evidence) or the provider itself
/// answered with its maintenance code (Kakao `-9798`, in the first failed probe's sample),
/// whether or not a window was scheduled here.
pub fn is_maintenance_evidence(evidence: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(evidence) else {
        return false;
    };
    v.get("maintenance").and_then(|m| m.as_bool()) == Some(true)
        || v.pointer("/sample/provider_code").and_then(|c| c.as_str())
            == Some(KAKAO_MAINTENANCE_CODE)
}

/// Kakao's "service under maintenance" answer (`{"code": -9798, "msg": "서비스 점검중입니다."}`).
pub const KAKAO_MAINTENANCE_CODE: &str = "-9798";

/// One message to a status subscriber (or a correction to a merchant), written to the outbox
/// as a closed notice like account messages, so the dispatcher, retries and `/dev/outbox`
/// apply while it never appears in a merchant's alert history. `Ok(false)` when a message
/// with this dedupe key exists already (another replica, or an earlier pass).
pub struct StatusMessage<'a> {
    /// 0 for a public subscriber; the merchant for a false-alarm correction.
    pub merchant_id: i64,
    /// `status` (subscriber) or `correction` (merchant).
    pub kind: &'a str,
    pub channel: &'a str,
    pub recipient_enc: &'a str,
    pub contact_id: Option<i64>,
    pub subject: Option<String>,
    pub body: String,
    pub dedupe_key: String,
    pub validity_ms: i64,
}

pub async fn queue(
    db: &crate::Db,
    m: StatusMessage<'_>,
    now: i64,
) -> Result<bool, crate::StorageError> {
    use crate::entity::{notices, outbox};
    use sea_orm::{ActiveValue::NotSet, EntityTrait, Set};
    let txn = db.begin_write().await?;
    let notice = notices::ActiveModel {
        id: NotSet,
        merchant_id: Set(m.merchant_id),
        kind: Set(m.kind.to_string()),
        dedupe_key: Set(m.dedupe_key.clone()),
        dependency_ids: Set("[]".into()),
        incident_ids: Set("[]".into()),
        since: Set(now),
        token_hash: Set(format!("status:{}", m.dedupe_key)),
        token_locator: Set(None),
        token_expires_at: Set(now),
        status: Set("closed".into()),
        contact_position: Set(0),
        escalate_at: Set(None),
        acked_at: Set(None),
        acked_via: Set(None),
        created_at: Set(now),
    };
    let notice_id = match notices::Entity::insert(notice).exec(&*txn).await {
        Ok(r) => r.last_insert_id,
        Err(e) if crate::error::is_unique_violation(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let msg = outbox::ActiveModel {
        id: NotSet,
        notice_id: Set(notice_id),
        merchant_id: Set(m.merchant_id),
        dedupe_key: Set(format!("{}:{}", m.dedupe_key, m.channel)),
        channel: Set(m.channel.to_string()),
        contact_id: Set(m.contact_id),
        contact_position: Set(0),
        recipient_enc: Set(m.recipient_enc.to_string()),
        subject: Set(m.subject),
        body: Set(m.body),
        html: Set(None),
        priority: Set(0),
        state: Set("pending".into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_by: Set(None),
        claim_expires_at: Set(None),
        provider_index: Set(None),
        provider_message_id: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        expires_at: Set(now + m.validity_ms),
        accepted_at: Set(None),
        delivered_at: Set(None),
        fallback_at: Set(None),
    };
    match outbox::Entity::insert(msg).exec(&*txn).await {
        Ok(_) => {}
        Err(e) if crate::error::is_unique_violation(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    txn.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::is_maintenance_evidence;

    #[test]
    fn maintenance_is_a_window_or_kakaos_own_code() {
        assert!(is_maintenance_evidence(r#"{"maintenance":true}"#));
        assert!(is_maintenance_evidence(
            r#"{"sample":{"provider_code":"-9798","status":200}}"#
        ));
        assert!(!is_maintenance_evidence(
            r#"{"sample":{"provider_code":"-7","status":200}}"#
        ));
        assert!(!is_maintenance_evidence("not json"));
        assert!(!is_maintenance_evidence(r#"{"maintenance":false}"#));
    }
}
