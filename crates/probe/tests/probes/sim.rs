//! Every preset against the simulator, in every mode.
use super::{NOW_MS, find, http_check, run_all, runner, sim};
use meoktong_config::{CheckKind, StepSettings};
use meoktong_domain::{FailureClass, Outcome};
use meoktong_probe::report_text::format_report;
use meoktong_probe::simulator::{Mode, Service};
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test]
async fn every_preset_is_up() {
    let (_sim, deps) = sim().await;
    let results = run_all(&runner(), &deps).await;
    assert_eq!(results.len(), 8);
    for (key, r) in &results {
        assert_eq!(r.outcome, Outcome::Ok, "{key}: {r:?}");
        assert_eq!(r.class, None, "{key}");
        assert_eq!(r.started_at, NOW_MS);
        assert!(
            r.timings.connect.is_some() && r.timings.first_byte.is_some(),
            "{key}: {:?}",
            r.timings
        );
        assert!(
            r.timings.dns.is_none() && r.timings.tls.is_none(),
            "{key}: IP literal over http"
        );
    }
    let toss = results
        .iter()
        .find(|(k, _)| k == "toss-payments/order-lookup")
        .map(|(_, r)| r);
    assert_eq!(toss.and_then(|r| r.status), Some(404));
    assert_eq!(
        toss.and_then(|r| r.provider_code.as_deref()),
        Some("NOT_FOUND_PAYMENT")
    );
}

#[tokio::test]
async fn down_is_a_provider_failure() {
    let (sim, deps) = sim().await;
    for s in Service::ALL {
        sim.set_mode(s, Mode::Down);
    }
    for (key, r) in run_all(&runner(), &deps).await {
        assert_eq!(
            (r.outcome, r.class),
            (Outcome::Fail, Some(FailureClass::Provider)),
            "{key}: {r:?}"
        );
        assert_eq!(r.status, Some(503), "{key}");
        if key.starts_with("kakao-map") || key.starts_with("kakaopay") {
            assert_eq!(r.provider_code.as_deref(), Some("-1"), "{key}");
        }
    }
}

#[tokio::test]
async fn provider_error_codes_fail_even_with_200() {
    let (sim, deps) = sim().await;
    for s in Service::ALL {
        sim.set_mode(s, Mode::ProviderError);
    }
    for (key, r) in run_all(&runner(), &deps).await {
        assert_eq!(
            (r.outcome, r.class),
            (Outcome::Fail, Some(FailureClass::Provider)),
            "{key}: {r:?}"
        );
        if key.starts_with("kakao") && !key.starts_with("kakaotalk") {
            assert_eq!(
                (r.status, r.provider_code.as_deref()),
                (Some(200), Some("-9798")),
                "{key}"
            );
        }
    }
    let toss = runner()
        .run(find(&deps, "toss-payments", "order-lookup"), NOW_MS)
        .await;
    assert_eq!(
        (toss.status, toss.provider_code.as_deref()),
        (Some(500), Some("PROVIDER_ERROR"))
    );
    // Twilio's status page answers 200 and says `major`: Statuspage's own verdict counts.
    let twilio = runner()
        .run(find(&deps, "twilio", "status-summary"), NOW_MS)
        .await;
    assert_eq!(
        (twilio.status, twilio.provider_code.as_deref()),
        (Some(200), Some("major"))
    );
}

#[tokio::test]
async fn bad_key_is_a_configuration_error() {
    let (sim, deps) = sim().await;
    for s in Service::ALL {
        sim.set_mode(s, Mode::BadKey);
    }
    for (key, r) in run_all(&runner(), &deps).await {
        assert_eq!(
            (r.outcome, r.class),
            (Outcome::ConfigError, Some(FailureClass::Config)),
            "{key}: {r:?}"
        );
        assert_eq!(r.status, Some(401), "{key}");
    }
    let map = runner()
        .run(find(&deps, "kakao-map", "local-search-address"), NOW_MS)
        .await;
    assert_eq!(map.provider_code.as_deref(), Some("-401"));
    let text = format_report("sim", &map);
    assert!(text.starts_with("CONFIG 401 kakao -401: "), "{text}");
    let toss = runner()
        .run(find(&deps, "toss-payments", "order-lookup"), NOW_MS)
        .await;
    assert_eq!(toss.provider_code.as_deref(), Some("UNAUTHORIZED_KEY"));
}

#[tokio::test]
async fn missing_key_header_is_a_configuration_error() {
    let (_sim, deps) = sim().await;
    let mut map = find(&deps, "kakao-map", "local-search-address").clone();
    map.headers.clear();
    let r = runner().run(&map, NOW_MS).await;
    assert_eq!(
        (r.outcome, r.provider_code.as_deref()),
        (Outcome::ConfigError, Some("-401"))
    );
}

#[tokio::test]
async fn slow_is_degraded() {
    let (sim, deps) = sim().await;
    sim.set_mode(Service::KakaoMap, Mode::Slow(Duration::from_millis(150)));
    let mut check = find(&deps, "kakao-map", "local-search-address").clone();
    check.degraded_latency = Some(Duration::from_millis(50));
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!((r.outcome, r.class), (Outcome::Degraded, None), "{r:?}");
    assert!(r.timings.total >= Duration::from_millis(150));
    assert!(
        r.error.as_deref().is_some_and(|e| e.starts_with("slow: ")),
        "{r:?}"
    );
    check.degraded_latency = Some(Duration::from_secs(2));
    assert_eq!(runner().run(&check, NOW_MS).await.outcome, Outcome::Ok);
}

