use super::*;

#[test]
fn every_preset_is_a_valid_check() {
    let deps = catalog(&PresetBases::default());
    let slugs: Vec<&str> = deps.iter().map(|d| d.slug.as_str()).collect();
    assert_eq!(
        slugs,
        [
            "kakao-login",
            "kakao-map",
            "kakaopay",
            "kakaotalk-channel",
            "naver-login",
            "toss-payments",
            "twilio"
        ]
    );
    for d in &deps {
        assert!(
            d.name_en.is_some() && d.description.is_some() && d.platform.is_some(),
            "{}",
            d.slug
        );
        assert!(!d.check.is_empty(), "{}", d.slug);
        for c in &d.check {
            let key = format!("{}.{}", d.slug, c.name);
            meoktong_config::validate_check(c, &key, "test")
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            let interval = c.interval.map(|i| i.as_secs());
            assert!(matches!(interval, Some(10..=300)), "{key}: {interval:?}");
        }
    }
}

#[test]
fn catalog_round_trips_through_toml() {
    // The operator may copy a preset into meoktong.toml: it must serialize as valid config.
    for d in catalog(&PresetBases::default()) {
        let text = toml::to_string(&d).unwrap_or_else(|e| panic!("{}: {e}", d.slug));
        let back: DependencySettings =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", d.slug));
        assert_eq!(back, d);
    }
}

#[test]
fn toss_uses_the_docs_test_key() {
    assert_eq!(toss_basic_auth("test_sk:"), "Basic dGVzdF9zazo6");
    let deps = catalog(&PresetBases::default());
    let toss = deps
        .iter()
        .find(|d| d.slug == "toss-payments")
        .map(|d| &d.check[0]);
    let auth = toss
        .and_then(|c| c.headers.get("Authorization"))
        .cloned()
        .unwrap_or_default();
    let encoded = auth.trim_start_matches("Basic ");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_default();
    assert_eq!(
        decoded,
        format!("{TOSS_DOCS_TEST_SECRET_KEY}:").into_bytes()
    );
    assert_eq!(toss.map(|c| c.expect_status.clone()), Some(vec![404]));
}

#[test]
fn bases_all_points_everything_at_one_server() {
    let b = PresetBases::all("http://127.0.0.1:9999/");
    for d in catalog(&b) {
        for c in &d.check {
            let urls = c.url.iter().chain(c.steps.iter().map(|s| &s.url));
            for u in urls {
                assert!(
                    u.starts_with("http://127.0.0.1:9999/") || u.starts_with("${"),
                    "{}: {u}",
                    d.slug
                );
            }
        }
    }
}

#[test]
fn expanding_env_names_the_missing_variable() {
    let deps = catalog(&PresetBases::default());
    let map = deps.iter().find(|d| d.slug == "kakao-map").cloned();
    let Some(map) = map else {
        panic!("kakao-map preset")
    };
    // The variable name is unique to this test so no other test sets it.
    let mut renamed = map.clone();
    renamed.check[0].headers.insert(
        "Authorization".into(),
        "KakaoAK ${MEOKTONG_TEST_UNSET_KEY_7F3A}".into(),
    );
    let err = expand_preset_env(&renamed).err().unwrap_or_default();
    assert!(err.contains("MEOKTONG_TEST_UNSET_KEY_7F3A"), "{err}");
    // Presets without variables expand to themselves.
    let toss = deps.iter().find(|d| d.slug == "toss-payments").cloned();
    let Some(toss) = toss else {
        panic!("toss preset")
    };
    assert_eq!(expand_preset_env(&toss), Ok(toss.clone()));
}

fn preset_check(bases: &PresetBases, slug: &str) -> CheckSettings {
    catalog(bases)
        .into_iter()
        .find(|d| d.slug == slug)
        .map(|d| d.check[0].clone())
        .unwrap_or_else(|| panic!("{slug} preset"))
}

