//! `[voice]`: an outage alert nobody acknowledged after `notify.voice_after` calls the
//! current contact before `ack_timeout` moves on; pressing 1 acknowledges; an unanswered call
//! leaves the chain to go on. Never for test or degraded notices, a contact who turned calls
//! off, or without `[voice]`. The call's hooks are signature-checked. Time is an argument; the
//! Twilio Calls stand-in plays Twilio and the callee. On SQLite and PostgreSQL.
mod hub_fixture;

use hub_fixture::{ACK_TIMEOUT, Hub, MINUTE, SECOND, TALK, VOICE_AFTER, merchant, ms, phone};
use meoktong_storage::entity::{incidents, notices, outbox as outbox_entity, subscriptions};
use meoktong_storage::{contact_book, now_ms};
use meoktong_testkit::{RecordedCall, Signing, TwilioVoiceStandIn};
use meoktong_tests::Backend;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

const FIRST: &str = "+821040000001";
const SECOND_PHONE: &str = "+821040000002";

/// A merchant with two phone contacts, told that KakaoTalk is down at `t0`.
async fn told_down(hub: &Hub) -> i64 {
    let m = merchant(
        hub,
        "행복분식",
        &[TALK],
        &[phone(FIRST), phone(SECOND_PHONE)],
    )
    .await;
    hub.open(TALK, "down", hub.t0 - SECOND).await;
    hub.plan(hub.t0).await;
    hub.dispatch(hub.t0).await;
    assert_eq!(hub.twilio[0].messages().len(), 1, "the first contact's SMS");
    m
}

fn voice_rows(rows: &[outbox_entity::Model]) -> Vec<&outbox_entity::Model> {
    rows.iter().filter(|r| r.channel == "voice").collect()
}

/// Sweeps at `now` and places what is due; returns the calls written.
async fn sweep_and_dispatch(hub: &Hub, now: i64) -> u64 {
    let stats = hub.sweep(now).await;
    hub.dispatch(now).await;
    stats.calls
}

