//! Built-in catalog of dependencies an operator enables by slug (`[catalog] enable`).
//!
//! Header values may hold `${VAR}` (the operator's keys). For presets, call
//! [`expand_preset_env`] before running them (the config loader does this for file checks).
//! The simulator ([`crate::simulator`]) serves every path used here, so
//! `PresetBases::all(sim.base_url())` points the whole catalog at it.
use base64::Engine;
use meoktong_config::{CheckKind, CheckSettings, DependencySettings, Dialect, StepSettings};
use meoktong_domain::Category;
use meoktong_domain::helpline::{About, CatalogExtras, Helpline};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Toss Payments' published documentation test secret key (public by design).
pub const TOSS_DOCS_TEST_SECRET_KEY: &str = "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6";
/// An order id no payment will ever have: looking it up must answer `NOT_FOUND_PAYMENT`.
/// Fixed (not random per run) so the catalog stays the same across restarts.
pub const TOSS_PROBE_ORDER_ID: &str = "meoktong-probe-no-such-order-7f3a9c";

/// Where each preset's provider lives. `Default` is the real hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetBases {
    pub kakao_auth: String,
    pub kakao_dapi: String,
    pub kakaopay: String,
    pub toss: String,
    pub naver_nid: String,
    /// The full URL of the operator's public KakaoTalk channel page (`[catalog]
    /// kakaotalk_channel`); `None` until configured, and the `kakaotalk-channel` preset cannot
    /// be enabled without it (see [`required_setting`]).
    pub kakao_talk_channel: Option<String>,
    pub twilio_status: String,
}

impl Default for PresetBases {
    fn default() -> Self {
        PresetBases {
            kakao_auth: "https://kauth.kakao.com".into(),
            kakao_dapi: "https://dapi.kakao.com".into(),
            kakaopay: "https://open-api.kakaopay.com".into(),
            toss: "https://api.tosspayments.com".into(),
            naver_nid: "https://nid.naver.com".into(),
            kakao_talk_channel: None,
            twilio_status: "https://status.twilio.com".into(),
        }
    }
}

/// The setting a preset cannot run without, if it is missing from `bases` (`kakaotalk-channel`
/// needs `catalog.kakaotalk_channel`: there is no channel everyone could probe).
pub fn required_setting(slug: &str, bases: &PresetBases) -> Option<&'static str> {
    (slug == "kakaotalk-channel" && bases.kakao_talk_channel.is_none())
        .then_some("catalog.kakaotalk_channel")
}

/// Where a KakaoTalk channel's public page lives: `_AbCdE` (the id in `pf.kakao.com/_AbCdE`) or
/// that page's full URL. Returns the URL.
pub fn kakaotalk_channel_url(value: &str) -> Result<String, String> {
    let v = value.trim();
    let url = if v.starts_with("http://") || v.starts_with("https://") {
        v.trim_end_matches('/').to_string()
    } else {
        format!("https://pf.kakao.com/{v}")
    };
    let id = channel_id(&url);
    let valid = id.len() > 1
        && id.starts_with('_')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(url)
    } else {
        Err(format!(
            "`{value}` is not a KakaoTalk channel id (`_AbCdE`, as in pf.kakao.com/_AbCdE) or its page URL"
        ))
    }
}

/// The last path segment of a channel page URL: the channel's id (`_AbCdE`).
fn channel_id(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/').next().unwrap_or_default()
}

/// Placeholder URL of the `kakaotalk-channel` preset while no channel is configured; never
/// probed ([`required_setting`] refuses to enable it).
const CHANNEL_NOT_SET: &str = "https://pf.kakao.com/_channel_not_set";

impl PresetBases {
    /// The real hosts, with the operator's KakaoTalk channel (`[catalog] kakaotalk_channel`)
    /// when given; an invalid value is an error naming the key.
    pub fn with_kakaotalk_channel(mut self, value: Option<&str>) -> Result<Self, String> {
        if let Some(v) = value {
            self.kakao_talk_channel = Some(
                kakaotalk_channel_url(v).map_err(|e| format!("catalog.kakaotalk_channel: {e}"))?,
            );
        }
        Ok(self)
    }

    /// Every provider at one base URL (the simulator's).
    pub fn all(base: &str) -> Self {
        let b = base.trim_end_matches('/').to_string();
        PresetBases {
            kakao_auth: b.clone(),
            kakao_dapi: b.clone(),
            kakaopay: b.clone(),
            toss: b.clone(),
            naver_nid: b.clone(),
            kakao_talk_channel: Some(format!("{b}/_meoktong")),
            twilio_status: b,
        }
    }
}

