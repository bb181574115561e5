//! The report form's use cases: open it pre-filled, and take a submission (or compute the
//! loss helper's estimate when JavaScript is off).
use super::form::{self, Extras, FormContext, FormPage, Helper, Hidden};
use super::guard::{self, StampCheck};
use super::prefill;
use super::upload::RawForm;
use super::validate::{self, Context, FieldError, MAX_HOURS_DOWN, Problem, RawReport};
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::i18n::Lang;
use meoktong_storage::reports::{self, ReportData};
use meoktong_storage::StorageError;

/// What `/reports/new?incident=&token=` shows.
pub struct Opening<'a> {
    pub incident: &'a str,
    pub token: &'a str,
    pub csrf: String,
    pub now: i64,
}

pub async fn open(state: &AppState, user: Option<&CurrentUser>, lang: Lang, o: Opening<'_>) -> Result<FormPage, WebError> {
    let ctx = FormContext::load(state).await?;
    let incident = prefill::incident(state, o.incident).await?;
    let merchant = prefill::merchant_for(state, user, o.token, incident.as_ref().map(|i| i.id), o.now).await?;
    let (r, h, editing) = prefill::prefill(state, &ctx, merchant, incident.as_ref()).await?;
    // The token travels on only when it proved who is reporting.
    let token = if merchant.is_some() && user.is_none() { o.token.to_string() } else { String::new() };
    let hidden = Hidden { csrf: o.csrf, stamp: guard::form_stamp(&state.crypto, o.now), token };
    let extras = Extras { incident, editing, estimate: None, signed_in: user.is_some() };
    Ok(form::page(&ctx, lang, r, h, hidden, &[], extras))
}

pub enum Outcome {
    Saved,
    /// Shown again with field messages (422).
    Invalid(Box<FormPage>),
    /// Shown again with the loss helper's estimate filled in (200).
    Estimated(Box<FormPage>),
}

fn raw_report(f: &RawForm) -> RawReport {
    RawReport {
        incident: f.get("incident").into(),
        business_name: f.get("business_name").into(),
        brn: f.get("brn").into(),
        contact: f.get("contact").into(),
        region_sido: f.get("region_sido").into(),
        region_sigungu: f.get("region_sigungu").into(),
        trade: f.get("trade").into(),
        services: f.all("services"),
        kinds: f.all("kinds"),
        estimated_loss: f.get("estimated_loss").into(),
        lost_orders: f.get("lost_orders").into(),
        description: f.get("description").into(),
        association: f.get("association").into(),
        consent: !f.get("consent").is_empty(),
    }
}

/// The helper's estimate, or the problems with its inputs.
fn estimate(h: &Helper) -> Result<i64, Vec<FieldError>> {
    let daily = validate::krw(&h.daily_sales).map_err(|p| ("daily_sales", p));
    let down = validate::hours(&h.hours_down, MAX_HOURS_DOWN).map_err(|p| ("hours_down", p));
    let open = validate::hours(&h.open_hours, 24.0)
        .and_then(|o| if o > 0.0 { Ok(o) } else { Err(Problem::Required) })
        .map_err(|p| ("open_hours", p));
    match (daily, down, open) {
        (Ok(d), Ok(h), Ok(o)) => Ok(validate::estimate_loss(d, h, o)),
        (d, h, o) => Err([d.err(), h.err(), o.err()].into_iter().flatten().map(|(field, problem)| FieldError { field, problem }).collect()),
    }
}

pub async fn submit(state: &AppState, user: Option<&CurrentUser>, f: &RawForm, lang: Lang, now: i64) -> Result<Outcome, WebError> {
    let ctx = FormContext::load(state).await?;
    let mut r = raw_report(f);
    let h = Helper { daily_sales: f.get("daily_sales").into(), hours_down: f.get("hours_down").into(), open_hours: f.get("open_hours").into() };
    let incident = prefill::incident(state, &r.incident).await?;
    let token = f.get("token").to_string();
    let merchant = prefill::merchant_for(state, user, &token, incident.as_ref().map(|i| i.id), now).await?;
    let stamp_check = guard::check_stamp(&state.crypto, f.get("stamp"), now);
    let stamp = if stamp_check == StampCheck::Stale { guard::form_stamp(&state.crypto, now) } else { f.get("stamp").to_string() };
    let hidden = Hidden { csrf: f.get("csrf").to_string(), stamp, token };
    let signed_in = user.is_some();

    if f.get("action") == "estimate" {
        let (errors, estimate) = match estimate(&h) {
            Ok(v) => {
                r.estimated_loss = v.to_string();
                (Vec::new(), Some(validate::group_digits(v)))
            }
            Err(e) => (e, None),
        };
        let x = Extras { incident, editing: None, estimate, signed_in };
        return Ok(Outcome::Estimated(Box::new(form::page(&ctx, lang, r, h, hidden, &errors, x))));
    }

    let (slugs, assocs) = (ctx.service_slugs(), ctx.association_ids());
    let valid = validate::validate(&r, &Context { services: &slugs, associations: &assocs });
    let mut errors = valid.as_ref().err().cloned().unwrap_or_default();
    if incident.is_none() && !errors.iter().any(|e| e.field == "incident") {
        errors.push(FieldError { field: "incident", problem: Problem::Unknown });
    }
    errors.extend(f.file_errors.iter().cloned());
    match stamp_check {
        StampCheck::Ok => {}
        StampCheck::TooFast => errors.push(FieldError { field: "form", problem: Problem::TooFast }),
        StampCheck::Stale => errors.push(FieldError { field: "form", problem: Problem::Expired }),
    }
    let invalid = |errors: &[FieldError], r: RawReport, h: Helper, hidden: Hidden, incident| {
        let x = Extras { incident, editing: None, estimate: None, signed_in };
        Ok(Outcome::Invalid(Box::new(form::page(&ctx, lang, r, h, hidden, errors, x))))
    };
    let (Ok(v), Some(inc), true) = (valid, incident.clone(), errors.is_empty()) else {
        return invalid(&errors, r, h, hidden, incident);
    };
    let data = ReportData {
        incident_id: inc.id,
        merchant_id: merchant,
        association_id: v.association_id,
        business_name: v.business_name,
        brn: v.brn,
        contact: v.contact,
        region_sido: v.region_sido,
        region_sigungu: v.region_sigungu,
        trade: v.trade,
        affected_services: v.services,
        damage_kinds: v.kinds,
        estimated_loss_krw: v.estimated_loss_krw,
        lost_orders: v.lost_orders,
        description: v.description,
        // The probe-measured window is the evidence; the reporter does not edit it.
        outage_start: inc.started_at,
        outage_end: inc.resolved_at,
        consent: true,
    };
    let actor = match (user, merchant) {
        (Some(u), _) => format!("user:{}", u.user_id),
        (None, Some(m)) => format!("merchant:{m}"),
        (None, None) => "public".into(),
    };
    match reports::save(&state.db, &state.crypto, &data, &f.files, &actor, now).await {
        Ok(saved) => {
            tracing::info!(report.id = saved.id(), incident.id = inc.id, merchant.id = ?merchant, "damage report saved");
            Ok(Outcome::Saved)
        }
        Err(StorageError::Conflict(_)) => {
            invalid(&[FieldError { field: "form", problem: Problem::AlreadyForwarded }], r, h, hidden, incident)
        }
        Err(e) => Err(e.into()),
    }
}
