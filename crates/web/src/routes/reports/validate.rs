//! Parse, don't validate: a damage report's raw form values become a [`ValidReport`] or a list
//! of field errors, each with a message in Korean and English. Pure functions, no I/O.
use super::choices::{self, KINDS, SIDO, TRADES};
use crate::i18n::Lang;

/// The most one report may claim (₩10 billion): a typo guard, not a judgement.
pub const MAX_LOSS_KRW: i64 = 10_000_000_000;
pub const MAX_LOST_ORDERS: i64 = 1_000_000;
pub const MAX_BUSINESS_NAME: usize = 100;
pub const MAX_CONTACT: usize = 100;
pub const MAX_SIGUNGU: usize = 40;
pub const MAX_DESCRIPTION: usize = 2000;
pub const MAX_REASON: usize = 500;
/// An outage measured in hours, for the loss helper (six weeks).
pub const MAX_HOURS_DOWN: f64 = 1000.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Problem {
    Required,
    TooLong(usize),
    NotANumber,
    Negative,
    TooLarge(i64),
    BrnFormat,
    BrnChecksum,
    Unknown,
    NoneChosen,
    ConsentRequired,
    FileType,
    FileTooLarge,
    TooManyFiles,
    TooFast,
    Expired,
    AlreadyForwarded,
}

impl Problem {
    pub fn message(self, lang: Lang) -> String {
        match (self, lang) {
            (Problem::Required, Lang::Ko) => "필수 항목입니다.".into(),
            (Problem::Required, Lang::En) => "This field is required.".into(),
            (Problem::TooLong(n), Lang::Ko) => format!("{n}자 이하로 적어 주세요."),
            (Problem::TooLong(n), Lang::En) => format!("Use at most {n} characters."),
            (Problem::NotANumber, Lang::Ko) => "숫자만 적어 주세요 (예: 1200000).".into(),
            (Problem::NotANumber, Lang::En) => "Enter a whole number (e.g. 1200000).".into(),
            (Problem::Negative, Lang::Ko) => "0 이상이어야 합니다.".into(),
            (Problem::Negative, Lang::En) => "Must be 0 or more.".into(),
            (Problem::TooLarge(n), Lang::Ko) => format!("{} 이하여야 합니다.", group_digits(n)),
            (Problem::TooLarge(n), Lang::En) => format!("Must be at most {}.", group_digits(n)),
            (Problem::BrnFormat, Lang::Ko) => "사업자등록번호는 10자리 숫자입니다 (예: 123-45-67891).".into(),
            (Problem::BrnFormat, Lang::En) => "A business registration number has 10 digits (e.g. 123-45-67891).".into(),
            (Problem::BrnChecksum, Lang::Ko) => "유효하지 않은 사업자등록번호입니다. 숫자를 확인해 주세요.".into(),
            (Problem::BrnChecksum, Lang::En) => "This business registration number is not valid; check the digits.".into(),
            (Problem::Unknown, Lang::Ko) => "목록에서 골라 주세요.".into(),
            (Problem::Unknown, Lang::En) => "Choose one from the list.".into(),
            (Problem::NoneChosen, Lang::Ko) => "하나 이상 골라 주세요.".into(),
            (Problem::NoneChosen, Lang::En) => "Choose at least one.".into(),
            (Problem::ConsentRequired, Lang::Ko) => "협회에 제공하는 데 동의해야 제출할 수 있습니다.".into(),
            (Problem::ConsentRequired, Lang::En) => "You must agree to share the report with the association.".into(),
            (Problem::FileType, Lang::Ko) => "사진(JPEG, PNG, GIF, WebP)이나 PDF만 첨부할 수 있습니다. 파일을 다시 첨부해 주세요.".into(),
            (Problem::FileType, Lang::En) => "Only images (JPEG, PNG, GIF, WebP) or PDF can be attached; attach the files again.".into(),
            (Problem::FileTooLarge, Lang::Ko) => "파일 하나는 5MB 이하여야 합니다. 파일을 다시 첨부해 주세요.".into(),
            (Problem::FileTooLarge, Lang::En) => "Each file must be 5 MB or less; attach the files again.".into(),
            (Problem::TooManyFiles, Lang::Ko) => format!("파일은 {}개까지 첨부할 수 있습니다.", super::upload::MAX_FILES),
            (Problem::TooManyFiles, Lang::En) => format!("Attach at most {} files.", super::upload::MAX_FILES),
            (Problem::TooFast, Lang::Ko) => "너무 빨리 제출되었습니다. 내용을 확인하고 다시 제출해 주세요.".into(),
            (Problem::TooFast, Lang::En) => "That was submitted too quickly; check the form and submit again.".into(),
            (Problem::Expired, Lang::Ko) => "양식이 만료되었습니다. 다시 제출해 주세요.".into(),
            (Problem::Expired, Lang::En) => "The form expired; submit it again.".into(),
            (Problem::AlreadyForwarded, Lang::Ko) => "이미 협회가 전달한 신고는 고칠 수 없습니다. 협회에 문의해 주세요.".into(),
            (Problem::AlreadyForwarded, Lang::En) => "This report was already forwarded and can no longer change; contact the association.".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: Problem,
}

/// `1200000` → `1,200,000`.
pub fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A whole number of won, as people type it: `1200000`, `1,200,000`, `1 200 000원`.
pub fn krw(s: &str) -> Result<i64, Problem> {
    let t = s.trim();
    let t = t.strip_suffix('원').unwrap_or(t).trim_end();
    let t = t.strip_prefix('₩').unwrap_or(t).trim_start();
    if t.is_empty() {
        return Err(Problem::Required);
    }
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t),
    };
    let digits: String = digits.chars().filter(|c| *c != ',' && *c != ' ').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::NotANumber);
    }
    if negative {
        return Err(if digits.bytes().all(|b| b == b'0') {
            Problem::NotANumber
        } else {
            Problem::Negative
        });
    }
    match digits.parse::<i64>() {
        Ok(n) if n <= MAX_LOSS_KRW => Ok(n),
        _ => Err(Problem::TooLarge(MAX_LOSS_KRW)),
    }
}