#[test]
fn twilio_reads_the_statuspage_indicator() {
    use crate::classify::{HttpExpectations, classify_http};
    use meoktong_domain::{FailureClass, Outcome};
    let c = preset_check(&PresetBases::default(), "twilio");
    let judge = |indicator: &str| {
        let body = json!({
            "page": {"id": "x"},
            "status": {"indicator": indicator, "description": "words"},
            "components": []
        })
        .to_string();
        classify_http(&HttpExpectations::from_check(&c), 200, body.as_bytes()).verdict
    };
    assert_eq!(judge("none").outcome, Outcome::Ok);
    assert_eq!(judge("maintenance").outcome, Outcome::Ok);
    let minor = judge("minor");
    assert_eq!(minor.outcome, Outcome::Degraded, "{minor:?}");
    assert_eq!(minor.provider_code.as_deref(), Some("minor"));
    for bad in ["major", "critical"] {
        let v = judge(bad);
        assert_eq!(
            (v.outcome, v.class),
            (Outcome::Fail, Some(FailureClass::Provider)),
            "{bad}: {v:?}"
        );
        assert_eq!(v.provider_code.as_deref(), Some(bad));
        assert!(
            v.error.as_deref().unwrap_or_default().contains("words"),
            "{v:?}"
        );
    }
    // No indicator at all is still a failed expectation.
    let v = classify_http(&HttpExpectations::from_check(&c), 200, br#"{"status": {}}"#).verdict;
    assert_eq!(v.outcome, Outcome::Fail, "{v:?}");
}

#[test]
fn kakaotalk_channel_needs_the_operators_channel() {
    let bases = PresetBases::default();
    assert_eq!(
        required_setting("kakaotalk-channel", &bases),
        Some("catalog.kakaotalk_channel")
    );
    assert_eq!(required_setting("kakao-login", &bases), None);

    let bases = PresetBases::default()
        .with_kakaotalk_channel(Some("_AbCdE"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(required_setting("kakaotalk-channel", &bases), None);
    let c = preset_check(&bases, "kakaotalk-channel");
    assert_eq!(c.url.as_deref(), Some("https://pf.kakao.com/_AbCdE"));
    assert_eq!(
        c.expect_body_contains.as_deref(),
        Some("_AbCdE"),
        "a live channel page names its own id, not just `kakao`"
    );

    let by_url = PresetBases::default()
        .with_kakaotalk_channel(Some("https://pf.kakao.com/_XyZ12/"))
        .unwrap_or_else(|e| panic!("{e}"));
    let c = preset_check(&by_url, "kakaotalk-channel");
    assert_eq!(c.url.as_deref(), Some("https://pf.kakao.com/_XyZ12"));
    assert_eq!(c.expect_body_contains.as_deref(), Some("_XyZ12"));

    for bad in ["", "AbCdE", "_", "https://pf.kakao.com/", "_a b"] {
        let err = PresetBases::default()
            .with_kakaotalk_channel(Some(bad))
            .err()
            .unwrap_or_default();
        assert!(
            err.starts_with("catalog.kakaotalk_channel: "),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn kakaotalk_channel_page_check_wants_that_channel() {
    use crate::classify::{HttpExpectations, classify_http};
    use meoktong_domain::Outcome;
    let bases = PresetBases::default()
        .with_kakaotalk_channel(Some("_AbCdE"))
        .unwrap_or_else(|e| panic!("{e}"));
    let c = preset_check(&bases, "kakaotalk-channel");
    let exp = HttpExpectations::from_check(&c);
    let live = br#"<html><head><meta property="og:url" content="https://pf.kakao.com/_AbCdE"></head></html>"#;
    assert_eq!(classify_http(&exp, 200, live).verdict.outcome, Outcome::Ok);
    // A 200 page from kakao that is not the channel (an error or maintenance page) fails.
    let other = br#"<html><head><link href="https://t1.kakaocdn.net/x.css"></head><body>kakao</body></html>"#;
    assert_eq!(
        classify_http(&exp, 200, other).verdict.outcome,
        Outcome::Fail
    );
}

#[test]
fn every_preset_has_words_in_both_languages_and_payments_and_logins_a_number_to_call() {
    use meoktong_domain::Category;
    let extras = super::extras();
    for d in catalog(&PresetBases::all("http://127.0.0.1:1")) {
        let about = extras
            .about
            .get(&d.slug)
            .unwrap_or_else(|| panic!("{}: no extras", d.slug));
        assert!(!about.description_en.is_empty(), "{}", d.slug);
        assert!(
            !about.technical.is_empty() && !about.technical_en.is_empty(),
            "{}",
            d.slug
        );
        // The plain line merchants read carries no jargon; it lives in the technical fold.
        let plain = d.description.clone().unwrap_or_default();
        for jargon in ["OIDC", "TC0ONETIME", "API", "JWKS", "curl"] {
            assert!(
                !plain.contains(jargon) && !about.description_en.contains(jargon),
                "{}: {jargon} in {plain} / {}",
                d.slug,
                about.description_en
            );
        }
        // English words never carry Hangul, Korean technical lines are Korean.
        assert!(
            !about
                .description_en
                .chars()
                .chain(about.technical_en.chars())
                .any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)),
            "{}",
            d.slug
        );
        if matches!(d.category, Category::Payment | Category::Login) {
            let h = about
                .helpline
                .as_ref()
                .unwrap_or_else(|| panic!("{}: payments and logins name a centre", d.slug));
            assert!(h.is_dialable(), "{}: {}", d.slug, h.phone);
            assert!(h.tel_href().starts_with("tel:1"), "{}", h.tel_href());
        }
    }
    assert_eq!(
        extras.about.len(),
        catalog(&PresetBases::default()).len(),
        "no extras for a slug the catalog lacks"
    );
}

#[test]
fn the_three_internet_providers_are_listed_with_their_short_codes() {
    let isps = super::extras().isps;
    let numbers: Vec<(&str, &str)> = isps.iter().map(|h| (h.name, h.phone)).collect();
    assert_eq!(
        numbers,
        vec![
            ("KT 인터넷 고객센터", "100"),
            ("SK브로드밴드 고객센터", "106"),
            ("LG유플러스 인터넷 고객센터", "101"),
        ]
    );
    assert!(
        isps.iter()
            .all(|h| h.is_dialable() && !h.name_en.is_empty())
    );
    assert_eq!(isps[0].tel_href(), "tel:100");
}
