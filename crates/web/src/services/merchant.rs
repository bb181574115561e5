//! Use cases on a merchant's own data, shared by the dashboard pages and the JSON API:
//! subscriptions, contacts and their verification, test alerts, playbooks.
use crate::AppState;
use crate::auth::session::random_token;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::routes::account::validate::{email_message, phone_message};
use crate::services::limits;
use crate::views::{Errors, locale};
use meoktong_domain::Category;
use meoktong_domain::contact::{EmailAddr, platform_of_email};
use meoktong_domain::message::{self, NoticeDep, NoticeInput, NoticeKind};
use meoktong_domain::phone::parse_mobile;
use meoktong_notify::compose::{self, Composed, TestContact, TestTarget};
use meoktong_storage::contact_book::{self, AccountMessage, ContactView, NewContact};
use meoktong_storage::outbox;
use meoktong_storage::{accounts, catalog, dashboard, now_ms};
use std::collections::BTreeMap;

pub const SMS_CODE_PURPOSE: &str = "sms_verify";
const SMS_CODE_TTL_MS: i64 = 10 * 60 * 1000;
const SMS_CODE_MAX_ATTEMPTS: i32 = 5;
const EMAIL_LINK_TTL_MS: i64 = 24 * 3600 * 1000;

/// Makes the subscriptions exactly `wanted` (slug → notify on degraded). Unknown slugs are a
/// validation error on `dependencies`.
pub async fn set_subscriptions(
    state: &AppState,
    merchant_id: i64,
    user_id: i64,
    wanted: &[(String, bool)],
    lang: Lang,
) -> Result<(), WebError> {
    let deps = catalog::list_dependencies(&state.db).await?;
    let mut ids = BTreeMap::new();
    for (slug, degraded) in wanted {
        let Some(d) = deps.iter().find(|d| &d.slug == slug) else {
            let message = format!("{}: {slug}", lang.t("모르는 서비스", "unknown dependency"));
            return Err(WebError::Validation {
                field: "dependencies".into(),
                message,
            });
        };
        ids.insert(d.id, *degraded);
    }
    dashboard::set_subscriptions(&state.db, merchant_id, &ids, user_id, now_ms()).await?;
    // The planner tells a new subscriber about an open incident on its next pass.
    state.outbox_changed.notify_waiters();
    Ok(())
}

/// A contact as typed: at least a mobile number or an email.
pub struct ContactInput {
    pub label: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub email_platform: Option<String>,
}

/// A refused one-line text in the reader's language (the API speaks English: the reason).
pub fn text_message(lang: Lang, problem: meoktong_domain::text::TextProblem) -> String {
    match lang {
        Lang::En => format!("The text {problem}."),
        Lang::Ko => "보이지 않는 문자나 줄바꿈은 쓸 수 없습니다.".to_string(),
    }
}

