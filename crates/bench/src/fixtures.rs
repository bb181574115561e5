//! Synthetic data: dependencies with HTTP checks on the local target, merchants, CSV files.
use anyhow::Context;
use meoktong_config::{CheckSettings, DependencySettings};
use meoktong_storage::merchants::MerchantRecord;

/// An HTTP check of the local target: status 200 and the body text.
pub fn http_check(name: &str, url: &str, interval_secs: u64) -> anyhow::Result<CheckSettings> {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "type": "http",
        "url": url,
        "expect_status": [200],
        "expect_body_contains": crate::local::TARGET_BODY,
        "interval": format!("{interval_secs}s"),
        "timeout": "5s",
    }))
    .context("check settings")
}

/// A dependency (`category`: messenger, payment, …) with `checks` HTTP checks.
pub fn dependency(
    slug: &str,
    name: &str,
    category: &str,
    platform: Option<&str>,
    checks: Vec<CheckSettings>,
) -> anyhow::Result<DependencySettings> {
    serde_json::from_value(serde_json::json!({
        "slug": slug,
        "name": name,
        "name_en": slug,
        "category": category,
        "platform": platform,
        "description": format!("benchmark dependency {slug}"),
        "check": checks,
    }))
    .context("dependency settings")
}

/// The bench's stand-ins for the Kakao family and friends: (slug, name, category, platform).
pub const DEPENDENCIES: [(&str, &str, &str, Option<&str>); 8] = [
    (
        "bench-kakaotalk",
        "카카오톡 채널",
        "messenger",
        Some("kakao"),
    ),
    ("bench-kakao-login", "카카오 로그인", "login", Some("kakao")),
    ("bench-kakaopay", "카카오페이", "payment", Some("kakao")),
    ("bench-kakao-map", "카카오맵", "map", Some("kakao")),
    ("bench-naver-login", "네이버 로그인", "login", Some("naver")),
    ("bench-toss", "토스페이먼츠", "payment", Some("toss")),
    ("bench-baemin", "배달의민족", "delivery", None),
    ("bench-internet", "매장 인터넷", "network", None),
];

/// Every bench dependency, each with `checks` checks of `url`.
pub fn catalog(
    url: &str,
    checks: usize,
    interval_secs: u64,
) -> anyhow::Result<Vec<DependencySettings>> {
    DEPENDENCIES
        .iter()
        .map(|(slug, name, category, platform)| {
            let list = (0..checks)
                .map(|i| http_check(&format!("{slug}-{i}"), url, interval_secs))
                .collect::<anyhow::Result<Vec<_>>>()?;
            dependency(slug, name, category, *platform, list)
        })
        .collect()
}

/// A distinct Korean mobile number per index, E.164.
pub fn phone(i: usize) -> String {
    format!("+8210{:08}", 20_000_000 + i)
}

/// The same number as people type it: `010-2000-0001`.
pub fn phone_local(i: usize) -> String {
    let n = format!("{:08}", 20_000_000 + i);
    format!("010-{}-{}", &n[..4], &n[4..])
}

const TRADES: [&str; 5] = ["치킨", "카페", "분식", "한식", "미용실"];
const REGIONS: [&str; 5] = [
    "서울 마포구",
    "서울 종로구",
    "부산 해운대구",
    "대구 중구",
    "광주 동구",
];

/// `n` merchants, each subscribed to `slugs`, one contact (mobile + email on a domain of no
/// failing platform); every tenth has a backup contact.
pub fn merchants(n: usize, slugs: &[&str]) -> Vec<MerchantRecord> {
    (0..n)
        .map(|i| MerchantRecord {
            business_name: format!("{} {}호점", TRADES[i % TRADES.len()], i),
            phone: phone(i),
            email: Some(format!("owner{i}@example.com")),
            email_platform: None,
            dependencies: slugs.iter().map(|s| s.to_string()).collect(),
            locale: Some(if i % 20 == 0 { "en" } else { "ko" }.into()),
            region: Some(REGIONS[i % REGIONS.len()].into()),
            trade: Some(TRADES[i % TRADES.len()].into()),
            backup_phone: (i % 10 == 0).then(|| phone(i + 50_000_000)),
            backup_email: None,
            backup_email_platform: None,
        })
        .collect()
}

/// The same merchants as a CSV file in the documented format (local phone notation, some
/// with a backup contact).
pub fn merchants_csv(n: usize, slugs: &[&str]) -> String {
    let mut out = String::with_capacity(n * 120);
    out.push_str(
        "business_name,phone,email,dependencies,locale,region,trade,backup_phone,backup_email\n",
    );
    for i in 0..n {
        let trade = TRADES[i % TRADES.len()];
        let backup = if i % 10 == 0 {
            phone_local(i + 50_000_000)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{trade} {i}호점,{},owner{i}@example.com,{},{},{},{trade},{backup},\n",
            phone_local(i),
            slugs.join(";"),
            if i % 20 == 0 { "en" } else { "ko" },
            REGIONS[i % REGIONS.len()],
        ));
    }
    out
}