/// A check with everything optional left empty.
fn check(name: &str, kind: CheckKind, url: String) -> CheckSettings {
    CheckSettings {
        name: name.into(),
        kind,
        url: Some(url),
        method: None,
        headers: BTreeMap::new(),
        body: None,
        expect_status: Vec::new(),
        expect_body_contains: None,
        expect_json: BTreeMap::new(),
        expect_json_exists: Vec::new(),
        record_type: None,
        expect_records: Vec::new(),
        min_days_valid: None,
        dialect: None,
        steps: Vec::new(),
        interval: None,
        schedule: None,
        timeout: None,
        degraded_latency: None,
    }
}

fn step(name: &str, url: String) -> StepSettings {
    StepSettings {
        name: name.into(),
        url,
        method: None,
        headers: BTreeMap::new(),
        body: None,
        expect_status: vec![200],
        expect_body_contains: None,
        expect_json: BTreeMap::new(),
        expect_json_exists: Vec::new(),
        capture: BTreeMap::new(),
    }
}

fn timing(mut c: CheckSettings, interval: u64, timeout_ms: u64, degraded_ms: u64) -> CheckSettings {
    c.interval = Some(Duration::from_secs(interval));
    c.timeout = Some(Duration::from_millis(timeout_ms));
    c.degraded_latency = Some(Duration::from_millis(degraded_ms));
    c
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn dep(
    slug: &str,
    name: &str,
    name_en: &str,
    category: Category,
    platform: &str,
    description: &str,
    check: Vec<CheckSettings>,
) -> DependencySettings {
    DependencySettings {
        slug: slug.into(),
        name: name.into(),
        name_en: Some(name_en.into()),
        category,
        platform: Some(platform.into()),
        description: Some(description.into()),
        check,
    }
}

fn kakao_login(b: &PresetBases) -> DependencySettings {
    let base = &b.kakao_auth;
    let discovery_url = format!("{base}/.well-known/openid-configuration");
    let mut discovery = check("oidc-discovery", CheckKind::Http, discovery_url.clone());
    discovery.expect_status = vec![200];
    discovery.dialect = Some(Dialect::Kakao);
    for (key, value) in [
        ("issuer", base.clone()),
        ("authorization_endpoint", format!("{base}/oauth/authorize")),
        ("token_endpoint", format!("{base}/oauth/token")),
        ("jwks_uri", format!("{base}/.well-known/jwks.json")),
    ] {
        discovery
            .expect_json
            .insert(key.into(), Value::String(value));
    }
    let mut find = step("discovery", discovery_url);
    find.capture.insert("jwks_uri".into(), "jwks_uri".into());
    let mut keys = step("jwks", "${discovery.jwks_uri}".into());
    keys.expect_json_exists = strings(&["keys", "keys[0].kid"]);
    let mut jwks = check("jwks", CheckKind::Steps, String::new());
    jwks.url = None;
    jwks.dialect = Some(Dialect::Kakao);
    jwks.steps = vec![find, keys];
    dep(
        "kakao-login",
        "카카오 로그인",
        "Kakao Login",
        Category::Login,
        "kakao",
        "카카오 계정으로 로그인 (손님 로그인·회원 가입)",
        vec![
            timing(discovery, 10, 3000, 1500),
            timing(jwks, 30, 5000, 2500),
        ],
    )
}

fn kakao_map(b: &PresetBases) -> DependencySettings {
    // query = 판교역로 235 (Kakao's Pangyo office)
    let url = format!(
        "{}/v2/local/search/address.json?query=%ED%8C%90%EA%B5%90%EC%97%AD%EB%A1%9C%20235",
        b.kakao_dapi
    );
    let mut c = check("local-search-address", CheckKind::Http, url);
    c.headers
        .insert("Authorization".into(), "KakaoAK ${KAKAO_REST_KEY}".into());
    c.expect_status = vec![200];
    c.dialect = Some(Dialect::Kakao);
    c.expect_json_exists = strings(&["meta", "documents"]);
    dep(
        "kakao-map",
        "카카오맵",
        "Kakao Map",
        Category::Map,
        "kakao",
        "카카오맵 주소 검색 (배달 거리 계산, 매장 위치)",
        vec![timing(c, 30, 5000, 2000)],
    )
}

fn kakaopay(b: &PresetBases) -> DependencySettings {
    let mut c = check(
        "payment-ready",
        CheckKind::Http,
        format!("{}/online/v1/payment/ready", b.kakaopay),
    );
    c.method = Some("POST".into());
    c.headers.insert(
        "Authorization".into(),
        "SECRET_KEY ${KAKAOPAY_SECRET_KEY}".into(),
    );
    c.headers
        .insert("Content-Type".into(), "application/json".into());
    let body = json!({
        "cid": "TC0ONETIME",
        "partner_order_id": "meoktong-probe",
        "partner_user_id": "meoktong",
        "item_name": "meoktong health check",
        "quantity": 1,
        "total_amount": 100,
        "tax_free_amount": 0,
        "approval_url": "https://meoktong.example/probe/approve",
        "cancel_url": "https://meoktong.example/probe/cancel",
        "fail_url": "https://meoktong.example/probe/fail"
    });
    c.body = Some(body.to_string());
    c.expect_status = vec![200];
    c.dialect = Some(Dialect::Kakao);
    c.expect_json_exists = strings(&["tid"]);
    // Each call leaves an abandoned test payment: probe gently.
    dep(
        "kakaopay",
        "카카오페이",
        "KakaoPay",
        Category::Payment,
        "kakao",
        "카카오페이 온라인 결제",
        vec![timing(c, 300, 5000, 2500)],
    )
}

fn kakaotalk_channel(b: &PresetBases) -> DependencySettings {
    let url = b
        .kakao_talk_channel
        .clone()
        .unwrap_or_else(|| CHANNEL_NOT_SET.into());
    // A live channel page names its own id (its og:url / canonical link is
    // pf.kakao.com/_AbCdE); an error or maintenance page answered with 200 does not.
    let id = channel_id(&url).to_string();
    let mut c = check("channel-page", CheckKind::Http, url);
    c.expect_status = vec![200];
    c.expect_body_contains = Some(id);
    dep(
        "kakaotalk-channel",
        "카카오톡 채널",
        "KakaoTalk Channel",
        Category::Messenger,
        "kakao",
        "카카오톡 채널 (주문·상담 메시지가 들어오는 곳)",
        vec![timing(c, 30, 5000, 2500)],
    )
}

fn naver_login(b: &PresetBases) -> DependencySettings {
    let url = format!(
        "{}/oauth2.0/authorize?response_type=code&client_id=meoktong-probe&redirect_uri=https%3A%2F%2Fmeoktong.example%2Fcallback&state=probe",
        b.naver_nid
    );
    let mut c = check("authorize", CheckKind::Http, url);
    c.expect_status = vec![200, 302];
    dep(
        "naver-login",
        "네이버 로그인",
        "Naver Login",
        Category::Login,
        "naver",
        "네이버 아이디로 로그인",
        vec![timing(c, 30, 5000, 2500)],
    )
}

/// `Basic base64(key + ":")`, as Toss Payments authenticates.
pub fn toss_basic_auth(secret_key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{secret_key}:"))
    )
}

