//! The per-merchant evidence sheet a claim handler reads: one report on one outage event, with
//! dates and times in words, every probe location's view of each service, the merchant's own
//! account and the attachments listed. Downloaded as one signed HTML file ([`signature`]);
//! `/reports/evidence/verify` (and `meoktong evidence verify FILE`) checks it.
//!
//! - `/association/reports/{id}/evidence`: the association's staff (their reports only).
//! - `/reports/{id}/evidence`: the merchant who filed it.
use super::choices::{self, SIDO, TRADES};
use super::event::{Event, tier_text};
use super::export::substitute_text;
use super::form::{dep_label, fmt_duration, time_zone};
use super::guard;
use super::signature::{self, Verdict};
use super::upload::{self, MAX_BODY_BYTES};
use super::validate::{group_digits, kinds_text};
use super::view::{size_text, status_label};
use super::{LangQuery, lang_of, render, staff_of};
use crate::AppState;
use crate::auth::session::{CurrentUser, MaybeUser};
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, TimeZone, Timelike};
use meoktong_domain::claims::reaches_two_hours;
use meoktong_storage::reports::{self, Report};
use meoktong_storage::{now_ms, probes};
use sha2::{Digest, Sha256};

const WEEKDAYS_KO: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];

/// A moment in words: `2022년 10월 15일 (토) 오후 3시 30분` / `Sat 15 October 2022, 3:30 PM`.
pub fn in_words(tz: chrono_tz::Tz, ms: i64, lang: Lang) -> String {
    let Some(t) = tz.timestamp_millis_opt(ms).single() else {
        return String::new();
    };
    match lang {
        Lang::Ko => {
            let (pm, h) = t.hour12();
            let minute = if t.minute() == 0 {
                String::new()
            } else {
                format!(" {}분", t.minute())
            };
            format!(
                "{}년 {}월 {}일 ({}) {} {}시{minute}",
                t.year(),
                t.month(),
                t.day(),
                WEEKDAYS_KO[t.weekday().num_days_from_monday() as usize],
                if pm { "오후" } else { "오전" },
                h
            )
        }
        Lang::En => t.format("%a %-d %B %Y, %-I:%M %p").to_string(),
    }
}

pub struct LocationLine {
    pub name: String,
    pub text: String,
}

pub struct ServiceSection {
    pub name: String,
    pub used: String,
    pub start: String,
    pub end: String,
    pub duration: String,
    pub two_hours: bool,
    pub locations: Vec<LocationLine>,
}

pub struct FileLine {
    pub name: String,
    pub kind: String,
    pub size: String,
    pub sha256: String,
}

#[derive(Template)]
#[template(path = "reports/sheet.html")]
pub struct Sheet {
    pub lang: &'static str,
    pub l: Lang,
    pub title: String,
    pub receipt: String,
    pub generated: String,
    pub status: String,
    pub reviewed: String,
    pub reason: String,
    pub business_name: String,
    pub brn: String,
    pub region: String,
    pub trade: String,
    pub contact: String,
    pub event_start: String,
    pub event_end: String,
    pub event_duration: String,
    pub services: Vec<ServiceSection>,
    pub sales_outage: String,
    pub sales_comparable: String,
    pub loss: String,
    pub lost_orders: String,
    pub tier: String,
    pub basis: String,
    pub substitute: String,
    pub kinds: String,
    pub description: String,
    pub submitted: String,
    pub files: Vec<FileLine>,
    pub verify_url: String,
}

fn location_text(v: &probes::LocationView, tz: chrono_tz::Tz, lang: Lang) -> String {
    let share = v.failed * 100 / v.probes.max(1);
    let hours = match (v.first_failed_hour, v.last_failed_hour) {
        (Some(a), Some(b)) => match lang {
            Lang::Ko => format!(
                ", 실패는 {}부터 {} 사이 시간대에 기록됨",
                in_words(tz, a, lang),
                in_words(tz, b + 3_600_000, lang)
            ),
            Lang::En => format!(
                "; failures recorded in the hours from {} to {}",
                in_words(tz, a, lang),
                in_words(tz, b + 3_600_000, lang)
            ),
        },
        _ => String::new(),
    };
    match lang {
        Lang::Ko => format!(
            "점검 {}회 중 실패 {}회 ({share}%){hours}",
            group_digits(v.probes),
            group_digits(v.failed)
        ),
        Lang::En => format!(
            "{} of {} probes failed ({share}%){hours}",
            group_digits(v.failed),
            group_digits(v.probes)
        ),
    }
}

