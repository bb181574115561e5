//! The hub's timers (`Timers::sweep_once`) with injected time: SMS not delivered in time →
//! email; SMS still queued past the queue budget → email too; no acknowledgement in time →
//! the next contact, with that contact's proper texts; acknowledged → nothing more; the last
//! contact → exhausted. Also who is told at all: degraded only to merchants who opted in, and
//! a contact whose only channel runs on the failed platform is skipped.
//!
//! Real Twilio stand-ins and a real SMTP server; every deadline is passed by giving the
//! sweep a later `now`, and checked one millisecond early too.
mod hub_fixture;

use hub_fixture::{
    ACK_TIMEOUT, C, Hub, MINUTE, NAVER, PAY, SECOND, SMS_DELIVERY_TIMEOUT, SMS_QUEUE_BUDGET, TALK,
    email, link_in, merchant, ms, phone,
};
use meoktong_domain::segments::count_segments;
use meoktong_storage::entity::{audit_log, subscriptions};
use meoktong_storage::outbox;
use meoktong_testkit::Mode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

async fn audit_entries(hub: &Hub, action: &str) -> Vec<audit_log::Model> {
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(action))
        .all(&hub.app.db.conn)
        .await
        .expect("audit log")
}

fn both(p: &'static str, e: &'static str) -> C {
    C {
        phone: Some(p),
        email: Some(e),
        ..C::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_not_delivered_within_the_delivery_timeout_sends_the_email() {
    let hub = Hub::start().await;
    let m = merchant(
        &hub,
        "행복분식",
        &[TALK],
        &[both("+821020000001", "owner@example.com")],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    let sms = hub
        .rows(m)
        .await
        .into_iter()
        .find(|r| r.channel == "sms")
        .expect("sms");
    assert_eq!(sms.state, "accepted");
    let due = sms.accepted_at.expect("accepted at") + ms(SMS_DELIVERY_TIMEOUT);

    assert_eq!(hub.sweep(due - 1).await.fallbacks, 0, "not yet");
    hub.dispatch(due - 1).await;
    let email_row = hub
        .rows(m)
        .await
        .into_iter()
        .find(|r| r.channel == "email")
        .expect("email");
    assert_eq!(email_row.state, "waiting");
    assert!(hub.smtp.received().is_empty());

    assert_eq!(
        hub.sweep(due).await.fallbacks,
        1,
        "the delivery timeout passed"
    );
    hub.dispatch(due).await;
    let mails = hub.mails(1).await;
    assert_eq!(mails[0].to, vec!["owner@example.com".to_string()]);
    let subject = mails[0].subject().expect("subject");
    assert!(
        subject.starts_with("[장애]") && subject.contains("카카오톡"),
        "{subject}"
    );
    assert_eq!(
        hub.sweep(due + MINUTE).await.fallbacks,
        0,
        "the fallback happens once"
    );
    hub.dispatch(due + MINUTE).await;
    assert_eq!(hub.smtp.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_still_queued_past_the_queue_budget_sends_the_email_too() {
    let hub = Hub::start().await;
    hub.twilio[0].set_mode(Mode::Fail500);
    let m = merchant(
        &hub,
        "행복분식",
        &[PAY],
        &[both("+821020000011", "owner@example.com")],
    )
    .await;
    let t0 = hub.t0;
    hub.open(PAY, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    assert_eq!(hub.twilio[0].request_count(), 1, "tried, answered 500");
    let sms = hub
        .rows(m)
        .await
        .into_iter()
        .find(|r| r.channel == "sms")
        .expect("sms");
    assert_eq!(sms.state, "pending", "retrying");
    let due = sms.created_at + ms(SMS_QUEUE_BUDGET);

    assert_eq!(hub.sweep(due - 1).await.fallbacks, 0, "within the budget");
    assert_eq!(hub.sweep(due).await.fallbacks, 1, "the budget is spent");
    hub.dispatch(due).await;
    let mails = hub.mails(1).await;
    assert!(mails[0].subject().expect("subject").contains("카카오페이"));

    // The SMS still goes out once the provider recovers: the email came *too*.
    hub.twilio[0].set_mode(Mode::Accept);
    hub.dispatch(due + 5 * MINUTE).await;
    let sent = hub.twilio[0].messages();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].to, "+821020000011");
    assert_eq!(hub.sweep(due + 6 * MINUTE).await.fallbacks, 0);
    assert_eq!(hub.smtp.received().len(), 1, "one email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ack_in_time_sends_the_next_contact_the_proper_sms() {
    let hub = Hub::start().await;
    // The first contact has no mobile number: its notice is an email only.
    let m = merchant(
        &hub,
        "행복분식",
        &[TALK],
        &[
            email("first@example.com"),
            both("+821020000022", "second@example.com"),
        ],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    let first_mail = hub.mails(1).await.remove(0);
    assert_eq!(first_mail.to, vec!["first@example.com".to_string()]);
    let link = link_in(&first_mail.text().expect("text"), &hub.app.address);
    assert!(hub.twilio[0].messages().is_empty());

    assert_eq!(
        hub.sweep(t0 + ms(ACK_TIMEOUT) - 1).await.escalations,
        0,
        "not yet"
    );
    assert_eq!(hub.sweep(t0 + ms(ACK_TIMEOUT)).await.escalations, 1);
    hub.dispatch(t0 + ms(ACK_TIMEOUT)).await;
    let sent = hub.twilio[0].messages();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].to, "+821020000022");
    let body = &sent[0].body;
    assert!(
        body.starts_with("[장애]") && body.contains("카카오톡"),
        "the SMS text: {body:?}"
    );
    assert!(count_segments(body).segments <= 2, "{body}");
    assert_eq!(link_in(body, &hub.app.address), link, "the same alert page");
    let notice = &hub.notices(m).await[0];
    assert_eq!(notice.contact_position, 1);
    assert_eq!(notice.escalate_at, Some(t0 + 2 * ms(ACK_TIMEOUT)));
    // Its email fallback waits, not rendered yet (most fallbacks are never sent) …
    let email_row = |rows: Vec<meoktong_storage::entity::outbox::Model>| {
        rows.into_iter()
            .find(|r| r.channel == "email" && r.contact_position == 1)
            .expect("the second contact's email")
    };
    let fallback = email_row(hub.rows(m).await);
    assert_eq!(fallback.state, "waiting");
    assert_eq!(fallback.subject, None);
    // … and when the SMS is not delivered in time it goes out with the full email texts
    // and the same alert link, which the row then keeps.
    let due = t0 + ms(ACK_TIMEOUT) + ms(SMS_DELIVERY_TIMEOUT);
    assert_eq!(hub.sweep(due).await.fallbacks, 1);
    hub.dispatch(due).await;
    let mail = hub.mails(2).await.remove(1);
    assert_eq!(mail.to, vec!["second@example.com".to_string()]);
    assert!(
        mail.subject().is_some_and(|s| s.contains("카카오톡")),
        "{:?}",
        mail.subject()
    );
    let text = mail.text().expect("text");
    assert_ne!(&text, body, "the email text, not the SMS text");
    assert_eq!(
        link_in(&text, &hub.app.address),
        link,
        "the same alert page"
    );
    assert!(mail.html().is_some_and(|h| h.contains(&link)));
    let sent = email_row(hub.rows(m).await);
    assert!(sent.subject.is_some_and(|s| s.contains("카카오톡")));
    assert!(sent.html.is_some_and(|h| h.contains(&link)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ack_in_time_sends_the_next_contact_the_proper_email() {
    let hub = Hub::start().await;
    // The first contact has no email; the second has nothing but email.
    let m = merchant(
        &hub,
        "행복분식",
        &[PAY],
        &[phone("+821020000031"), email("second@example.com")],
    )
    .await;
    let t0 = hub.t0;
    hub.open(PAY, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    let sms = hub.twilio[0].messages();
    assert_eq!(sms.len(), 1);
    let link = link_in(&sms[0].body, &hub.app.address);

    assert_eq!(hub.sweep(t0 + ms(ACK_TIMEOUT)).await.escalations, 1);
    hub.dispatch(t0 + ms(ACK_TIMEOUT)).await;
    let mail = hub.mails(1).await.remove(0);
    assert_eq!(mail.to, vec!["second@example.com".to_string()]);
    let subject = mail.subject().expect("a subject");
    assert!(
        subject.starts_with("[장애]") && subject.contains("카카오페이"),
        "{subject:?}"
    );
    let text = mail.text().expect("a text part");
    assert!(text.contains(&link), "{text}");
    assert_ne!(
        text.trim(),
        sms[0].body.trim(),
        "the email text, not the SMS text"
    );
    let html = mail.html().expect("an HTML part");
    assert!(html.contains("<html") && html.contains(&link), "{html}");
    assert_eq!(hub.notices(m).await[0].contact_position, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_alert_does_not_escalate() {
    let hub = Hub::start().await;
    let m = merchant(
        &hub,
        "행복분식",
        &[TALK],
        &[
            both("+821020000041", "first@example.com"),
            phone("+821020000042"),
        ],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    let notice = hub.notices(m).await.remove(0);
    assert!(
        outbox::acknowledge(&hub.app.db, notice.id, "web", None, t0 + MINUTE)
            .await
            .expect("ack")
    );

    let later = t0 + ms(ACK_TIMEOUT) + MINUTE;
    let stats = hub.sweep(later).await;
    assert_eq!((stats.escalations, stats.fallbacks), (0, 0));
    let stats = hub.sweep(later + ms(SMS_DELIVERY_TIMEOUT)).await;
    assert_eq!(
        (stats.escalations, stats.fallbacks),
        (0, 0),
        "no email fallback either"
    );
    hub.dispatch(later + ms(SMS_DELIVERY_TIMEOUT)).await;
    assert_eq!(
        hub.twilio[0].messages().len(),
        1,
        "only the first contact's SMS"
    );
    assert!(hub.smtp.received().is_empty());
    assert!(hub.rows(m).await.iter().all(|r| r.contact_position == 0));
    assert_eq!(hub.notices(m).await[0].status, "acked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_last_contact_the_notice_is_exhausted() {
    let hub = Hub::start().await;
    let m = merchant(&hub, "행복분식", &[TALK], &[phone("+821020000051")]).await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    let rows_before = hub.rows(m).await.len();

    assert_eq!(hub.notices(m).await[0].status, "open");
    assert_eq!(
        hub.sweep(t0 + ms(ACK_TIMEOUT)).await.escalations,
        0,
        "nobody left"
    );
    let notice = hub.notices(m).await.remove(0);
    assert_eq!(notice.status, "exhausted", "recorded: every contact tried");
    assert_eq!(notice.escalate_at, None);
    let audit = audit_entries(&hub, "notice.exhausted").await;
    assert_eq!(audit.len(), 1, "the exhaustion is in the audit log");
    assert_eq!(audit[0].target_id, Some(m));
    assert_eq!(hub.sweep(t0 + 3 * ms(ACK_TIMEOUT)).await.escalations, 0);
    assert_eq!(
        audit_entries(&hub, "notice.exhausted").await.len(),
        1,
        "once"
    );
    assert_eq!(hub.rows(m).await.len(), rows_before, "no new message");
    assert_eq!(hub.twilio[0].messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_is_told_only_to_merchants_who_opted_in() {
    let hub = Hub::start().await;
    let wants = merchant(&hub, "알림 원함", &[PAY], &[phone("+821020000061")]).await;
    let quiet = merchant(&hub, "조용히", &[PAY], &[phone("+821020000062")]).await;
    subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::NotifyDegraded, true.into())
        .filter(subscriptions::Column::MerchantId.eq(wants))
        .exec(&hub.app.db.conn)
        .await
        .expect("opt in");
    let t0 = hub.t0;
    hub.open(PAY, "degraded", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    assert_eq!(hub.notices(wants).await.len(), 1);
    assert!(
        hub.notices(quiet).await.is_empty(),
        "not opted in: not told"
    );
    let sent = hub.twilio[0].messages();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].to, "+821020000061");
    // Nor is the quiet merchant told later, by a timer.
    hub.sweep(t0 + ms(ACK_TIMEOUT)).await;
    hub.plan(t0 + ms(ACK_TIMEOUT)).await;
    assert!(hub.notices(quiet).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_whose_email_is_on_the_failed_platform_is_skipped_for_the_next() {
    let hub = Hub::start().await;
    // Kakao is down: the second contact's only channel, Hanmail, is Kakao's.
    let hanmail = C {
        email: Some("owner@hanmail.net"),
        email_platform: Some("kakao"),
        ..C::default()
    };
    let m = merchant(
        &hub,
        "행복분식",
        &[TALK, NAVER],
        &[
            phone("+821020000071"),
            hanmail,
            both("+821020000073", "third@example.com"),
        ],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;

    assert_eq!(hub.sweep(t0 + ms(ACK_TIMEOUT)).await.escalations, 1);
    hub.dispatch(t0 + ms(ACK_TIMEOUT)).await;
    let to: Vec<String> = hub.twilio[0].messages().into_iter().map(|m| m.to).collect();
    assert_eq!(to, ["+821020000071", "+821020000073"]);
    assert_eq!(
        hub.notices(m).await[0].contact_position,
        2,
        "the second was skipped"
    );
    assert!(
        hub.rows(m).await.iter().all(|r| r.contact_position != 1),
        "nothing for the Hanmail contact"
    );
    let skips = audit_entries(&hub, "notice.contact_skipped").await;
    assert_eq!(skips.len(), 1, "the skip is recorded: {skips:#?}");
    assert!(
        skips[0].detail.contains("failed platform"),
        "{}",
        skips[0].detail
    );
    // Its email fallback (third contact) comes after the delivery timeout, never to Hanmail.
    let accepted = hub
        .rows(m)
        .await
        .into_iter()
        .filter(|r| r.channel == "sms")
        .filter_map(|r| r.accepted_at)
        .max()
        .expect("accepted");
    hub.sweep(accepted + ms(SMS_DELIVERY_TIMEOUT)).await;
    hub.dispatch(accepted + ms(SMS_DELIVERY_TIMEOUT)).await;
    let mails = hub.mails(1).await;
    assert_eq!(mails[0].to, vec!["third@example.com".to_string()]);
    assert!(
        mails
            .iter()
            .all(|m| !m.to.iter().any(|t| t.ends_with("hanmail.net"))),
        "no mail on the failed platform"
    );
}