/// An optional whole number in `0..=max` (empty is `None`).
pub fn optional_count(s: &str, max: i64) -> Result<Option<i64>, Problem> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    match krw(s) {
        Ok(n) if n <= max => Ok(Some(n)),
        Ok(_) | Err(Problem::TooLarge(_)) => Err(Problem::TooLarge(max)),
        Err(p) => Err(p),
    }
}

/// Hours as a decimal (`2`, `2.5`, `2,5`) in `0..=max`.
pub fn hours(s: &str, max: f64) -> Result<f64, Problem> {
    let t = s.trim().replace(',', ".");
    if t.is_empty() {
        return Err(Problem::Required);
    }
    match t.parse::<f64>() {
        Ok(h) if !h.is_finite() => Err(Problem::NotANumber),
        Ok(h) if h < 0.0 => Err(Problem::Negative),
        Ok(h) if h > max => Err(Problem::TooLarge(max as i64)),
        Ok(h) => Ok(h),
        Err(_) => Err(Problem::NotANumber),
    }
}

/// The loss helper: average daily sales ÷ opening hours a day × hours the shop could not
/// trade, rounded to the won.
pub fn estimate_loss(daily_sales: i64, hours_down: f64, open_hours: f64) -> i64 {
    if open_hours <= 0.0 {
        return 0;
    }
    let v = (daily_sales as f64 / open_hours * hours_down).round();
    (v as i64).clamp(0, MAX_LOSS_KRW)
}

/// The official check digit of a business registration number (사업자등록번호): weights
/// 1,3,7,1,3,7,1,3,5 on the first nine digits, plus ⌊5·d₉ / 10⌋.
pub fn brn_checksum_ok(d: &[u8; 10]) -> bool {
    const W: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];
    let mut sum: u32 = d.iter().zip(W).map(|(x, w)| u32::from(*x) * w).sum();
    sum += u32::from(d[8]) * 5 / 10;
    (10 - sum % 10) % 10 == u32::from(d[9])
}

/// `1234567890` or `123-45-67890` → `123-45-67890` if the check digit is right.
pub fn brn(s: &str) -> Result<String, Problem> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Problem::Required);
    }
    let shape_ok =
        t.len() == 10 || (t.len() == 12 && t.as_bytes()[3] == b'-' && t.as_bytes()[6] == b'-');
    let digits: Vec<u8> = t.bytes().filter(|b| *b != b'-').collect();
    if !shape_ok || digits.len() != 10 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Problem::BrnFormat);
    }
    let mut d = [0u8; 10];
    for (slot, b) in d.iter_mut().zip(&digits) {
        *slot = b - b'0';
    }
    if !brn_checksum_ok(&d) {
        return Err(Problem::BrnChecksum);
    }
    let s = String::from_utf8_lossy(&digits).into_owned();
    Ok(format!("{}-{}-{}", &s[..3], &s[3..5], &s[5..]))
}