async fn the_only_call(voice: &TwilioVoiceStandIn, to: &str) -> RecordedCall {
    let calls = voice
        .wait_for_calls(1, hub_fixture::PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let call = calls.last().expect("a call").clone();
    assert_eq!(call.to, to);
    call
}

async fn metrics(hub: &Hub) -> String {
    reqwest::get(format!("{}/metrics", hub.app.address))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
}

#[tokio::test]
async fn a_call_acknowledged_by_pressing_1_stops_the_chain() {
    for backend in Backend::each() {
        let (hub, voice) = Hub::start_on(backend).await.with_voice().await;
        let m = told_down(&hub).await;
        let t0 = hub.t0;
        assert_eq!(
            sweep_and_dispatch(&hub, t0 + ms(VOICE_AFTER) - SECOND).await,
            0,
            "not yet"
        );
        assert_eq!(voice.request_count(), 0);
        assert_eq!(
            sweep_and_dispatch(&hub, t0 + ms(VOICE_AFTER) + SECOND).await,
            1
        );
        let call = the_only_call(&voice, FIRST).await;
        assert_eq!(
            call.status_callback.as_deref(),
            Some(format!("{}/hooks/twilio/voice/status", hub.app.address).as_str())
        );
        let said = call.said().join(" ");
        assert!(said.contains("카카오톡"), "says what is down: {said}");
        assert!(said.contains("1번을 누르세요"), "asks for 1: {said}");
        assert!(!said.contains("http"), "no link is read out: {said}");
        assert!(call.twiml.contains("numDigits=\"1\""), "{}", call.twiml);
        // Exactly once: a later sweep writes no second call to the same contact.
        assert_eq!(
            sweep_and_dispatch(&hub, t0 + ms(VOICE_AFTER) + MINUTE).await,
            0
        );
        assert_eq!(voice.calls().len(), 1);

        let answer = voice.press(&call.sid, "1").await.expect("press 1");
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body.contains("확인되었습니다"), "{}", answer.body);
        let notice = &hub.notices(m).await[0];
        assert_eq!(notice.status, "acked");
        assert_eq!(notice.acked_via.as_deref(), Some("voice"));

        let r = voice
            .send_call_status(&call.sid, "completed")
            .await
            .expect("status");
        assert_eq!(r.status, 200);
        let rows = hub.rows(m).await;
        let calls = voice_rows(&rows);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].state, "delivered", "answered");
        assert_eq!(
            calls[0].provider_message_id.as_deref(),
            Some(call.sid.as_str())
        );

        // No next contact, however late it gets.
        let late = t0 + ms(ACK_TIMEOUT) * 3;
        let stats = hub.sweep(late).await;
        hub.dispatch(late).await;
        assert_eq!((stats.escalations, stats.calls), (0, 0));
        assert_eq!(hub.twilio[0].messages().len(), 1);
        assert_eq!(voice.calls().len(), 1);
        let text = metrics(&hub).await;
        assert!(
            text.contains(
                "meoktong_notifications_total{channel=\"voice\",outcome=\"acknowledged\"} 1"
            ),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_unanswered_call_leaves_the_next_contact_to_ack_timeout() {
    for backend in Backend::each() {
        let (hub, voice) = Hub::start_on(backend).await.with_voice().await;
        let m = told_down(&hub).await;
        let t0 = hub.t0;
        assert_eq!(
            sweep_and_dispatch(&hub, t0 + ms(VOICE_AFTER) + SECOND).await,
            1
        );
        let call = the_only_call(&voice, FIRST).await;
        let r = voice
            .send_call_status(&call.sid, "no-answer")
            .await
            .expect("status");
        assert_eq!(r.status, 200);
        let rows = hub.rows(m).await;
        let calls = voice_rows(&rows);
        assert_eq!(calls[0].state, "failed");
        assert_eq!(calls[0].last_error.as_deref(), Some("call no-answer"));
        assert_eq!(
            hub.notices(m).await[0].status,
            "open",
            "a status never acknowledges"
        );
        // The next contact only at ack_timeout, by SMS; then its own call after voice_after.
        let before = t0 + ms(ACK_TIMEOUT) - SECOND;
        assert_eq!(hub.sweep(before).await.escalations, 0);
        let at = t0 + ms(ACK_TIMEOUT) + SECOND;
        assert_eq!(hub.sweep(at).await.escalations, 1);
        hub.dispatch(at).await;
        let sms = hub.twilio[0].messages();
        assert_eq!(sms.len(), 2);
        assert_eq!(sms[1].to, SECOND_PHONE);
        assert_eq!(
            voice.calls().len(),
            1,
            "no call to the next contact before voice_after"
        );
        assert_eq!(
            sweep_and_dispatch(&hub, at + ms(VOICE_AFTER) + SECOND).await,
            1
        );
        let calls = voice
            .wait_for_calls(2, hub_fixture::PATIENCE)
            .await
            .expect("second call");
        assert_eq!(calls[1].to, SECOND_PHONE);
        let text = metrics(&hub).await;
        assert!(
            text.contains(
                "meoktong_notifications_total{channel=\"voice\",outcome=\"no-answer\"} 1"
            ),
            "{text}"
        );
    }
}

#[tokio::test]
async fn no_call_for_a_test_or_degraded_notice_or_a_contact_who_turned_calls_off() {
    for backend in Backend::each() {
        let (hub, voice) = Hub::start_on(backend).await.with_voice().await;
        let t0 = hub.t0;
        // Calls off for the only contact.
        let off = merchant(&hub, "조용한가게", &[TALK], &[phone(FIRST)]).await;
        let contact = contact_book::list(&hub.app.db, &hub.app.crypto, off)
            .await
            .expect("contacts")[0]
            .id;
        assert!(
            contact_book::set_voice_enabled(&hub.app.db, off, contact, false, 0, now_ms())
                .await
                .expect("toggle")
        );
        // Degraded only, opted in to hear about it.
        let degraded = merchant(
            &hub,
            "느린가게",
            &[hub_fixture::MAP],
            &[phone(SECOND_PHONE)],
        )
        .await;
        subscriptions::Entity::update_many()
            .col_expr(subscriptions::Column::NotifyDegraded, true.into())
            .filter(subscriptions::Column::MerchantId.eq(degraded))
            .exec(&hub.app.db.conn)
            .await
            .expect("opt in to degraded");
        hub.open(TALK, "down", t0 - SECOND).await;
        hub.open(hub_fixture::MAP, "degraded", t0 - SECOND).await;
        hub.plan(t0).await;
        hub.dispatch(t0).await;
        let kinds = |n: &[notices::Model]| n.iter().map(|n| n.kind.clone()).collect::<Vec<_>>();
        assert_eq!(kinds(&hub.notices(off).await), ["down"]);
        let deg = hub.notices(degraded).await;
        assert_eq!(
            kinds(&deg),
            ["down"],
            "a degraded incident is told as a down notice"
        );
        let incident_ids: Vec<i64> = serde_json::from_str(&deg[0].incident_ids).expect("ids");
        let severities: Vec<String> = incidents::Entity::find()
            .filter(incidents::Column::Id.is_in(incident_ids))
            .all(&hub.app.db.conn)
            .await
            .expect("incidents")
            .into_iter()
            .map(|i| i.severity)
            .collect();
        assert_eq!(severities, ["degraded"]);
        // A test notice still open (the worst case): its kind alone keeps it from calling.
        let tested = merchant(&hub, "시험가게", &[TALK], &[phone("+821040000003")]).await;
        hub.plan(t0 + SECOND).await;
        hub.dispatch(t0 + SECOND).await;
        let n = hub.notices(tested).await.remove(0);
        let mut am: notices::ActiveModel = n.into();
        am.kind = Set("test".into());
        notices::Entity::update(am)
            .exec(&hub.app.db.conn)
            .await
            .expect("make it a test");

        let later = t0 + ms(VOICE_AFTER) + 2 * SECOND;
        assert_eq!(sweep_and_dispatch(&hub, later).await, 0);
        assert_eq!(sweep_and_dispatch(&hub, later + MINUTE).await, 0);
        assert_eq!(voice.request_count(), 0, "no call was placed");
        for m in [off, degraded, tested] {
            assert!(voice_rows(&hub.rows(m).await).is_empty());
        }
        // The toggle back on: the contact is called.
        contact_book::set_voice_enabled(&hub.app.db, off, contact, true, 0, now_ms())
            .await
            .expect("toggle");
        assert_eq!(sweep_and_dispatch(&hub, later + 2 * MINUTE).await, 1);
        the_only_call(&voice, FIRST).await;
    }
}

#[tokio::test]
async fn no_call_without_a_voice_section() {
    for backend in Backend::each() {
        let hub = Hub::start_on(backend).await;
        let m = told_down(&hub).await;
        let stats = hub.sweep(hub.t0 + ms(VOICE_AFTER) + SECOND).await;
        assert_eq!(stats.calls, 0);
        hub.dispatch(hub.t0 + ms(VOICE_AFTER) + SECOND).await;
        assert!(voice_rows(&hub.rows(m).await).is_empty());
    }
}

#[tokio::test]
async fn forged_call_hooks_are_refused() {
    let (hub, voice) = Hub::start().await.with_voice().await;
    let m = told_down(&hub).await;
    assert_eq!(
        sweep_and_dispatch(&hub, hub.t0 + ms(VOICE_AFTER) + SECOND).await,
        1
    );
    let call = the_only_call(&voice, FIRST).await;
    for signing in [Signing::Wrong, Signing::Missing] {
        let r = voice
            .press_signed(&call.sid, "1", signing)
            .await
            .expect("press");
        assert_eq!(r.status, 403, "{signing:?}");
        let r = voice
            .send_call_status_signed(&call.sid, "completed", signing)
            .await
            .expect("status");
        assert_eq!(r.status, 403, "{signing:?}");
    }
    assert_eq!(hub.notices(m).await[0].status, "open");
    let rows = hub.rows(m).await;
    assert_eq!(voice_rows(&rows)[0].state, "accepted");
    // Another key hears the call again and acknowledges nothing.
    let r = voice.press(&call.sid, "2").await.expect("press 2");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<Gather"), "{}", r.body);
    assert_eq!(hub.notices(m).await[0].status, "open");
}
