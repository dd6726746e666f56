//! Charts drawn on the server as inline SVG, with no script and nothing fetched: horizontal
//! bars (counts, amounts) and columns (a month's days). Each chart is an image with a title
//! and a description for screen readers (`role="img"`, `<title>`, `<desc>`), and each bar or
//! column carries its own `<title>` with its label and value; the page shows the same figures
//! in a table beside it. Lengths are computed from the exact values (Decimal), never through
//! floats.

use std::fmt::Write;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::ui::esc;

/// One bar or column: what it stands for, its value, and the value as the page shows it.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: Decimal,
    pub shown: String,
}

// Small enough that the text stays readable when a phone scales the chart down.
const WIDTH: i64 = 480;
const LABEL_W: i64 = 170;
const BAR_AREA: i64 = 190;
const ROW_H: i64 = 28;
const FILL: &str = "#1a5fb4";

/// `value` as a length of `0..=full` pixels, `max` being full; at least 2 pixels when it is
/// not zero, so a small value stays visible.
fn length(value: Decimal, max: Decimal, full: i64) -> i64 {
    if max <= Decimal::ZERO || value <= Decimal::ZERO {
        return 0;
    }
    let px = (value * Decimal::from(full) / max)
        .round()
        .to_i64()
        .unwrap_or(full);
    px.clamp(2, full)
}

/// Text cut to `max` characters, with an ellipsis when it was longer.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn open_svg(id: &str, title: &str, desc: &str, height: i64) -> String {
    format!(
        "<svg class=\"chart\" id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\" \
         viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" \
         font-family=\"system-ui,sans-serif\" font-size=\"15\">\
         <title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        esc(title),
        esc(desc)
    )
}

/// Horizontal bars, one row each: the label, the bar, the value.
pub fn bars(id: &str, title: &str, desc: &str, bars: &[Bar]) -> String {
    let max = bars.iter().map(|b| b.value).max().unwrap_or_default();
    let height = ROW_H * bars.len() as i64 + 8;
    let mut svg = open_svg(id, title, desc, height);
    for (i, b) in bars.iter().enumerate() {
        let y = 4 + ROW_H * i as i64;
        let len = length(b.value, max, BAR_AREA);
        let _ = write!(
            svg,
            "<g><title>{label}: {shown}</title>\
             <text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{short}</text>\
             <rect x=\"{LABEL_W}\" y=\"{by}\" width=\"{len}\" height=\"{bh}\" fill=\"{FILL}\"/>\
             <text x=\"{vx}\" y=\"{ty}\" font-size=\"13\">{shown}</text></g>",
            label = esc(&b.label),
            shown = esc(&b.shown),
            short = esc(&clip(&b.label, 20)),
            lx = LABEL_W - 8,
            ty = y + 19,
            by = y + 4,
            bh = ROW_H - 8,
            vx = LABEL_W + len + 6,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Columns side by side, e.g. one per day of a month; every label is shown when there are
/// at most 16 columns, else every fifth.
pub fn columns(id: &str, title: &str, desc: &str, columns: &[Bar]) -> String {
    let height: i64 = 180;
    let (top, bottom, left) = (10, 150, 10);
    let n = columns.len().max(1) as i64;
    let slot = (WIDTH - 2 * left) / n;
    let max = columns.iter().map(|b| b.value).max().unwrap_or_default();
    let mut svg = open_svg(id, title, desc, height);
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#888\"/>",
        WIDTH - left
    );
    for (i, c) in columns.iter().enumerate() {
        let i = i as i64;
        let h = length(c.value, max, bottom - top);
        let x = left + slot * i;
        let _ = write!(
            svg,
            "<g><title>{}: {}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" fill=\"{FILL}\"/>",
            esc(&c.label),
            esc(&c.shown),
            x + 1,
            bottom - h,
            (slot - 2).max(1),
        );
        if n <= 16 || i % 5 == 0 {
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
                x + slot / 2,
                bottom + 16,
                esc(&clip(&c.label, 6))
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_proportional_exact_and_visible() {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        assert_eq!(length(d("50"), d("100"), 300), 150);
        assert_eq!(length(d("100"), d("100"), 300), 300);
        assert_eq!(length(d("0.01"), d("100000"), 300), 2);
        assert_eq!(length(Decimal::ZERO, d("100"), 300), 0);
        assert_eq!(length(d("5"), Decimal::ZERO, 300), 0);
    }

    #[test]
    fn a_chart_names_itself_and_every_bar_for_screen_readers() {
        let svg = bars(
            "c",
            "Cases <by> step",
            "The table below has the figures.",
            &[Bar {
                label: "b2b · call".into(),
                value: Decimal::from(3),
                shown: "3".into(),
            }],
        );
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-labelledby=\"c-t c-d\""));
        assert!(svg.contains("<title id=\"c-t\">Cases &lt;by&gt; step</title>"));
        assert!(svg.contains("<title>b2b · call: 3</title>"));
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
