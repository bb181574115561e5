//! The merchant hears a rejection: one short message through the outbox (SMS to the first
//! contact's phone unless it opted out, else email), naming the receipt number, the
//! association's reason and the report page where it can be fixed and sent again.
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use meoktong_storage::contact_book::{self, AccountMessage};
use meoktong_storage::entity::damage_reports;
use meoktong_storage::{contacts, reports};

/// A rejection's message is tried for a day.
const VALIDITY_MS: i64 = 24 * 3600 * 1000;
/// The reason as the SMS quotes it; the page shows it whole.
const REASON_CHARS: usize = 40;

/// The text of the rejection message.
pub fn rejection_text(lang: Lang, receipt: &str, reason: &str, link: &str) -> String {
    let mut short: String = reason.chars().take(REASON_CHARS).collect();
    if reason.chars().count() > REASON_CHARS {
        short.push('…');
    }
    match lang {
        Lang::Ko => format!(
            "[먹통] 피해 신고 {receipt}가 반려되었습니다. 사유: {short} 고쳐서 다시 제출: {link}"
        ),
        Lang::En => format!(
            "[Meoktong] Damage report {receipt} was rejected. Reason: {short} Fix and resend: {link}"
        ),
    }
}

/// Queues the message for a rejected report of a known merchant (anonymous reports have no
/// one to tell). Once per rejection: a second call for the same review is a no-op.
pub async fn rejection(
    state: &AppState,
    row: &damage_reports::Model,
    now: i64,
) -> Result<(), WebError> {
    let (Some(merchant_id), Some(reason)) = (row.merchant_id, row.review_reason.as_deref()) else {
        return Ok(());
    };
    let Some(m) = contacts::merchant(&state.db, merchant_id).await? else {
        return Ok(());
    };
    let lang = if m.locale.as_deref() == Some("en") {
        Lang::En
    } else {
        Lang::Ko
    };
    let link = format!(
        "{}/reports/{}",
        state.settings.server.public_url.trim_end_matches('/'),
        row.id
    );
    let body = rejection_text(lang, &reports::receipt_number(row.id), reason, &link);
    let list = contact_book::list(&state.db, &state.crypto, merchant_id).await?;
    let Some(c) = list.first() else {
        return Ok(());
    };
    let (channel, recipient, subject) = match (&c.phone, &c.email) {
        (Some(p), _) if !c.sms_opted_out => ("sms", p.as_str(), None),
        (_, Some(e)) => (
            "email",
            e.as_str(),
            Some(
                lang.t(
                    "[먹통] 피해 신고가 반려되었습니다",
                    "[Meoktong] Your damage report was rejected",
                )
                .to_string(),
            ),
        ),
        _ => return Ok(()),
    };
    let msg = AccountMessage {
        merchant_id,
        contact_id: Some(c.id),
        kind: "report_review",
        channel,
        recipient,
        subject,
        body,
        dedupe_key: format!(
            "report-review:{}:{}",
            row.id,
            row.reviewed_at.unwrap_or(now)
        ),
        validity_ms: VALIDITY_MS,
    };
    match contact_book::queue_account_message(&state.db, &state.crypto, msg, now).await {
        Ok(_) => {}
        Err(e) if e.is_unique_violation() => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(
        report.id = row.id,
        merchant.id = merchant_id,
        channel,
        "rejection told to the merchant"
    );
    state.outbox_changed.notify_waiters();
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rejection_text_is_short_and_names_what_to_do() {
        let t = super::rejection_text(
            crate::i18n::Lang::Ko,
            "MT-000042",
            &"영수증이 흐려서 금액을 읽을 수 없습니다".repeat(3),
            "https://m.example/reports/42",
        );
        assert!(
            t.starts_with("[먹통] 피해 신고 MT-000042가 반려되었습니다."),
            "{t}"
        );
        assert!(
            t.contains('…') && t.ends_with("https://m.example/reports/42"),
            "{t}"
        );
        assert!(t.chars().count() < 140, "{}", t.chars().count());
    }
}
