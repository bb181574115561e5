//! A latency sparkline as inline SVG: a polyline scaled to its own range, with a text
//! alternative (the SVG is only numbers we format, so it is safe to embed).

const WIDTH: f64 = 120.0;
const HEIGHT: f64 = 28.0;

/// `None` when there are fewer than two points.
pub fn svg(points_ms: &[f64], label: &str) -> Option<String> {
    if points_ms.len() < 2 {
        return None;
    }
    let max = points_ms.iter().copied().fold(f64::MIN, f64::max);
    let min = points_ms.iter().copied().fold(f64::MAX, f64::min);
    let span = (max - min).max(1.0);
    let step = WIDTH / (points_ms.len() - 1) as f64;
    let coords: Vec<String> = points_ms
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                HEIGHT - 2.0 - (v - min) / span * (HEIGHT - 4.0)
            )
        })
        .collect();
    let label = label
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;");
    Some(format!(
        r#"<svg class="spark" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{label}"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>"#,
        coords.join(" ")
    ))
}

/// Mean of the points, rounded to milliseconds.
pub fn mean_ms(points_ms: &[f64]) -> Option<i64> {
    (!points_ms.is_empty())
        .then(|| (points_ms.iter().sum::<f64>() / points_ms.len() as f64).round() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_a_scaled_polyline_with_an_escaped_label() {
        let s = super::svg(&[100.0, 300.0, 200.0], "a<b").expect("svg");
        assert!(
            s.contains(r#"points="0.0,26.0 60.0,2.0 120.0,14.0""#),
            "{s}"
        );
        assert!(s.contains("aria-label=\"a&lt;b\""));
        assert_eq!(super::svg(&[1.0], "x"), None);
        assert_eq!(super::mean_ms(&[100.0, 200.0]), Some(150));
    }
}
