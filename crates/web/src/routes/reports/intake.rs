//! The report form's use cases: open it pre-filled, and take a submission (or compute the
//! loss helper's estimate when JavaScript is off).
use super::event::Event;
use super::form::{self, Extras, FormContext, FormPage, Helper, Hidden};
use super::guard::{self, StampCheck};
use super::prefill;
use super::upload::RawForm;
use super::validate::{self, Context, FieldError, MAX_HOURS_DOWN, Problem, RawReport, ValidReport};
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::i18n::Lang;
use meoktong_storage::StorageError;
use meoktong_storage::entity::incidents;
use meoktong_storage::reports::{self, ReportData};

/// What `/reports/new?incident=&token=` shows.
pub struct Opening<'a> {
    pub incident: &'a str,
    pub token: &'a str,
    pub csrf: String,
    pub now: i64,
}

pub async fn open(
    state: &AppState,
    user: Option<&CurrentUser>,
    lang: Lang,
    o: Opening<'_>,
) -> Result<FormPage, WebError> {
    let ctx = FormContext::load(state).await?;
    let event = prefill::event(state, o.incident, o.now).await?;
    let incident = event.as_ref().map(|e| e.key().clone());
    let ids = event.as_ref().map(Event::ids).unwrap_or_default();
    let merchant = prefill::merchant_for(state, user, o.token, &ids, o.now).await?;
    let (r, h, editing) = prefill::prefill(state, &ctx, merchant, event.as_ref()).await?;
    // The token travels on only when it proved who is reporting.
    let token = if merchant.is_some() && user.is_none() {
        o.token.to_string()
    } else {
        String::new()
    };
    let hidden = Hidden {
        csrf: o.csrf,
        stamp: guard::form_stamp(&state.crypto, o.now),
        token,
    };
    let extras = Extras {
        incident,
        event,
        editing,
        estimate: None,
        signed_in: user.is_some(),
        files_sent: Vec::new(),
    };
    Ok(form::page(&ctx, lang, r, h, hidden, &[], extras))
}

pub enum Outcome {
    /// Stored: the report's id.
    Saved(i64),
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
        sales_outage: f.get("sales_outage").into(),
        sales_comparable: f.get("sales_comparable").into(),
        usage: f
            .fields
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("usage_")?.to_string(), v.clone())))
            .filter(|(_, v)| !v.trim().is_empty())
            .collect(),
        substitute: f.get("substitute").into(),
    }
}

/// The helper's estimate, or the problems with its inputs.
fn estimate(h: &Helper) -> Result<i64, Vec<FieldError>> {
    let daily = validate::krw(&h.daily_sales).map_err(|p| ("daily_sales", p));
    let down = validate::hours(&h.hours_down, MAX_HOURS_DOWN).map_err(|p| ("hours_down", p));
    let open = validate::hours(&h.open_hours, 24.0)
        .and_then(|o| {
            if o > 0.0 {
                Ok(o)
            } else {
                Err(Problem::Required)
            }
        })
        .map_err(|p| ("open_hours", p));
    match (daily, down, open) {
        (Ok(d), Ok(h), Ok(o)) => Ok(validate::estimate_loss(d, h, o)),
        (d, h, o) => Err([d.err(), h.err(), o.err()]
            .into_iter()
            .flatten()
            .map(|(field, problem)| FieldError { field, problem })
            .collect()),
    }
}

/// A submission as read, with everything needed to show the form again.
struct Submission {
    ctx: FormContext,
    r: RawReport,
    h: Helper,
    hidden: Hidden,
    incident: Option<incidents::Model>,
    event: Option<Event>,
    merchant: Option<i64>,
    signed_in: bool,
    lang: Lang,
    /// Names of the files this submission carried.
    files_sent: Vec<String>,
}

impl Submission {
    async fn read(
        state: &AppState,
        user: Option<&CurrentUser>,
        f: &RawForm,
        lang: Lang,
        now: i64,
    ) -> Result<(Submission, StampCheck), WebError> {
        let r = raw_report(f);
        let h = Helper {
            daily_sales: f.get("daily_sales").into(),
            hours_down: f.get("hours_down").into(),
            open_hours: f.get("open_hours").into(),
        };
        let event = prefill::event(state, &r.incident, now).await?;
        let incident = event.as_ref().map(|e| e.key().clone());
        let token = f.get("token").to_string();
        let ids = event.as_ref().map(Event::ids).unwrap_or_default();
        let merchant = prefill::merchant_for(state, user, &token, &ids, now).await?;
        let check = guard::check_stamp(&state.crypto, f.get("stamp"), now);
        // A stale stamp is replaced, so the form shown again can be sent.
        let stamp = match check {
            StampCheck::Stale => guard::form_stamp(&state.crypto, now),
            _ => f.get("stamp").to_string(),
        };
        let hidden = Hidden {
            csrf: f.get("csrf").to_string(),
            stamp,
            token,
        };
        let ctx = FormContext::load(state).await?;
        let signed_in = user.is_some();
        Ok((
            Submission {
                ctx,
                r,
                h,
                hidden,
                incident,
                event,
                merchant,
                signed_in,
                lang,
                files_sent: f.files.iter().map(|a| a.filename.clone()).collect(),
            },
            check,
        ))
    }

