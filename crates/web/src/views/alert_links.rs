//! Links from the signed-in merchant's pages to their alert pages (`/a/{token}`).
//!
//! Only a keyed hash of an alert link's token is stored, so a link is found the way the
//! notifier renders a notice again (`meoktong_notify::compose`): read back from a message
//! sent for the notice and checked against that hash
//! ([`meoktong_storage::outbox::link_token_in`]). Expired links are never offered.
use crate::AppState;
use crate::error::WebError;
use meoktong_domain::message::NoticeKind;
use meoktong_storage::entity::{notices, outbox as outbox_entity};
use meoktong_storage::outbox;
use std::collections::HashMap;

/// How many of the merchant's latest notices are searched for an open alert.
const RECENT_NOTICES: u64 = 50;

/// The alert page of a notice, from the messages sent for it; `None` when expired or when no
/// message carries its link.
pub fn href_of(
    state: &AppState,
    notice: &notices::Model,
    sent: &[outbox_entity::Model],
    now: i64,
) -> Option<String> {
    if notice.token_expires_at <= now {
        return None;
    }
    outbox::link_token_in(
        &state.crypto,
        &state.settings.server.public_url,
        &notice.token_hash,
        sent,
    )
    .map(|t| format!("/a/{t}"))
}

/// The dependency ids a notice told about.
pub fn dependency_ids(notice: &notices::Model) -> Vec<i64> {
    serde_json::from_str(&notice.dependency_ids).unwrap_or_default()
}

/// For each of `dependency_ids`, the alert page of the merchant's latest notice that told it
/// was down (down, follow-up, relapse or store offline), when there is one with a live link.
pub async fn open_alerts(
    state: &AppState,
    merchant_id: i64,
    dependency_ids: &[i64],
    now: i64,
) -> Result<HashMap<i64, String>, WebError> {
    let mut out = HashMap::new();
    if dependency_ids.is_empty() {
        return Ok(out);
    }
    let recent = outbox::notices_of_merchant(&state.db, merchant_id, RECENT_NOTICES).await?;
    let mut hrefs: HashMap<i64, Option<String>> = HashMap::new();
    for dep in dependency_ids {
        // Newest first: the latest alert about this dependency.
        let Some(n) = recent.iter().find(|n| {
            NoticeKind::parse(&n.kind).is_ok_and(NoticeKind::wants_ack)
                && dependency_ids_contain(n, *dep)
        }) else {
            continue;
        };
        let href = match hrefs.get(&n.id) {
            Some(h) => h.clone(),
            None => {
                let sent = outbox::messages_of_notice(&state.db, n.id).await?;
                let h = href_of(state, n, &sent, now);
                hrefs.insert(n.id, h.clone());
                h
            }
        };
        if let Some(h) = href {
            out.insert(*dep, h);
        }
    }
    Ok(out)
}

fn dependency_ids_contain(n: &notices::Model, dep: i64) -> bool {
    dependency_ids(n).contains(&dep)
}
