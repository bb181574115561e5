//! One alert per outage under real conditions: the presets' check intervals (10 s, 30 s and
//! 5 min) make a platform's dependencies come back minutes apart, and a merchant must still get
//! one `[장애]` and one `[복구]` — a `[일부 복구]` only when part of it has been back for
//! `detection.partial_recovery_after` (15 min by default) while the rest is still down.
//!
//! The hub (planner, composer, dispatcher) runs with the default settings against a Twilio
//! stand-in; incidents are written as the detector writes them, and time is a number the test
//! moves, a planner pass every second as `serve` does.
mod hub_fixture;
mod support;

use hub_fixture::{Hub, LOGIN, MAP, MINUTE, PAY, SECOND, TALK, merchant, phone};
use meoktong_tests::Backend;

fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if Backend::default_for_tests() == Backend::Postgres {
        out.push(Backend::Postgres);
    }
    out
}

/// Plans and sends at every second from `from` to `to` (inclusive), as `serve`'s loops do.
async fn run(hub: &Hub, from: i64, to: i64) {
    let mut now = from;
    while now <= to {
        hub.plan(now).await;
        hub.dispatch(now).await;
        now += SECOND;
    }
}

/// The SMS the stand-in received for `to`, in order.
fn texts_to(hub: &Hub, to: &str) -> Vec<String> {
    hub.twilio[0]
        .messages()
        .into_iter()
        .filter(|m| m.to == to)
        .map(|m| m.body)
        .collect()
}

/// Four Kakao dependencies, confirmed within one confirmation cycle (correlated re-checks),
/// back at their own intervals: Talk and Login (10 s checks) first, Map (30 s) next, Pay
/// (5 min, two good probes) ten minutes later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fire_at_the_presets_intervals_is_one_down_and_one_recovery_sms() {
    for backend in backends() {
        let hub = Hub::with_default_windows_on(backend).await;
        let t0 = hub.t0;
        let to = "+821055501015";
        merchant(&hub, "행복분식", &[TALK, LOGIN, PAY, MAP], &[phone(to)]).await;
        let mut ids = Vec::new();
        for (slug, confirmed) in [(TALK, 6), (LOGIN, 7), (MAP, 8), (PAY, 9)] {
            ids.push(hub.open(slug, "down", t0 + confirmed * SECOND).await);
        }
        run(&hub, t0, t0 + 20 * SECOND).await;
        let sent = texts_to(&hub, to);
        assert_eq!(sent.len(), 1, "{backend:?}: one first SMS: {sent:?}");
        assert!(sent[0].starts_with("[장애]"), "{}", sent[0]);
        assert!(
            sent[0].contains("카카오 서비스 4개")
                || ["카카오톡", "카카오 로그인", "카카오페이", "카카오맵"]
                    .iter()
                    .all(|n| sent[0].contains(n)),
            "it names all four: {}",
            sent[0]
        );
        let back_at = [
            t0 + 70 * SECOND,
            t0 + 75 * SECOND,
            t0 + 100 * SECOND,
            t0 + 11 * MINUTE,
        ];
        let mut now = t0 + 21 * SECOND;
        for (id, at) in ids.iter().zip(back_at) {
            run(&hub, now, at - SECOND).await;
            hub.resolve(*id, at).await;
            now = at;
        }
        run(&hub, now, now + 30 * SECOND).await;
        let sent = texts_to(&hub, to);
        assert_eq!(sent.len(), 2, "{backend:?}: one recovery SMS: {sent:?}");
        assert!(sent[1].starts_with("[복구]"), "{}", sent[1]);
        assert!(
            !sent.iter().any(|t| t.starts_with("[일부 복구]")),
            "ten minutes is no reason for a partial notice: {sent:?}"
        );
    }
}

/// One dependency back twenty minutes before the others: one partial notice, then one
/// recovery that does not name it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_service_back_twenty_minutes_early_gets_one_partial_notice() {
    for backend in backends() {
        let hub = Hub::with_default_windows_on(backend).await;
        let t0 = hub.t0;
        let to = "+821055502020";
        merchant(&hub, "판교 치킨", &[TALK, LOGIN, PAY, MAP], &[phone(to)]).await;
        let mut ids = Vec::new();
        for (slug, confirmed) in [(TALK, 6), (LOGIN, 6), (MAP, 7), (PAY, 8)] {
            ids.push(hub.open(slug, "down", t0 + confirmed * SECOND).await);
        }
        run(&hub, t0, t0 + 20 * SECOND).await;
        // Login is back after a minute; the rest twenty minutes later.
        hub.resolve(ids[1], t0 + MINUTE).await;
        let mut now = t0 + 21 * SECOND;
        // Passes every 5 s are enough here (and keep the test short): the partial is due
        // 15 minutes after Login came back.
        while now < t0 + 21 * MINUTE {
            hub.plan(now).await;
            hub.dispatch(now).await;
            now += 5 * SECOND;
        }
        for id in [ids[0], ids[2], ids[3]] {
            hub.resolve(id, t0 + 21 * MINUTE).await;
        }
        run(&hub, t0 + 21 * MINUTE, t0 + 21 * MINUTE + 10 * SECOND).await;
        let sent = texts_to(&hub, to);
        assert_eq!(
            sent.len(),
            3,
            "{backend:?}: down, partial, recovery: {sent:?}"
        );
        assert!(sent[0].starts_with("[장애]"), "{}", sent[0]);
        assert!(sent[1].starts_with("[일부 복구]"), "{}", sent[1]);
        assert!(sent[1].contains("카카오 로그인"), "{}", sent[1]);
        assert!(
            sent[1].contains("아직 장애 중"),
            "it says what is still down: {}",
            sent[1]
        );
        assert!(sent[2].starts_with("[복구]"), "{}", sent[2]);
        assert!(
            !sent[2].contains("카카오 로그인"),
            "the final recovery does not name Login again: {}",
            sent[2]
        );
    }
}
