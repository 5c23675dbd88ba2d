//! Minimal SVG line plots for the results pages (no plotting crate needed for a few lines).

use std::fmt::Write;

/// One line of a plot.
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
}

const COLOURS: [&str; 8] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

/// A line plot of `series` as an SVG document, y axis fixed to `y_range`, x axis spanning the data.
pub fn line_plot(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_range: (f64, f64),
) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 400.0, 60.0, 150.0, 40.0, 50.0);
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (x0, x1) = if x0.is_finite() && x1 > x0 { (x0, x1) } else { (0.0, 1.0) };
    let (y0, y1) = y_range;
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom);
    let mut s = svg_header(w, h, title);
    for k in 0..=4 {
        let y = y0 + (y1 - y0) * k as f64 / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{0}" y1="{1}" y2="{1}" stroke="#ddd"/><text x="{2}" y="{3}" text-anchor="end">{y:.2}</text>"##,
            w - right,
            py(y),
            left - 6.0,
            py(y) + 4.0
        );
    }
    for k in 0..=4 {
        let x = x0 + (x1 - x0) * k as f64 / 4.0;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{x:.0}</text>"#,
            px(x),
            h - bottom + 18.0
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{left}" x2="{left}" y1="{top}" y2="{0}" stroke="#000"/><line x1="{left}" x2="{1}" y1="{0}" y2="{0}" stroke="#000"/>"##,
        h - bottom,
        w - right
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        px((x0 + x1) / 2.0),
        h - 10.0,
        escape(x_label)
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{1}</text>"#,
        py((y0 + y1) / 2.0),
        escape(y_label)
    );
    for (i, line) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> =
            line.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let ly = top + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{0}" x2="{1}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{2}" y="{3}">{4}</text>"#,
            w - right + 10.0,
            w - right + 30.0,
            w - right + 36.0,
            ly + 4.0,
            escape(&line.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A horizontal bar chart of labelled values as an SVG document, the x axis fixed to `range`.
pub fn bar_chart(title: &str, x_label: &str, bars: &[(String, f64)], range: (f64, f64)) -> String {
    let (w, left, right, top, row) = (640.0, 150.0, 40.0, 40.0, 28.0);
    let h = top + row * bars.len() as f64 + 50.0;
    let px = |v: f64| left + (v.clamp(range.0, range.1) - range.0) / (range.1 - range.0) * (w - left - right);
    let mut s = svg_header(w, h, title);
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = top + row * i as f64;
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            s,
            r#"<text x="{0}" y="{1}" text-anchor="end">{2}</text><rect x="{left}" y="{3}" width="{4:.1}" height="{5}" fill="{colour}"/><text x="{6:.1}" y="{1}">{value:.3}</text>"#,
            left - 8.0,
            y + row * 0.6,
            escape(label),
            y + 4.0,
            (px(*value) - left).max(0.0),
            row - 8.0,
            px(*value) + 4.0
        );
    }
    let axis_y = top + row * bars.len() as f64 + 4.0;
    let _ =
        writeln!(s, r##"<line x1="{left}" x2="{}" y1="{axis_y}" y2="{axis_y}" stroke="#000"/>"##, w - right);
    for k in 0..=4 {
        let v = range.0 + (range.1 - range.0) * k as f64 / 4.0;
        let _ =
            writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle">{v:.2}</text>"#, px(v), axis_y + 16.0);
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        px((range.0 + range.1) / 2.0),
        axis_y + 34.0,
        escape(x_label)
    );
    s.push_str("</svg>\n");
    s
}

/// The opening of a `w` × `h` SVG document: white background, centred title.
fn svg_header(w: f64, h: f64, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        w / 2.0,
        escape(title)
    );
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_is_well_formed_svg_with_one_polyline_per_series() {
        let series = vec![
            Series { label: "N = 1".into(), points: vec![(1.0, 1.0), (25.0, 0.5)] },
            Series { label: "a < b & c".into(), points: vec![(1.0, 0.9), (25.0, 0.2)] },
        ];
        let svg = line_plot("t", "x", "y", &series, (0.0, 1.0));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a &lt; b &amp; c"), "labels are escaped");
        let bars = bar_chart("t", "x", &[("in".into(), 0.2), ("out".into(), 0.9)], (0.0, 1.0));
        assert!(bars.starts_with("<svg") && bars.trim_end().ends_with("</svg>"));
        assert_eq!(bars.matches("<rect").count(), 3, "background and one bar per value");
    }
}
