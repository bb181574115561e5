//! "Everything stops once acknowledged": an SMS reply or the alert page's button acknowledges
//! every open outage alert of the merchant (down, follow-up, relapse), not just one; and a
//! message in flight at that moment is not sent again after a transient failure.
mod hub_fixture;

use hub_fixture::{
    ACK_TIMEOUT, C, Hub, MINUTE, PAY, SECOND, SMS_DELIVERY_TIMEOUT, TALK, link_in, merchant, ms,
    phone,
};
use meoktong_notify::{ProviderError, SmsAccepted, SmsProvider, SmsRequest};
use meoktong_storage::{Db, now_ms, outbox};
use sea_orm::EntityTrait;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

const PHONE: &str = "+821030000001";

fn first_contact() -> C {
    C {
        phone: Some(PHONE),
        email: Some("owner@example.com"),
        ..C::default()
    }
}

/// A merchant told about Talk (down) and then Pay (follow-up): two open alerts, each with
/// an accepted SMS and a waiting email; a second contact to escalate to.
async fn two_open_alerts(hub: &Hub) -> i64 {
    let m = merchant(
        hub,
        "행복분식",
        &[TALK, PAY],
        &[first_contact(), phone("+821030000002")],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    hub.open(PAY, "down", t0 + 30 * SECOND).await;
    hub.plan(t0 + 31 * SECOND).await;
    hub.dispatch(t0 + 31 * SECOND).await;
    let notices = hub.notices(m).await;
    let kinds: Vec<&str> = notices.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["down", "followup"]);
    assert!(notices.iter().all(|n| n.status == "open"));
    assert_eq!(hub.twilio[0].messages().len(), 2);
    m
}

/// Nothing more happens for the merchant, however late it gets.
async fn everything_stopped(hub: &Hub, m: i64) {
    let notices = hub.notices(m).await;
    assert!(
        notices
            .iter()
            .all(|n| n.status == "acked" && n.escalate_at.is_none()),
        "every open alert is acknowledged: {notices:#?}"
    );
    for r in hub.rows(m).await.iter().filter(|r| r.channel == "email") {
        assert_eq!(
            r.state, "cancelled",
            "the waiting email of notice {}",
            r.notice_id
        );
    }
    let later = hub.t0 + ms(ACK_TIMEOUT) + ms(SMS_DELIVERY_TIMEOUT) + MINUTE;
    let stats = hub.sweep(later).await;
    assert_eq!((stats.escalations, stats.fallbacks), (0, 0));
    hub.dispatch(later).await;
    assert_eq!(hub.twilio[0].messages().len(), 2, "no SMS to anyone else");
    assert!(hub.smtp.received().is_empty(), "no email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replying_ok_acknowledges_every_open_alert_of_the_merchant() {
    let hub = Hub::start().await;
    let m = two_open_alerts(&hub).await;
    let r = hub.twilio[0]
        .send_inbound(&hub.app.url("/hooks/twilio/inbound"), PHONE, "OK")
        .await
        .expect("reply");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<Message>"), "{}", r.body);
    everything_stopped(&hub, m).await;
    let acks = meoktong_storage::entity::acknowledgements::Entity::find()
        .all(&hub.app.db.conn)
        .await
        .expect("acks");
    assert_eq!(acks.len(), 2, "each alert records its acknowledgement");
    assert!(acks.iter().all(|a| a.via == "sms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_page_button_acknowledges_every_open_alert_of_the_merchant() {
    let hub = Hub::start().await;
    let m = two_open_alerts(&hub).await;
    // The link of the first (down) notice; the follow-up is the newer one.
    let link = link_in(&hub.twilio[0].messages()[0].body, &hub.app.address);
    let page = hub.app.client.get(&link).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("body");
    let at = page.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    let csrf = page[at..].split('"').next().expect("csrf").to_string();
    let r = hub
        .app
        .client
        .post(format!("{link}/ack"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("ack");
    assert_eq!(r.status(), 303);
    everything_stopped(&hub, m).await;
}

/// Acknowledges the notice while "sending", then fails transiently — the merchant's reply
/// arriving while the SMS request is in flight.
#[derive(Default)]
struct AckWhileSending {
    db: OnceLock<Db>,
    notice: AtomicI64,
    calls: AtomicUsize,
}

impl SmsProvider for AckWhileSending {
    fn name(&self) -> &str {
        "ack-while-sending"
    }

    // What `#[async_trait]` would write.
    fn send<'a, 'b, 'f>(
        &'a self,
        _req: &'b SmsRequest,
    ) -> Pin<Box<dyn Future<Output = Result<SmsAccepted, ProviderError>> + Send + 'f>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let db = self.db.get().expect("the hub's database");
            let notice = self.notice.load(Ordering::SeqCst);
            assert!(
                outbox::acknowledge(db, notice, "sms", None, now_ms())
                    .await
                    .expect("acknowledge")
            );
            Err(ProviderError::transient(
                Some("20500".into()),
                "internal server error",
                None,
            ))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_flight_at_the_acknowledgement_is_not_sent_again() {
    let provider = Arc::new(AckWhileSending::default());
    let hub = Hub::with_providers(Vec::new(), vec![provider.clone() as Arc<dyn SmsProvider>]).await;
    let _ = provider.db.set(hub.app.db.clone());
    let m = merchant(&hub, "행복분식", &[TALK], &[first_contact()]).await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    let notice = hub.notices(m).await.remove(0);
    provider.notice.store(notice.id, Ordering::SeqCst);

    hub.dispatch(t0).await;
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    let sms = hub
        .rows(m)
        .await
        .into_iter()
        .find(|r| r.channel == "sms")
        .expect("sms");
    assert_eq!(
        sms.state, "cancelled",
        "not put back in the queue after the acknowledgement"
    );
    let later = t0 + ms(ACK_TIMEOUT) + MINUTE;
    hub.sweep(later).await;
    hub.dispatch(later).await;
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1, "never sent again");
    assert!(hub.smtp.received().is_empty(), "nor its email");
}