pub fn parse_contact(
    label: &str,
    phone: &str,
    email: &str,
    lang: Lang,
    domains: &BTreeMap<String, Vec<String>>,
) -> Result<ContactInput, Errors> {
    let mut errors = Errors::default();
    let phone = match phone.trim() {
        "" => None,
        p => parse_mobile(p)
            .map_err(|e| errors.add("phone", phone_message(lang, e)))
            .ok()
            .map(|m| m.into_string()),
    };
    let (email, email_platform) = match email.trim() {
        "" => (None, None),
        // RFC 5321: no address is longer.
        e if e.len() > 254 => {
            errors.add("email", email_message(lang));
            (None, None)
        }
        e => match EmailAddr::parse(e) {
            Ok(a) => (
                Some(a.as_str().to_string()),
                platform_of_email(&a, domains).map(str::to_string),
            ),
            Err(_) => {
                errors.add("email", email_message(lang));
                (None, None)
            }
        },
    };
    if errors.is_empty() && phone.is_none() && email.is_none() {
        errors.add(
            "phone",
            lang.t(
                "휴대폰 번호나 이메일 중 하나는 적어 주세요.",
                "Give a mobile number or an email.",
            ),
        );
    }
    if label.chars().count() > 60 {
        errors.add("label", lang.t("너무 깁니다.", "Too long."));
    } else if let Err(problem) = meoktong_domain::text::check_line(label) {
        errors.add("label", text_message(lang, problem));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let label = Some(label.trim().to_string()).filter(|l| !l.is_empty());
    Ok(ContactInput {
        label,
        phone,
        email,
        email_platform,
    })
}

pub async fn add_contact(
    state: &AppState,
    merchant_id: i64,
    user_id: i64,
    c: &ContactInput,
) -> Result<i64, WebError> {
    let new = NewContact {
        label: c.label.as_deref(),
        phone: c.phone.as_deref(),
        email: c.email.as_deref(),
        email_platform: c.email_platform.clone(),
    };
    Ok(contact_book::add(
        &state.db,
        &state.crypto,
        merchant_id,
        new,
        user_id,
        now_ms(),
    )
    .await?)
}

/// The merchant's contact, or 404.
pub async fn contact(state: &AppState, merchant_id: i64, id: i64) -> Result<ContactView, WebError> {
    contact_book::get(&state.db, &state.crypto, merchant_id, id)
        .await?
        .ok_or(WebError::NotFound)
}

/// Texts a six-digit code to the contact's mobile number (rate limited: [`crate::services::limits`]).
pub async fn send_sms_code(
    state: &AppState,
    merchant_id: i64,
    c: &ContactView,
    lang: Lang,
) -> Result<(), WebError> {
    let Some(phone) = &c.phone else {
        return Err(WebError::Validation {
            field: "phone".into(),
            message: lang
                .t(
                    "휴대폰 번호가 없습니다.",
                    "This contact has no mobile number.",
                )
                .into(),
        });
    };
    limits::allow_code(c.id, phone, lang)?;
    let now = now_ms();
    let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
    let owner = accounts::TokenOwner {
        user_id: None,
        merchant_id: Some(merchant_id),
        contact_id: Some(c.id),
    };
    accounts::create_token(
        &state.db,
        &state.crypto,
        SMS_CODE_PURPOSE,
        &format!("{}:{code}", c.id),
        owner,
        now + SMS_CODE_TTL_MS,
        now,
    )
    .await?;
    let body = match lang {
        Lang::Ko => format!("[먹통] 인증번호 {code} (10분 안에 입력해 주세요)"),
        Lang::En => format!("[Meoktong] Your code is {code} (valid for 10 minutes)"),
    };
    let msg = AccountMessage {
        merchant_id,
        contact_id: Some(c.id),
        kind: "verify",
        channel: "sms",
        recipient: phone,
        subject: None,
        body,
        dedupe_key: format!("verify-sms:{}:{}", c.id, random_token(9)),
        validity_ms: SMS_CODE_TTL_MS,
    };
    contact_book::queue_account_message(&state.db, &state.crypto, msg, now).await?;
    state.outbox_changed.notify_waiters();
    Ok(())
}

/// Checks a code; a wrong or dead one is a validation error on `code`.
pub async fn verify_sms_code(
    state: &AppState,
    merchant_id: i64,
    c: &ContactView,
    code: &str,
    lang: Lang,
) -> Result<(), WebError> {
    let now = now_ms();
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    let result = accounts::check_contact_code(
        &state.db,
        &state.crypto,
        SMS_CODE_PURPOSE,
        c.id,
        &digits,
        SMS_CODE_MAX_ATTEMPTS,
        now,
    )
    .await?;
    let message = match result {
        accounts::CodeCheck::Ok => {
            contact_book::mark_verified(&state.db, merchant_id, c.id, "sms", now).await?;
            return Ok(());
        }
        accounts::CodeCheck::Wrong => {
            lang.t("인증번호가 맞지 않습니다.", "That code is not right.")
        }
        accounts::CodeCheck::NoCode => lang.t(
            "인증번호가 만료되었습니다. 다시 받아 주세요.",
            "The code expired; send a new one.",
        ),
    };
    Err(WebError::Validation {
        field: "code".into(),
        message: message.into(),
    })
}

/// Emails the contact a verification link (24 hours, single use; rate limited:
/// [`crate::services::limits`]).
pub async fn send_email_link(
    state: &AppState,
    merchant_id: i64,
    c: &ContactView,
    lang: Lang,
) -> Result<(), WebError> {
    let Some(email) = &c.email else {
        return Err(WebError::Validation {
            field: "email".into(),
            message: lang
                .t("이메일이 없습니다.", "This contact has no email.")
                .into(),
        });
    };
    limits::allow_email_link(c.id, email, lang)?;
    let now = now_ms();
    let token = random_token(32);
    let owner = accounts::TokenOwner {
        user_id: None,
        merchant_id: Some(merchant_id),
        contact_id: Some(c.id),
    };
    accounts::create_token(
        &state.db,
        &state.crypto,
        crate::routes::account::EMAIL_PURPOSE,
        &token,
        owner,
        now + EMAIL_LINK_TTL_MS,
        now,
    )
    .await?;
    let link = format!(
        "{}/verify/email/{token}",
        state.settings.server.public_url.trim_end_matches('/')
    );
    let body = format!(
        "{}\n\n{link}\n",
        lang.t(
            "먹통 장애 알림을 이 이메일로 받으려면 아래 링크를 여세요.",
            "Open this link to receive Meoktong outage alerts at this address."
        )
    );
    let msg = AccountMessage {
        merchant_id,
        contact_id: Some(c.id),
        kind: "verify",
        channel: "email",
        recipient: email,
        subject: Some(
            lang.t("[먹통] 이메일 확인", "[Meoktong] Confirm your email")
                .into(),
        ),
        body,
        dedupe_key: format!("verify-email:{}:{}", c.id, random_token(9)),
        validity_ms: EMAIL_LINK_TTL_MS,
    };
    contact_book::queue_account_message(&state.db, &state.crypto, msg, now).await?;
    state.outbox_changed.notify_waiters();
    Ok(())
}

/// Sends a `[테스트]` notice to one contact (or the first), over each of its channels, with
/// a working alert link (rate limited: [`crate::services::limits`]). Returns the notice id.
pub async fn send_test_alert(
    state: &AppState,
    merchant_id: i64,
    contact_id: Option<i64>,
    lang: Lang,
) -> Result<i64, WebError> {
    let contacts = contact_book::list(&state.db, &state.crypto, merchant_id).await?;
    let c = match contact_id {
        Some(id) => contacts
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(WebError::NotFound)?,
        None => contacts
            .into_iter()
            .next()
            .ok_or_else(|| WebError::Validation {
                field: "contact".into(),
                message: lang.t("연락처가 없습니다.", "There is no contact.").into(),
            })?,
    };
    let now = now_ms();
    let token = outbox::new_link_token(now);
    let input = test_input(state, merchant_id, lang, &token, now).await?;
    let dedupe = format!("test:{merchant_id}:{}:{}", c.id, random_token(9));
    let composed = compose::test_notice(
        &state.crypto,
        merchant_id,
        TestTarget::Contact(TestContact {
            id: c.id,
            position: c.position,
            phone: c.phone.as_deref(),
            email: c.email.as_deref(),
            sms_opted_out: c.sms_opted_out,
        }),
        &input,
        &dedupe,
        &token,
        now,
    );
    if composed.messages.is_empty() {
        return Err(WebError::Validation {
            field: "contact".into(),
            message: lang
                .t(
                    "보낼 수 있는 채널이 없습니다.",
                    "This contact has no channel to send to.",
                )
                .into(),
        });
    }
    let sms_to = c.phone.as_deref().filter(|_| !c.sms_opted_out);
    limits::allow_test_alert(merchant_id, sms_to, lang)?;
    queue_test_notice(state, composed).await
}

async fn test_input(
    state: &AppState,
    merchant_id: i64,
    lang: Lang,
    token: &str,
    now: i64,
) -> Result<NoticeInput, WebError> {
    let subs = dashboard::subscriptions_of(&state.db, merchant_id).await?;
    let deps = catalog::list_dependencies(&state.db).await?;
    let named: Vec<NoticeDep> = deps
        .iter()
        .filter(|d| subs.iter().any(|s| s.dependency_id == d.id))
        .take(3)
        .map(|d| NoticeDep {
            name: d.name.clone(),
            name_en: d.name_en.clone(),
            category: Category::parse(&d.category).unwrap_or(Category::Other),
        })
        .collect();
    Ok(NoticeInput {
        kind: NoticeKind::Test,
        locale: locale(lang),
        deps: named,
        since: now,
        now,
        tz: crate::views::service_tz(state),
        outage: None,
        playbook_line: None,
        still_down: Vec::new(),
        slow: false,
        maintenance: false,
        link: format!(
            "{}/a/{token}",
            state.settings.server.public_url.trim_end_matches('/')
        ),
    })
}

/// Saves a playbook; the category default (or a blank text) means "use the default".
pub async fn set_playbook(
    state: &AppState,
    merchant_id: i64,
    category: &str,
    text: &str,
    lang: Lang,
) -> Result<(), WebError> {
    let Some(cat) = Category::parse(category) else {
        return Err(WebError::NotFound);
    };
    if text.chars().count() > 2000 {
        return Err(WebError::Validation {
            field: "text".into(),
            message: lang
                .t("2000자까지 쓸 수 있습니다.", "At most 2000 characters.")
                .into(),
        });
    }
    let normalised = text.replace("\r\n", "\n");
    let is_default = [
        meoktong_domain::duration_text::Locale::Ko,
        meoktong_domain::duration_text::Locale::En,
    ]
    .iter()
    .any(|l| message::default_playbook_text(cat, *l).trim() == normalised.trim());
    let keep = if is_default { "" } else { normalised.as_str() };
    dashboard::set_playbook(&state.db, merchant_id, cat.as_str(), keep, now_ms()).await?;
    Ok(())
}

/// Writes a composed test notice and wakes the dispatcher. Returns the notice id.
pub async fn queue_test_notice(state: &AppState, composed: Composed) -> Result<i64, WebError> {
    let id = outbox::create_notice(&state.db, composed.notice, &composed.messages)
        .await?
        .ok_or_else(|| WebError::Unexpected("test notice collided".into()))?;
    state.outbox_changed.notify_waiters();
    Ok(id)
}