#[tokio::test]
async fn hang_times_out() {
    let (sim, deps) = sim().await;
    sim.set_mode(Service::KakaoPay, Mode::Hang);
    let mut check = find(&deps, "kakaopay", "payment-ready").clone();
    check.timeout = Some(Duration::from_millis(200));
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(
        (r.outcome, r.class),
        (Outcome::Fail, Some(FailureClass::Provider)),
        "{r:?}"
    );
    assert_eq!(
        r.error.as_deref(),
        Some("timeout after 200 ms (waiting for the response)")
    );
    assert!(r.timings.connect.is_some() && r.timings.first_byte.is_none());
    assert!(
        r.timings.total >= Duration::from_millis(200) && r.timings.total < Duration::from_secs(2)
    );
    assert!(!r.resolver_failure);
    // Flipping the mode back releases the server side too.
    sim.set_mode(Service::KakaoPay, Mode::Up);
    check.timeout = Some(Duration::from_secs(2));
    assert_eq!(runner().run(&check, NOW_MS).await.outcome, Outcome::Ok);
}

#[tokio::test]
async fn admin_endpoint_flips_modes() {
    let (sim, _deps) = sim().await;
    let mut set = http_check(&format!("{}/__sim/kakaopay/slow?ms=300", sim.base_url()));
    set.method = Some("POST".into());
    set.expect_json
        .insert("kakaopay.mode".into(), "slow".into());
    set.expect_json
        .insert("$.kakaopay.delay_ms".into(), 300.into());
    let r = runner().run(&set, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(
        sim.mode(Service::KakaoPay),
        Mode::Slow(Duration::from_millis(300))
    );

    let mut list = http_check(&format!("{}/__sim", sim.base_url()));
    list.expect_json
        .insert("$['kakao-login'].mode".into(), "up".into());
    list.expect_json_exists = vec!["twilio".into(), "toss-payments".into()];
    assert_eq!(runner().run(&list, NOW_MS).await.outcome, Outcome::Ok);

    let mut bad = http_check(&format!("{}/__sim/kakaopay/melting", sim.base_url()));
    bad.method = Some("POST".into());
    let r = runner().run(&bad, NOW_MS).await;
    assert_eq!((r.outcome, r.status), (Outcome::Fail, Some(400)));
    assert_eq!(
        sim.modes().get("kakaopay"),
        Some(&Mode::Slow(Duration::from_millis(300)))
    );
}

#[tokio::test]
async fn steps_capture_and_fail_by_step() {
    let (sim, deps) = sim().await;
    let jwks = find(&deps, "kakao-login", "jwks").clone();
    assert_eq!(jwks.kind, CheckKind::Steps);
    let r = runner().run(&jwks, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(r.detail.as_deref(), Some("2 steps"));

    // A capture that selects nothing fails that step.
    let mut broken = jwks.clone();
    broken.steps[0]
        .capture
        .insert("missing".into(), "$.no_such_key".into());
    let r = runner().run(&broken, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Fail);
    assert_eq!(
        r.error.as_deref(),
        Some("step `discovery`: capture `missing`: `$.no_such_key` matched nothing")
    );

    // Captures reach headers and bodies too, and a later step's expectations decide.
    let mut echo = jwks.clone();
    echo.steps.push(StepSettings {
        name: "pay".into(),
        url: format!("{}/online/v1/payment/ready", sim.base_url()),
        method: Some("POST".into()),
        headers: BTreeMap::from([(
            "Authorization".to_string(),
            "SECRET_KEY ${discovery.jwks_uri}".to_string(),
        )]),
        body: Some(r#"{"cid":"TC0ONETIME","note":"${discovery.jwks_uri}"}"#.into()),
        expect_status: vec![200],
        expect_body_contains: None,
        expect_json: BTreeMap::from([("tid".to_string(), "nope".into())]),
        expect_json_exists: vec![],
        capture: BTreeMap::new(),
    });
    let r = runner().run(&echo, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Fail);
    assert_eq!(r.status, Some(200));
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.starts_with("step `pay`: `tid` is \"T")),
        "{r:?}"
    );

    sim.set_mode(Service::KakaoLogin, Mode::BadKey);
    let r = runner().run(&jwks, NOW_MS).await;
    assert_eq!((r.outcome, r.status), (Outcome::ConfigError, Some(401)));
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.starts_with("step `discovery`: kakao -401")),
        "{r:?}"
    );
}

#[tokio::test]
async fn json_expectations_against_a_live_answer() {
    let (sim, deps) = sim().await;
    let mut check = find(&deps, "kakao-login", "oidc-discovery").clone();
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Ok);
    assert!(format_report("x", &r).starts_with("UP 200 in "));
    check
        .expect_json
        .insert("issuer".into(), "https://kauth.kakao.com".into());
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(r.outcome, Outcome::Fail);
    let expected = format!(
        "`issuer` is \"{}\", expected \"https://kauth.kakao.com\"",
        sim.base_url()
    );
    assert_eq!(r.error.as_deref(), Some(expected.as_str()));
    check.expect_json.clear();
    check.expect_json_exists = vec![
        "$.response_types_supported[0]".into(),
        "claims_supported".into(),
    ];
    let r = runner().run(&check, NOW_MS).await;
    assert_eq!(
        r.error.as_deref(),
        Some("`claims_supported` matched nothing")
    );
}