fn toss_payments(b: &PresetBases) -> DependencySettings {
    let mut c = check(
        "order-lookup",
        CheckKind::Http,
        format!("{}/v1/payments/orders/{TOSS_PROBE_ORDER_ID}", b.toss),
    );
    c.headers.insert(
        "Authorization".into(),
        toss_basic_auth(TOSS_DOCS_TEST_SECRET_KEY),
    );
    c.expect_status = vec![404];
    c.expect_json
        .insert("code".into(), Value::String("NOT_FOUND_PAYMENT".into()));
    c.dialect = Some(Dialect::Toss);
    dep(
        "toss-payments",
        "토스페이먼츠",
        "Toss Payments",
        Category::Payment,
        "toss",
        "토스페이먼츠 카드·간편 결제",
        vec![timing(c, 30, 5000, 2500)],
    )
}

fn twilio(b: &PresetBases) -> DependencySettings {
    let mut c = check(
        "status-summary",
        CheckKind::Http,
        format!("{}/api/v2/summary.json", b.twilio_status),
    );
    c.expect_status = vec![200];
    // Statuspage's own verdict: `major`/`critical` fail, `minor` is degraded.
    c.dialect = Some(Dialect::Statuspage);
    c.expect_json_exists = strings(&["status.indicator"]);
    dep(
        "twilio",
        "트윌리오 (문자 발송)",
        "Twilio (SMS)",
        Category::Other,
        "twilio",
        "먹통 알림 문자를 보내는 회사(Twilio)",
        vec![timing(c, 60, 5000, 3000)],
    )
}

/// The built-in presets: kakao-login, kakao-map, kakaopay, kakaotalk-channel, naver-login,
/// toss-payments, twilio.
pub fn catalog(bases: &PresetBases) -> Vec<DependencySettings> {
    vec![
        kakao_login(bases),
        kakao_map(bases),
        kakaopay(bases),
        kakaotalk_channel(bases),
        naver_login(bases),
        toss_payments(bases),
        twilio(bases),
    ]
}

/// The customer centres the catalog's playbooks point to (Korean numbers, dialled as written).
const KAKAO_CENTRE: Helpline = Helpline {
    name: "카카오 고객센터",
    name_en: "Kakao customer centre",
    phone: "1577-3754",
};
const NAVER_CENTRE: Helpline = Helpline {
    name: "네이버 고객센터",
    name_en: "Naver customer centre",
    phone: "1588-3820",
};
const KAKAOPAY_CENTRE: Helpline = Helpline {
    name: "카카오페이 고객센터",
    name_en: "KakaoPay customer centre",
    phone: "1644-7405",
};
const TOSS_PAYMENTS_CENTRE: Helpline = Helpline {
    name: "토스페이먼츠 고객센터",
    name_en: "Toss Payments customer centre",
    phone: "1544-7772",
};

