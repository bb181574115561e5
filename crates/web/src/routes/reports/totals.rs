//! Per-incident totals of damage reports and their bar charts. Pure: rows in, numbers out.
//!
//! Rejected reports are listed by status but left out of every sum: an association claims
//! only what it has not turned down.
use serde::Serialize;
use std::collections::BTreeMap;

/// What the totals need of one report.
pub struct Row<'a> {
    pub status: &'a str,
    pub region: &'a str,
    pub trade: &'a str,
    pub services: &'a [String],
    pub loss: i64,
    pub lost_orders: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub key: String,
    pub reports: usize,
    pub loss_krw: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Reports counted (every status but `rejected`).
    pub reports: usize,
    pub total_loss_krw: i64,
    pub median_loss_krw: i64,
    pub lost_orders: i64,
    pub by_status: BTreeMap<String, usize>,
    pub by_region: Vec<Group>,
    pub by_trade: Vec<Group>,
    /// A report naming two services counts in both.
    pub by_service: Vec<Group>,
}

/// The median, the mean of the two middle values for an even count (rounded down); 0 if none.
pub fn median(values: &mut [i64]) -> i64 {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => 0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}

fn add(groups: &mut BTreeMap<String, (usize, i64)>, key: &str, loss: i64) {
    let g = groups.entry(key.to_string()).or_default();
    g.0 += 1;
    g.1 = g.1.saturating_add(loss);
}

/// Largest loss first, then most reports, then by key.
fn sorted(groups: BTreeMap<String, (usize, i64)>) -> Vec<Group> {
    let mut v: Vec<Group> = groups
        .into_iter()
        .map(|(key, (reports, loss_krw))| Group {
            key,
            reports,
            loss_krw,
        })
        .collect();
    v.sort_by(|a, b| {
        b.loss_krw
            .cmp(&a.loss_krw)
            .then(b.reports.cmp(&a.reports))
            .then(a.key.cmp(&b.key))
    });
    v
}

pub fn compute(rows: &[Row<'_>]) -> Totals {
    let mut by_status = BTreeMap::new();
    let (mut region, mut trade, mut service) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let mut losses = Vec::new();
    let mut lost_orders = 0i64;
    for r in rows {
        *by_status.entry(r.status.to_string()).or_insert(0) += 1;
        if r.status == "rejected" {
            continue;
        }
        losses.push(r.loss);
        lost_orders += i64::from(r.lost_orders.unwrap_or(0));
        add(&mut region, r.region, r.loss);
        add(&mut trade, r.trade, r.loss);
        for s in r.services {
            add(&mut service, s, r.loss);
        }
    }
    Totals {
        reports: losses.len(),
        total_loss_krw: losses.iter().fold(0i64, |a, b| a.saturating_add(*b)),
        median_loss_krw: median(&mut losses),
        lost_orders,
        by_status,
        by_region: sorted(region),
        by_trade: sorted(trade),
        by_service: sorted(service),
    }
}

/// One bar of an inline SVG chart, laid out in user units.
pub struct Bar {
    pub label: String,
    pub value: String,
    pub y: u32,
    pub text_y: u32,
    pub width: u32,
    pub text_x: u32,
}

pub struct Chart {
    pub title: String,
    pub height: u32,
    /// Where every bar starts (labels sit left of it).
    pub bar_x: u32,
    pub bars: Vec<Bar>,
}

pub const CHART_WIDTH: u32 = 640;
const LABEL_WIDTH: u32 = 180;
const BAR_MAX: u32 = 290;
const ROW: u32 = 26;

/// A horizontal bar chart of `(label, value, value as text)`.
pub fn chart(title: &str, items: &[(String, i64, String)]) -> Chart {
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let bars = items
        .iter()
        .enumerate()
        .map(|(n, (label, value, text))| {
            let y = n as u32 * ROW + 4;
            let width = ((*value).max(0) as f64 / max as f64 * f64::from(BAR_MAX)).round() as u32;
            let label = if label.chars().count() > 16 {
                format!("{}…", label.chars().take(15).collect::<String>())
            } else {
                label.clone()
            };
            Bar {
                label,
                value: text.clone(),
                y,
                text_y: y + 14,
                width: width.max(1),
                text_x: LABEL_WIDTH + width + 6,
            }
        })
        .collect();
    Chart {
        title: title.to_string(),
        height: items.len() as u32 * ROW + 8,
        bar_x: LABEL_WIDTH,
        bars,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_even_and_empty_lists() {
        assert_eq!(median(&mut [5, 1, 3]), 3);
        assert_eq!(median(&mut [4, 1, 3, 2]), 2);
        assert_eq!(median(&mut [100, 201]), 150);
        assert_eq!(median(&mut []), 0);
    }

    #[test]
    fn totals_leave_rejected_reports_out_and_group_by_region_trade_and_service() {
        let talk = vec!["kakao-talk".to_string()];
        let both = vec!["kakao-talk".to_string(), "kakao-pay".to_string()];
        let rows = [
            Row {
                status: "verified",
                region: "서울특별시",
                trade: "restaurant",
                services: &both,
                loss: 1_000_000,
                lost_orders: Some(10),
            },
            Row {
                status: "received",
                region: "서울특별시",
                trade: "cafe",
                services: &talk,
                loss: 200_000,
                lost_orders: None,
            },
            Row {
                status: "forwarded",
                region: "부산광역시",
                trade: "restaurant",
                services: &talk,
                loss: 300_000,
                lost_orders: Some(5),
            },
            Row {
                status: "rejected",
                region: "제주특별자치도",
                trade: "cafe",
                services: &talk,
                loss: 9_000_000,
                lost_orders: Some(99),
            },
        ];
        let t = compute(&rows);
        assert_eq!(t.reports, 3);
        assert_eq!(t.total_loss_krw, 1_500_000);
        assert_eq!(t.median_loss_krw, 300_000);
        assert_eq!(t.lost_orders, 15);
        assert_eq!(t.by_status.get("rejected"), Some(&1));
        assert_eq!(
            t.by_region[0],
            Group {
                key: "서울특별시".into(),
                reports: 2,
                loss_krw: 1_200_000
            }
        );
        assert_eq!(
            t.by_region.len(),
            2,
            "the rejected report's region is not counted"
        );
        assert_eq!(
            t.by_trade[0],
            Group {
                key: "restaurant".into(),
                reports: 2,
                loss_krw: 1_300_000
            }
        );
        assert_eq!(
            t.by_service[0],
            Group {
                key: "kakao-talk".into(),
                reports: 3,
                loss_krw: 1_500_000
            }
        );
        assert_eq!(
            t.by_service[1],
            Group {
                key: "kakao-pay".into(),
                reports: 1,
                loss_krw: 1_000_000
            }
        );
    }

    #[test]
    fn bars_scale_to_the_largest_value() {
        let c = chart(
            "t",
            &[
                ("a".into(), 100, "100".into()),
                ("b".into(), 50, "50".into()),
                ("c".into(), 0, "0".into()),
            ],
        );
        assert_eq!(c.bars[0].width, BAR_MAX);
        assert_eq!(c.bars[1].width, BAR_MAX / 2);
        assert_eq!(c.bars[2].width, 1, "an empty bar still shows");
        assert_eq!(c.height, 3 * ROW + 8);
        assert!(chart("t", &[]).bars.is_empty());
    }
}
