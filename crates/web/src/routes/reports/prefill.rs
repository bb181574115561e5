//! Who is reporting, and what the form already knows: the merchant (signed in, or reached
//! through their alert link's token), their earlier report on the incident, and the incident's
//! probe-measured window.
use super::choices::{match_trade, split_region};
use super::event::Event;
use super::form::{FormContext, Helper};
use super::validate::RawReport;
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use meoktong_storage::reports::Report;
use meoktong_storage::{contacts, outbox, reports};

/// Opening hours a day the loss helper assumes until told otherwise.
pub const DEFAULT_OPEN_HOURS: &str = "12";

/// The merchant a submission is for: the signed-in merchant, or the one whose alert link
/// (`token`) names an incident of this event. Anybody else reports anonymously.
pub async fn merchant_for(
    state: &AppState,
    user: Option<&CurrentUser>,
    token: &str,
    event_incidents: &[i64],
    now: i64,
) -> Result<Option<i64>, WebError> {
    if let Some(m) = user.and_then(|u| u.merchant().ok()) {
        return Ok(Some(m));
    }
    if event_incidents.is_empty() || token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(n) = outbox::notice_by_link_token(&state.db, &state.crypto, token).await? else {
        return Ok(None);
    };
    let ids: Vec<i64> = serde_json::from_str(&n.incident_ids).unwrap_or_default();
    let names_event = ids.iter().any(|i| event_incidents.contains(i));
    Ok((n.token_expires_at > now && names_event).then_some(n.merchant_id))
}

/// The outage event of the incident the form names (any of its incidents opens it).
pub async fn event(state: &AppState, raw: &str, now: i64) -> Result<Option<Event>, WebError> {
    match raw.trim().parse::<i64>() {
        Ok(id) => Event::of(state, id, now).await,
        Err(_) => Ok(None),
    }
}

/// The merchant's own details.
async fn from_merchant(
    state: &AppState,
    merchant_id: i64,
    r: &mut RawReport,
) -> Result<(), WebError> {
    let Some(m) = contacts::merchant(&state.db, merchant_id).await? else {
        return Ok(());
    };
    r.business_name = m.business_name.clone();
    if let Some(enc) = &m.brn_enc {
        r.brn = state.crypto.decrypt(enc).map_err(WebError::Unexpected)?;
    }
    let (sido, rest) = split_region(m.region.as_deref().unwrap_or_default());
    r.region_sido = sido.unwrap_or_default().to_string();
    r.region_sigungu = rest;
    r.trade = m
        .trade
        .as_deref()
        .and_then(match_trade)
        .unwrap_or_default()
        .to_string();
    if let Some(a) = reports::lookup::association_of_merchant(&state.db, &m).await? {
        r.association = a.to_string();
    }
    Ok(())
}

/// The values of an earlier report.
pub fn from_report(rep: &Report) -> RawReport {
    let row = &rep.row;
    RawReport {
        incident: row.incident_id.to_string(),
        business_name: row.business_name.clone(),
        brn: rep.brn.clone().unwrap_or_default(),
        contact: rep.contact.clone().unwrap_or_default(),
        region_sido: row.region_sido.clone(),
        region_sigungu: row.region_sigungu.clone().unwrap_or_default(),
        trade: row.trade.clone(),
        services: rep.affected_services.clone(),
        kinds: rep.damage_kinds.clone(),
        estimated_loss: row.estimated_loss_krw.to_string(),
        lost_orders: row.lost_orders.map(|n| n.to_string()).unwrap_or_default(),
        description: row.description.clone(),
        association: row
            .association_id
            .map(|a| a.to_string())
            .unwrap_or_default(),
        consent: row.consent,
        sales_outage: row
            .sales_outage_krw
            .map(|n| n.to_string())
            .unwrap_or_default(),
        sales_comparable: row
            .sales_comparable_krw
            .map(|n| n.to_string())
            .unwrap_or_default(),
        usage: rep
            .service_usage
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        substitute: row.substitute.clone().unwrap_or_default(),
    }
}

/// Hours down as the helper shows them: one decimal.
pub fn hours_text(ms: i64) -> String {
    let h = (ms.max(0) as f64 / 360_000.0).round() / 10.0;
    format!("{h}")
}

/// The pre-filled form: the earlier report if there is one, else the merchant's details and
/// the incident's dependency. Returns the values and when the earlier report was sent.
pub async fn prefill(
    state: &AppState,
    ctx: &FormContext,
    merchant: Option<i64>,
    event: Option<&Event>,
) -> Result<(RawReport, Helper, Option<i64>), WebError> {
    let helper = Helper {
        open_hours: DEFAULT_OPEN_HOURS.into(),
        hours_down: event
            .and_then(|e| {
                let (start, end) = e.span();
                end.map(|r| hours_text(r - start))
            })
            .unwrap_or_default(),
        ..Helper::default()
    };
    if let (Some(m), Some(e)) = (merchant, event)
        && let Some(rep) =
            reports::of_merchant_incident(&state.db, &state.crypto, m, &e.ids()).await?
    {
        return Ok((from_report(&rep), helper, Some(rep.row.created_at)));
    }
    let mut r = RawReport::default();
    if let Some(m) = merchant {
        from_merchant(state, m, &mut r).await?;
    }
    if let Some(e) = event {
        // Every service of the event is ticked: the merchant unticks what they did not use.
        r.incident = e.key().id.to_string();
        let ids = e.dependency_ids();
        r.services = ids
            .iter()
            .filter_map(|id| ctx.deps.iter().find(|d| d.id == *id))
            .map(|d| d.slug.clone())
            .collect();
    }
    if r.association.is_empty() && ctx.associations.len() == 1 {
        r.association = ctx.associations[0].id.to_string();
    }
    Ok((r, helper, None))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hours_are_shown_with_one_decimal() {
        assert_eq!(super::hours_text(2 * 3_600_000 + 30 * 60_000), "2.5");
        assert_eq!(super::hours_text(3_600_000), "1");
        assert_eq!(super::hours_text(-5), "0");
    }
}