/// Trimmed text of at most `max` characters (`required`: not empty). Control characters
/// other than line breaks and tabs are refused as too long would be: they have no business here.
pub fn text(s: &str, max: usize, required: bool) -> Result<String, Problem> {
    let t = s.trim().replace("\r\n", "\n");
    if required && t.is_empty() {
        return Err(Problem::Required);
    }
    if t.chars().count() > max {
        return Err(Problem::TooLong(max));
    }
    Ok(t.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect())
}

/// One code of a fixed list.
pub fn one_of<'a>(s: &str, mut allowed: impl Iterator<Item = &'a str>) -> Result<String, Problem> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Problem::Required);
    }
    if allowed.any(|a| a == t) {
        Ok(t.to_string())
    } else {
        Err(Problem::Unknown)
    }
}

/// A non-empty set of codes of a fixed list, deduplicated, in the list's order.
pub fn some_of(values: &[String], allowed: &[&str]) -> Result<Vec<String>, Problem> {
    if values.iter().all(|v| v.trim().is_empty()) {
        return Err(Problem::NoneChosen);
    }
    if values.iter().any(|v| !allowed.contains(&v.trim())) {
        return Err(Problem::Unknown);
    }
    Ok(allowed
        .iter()
        .filter(|a| values.iter().any(|v| v.trim() == **a))
        .map(|a| a.to_string())
        .collect())
}

/// A damage report as the form sends it.
#[derive(Debug, Clone, Default)]
pub struct RawReport {
    pub incident: String,
    pub business_name: String,
    pub brn: String,
    pub contact: String,
    pub region_sido: String,
    pub region_sigungu: String,
    pub trade: String,
    pub services: Vec<String>,
    pub kinds: Vec<String>,
    pub estimated_loss: String,
    pub lost_orders: String,
    pub description: String,
    pub association: String,
    pub consent: bool,
    /// Sales in the outage period and in a comparable period (the claim's loss is the
    /// difference).
    pub sales_outage: String,
    pub sales_comparable: String,
    /// Service slug → `paid` | `free` (`usage_{slug}` fields).
    pub usage: Vec<(String, String)>,
    /// `yes` | `partly` | `no`, or empty.
    pub substitute: String,
}

/// What `substitute` may say.
pub const SUBSTITUTES: [&str; 3] = ["yes", "partly", "no"];
/// What a service's usage may say.
pub const USAGES: [&str; 2] = ["paid", "free"];

/// What a report may name: dependency slugs of the catalog, existing associations.
pub struct Context<'a> {
    pub services: &'a [&'a str],
    pub associations: &'a [i64],
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidReport {
    pub incident_id: i64,
    pub association_id: i64,
    pub business_name: String,
    pub brn: String,
    pub contact: Option<String>,
    pub region_sido: String,
    pub region_sigungu: Option<String>,
    pub trade: String,
    pub services: Vec<String>,
    pub kinds: Vec<String>,
    pub estimated_loss_krw: i64,
    pub lost_orders: Option<i32>,
    pub description: String,
    pub sales_outage_krw: Option<i64>,
    pub sales_comparable_krw: Option<i64>,
    pub usage: std::collections::BTreeMap<String, String>,
    pub substitute: Option<String>,
}

fn check<T>(errors: &mut Vec<FieldError>, field: &'static str, r: Result<T, Problem>) -> Option<T> {
    r.map_err(|problem| errors.push(FieldError { field, problem }))
        .ok()
}

