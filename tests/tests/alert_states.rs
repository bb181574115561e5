//! What a merchant reads, from the SMS to the alert page, as an incident goes on and ends: a
//! slowdown says "slow" (`[느림]`) everywhere and never "down" (`장애`); the page behind an
//! alert's link shows the live state of its event, so after recovery the down link says
//! `복구되었습니다` with the duration and offers the damage report.
//!
//! The hub (planner, composer, dispatcher) against a Twilio stand-in; the page is fetched from
//! the running app over HTTP, as the merchant's phone would.
mod hub_fixture;

use hub_fixture::{Hub, MINUTE, PAY, SECOND, TALK, link_in, merchant, phone};
use meoktong_storage::entity::subscriptions;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

async fn page(hub: &Hub, link: &str) -> String {
    let r = hub
        .app
        .client
        .get(link)
        .send()
        .await
        .expect("get alert page");
    assert_eq!(r.status(), 200, "{link}");
    r.text().await.expect("body")
}

fn texts_to(hub: &Hub, to: &str) -> Vec<String> {
    hub.twilio[0]
        .messages()
        .into_iter()
        .filter(|m| m.to == to)
        .map(|m| m.body)
        .collect()
}

/// The visible words of a page: its markup without tags (so a class name such as
/// `state-down` does not count as saying "down").
fn words(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowdown_is_told_as_slow_from_the_sms_to_the_recovery() {
    let hub = Hub::start().await;
    let to = "+821020000081";
    let m = merchant(&hub, "느림분식", &[PAY], &[phone(to)]).await;
    subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::NotifyDegraded, true.into())
        .filter(subscriptions::Column::MerchantId.eq(m))
        .exec(&hub.app.db.conn)
        .await
        .expect("opt in to slowdowns");
    let t0 = hub.t0;
    // Started 20 s before it was confirmed (`Hub::open`).
    let id = hub.open(PAY, "degraded", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    let sent = texts_to(&hub, to);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let sms = &sent[0];
    assert!(sms.starts_with("[느림] "), "{sms}");
    assert!(sms.contains("카카오페이가 느립니다."), "{sms}");
    assert!(
        sms.contains("결제가 늦으면"),
        "the slowdown's own line: {sms}"
    );
    assert!(!sms.contains("장애"), "a slowdown is not an outage: {sms}");

    let link = link_in(sms, &hub.app.address);
    let html = page(&hub, &link).await;
    let text = words(&html);
    assert!(text.contains("[느림] 카카오페이"), "{text}");
    assert!(text.contains("지금 느린 서비스"), "{text}");
    assert!(
        !text.contains("지금 안 되는 서비스") && !text.contains("[장애]"),
        "{text}"
    );
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "refreshes while it lasts"
    );
    assert!(
        text.contains("결제가 늦으면 카드 단말기나 현금을 안내하세요.")
            && text.contains("멈추면 할 일"),
        "the slowdown's own line, the playbook for if it stops: {text}"
    );

    // Back after one minute of slowness.
    let resolved = t0 - SECOND - 20 * SECOND + MINUTE;
    hub.resolve(id, resolved).await;
    hub.plan(resolved + SECOND).await;
    hub.dispatch(resolved + SECOND).await;
    let sent = texts_to(&hub, to);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let back = &sent[1];
    assert!(
        back.starts_with("[복구] 사장님, 카카오페이 속도가 정상으로 돌아왔습니다(느림 1분)."),
        "{back}"
    );
    assert!(!back.contains("장애"), "{back}");

    // The first link now shows that it is over, in a slowdown's words.
    let text = words(&page(&hub, &link).await);
    assert!(text.contains("속도가 정상으로 돌아왔습니다."), "{text}");
    assert!(text.contains("느렸던 시간: 1분"), "{text}");
    assert!(!text.contains("장애"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_down_link_says_it_is_back_after_recovery_and_offers_the_report() {
    let hub = Hub::start().await;
    let to = "+821020000082";
    merchant(&hub, "복구분식", &[TALK], &[phone(to)]).await;
    let t0 = hub.t0;
    let id = hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    let sent = texts_to(&hub, to);
    assert!(sent[0].starts_with("[장애] "), "{sent:?}");
    let link = link_in(&sent[0], &hub.app.address);

    let html = page(&hub, &link).await;
    let text = words(&html);
    assert!(text.contains("[장애] 카카오톡"), "{text}");
    assert!(text.contains("지금 안 되는 서비스"), "{text}");
    assert!(text.contains("수동 주문으로 전환했어요"), "{text}");
    assert!(html.contains("http-equiv=\"refresh\""), "{html}");
    assert!(!text.contains("복구되었습니다"), "{text}");

    // Down 5 minutes, from its first failed probe.
    let resolved = t0 - SECOND - 20 * SECOND + 5 * MINUTE;
    hub.resolve(id, resolved).await;
    let html = page(&hub, &link).await;
    let text = words(&html);
    assert!(text.contains("[복구] 카카오톡"), "{text}");
    assert!(text.contains("복구되었습니다."), "{text}");
    assert!(text.contains("장애 시간: 5분"), "{text}");
    assert!(
        !text.contains("지금 안 되는 서비스") && !text.contains("[장애]"),
        "{text}"
    );
    assert!(
        !text.contains("수동 주문으로 전환했어요"),
        "nothing to acknowledge once it is back: {text}"
    );
    assert!(
        html.contains(&format!("/reports/new?incident={id}")),
        "offers the damage report: {html}"
    );
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "a finished event stops refreshing"
    );
}