/// Builds the sheet of one report (already scoped to its reader).
pub async fn build(state: &AppState, rep: &Report, lang: Lang) -> Result<Sheet, WebError> {
    let tz = time_zone(state);
    let row = &rep.row;
    let now = now_ms();
    let event = Event::of(state, row.incident_id, now)
        .await?
        .ok_or(WebError::NotFound)?;
    let deps = reports::lookup::all_dependencies(&state.db).await?;
    let locations = probes::locations(&state.db).await?;
    let mut services = Vec::new();
    for i in &event.incidents {
        let dep = deps.iter().find(|d| d.id == i.dependency_id);
        let slug = dep.map(|d| d.slug.as_str()).unwrap_or_default();
        let end = i.resolved_at.unwrap_or(now);
        let views =
            probes::views_by_location(&state.db, i.dependency_id, i.started_at, end).await?;
        let used = if rep.affected_services.iter().any(|s| s == slug) {
            match rep.service_usage.get(slug).map(String::as_str) {
                Some("paid") => lang.t("사용함 (유료)", "used (paid)"),
                Some("free") => lang.t("사용함 (무료)", "used (free)"),
                _ => lang.t("사용함", "used"),
            }
        } else {
            lang.t("사용하지 않음", "not used")
        };
        services.push(ServiceSection {
            name: dep.map(|d| dep_label(d, lang)).unwrap_or_default(),
            used: used.into(),
            start: in_words(tz, i.started_at, lang),
            end: i
                .resolved_at
                .map(|r| in_words(tz, r, lang))
                .unwrap_or_else(|| lang.t("아직 복구되지 않음", "not yet recovered").into()),
            duration: fmt_duration(lang, end - i.started_at),
            two_hours: reaches_two_hours(end - i.started_at),
            locations: views
                .iter()
                .map(|v| LocationLine {
                    name: locations
                        .iter()
                        .find(|l| l.id == v.location_id)
                        .map(|l| l.name.clone())
                        .unwrap_or_else(|| format!("#{}", v.location_id)),
                    text: location_text(v, tz, lang),
                })
                .collect(),
        });
    }
    let mut files = Vec::new();
    for a in reports::attachments(&state.db, row.id).await? {
        let data = reports::attachment(&state.db, &state.crypto, row.id, a.id)
            .await?
            .map(|(_, d)| d)
            .unwrap_or_default();
        files.push(FileLine {
            name: super::upload::safe_filename(&a.filename),
            kind: a.content_type.clone(),
            size: size_text(a.size),
            sha256: hex::encode(Sha256::digest(&data)),
        });
    }
    let (start, end) = event.span();
    let won = |v: Option<i64>| {
        v.map(|n| format!("{}{}", group_digits(n), lang.t("원", " KRW")))
            .unwrap_or_default()
    };
    let receipt = rep.receipt();
    Ok(Sheet {
        lang: lang.code(),
        l: lang,
        title: format!(
            "{} — {} ({receipt})",
            lang.t("장애 피해 증거 자료", "Outage damage evidence"),
            row.business_name
        ),
        generated: in_words(tz, now, lang),
        status: status_label(&row.status, lang).into(),
        reviewed: row
            .reviewed_at
            .map(|r| in_words(tz, r, lang))
            .unwrap_or_default(),
        reason: row.review_reason.clone().unwrap_or_default(),
        business_name: row.business_name.clone(),
        brn: rep.brn.clone().unwrap_or_default(),
        region: format!(
            "{} {}",
            choices::label(&SIDO, &row.region_sido, lang),
            row.region_sigungu.as_deref().unwrap_or_default()
        )
        .trim()
        .to_string(),
        trade: choices::label(&TRADES, &row.trade, lang),
        contact: rep.contact.clone().unwrap_or_default(),
        event_start: in_words(tz, start, lang),
        event_end: end
            .map(|e| in_words(tz, e, lang))
            .unwrap_or_else(|| lang.t("아직 복구되지 않음", "not yet recovered").into()),
        event_duration: fmt_duration(lang, end.unwrap_or(now) - start),
        services,
        sales_outage: won(row.sales_outage_krw),
        sales_comparable: won(row.sales_comparable_krw),
        loss: won(Some(row.estimated_loss_krw)),
        lost_orders: row
            .lost_orders
            .map(|n| group_digits(i64::from(n)))
            .unwrap_or_default(),
        tier: tier_text(
            &state.settings.compensation.domain_tiers(),
            row.estimated_loss_krw,
            lang,
        ),
        basis: state.settings.compensation.basis.clone(),
        substitute: substitute_text(row.substitute.as_deref(), lang),
        kinds: kinds_text(&rep.damage_kinds, lang),
        description: row.description.clone(),
        submitted: in_words(tz, row.created_at, lang),
        files,
        verify_url: format!(
            "{}/reports/evidence/verify",
            state.settings.server.public_url.trim_end_matches('/')
        ),
        receipt,
    })
}

