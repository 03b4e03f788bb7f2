//! Ingest over the last hour: items accepted and refused per minute, as stacked bars, with
//! those folded into the overflow agent as a line.

use super::theme::Theme;
use crate::format;
use crate::model::MinuteTally;
use plotters::coord::Shift;
use plotters::prelude::*;

const MINUTE: i64 = 60_000;

pub fn minutes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[MinuteTally],
    theme: &Theme,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&theme.background)?;
    let end = points.iter().map(|p| p.t).max().unwrap_or(0) + MINUTE;
    let start = end - 60 * MINUTE;
    let top = points.iter().map(|p| p.accepted + p.refused).max().unwrap_or(0).max(10) as f64 * 1.15;
    let font = ("sans-serif", theme.px(11.0)).into_font().color(&theme.text);
    let mut chart = ChartBuilder::on(root)
        .margin(theme.px(8.0))
        .x_label_area_size(theme.px(22.0))
        .y_label_area_size(theme.px(48.0))
        .build_cartesian_2d(start..end, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(theme.grid.stroke_width(theme.px(1.0)))
        .light_line_style(TRANSPARENT)
        .axis_style(theme.axis.stroke_width(theme.px(1.0)))
        .label_style(font.clone())
        .x_labels(7)
        .y_labels(5)
        .x_label_formatter(&|t| format::clock_ms(*t)[..5].to_string())
        .y_label_formatter(&|y| format::human_count(*y))
        .draw()?;
    let gap = MINUTE / 8;
    let s = theme.px(12.0) as i32;
    let (ok, refused, folded) = (theme.completed, theme.failed, theme.warning);
    chart
        .draw_series(
            points
                .iter()
                .map(|p| Rectangle::new([(p.t + gap, 0.0), (p.t + MINUTE - gap, p.accepted as f64)], ok.filled())),
        )?
        .label("accepted")
        .legend(move |(x, y)| Rectangle::new([(x, y - s / 3), (x + s, y + s / 3)], ok.filled()));
    chart
        .draw_series(points.iter().filter(|p| p.refused > 0).map(|p| {
            let base = p.accepted as f64;
            Rectangle::new(
                [(p.t + gap, base), (p.t + MINUTE - gap, base + p.refused as f64)],
                refused.filled(),
            )
        }))?
        .label("refused")
        .legend(move |(x, y)| Rectangle::new([(x, y - s / 3), (x + s, y + s / 3)], refused.filled()));
    if points.iter().any(|p| p.folded > 0) {
        let width = theme.px(1.5);
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.t + MINUTE / 2, p.folded as f64)),
                folded.stroke_width(width),
            ))?
            .label("folded")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + s, y)], folded.stroke_width(width)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(theme.background.mix(0.85))
        .border_style(TRANSPARENT)
        .label_font(font)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_bar_per_minute_with_refusals_stacked_on_top() {
        let t0 = 1_800_000_000_000 / MINUTE * MINUTE;
        let points = vec![
            MinuteTally {
                t: t0,
                accepted: 100,
                refused: 0,
                folded: 0,
            },
            MinuteTally {
                t: t0 + MINUTE,
                accepted: 80,
                refused: 20,
                folded: 5,
            },
        ];
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (600, 220)).into_drawing_area();
            minutes(&root, &points, &Theme::light(1.0)).unwrap();
        }
        assert!(out.contains("accepted") && out.contains("refused") && out.contains("folded"));
        // Two accepted bars, one refused bar, and the legend's three swatches.
        assert!(out.matches("<rect").count() >= 5, "{out}");
    }
}
