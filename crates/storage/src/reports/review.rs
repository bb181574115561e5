//! The review workflow of an association's staff: received → verified | rejected (with a
//! reason) → forwarded. Every step is a conditional update (nobody else moved the report in
//! between) and an audit entry, in one transaction.
use crate::entity::damage_reports;
use crate::error::StorageError;
use crate::{Db, audit};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    Verify,
    Reject,
    Forward,
}

impl ReviewAction {
    pub fn parse(s: &str) -> Option<ReviewAction> {
        match s {
            "verify" => Some(ReviewAction::Verify),
            "reject" => Some(ReviewAction::Reject),
            "forward" => Some(ReviewAction::Forward),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewAction::Verify => "verify",
            ReviewAction::Reject => "reject",
            ReviewAction::Forward => "forward",
        }
    }
}

/// The status an action leads to from `current`, or `None` when the action is not allowed
/// there. A rejected report may be verified after all; only verified reports are forwarded;
/// a forwarded report is final.
pub fn next_status(current: &str, action: ReviewAction) -> Option<&'static str> {
    match (current, action) {
        ("received" | "rejected", ReviewAction::Verify) => Some("verified"),
        ("received" | "verified", ReviewAction::Reject) => Some("rejected"),
        ("verified", ReviewAction::Forward) => Some("forwarded"),
        _ => None,
    }
}

/// One review step by a staff member of `association_id`.
pub struct Review<'a> {
    pub association_id: i64,
    pub report_id: i64,
    pub action: ReviewAction,
    /// Required to reject; kept for the merchant to read.
    pub reason: Option<&'a str>,
    pub user_id: i64,
    pub now: i64,
}

/// Applies a review step. `NotFound` outside the association's scope; `Conflict` when the
/// action is not allowed from the report's current status.
pub async fn apply(db: &Db, r: Review<'_>) -> Result<damage_reports::Model, StorageError> {
    let txn = db.begin_write().await?;
    let Some(row) = damage_reports::Entity::find_by_id(r.report_id)
        .filter(super::visible_to_association(r.association_id))
        .one(&txn)
        .await?
    else {
        return Err(StorageError::NotFound(format!("report {}", r.report_id)));
    };
    let Some(to) = next_status(&row.status, r.action) else {
        return Err(StorageError::Conflict(format!(
            "cannot {} a report that is {}",
            r.action.as_str(),
            row.status
        )));
    };
    let mut update = damage_reports::Entity::update_many()
        .col_expr(damage_reports::Column::Status, to.into())
        .col_expr(damage_reports::Column::ReviewedBy, Some(r.user_id).into())
        .col_expr(damage_reports::Column::ReviewedAt, Some(r.now).into())
        .col_expr(damage_reports::Column::UpdatedAt, r.now.into());
    update = match r.action {
        ReviewAction::Reject => update.col_expr(
            damage_reports::Column::ReviewReason,
            r.reason.map(str::to_string).into(),
        ),
        ReviewAction::Verify => update.col_expr(
            damage_reports::Column::ReviewReason,
            Option::<String>::None.into(),
        ),
        ReviewAction::Forward => {
            update.col_expr(damage_reports::Column::ForwardedAt, Some(r.now).into())
        }
    };
    let res = update
        .filter(damage_reports::Column::Id.eq(row.id))
        .filter(damage_reports::Column::Status.eq(row.status.as_str()))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(StorageError::Conflict(
            "the report changed meanwhile".into(),
        ));
    }
    let actor = format!("user:{}", r.user_id);
    let entry = audit::AuditEntry {
        actor_user_id: Some(r.user_id),
        actor: &actor,
        action: match r.action {
            ReviewAction::Verify => "report.verify",
            ReviewAction::Reject => "report.reject",
            ReviewAction::Forward => "report.forward",
        },
        target_type: "damage_report",
        target_id: Some(row.id),
        detail: serde_json::json!({"from": row.status, "to": to, "reason": r.reason}),
    };
    audit::record(&txn, r.now, entry).await?;
    let updated = damage_reports::Entity::find_by_id(row.id).one(&txn).await?;
    txn.commit().await?;
    updated.ok_or_else(|| StorageError::NotFound(format!("report {}", r.report_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_only_moves_forward_along_its_edges() {
        use ReviewAction::*;
        assert_eq!(next_status("received", Verify), Some("verified"));
        assert_eq!(next_status("received", Reject), Some("rejected"));
        assert_eq!(
            next_status("received", Forward),
            None,
            "verify before forwarding"
        );
        assert_eq!(next_status("verified", Forward), Some("forwarded"));
        assert_eq!(next_status("verified", Reject), Some("rejected"));
        assert_eq!(next_status("rejected", Verify), Some("verified"));
        assert_eq!(next_status("rejected", Forward), None);
        for a in [Verify, Reject, Forward] {
            assert_eq!(next_status("forwarded", a), None, "forwarded is final");
            assert_eq!(ReviewAction::parse(a.as_str()), Some(a));
        }
    }
}