/// Every field checked; all problems reported at once.
pub fn validate(raw: &RawReport, ctx: &Context<'_>) -> Result<ValidReport, Vec<FieldError>> {
    let mut errors = Vec::new();
    let e = &mut errors;
    let incident = check(
        e,
        "incident",
        raw.incident
            .trim()
            .parse::<i64>()
            .map_err(|_| Problem::Required),
    );
    let association = check(
        e,
        "association",
        raw.association
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|a| ctx.associations.contains(a))
            .ok_or(if raw.association.trim().is_empty() {
                Problem::Required
            } else {
                Problem::Unknown
            }),
    );
    let business_name = check(
        e,
        "business_name",
        text(&raw.business_name, MAX_BUSINESS_NAME, true),
    );
    let brn_no = check(e, "brn", brn(&raw.brn));
    let contact = check(e, "contact", text(&raw.contact, MAX_CONTACT, false));
    let sido = check(
        e,
        "region_sido",
        one_of(&raw.region_sido, SIDO.iter().map(|c| c.code)),
    );
    let sigungu = check(
        e,
        "region_sigungu",
        text(&raw.region_sigungu, MAX_SIGUNGU, false),
    );
    let trade = check(
        e,
        "trade",
        one_of(&raw.trade, TRADES.iter().map(|c| c.code)),
    );
    let services = check(e, "services", some_of(&raw.services, ctx.services));
    let kind_codes: Vec<&str> = KINDS.iter().map(|c| c.code).collect();
    let kinds = check(e, "kinds", some_of(&raw.kinds, &kind_codes));
    let optional_krw = |v: &str| {
        if v.trim().is_empty() {
            Ok(None)
        } else {
            krw(v).map(Some)
        }
    };
    let sales_outage = check(e, "sales_outage", optional_krw(&raw.sales_outage)).flatten();
    let sales_comparable =
        check(e, "sales_comparable", optional_krw(&raw.sales_comparable)).flatten();
    // Both sales figures given: the loss is their difference; else the loss typed in.
    let loss = match (sales_outage, sales_comparable) {
        (Some(o), Some(c)) => Some(meoktong_domain::claims::loss_from_sales(o, c)),
        _ => check(e, "estimated_loss", krw(&raw.estimated_loss)),
    };
    let substitute = if raw.substitute.trim().is_empty() {
        None
    } else {
        check(
            e,
            "substitute",
            one_of(&raw.substitute, SUBSTITUTES.iter().copied()),
        )
    };
    let usage = raw
        .usage
        .iter()
        .filter(|(slug, v)| {
            raw.services.iter().any(|s| s.trim() == slug) && USAGES.contains(&v.trim())
        })
        .map(|(slug, v)| (slug.clone(), v.trim().to_string()))
        .collect();
    let lost_orders = check(
        e,
        "lost_orders",
        optional_count(&raw.lost_orders, MAX_LOST_ORDERS),
    );
    let description = check(
        e,
        "description",
        text(&raw.description, MAX_DESCRIPTION, false),
    );
    check(
        e,
        "consent",
        if raw.consent {
            Ok(())
        } else {
            Err(Problem::ConsentRequired)
        },
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    // Every check above passed, so every value is present.
    Ok(ValidReport {
        incident_id: incident.unwrap_or_default(),
        association_id: association.unwrap_or_default(),
        business_name: business_name.unwrap_or_default(),
        brn: brn_no.unwrap_or_default(),
        contact: contact.filter(|c| !c.is_empty()),
        region_sido: sido.unwrap_or_default(),
        region_sigungu: sigungu.filter(|s| !s.is_empty()),
        trade: trade.unwrap_or_default(),
        services: services.unwrap_or_default(),
        kinds: kinds.unwrap_or_default(),
        estimated_loss_krw: loss.unwrap_or_default(),
        lost_orders: lost_orders.flatten().and_then(|n| i32::try_from(n).ok()),
        description: description.unwrap_or_default(),
        sales_outage_krw: sales_outage,
        sales_comparable_krw: sales_comparable,
        usage,
        substitute,
    })
}

/// The label of a form field, for the list of problems above the form.
pub fn field_label(field: &str, lang: Lang) -> &'static str {
    match field {
        "incident" => lang.t("장애", "Outage"),
        "association" => lang.t("보낼 협회", "Association"),
        "business_name" => lang.t("상호", "Business name"),
        "brn" => lang.t("사업자등록번호", "Business registration number"),
        "contact" => lang.t("연락처", "Contact"),
        "region_sido" => lang.t("시/도", "Province / city"),
        "region_sigungu" => lang.t("시/군/구", "District"),
        "trade" => lang.t("업종", "Trade"),
        "services" => lang.t("영향받은 서비스", "Affected services"),
        "kinds" => lang.t("피해 종류", "Kinds of damage"),
        "estimated_loss" => lang.t("추정 매출 손실", "Estimated lost sales"),
        "lost_orders" => lang.t("놓친 주문 수", "Lost orders"),
        "description" => lang.t("피해 내용", "What happened"),
        "consent" => lang.t("정보 제공 동의", "Consent"),
        "attachments" => lang.t("첨부 파일", "Attachments"),
        "daily_sales" => lang.t("하루 평균 매출", "Average daily sales"),
        "hours_down" => lang.t("영업하지 못한 시간", "Hours you could not trade"),
        "open_hours" => lang.t("하루 영업시간", "Opening hours a day"),
        "reason" => lang.t("사유", "Reason"),
        "sales_outage" => lang.t("장애 기간 매출", "Sales in the outage period"),
        "sales_comparable" => lang.t("비교 기간 매출", "Sales in a comparable period"),
        "substitute" => lang.t("대체 수단", "Substitute"),
        _ => lang.t("양식", "Form"),
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

/// Kind labels for a stored list of codes, joined for reading.
pub fn kinds_text(codes: &[String], lang: Lang) -> String {
    codes
        .iter()
        .map(|c| choices::label(&KINDS, c, lang))
        .collect::<Vec<_>>()
        .join(", ")
}
