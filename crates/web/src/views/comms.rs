//! What the public status pages show of status communication (issue 20): each incident's
//! marks (declared, false alarm) and maintenance nature, its timeline of updates, the
//! maintenance windows, and the incidents that count against uptime.
use crate::i18n::Lang;
use crate::views::Ctx;
use meoktong_storage::entity::{incident_marks, incident_updates, incidents, maintenance_windows};
use meoktong_storage::status_comms::updates::UpdateStatus;
use meoktong_storage::status_comms::{is_maintenance_evidence, maintenance, marks, updates};
use meoktong_storage::{Db, StorageError};
use std::collections::HashMap;

pub struct Comms {
    pub marks: HashMap<i64, incident_marks::Model>,
    pub updates: Vec<incident_updates::Model>,
    /// Windows not cancelled that end within the page's 90 days or later.
    pub windows: Vec<maintenance_windows::Model>,
}

impl Comms {
    pub async fn load(
        db: &Db,
        list: &[incidents::Model],
        since: i64,
    ) -> Result<Comms, StorageError> {
        let ids: Vec<i64> = list.iter().map(|i| i.id).collect();
        Ok(Comms {
            marks: marks::of(db, &ids).await?,
            updates: updates::of_incidents(db, &ids).await?,
            windows: maintenance::ending_after(db, since).await?,
        })
    }

    pub fn false_alarm(&self, id: i64) -> bool {
        self.marks
            .get(&id)
            .is_some_and(|m| m.false_alarm_at.is_some())
    }

    pub fn declared(&self, id: i64) -> bool {
        self.marks.get(&id).is_some_and(|m| m.declared_by.is_some())
    }

    /// The incidents that count against uptime: no false alarms, no maintenance, and no
    /// time inside a maintenance window of the dependency.
    pub fn countable(&self, list: &[incidents::Model], now: i64) -> Vec<incidents::Model> {
        let mut out = Vec::new();
        for i in list {
            if self.false_alarm(i.id) || is_maintenance_evidence(&i.evidence) {
                continue;
            }
            let windows: Vec<(i64, i64)> = self
                .windows
                .iter()
                .filter(|w| w.dependency_id == i.dependency_id)
                .map(|w| (w.starts_at, w.ends_at))
                .collect();
            let end = i.resolved_at.unwrap_or(now);
            for (a, b) in maintenance::clip(&windows, i.started_at, end) {
                out.push(incidents::Model {
                    started_at: a,
                    resolved_at: if b >= end { i.resolved_at } else { Some(b) },
                    ..i.clone()
                });
            }
        }
        out
    }

    /// A window of the dependency on at `now`.
    pub fn window_on(&self, dependency_id: i64, now: i64) -> Option<&maintenance_windows::Model> {
        self.windows
            .iter()
            .find(|w| w.dependency_id == dependency_id && w.starts_at <= now && w.ends_at > now)
    }

    /// The timeline of one incident, newest first.
    pub fn timeline(&self, ctx: &Ctx, incident_id: i64) -> Vec<TimelineRow> {
        let mut rows: Vec<TimelineRow> = self
            .updates
            .iter()
            .filter(|u| u.incident_id == Some(incident_id))
            .map(|u| TimelineRow::of(ctx, u))
            .collect();
        rows.reverse();
        rows
    }
}

/// One update as the pages show it.
pub struct TimelineRow {
    pub at: String,
    pub status: &'static str,
    /// CSS class: the status's name.
    pub class: &'static str,
    pub body: String,
}

impl TimelineRow {
    pub fn of(ctx: &Ctx, u: &incident_updates::Model) -> TimelineRow {
        let status = UpdateStatus::parse(&u.status).unwrap_or(UpdateStatus::Investigating);
        let (ko, en) = status.words();
        let body = match (u.body.trim(), status, u.author_user_id) {
            ("", UpdateStatus::Investigating, None) => ctx
                .t(
                    "검사에서 장애를 확인했습니다. 원인을 살펴보고 있습니다.",
                    "Our probes confirmed an outage; we are looking into it.",
                )
                .to_string(),
            ("", UpdateStatus::Resolved, None) => ctx
                .t(
                    "검사에서 복구를 확인했습니다.",
                    "Our probes confirmed the recovery.",
                )
                .to_string(),
            ("", UpdateStatus::FalseAlarm, _) => ctx
                .t(
                    "오경보였습니다. 실제 장애는 없었고, 가용률과 피해 신고에서 빠집니다.",
                    "A false alarm: nothing was down. Left out of uptime and damage reports.",
                )
                .to_string(),
            (b, _, _) => b.to_string(),
        };
        TimelineRow {
            at: ctx.time(u.created_at),
            status: ctx.t(ko, en),
            class: status.as_str(),
            body,
        }
    }
}

/// The page's overall banner: (class, words).
pub fn banner(lang: Lang, states: &[&str]) -> (&'static str, &'static str) {
    if states.contains(&"down") {
        (
            "down",
            lang.t("✕ 일부 서비스 장애", "✕ Some services are down"),
        )
    } else if states.contains(&"degraded") {
        (
            "degraded",
            lang.t("! 일부 서비스 느림", "! Some services are slow"),
        )
    } else if states.contains(&"maintenance") {
        (
            "maintenance",
            lang.t("⚙ 일부 서비스 점검 중", "⚙ Maintenance under way"),
        )
    } else if !states.is_empty() && states.iter().all(|s| *s == "up") {
        (
            "up",
            lang.t("✓ 모든 서비스 정상", "✓ All services operational"),
        )
    } else {
        (
            "unknown",
            lang.t(
                "? 확인 중인 서비스가 있습니다",
                "? Some services are being checked",
            ),
        )
    }
}

/// The state a page shows: a declared open incident is `down` even when the probes see no
/// trouble; a window on, or an open maintenance incident, is `maintenance`.
pub fn shown_state(
    comms: &Comms,
    open: &[&incidents::Model],
    dependency_id: i64,
    probe_state: &str,
    now: i64,
) -> String {
    let mine: Vec<&&incidents::Model> = open
        .iter()
        .filter(|i| i.dependency_id == dependency_id && !comms.false_alarm(i.id))
        .collect();
    let maintenance_now = comms.window_on(dependency_id, now).is_some()
        || (!mine.is_empty() && mine.iter().all(|i| is_maintenance_evidence(&i.evidence)));
    if maintenance_now {
        return "maintenance".into();
    }
    if mine.iter().any(|i| comms.declared(i.id)) {
        return "down".into();
    }
    probe_state.to_string()
}