/// The internet providers' customer centres (dial from any phone in Korea: 국번 없이).
pub const ISP_HELPLINES: [Helpline; 3] = [
    Helpline {
        name: "KT 인터넷 고객센터",
        name_en: "KT internet customer centre",
        phone: "100",
    },
    Helpline {
        name: "SK브로드밴드 고객센터",
        name_en: "SK Broadband customer centre",
        phone: "106",
    },
    Helpline {
        name: "LG유플러스 인터넷 고객센터",
        name_en: "LG U+ internet customer centre",
        phone: "101",
    },
];

/// What the catalog says about each preset beyond its checks: the English line, the
/// technical detail (folded on the pages) and the customer centre to call.
pub fn extras() -> CatalogExtras {
    let about = |description_en, technical, technical_en, helpline| About {
        description_en,
        technical,
        technical_en,
        helpline,
    };
    let entries = [
        (
            "kakao-login",
            about(
                "Sign-in with a Kakao account (customers' log-in and sign-up)",
                "OIDC 설정 문서(10초마다)와 서명 키 JWKS(30초마다)를 확인합니다.",
                "Checks the OIDC discovery document (every 10 s) and the JWKS signing keys (every 30 s).",
                Some(KAKAO_CENTRE),
            ),
        ),
        (
            "kakao-map",
            about(
                "Kakao Map address search (delivery distances, shop location)",
                "dapi.kakao.com 주소 검색 API를 운영자의 REST 키로 30초마다 부릅니다.",
                "Calls the dapi.kakao.com address search API with the operator's REST key every 30 s.",
                Some(KAKAO_CENTRE),
            ),
        ),
        (
            "kakaopay",
            about(
                "KakaoPay online payments",
                "결제 준비 API를 테스트 가맹점 코드(TC0ONETIME)로 5분마다 부릅니다.",
                "Calls the payment-ready API with the test merchant code (TC0ONETIME) every 5 minutes.",
                Some(KAKAOPAY_CENTRE),
            ),
        ),
        (
            "kakaotalk-channel",
            about(
                "KakaoTalk Channel (where order and chat messages arrive)",
                "채널의 공개 페이지(pf.kakao.com)를 30초마다 엽니다.",
                "Opens the channel's public page (pf.kakao.com) every 30 s.",
                Some(KAKAO_CENTRE),
            ),
        ),
        (
            "naver-login",
            about(
                "Sign-in with a Naver ID",
                "네이버 로그인 인증 화면(nid.naver.com)을 30초마다 엽니다.",
                "Opens the Naver sign-in page (nid.naver.com) every 30 s.",
                Some(NAVER_CENTRE),
            ),
        ),
        (
            "toss-payments",
            about(
                "Toss Payments card and easy payments",
                "결제 조회 API를 문서용 테스트 키로 30초마다 부릅니다 (NOT_FOUND_PAYMENT 답이 정상).",
                "Calls the payment lookup API with the documentation test key every 30 s (NOT_FOUND_PAYMENT is healthy).",
                Some(TOSS_PAYMENTS_CENTRE),
            ),
        ),
        (
            "twilio",
            about(
                "The company that sends Meoktong's SMS alerts (Twilio)",
                "status.twilio.com의 상태 요약(Statuspage JSON)을 1분마다 읽습니다.",
                "Reads status.twilio.com's Statuspage summary (JSON) every minute.",
                None,
            ),
        ),
    ];
    CatalogExtras {
        about: entries
            .into_iter()
            .map(|(slug, a)| (slug.to_string(), a))
            .collect(),
        isps: ISP_HELPLINES.to_vec(),
    }
}

/// Expands `${VAR}` in the header values and bodies of a preset's checks and steps from the
/// environment; a missing variable is an error naming it (`KAKAO_REST_KEY`, ...).
pub fn expand_preset_env(dep: &DependencySettings) -> Result<DependencySettings, String> {
    let mut out = dep.clone();
    let file = "built-in catalog";
    for c in &mut out.check {
        let key = format!("catalog.{}.check.{}", dep.slug, c.name);
        let expand = |v: &mut String| -> Result<(), String> {
            *v = meoktong_config::expand_env(v, &key, file).map_err(|e| e.to_string())?;
            Ok(())
        };
        c.headers.values_mut().try_for_each(expand)?;
        c.body.iter_mut().try_for_each(expand)?;
        for s in &mut c.steps {
            s.headers.values_mut().try_for_each(expand)?;
            s.body.iter_mut().try_for_each(expand)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "presets_tests.rs"]
mod tests;
