//! A merchant's outgoing webhook, the use cases shared by the dashboard and the JSON API:
//! set the URL (through the SSRF guard), make a new signing secret, remove it, send a test.
use crate::AppState;
use crate::auth::session::random_token;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::services::limits;
use crate::views::{locale, service_tz};
use meoktong_domain::message::{NoticeInput, NoticeKind};
use meoktong_notify::compose::{self, TestTarget};
use meoktong_notify::{SsrfPolicy, WebhookUrlError, check_webhook_url};
use meoktong_storage::{now_ms, webhooks};

/// A new signing secret: 256 random bits, URL-safe, with a prefix that says what it is.
pub fn new_secret() -> String {
    format!("whsec_{}", random_token(32))
}

/// The operator's policy for merchant-supplied URLs (`probe.allow_private_targets`).
pub fn policy(state: &AppState) -> SsrfPolicy {
    SsrfPolicy {
        allow_private: state.settings.probe.allow_private_targets,
    }
}

/// What to tell the merchant about a refused URL.
pub fn url_error_text(l: Lang, e: &WebhookUrlError) -> &'static str {
    match e {
        WebhookUrlError::Invalid => l.t(
            "https://로 시작하는 주소를 입력해 주세요.",
            "Enter a URL starting with https://.",
        ),
        WebhookUrlError::TooLong => l.t("주소가 너무 깁니다.", "The URL is too long."),
        WebhookUrlError::NotHttps => l.t(
            "보안을 위해 https:// 주소만 쓸 수 있습니다.",
            "Only https:// URLs are allowed.",
        ),
        WebhookUrlError::Credentials => l.t(
            "주소에 아이디나 비밀번호를 넣지 마세요. 요청은 서명으로 확인합니다.",
            "Leave user name and password out of the URL; check the signature instead.",
        ),
        WebhookUrlError::Unresolvable(_) => l.t(
            "이 주소의 서버를 찾을 수 없습니다.",
            "We could not find this server.",
        ),
        WebhookUrlError::Blocked(_) => l.t(
            "내부망, 루프백, 링크 로컬 주소로는 보낼 수 없습니다. 인터넷에서 닿는 주소를 입력해 주세요.",
            "Private, loopback and link-local addresses are not allowed; use an address reachable from the internet.",
        ),
    }
}

/// Sets the webhook URL after the SSRF guard. `Ok(Some(secret))` when the webhook is new and
/// this is its secret (shown once); `Ok(None)` when an existing webhook keeps its secret.
pub async fn set_url(
    state: &AppState,
    merchant_id: i64,
    user_id: Option<i64>,
    raw: &str,
    l: Lang,
) -> Result<Option<String>, WebError> {
    if raw.trim().is_empty() {
        return Err(validation(
            l.t("웹훅 주소를 입력해 주세요.", "Enter the webhook URL."),
        ));
    }
    let url = check_webhook_url(raw, policy(state))
        .await
        .map_err(|e| validation(url_error_text(l, &e)))?;
    let secret = new_secret();
    let created = webhooks::set_url(
        &state.db,
        &state.crypto,
        merchant_id,
        url.as_str(),
        &secret,
        user_id,
        now_ms(),
    )
    .await?;
    Ok(created.then_some(secret))
}

/// A new secret for the merchant's webhook; `NotFound` when there is none.
pub async fn rotate(
    state: &AppState,
    merchant_id: i64,
    user_id: Option<i64>,
) -> Result<String, WebError> {
    let secret = new_secret();
    if !webhooks::rotate_secret(
        &state.db,
        &state.crypto,
        merchant_id,
        &secret,
        user_id,
        now_ms(),
    )
    .await?
    {
        return Err(WebError::NotFound);
    }
    Ok(secret)
}

/// Removes the merchant's webhook (nothing to do when there is none).
pub async fn remove(
    state: &AppState,
    merchant_id: i64,
    user_id: Option<i64>,
) -> Result<(), WebError> {
    webhooks::remove(&state.db, merchant_id, user_id, now_ms()).await?;
    Ok(())
}

/// Queues a test event (`"event": "test"`, no incident) to the merchant's webhook, through
/// the outbox like any alert, under a closed notice of kind `test`. Counts against the test
/// alert limit. Returns the notice id; `NotFound` without a webhook.
pub async fn send_test(state: &AppState, merchant_id: i64, l: Lang) -> Result<i64, WebError> {
    let Some(url_enc) = webhooks::url_enc_of(&state.db, &[merchant_id])
        .await?
        .remove(&merchant_id)
    else {
        return Err(WebError::NotFound);
    };
    limits::allow_test_alert(merchant_id, None, l)?;
    let now = now_ms();
    let token = random_token(16);
    let link = format!(
        "{}/a/{token}",
        state.settings.server.public_url.trim_end_matches('/')
    );
    let dedupe = format!("test:{merchant_id}:webhook:{}", random_token(9));
    let input = NoticeInput {
        kind: NoticeKind::Test,
        locale: locale(l),
        deps: Vec::new(),
        since: now,
        now,
        tz: service_tz(state),
        outage: None,
        playbook_line: None,
        link,
        still_down: Vec::new(),
        slow: false,
        maintenance: false,
    };
    let text = l.t(
        "[테스트] 먹통 웹훅 테스트입니다. 실제 장애가 아닙니다.",
        "[TEST] A Meoktong webhook test. Nothing is down.",
    );
    let composed = compose::test_notice(
        &state.crypto,
        merchant_id,
        TestTarget::Webhook {
            url_enc: &url_enc,
            text,
        },
        &input,
        &dedupe,
        &token,
        now,
    );
    crate::services::merchant::queue_test_notice(state, composed).await
}

fn validation(message: &str) -> WebError {
    WebError::Validation {
        field: "url".into(),
        message: message.to_string(),
    }
}
