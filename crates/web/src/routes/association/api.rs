//! `/api/v1/association/…`: an association's members and the live reach of an outage, for its
//! own programs (a bearer token made at `/dashboard/tokens`, or the session). Only the
//! caller's own members; contacts masked (the API never hands out full numbers).
use super::Staff;
use crate::AppState;
use crate::error::WebError;
use axum::Json;
use axum::extract::State;
use meoktong_storage::{member_reach, members};
use serde::Serialize;

#[derive(Serialize)]
pub struct ContactJson {
    pub position: i32,
    pub phone: Option<String>,
    pub phone_verified: bool,
    pub email: Option<String>,
    pub email_verified: bool,
}

#[derive(Serialize)]
pub struct MemberJson {
    pub merchant_id: i64,
    pub business_name: String,
    pub region: Option<String>,
    pub trade: Option<String>,
    pub subscriptions: Vec<String>,
    pub contacts: Vec<ContactJson>,
    pub joined_at: i64,
}

#[derive(Serialize)]
pub struct MemberList {
    pub members: Vec<MemberJson>,
}

pub async fn members(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Json<MemberList>, WebError> {
    let list = members::of_association(&state.db, &state.crypto, staff.association_id).await?;
    Ok(Json(MemberList {
        members: list
            .into_iter()
            .map(|m| MemberJson {
                merchant_id: m.merchant_id,
                business_name: m.business_name,
                region: m.region,
                trade: m.trade,
                subscriptions: m.subscriptions,
                contacts: m
                    .contacts
                    .into_iter()
                    .map(|c| ContactJson {
                        position: c.position,
                        phone: c.phone_masked,
                        phone_verified: c.phone_verified,
                        email: c.email_masked,
                        email_verified: c.email_verified,
                    })
                    .collect(),
                joined_at: m.joined_at,
            })
            .collect(),
    }))
}

#[derive(Serialize)]
pub struct ReachJson {
    pub merchant_id: i64,
    pub business_name: String,
    pub down_dependency_ids: Vec<i64>,
    pub sms_delivered: bool,
    pub email_sent: bool,
    pub acknowledged: bool,
    pub reached: bool,
    pub phone: Option<String>,
}

#[derive(Serialize)]
pub struct LiveReachJson {
    pub open_incident_ids: Vec<i64>,
    pub members: Vec<ReachJson>,
}

pub async fn reach(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Json<LiveReachJson>, WebError> {
    let live = member_reach::live_reach(&state.db, &state.crypto, staff.association_id).await?;
    Ok(Json(LiveReachJson {
        open_incident_ids: live.open_incidents.iter().map(|i| i.id).collect(),
        members: live
            .members
            .into_iter()
            .map(|r| ReachJson {
                reached: r.reached(),
                merchant_id: r.merchant_id,
                business_name: r.business_name,
                down_dependency_ids: r.down_dependency_ids,
                sms_delivered: r.sms_delivered,
                email_sent: r.email_sent,
                acknowledged: r.acknowledged_at.is_some(),
                phone: r.phone.map(|p| meoktong_domain::mask::mask_phone(&p)),
            })
            .collect(),
    }))
}