/// The signed file, as a download.
fn signed_download(state: &AppState, sheet: &Sheet) -> Result<Response, WebError> {
    let body = signature::sign(&state.crypto, &sheet.render()?);
    let disposition = format!("attachment; filename=\"evidence-{}.html\"", sheet.receipt);
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, "no-store".to_string()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
    ];
    Ok((headers, body).into_response())
}

pub async fn for_staff(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let association_id = staff_of(&user)?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    let rep = reports::one_of_association(&state.db, &state.crypto, association_id, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let sheet = build(&state, &rep, lang).await?;
    signed_download(&state, &sheet)
}

pub async fn for_merchant(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let merchant = user.merchant()?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    let rep = reports::one_of_merchant(&state.db, &state.crypto, merchant, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let sheet = build(&state, &rep, lang).await?;
    signed_download(&state, &sheet)
}

#[derive(Template)]
#[template(path = "reports/verify.html")]
struct VerifyPage {
    lang: &'static str,
    l: Lang,
    title: String,
    csrf: String,
    /// "" before a file was sent; else `genuine` | `altered` | `unsigned`.
    verdict: &'static str,
    filename: String,
}

fn verify_page(lang: Lang, csrf: String, verdict: &'static str, filename: String) -> VerifyPage {
    VerifyPage {
        lang: lang.code(),
        l: lang,
        title: lang
            .t("증거 자료 서명 확인", "Check an evidence sheet")
            .into(),
        csrf,
        verdict,
        filename,
    }
}

/// `GET /reports/evidence/verify`: anybody (a claim handler) may check a sheet.
pub async fn verify_form(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let lang = lang_of(q.lang.as_deref(), &headers, user.as_ref());
    let (csrf, cookie) = guard::csrf_for_form(&state, user.as_ref(), &headers);
    render(
        StatusCode::OK,
        &verify_page(lang, csrf, "", String::new()),
        cookie,
    )
}

/// `POST /reports/evidence/verify`: the file is read, checked and forgotten (never stored).
pub async fn verify_upload(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let lang = lang_of(q.lang.as_deref(), &headers, user.as_ref());
    let (mut csrf, mut file, mut filename) = (String::new(), None::<Vec<u8>>, String::new());
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name().unwrap_or_default() {
            "csrf" => csrf = field.text().await.unwrap_or_default(),
            "file" => {
                filename = upload::safe_filename(field.file_name().unwrap_or_default());
                let data = field.bytes().await.map_err(|_| WebError::Validation {
                    field: "file".into(),
                    message: lang
                        .t("파일을 읽지 못했습니다.", "Could not read the file.")
                        .into(),
                })?;
                if data.len() > MAX_BODY_BYTES {
                    return Err(WebError::Validation {
                        field: "file".into(),
                        message: lang
                            .t("파일이 너무 큽니다.", "The file is too large.")
                            .into(),
                    });
                }
                file = Some(data.to_vec());
            }
            _ => {}
        }
    }
    guard::check_csrf(user.as_ref(), &headers, &csrf)?;
    let verdict = match file.as_deref().map(|f| signature::verify(&state.crypto, f)) {
        Some(Verdict::Genuine) => "genuine",
        Some(Verdict::Altered) => "altered",
        Some(Verdict::Unsigned) | None => "unsigned",
    };
    tracing::info!(verdict, "evidence sheet checked");
    let (csrf, cookie) = guard::csrf_for_form(&state, user.as_ref(), &headers);
    render(
        StatusCode::OK,
        &verify_page(lang, csrf, verdict, filename),
        cookie,
    )
}