    fn page(self, errors: &[FieldError], estimate: Option<String>) -> Box<FormPage> {
        let x = Extras {
            incident: self.incident,
            event: self.event,
            editing: None,
            estimate,
            signed_in: self.signed_in,
            files_sent: self.files_sent,
        };
        Box::new(form::page(
            &self.ctx,
            self.lang,
            self.r,
            self.h,
            self.hidden,
            errors,
            x,
        ))
    }

    /// The loss helper without JavaScript: the estimate goes into the loss field.
    fn estimated(mut self) -> Outcome {
        match estimate(&self.h) {
            Ok(v) => {
                self.r.estimated_loss = v.to_string();
                Outcome::Estimated(self.page(&[], Some(validate::group_digits(v))))
            }
            Err(errors) => Outcome::Estimated(self.page(&errors, None)),
        }
    }

    /// Every field, the attachments, the fill time and the incident.
    fn check(
        &self,
        f: &RawForm,
        stamp: StampCheck,
    ) -> Result<(ValidReport, incidents::Model), Vec<FieldError>> {
        let (slugs, associations) = (self.ctx.service_slugs(), self.ctx.association_ids());
        let valid = validate::validate(
            &self.r,
            &Context {
                services: &slugs,
                associations: &associations,
            },
        );
        let mut errors = valid.as_ref().err().cloned().unwrap_or_default();
        if self.incident.is_none() && !errors.iter().any(|e| e.field == "incident") {
            errors.push(FieldError {
                field: "incident",
                problem: Problem::Unknown,
            });
        }
        errors.extend(f.file_errors.iter().cloned());
        match stamp {
            StampCheck::Ok => {}
            StampCheck::TooFast => errors.push(FieldError {
                field: "form",
                problem: Problem::TooFast,
            }),
            StampCheck::Stale => errors.push(FieldError {
                field: "form",
                problem: Problem::Expired,
            }),
        }
        match (valid, self.incident.clone()) {
            (Ok(v), Some(i)) if errors.is_empty() => Ok((v, i)),
            _ => Err(errors),
        }
    }

    fn data(&self, v: ValidReport, inc: &incidents::Model) -> ReportData {
        let (start, end) = self
            .event
            .as_ref()
            .map(Event::span)
            .unwrap_or((inc.started_at, inc.resolved_at));
        let windows = self
            .event
            .as_ref()
            .map(|e| e.windows(&self.ctx.deps, &v.services))
            .unwrap_or_default();
        ReportData {
            event_incidents: self.event.as_ref().map(Event::ids).unwrap_or_default(),
            windows,
            sales_outage_krw: v.sales_outage_krw,
            sales_comparable_krw: v.sales_comparable_krw,
            service_usage: v.usage,
            substitute: v.substitute,
            incident_id: inc.id,
            merchant_id: self.merchant,
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
            // The probe-measured windows are the evidence; the reporter does not edit them.
            outage_start: start,
            outage_end: end,
            consent: true,
        }
    }
}

/// Who submitted, for the audit log.
fn actor(user: Option<&CurrentUser>, merchant: Option<i64>) -> String {
    match (user, merchant) {
        (Some(u), _) => format!("user:{}", u.user_id),
        (None, Some(m)) => format!("merchant:{m}"),
        (None, None) => "public".into(),
    }
}

pub async fn submit(
    state: &AppState,
    user: Option<&CurrentUser>,
    f: &RawForm,
    lang: Lang,
    now: i64,
) -> Result<Outcome, WebError> {
    let (s, stamp) = Submission::read(state, user, f, lang, now).await?;
    if f.get("action") == "estimate" {
        return Ok(s.estimated());
    }
    let (v, inc) = match s.check(f, stamp) {
        Ok(checked) => checked,
        Err(errors) => return Ok(Outcome::Invalid(s.page(&errors, None))),
    };
    let data = s.data(v, &inc);
    let actor = actor(user, s.merchant);
    match reports::save(&state.db, &state.crypto, &data, &f.files, &actor, now).await {
        Ok(saved) => {
            tracing::info!(report.id = saved.id(), incident.id = inc.id, merchant.id = ?s.merchant, "damage report saved");
            Ok(Outcome::Saved(saved.id()))
        }
        Err(StorageError::Conflict(_)) => {
            let forwarded = FieldError {
                field: "form",
                problem: Problem::AlreadyForwarded,
            };
            Ok(Outcome::Invalid(s.page(&[forwarded], None)))
        }
        Err(e) => Err(e.into()),
    }
}
