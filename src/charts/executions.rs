//! Executions per minute by final status (stacked bars), and duration percentiles over time.

use super::theme::Theme;
use crate::format;
use crate::model::MinutePoint;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::CoordTranslate;
use plotters::coord::Shift;
use plotters::prelude::*;

/// A series: its legend name, its colour, and how to read it from a minute.
type Layer<T> = (&'static str, RGBColor, fn(&MinutePoint) -> T);
type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn minute_label(points: &[MinutePoint], x: f64) -> String {
    points
        .get(x.max(0.0) as usize)
        .map(|p| format::clock_ms(p.t)[..5].to_string())
        .unwrap_or_default()
}

type MinuteChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The shared frame of the per-minute charts: background, minute axis, y axis from 0 to `y_max`.
fn minute_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    points: &[MinutePoint],
    theme: &Theme,
    y_max: f64,
    y_label_width: f64,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<MinuteChart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&theme.background)?;
    let mut chart = ChartBuilder::on(root)
        .margin(theme.px(8.0))
        .x_label_area_size(theme.px(22.0))
        .y_label_area_size(theme.px(y_label_width))
        .build_cartesian_2d(0f64..points.len().max(1) as f64, 0f64..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(theme.grid.stroke_width(theme.px(1.0)))
        .light_line_style(TRANSPARENT)
        .axis_style(theme.axis.stroke_width(theme.px(1.0)))
        .label_style(("sans-serif", theme.px(11.0)).into_font().color(&theme.text))
        .x_labels(7)
        .y_labels(5)
        .x_label_formatter(&|x| minute_label(points, *x))
        .y_label_formatter(y_label)
        .draw()?;
    Ok(chart)
}

/// The series legend, top left, on a translucent background.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    theme: &Theme,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(theme.background.mix(0.85))
        .border_style(TRANSPARENT)
        .label_font(("sans-serif", theme.px(11.0)).into_font().color(&theme.text))
        .draw()
}

/// Stacked bars: completed, failed, cancelled per minute.
pub fn draw_throughput<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[MinutePoint],
    theme: &Theme,
) -> DrawResult<DB> {
    let max = points
        .iter()
        .map(|p| p.completed + p.failed + p.cancelled)
        .max()
        .unwrap_or(0)
        .max(4) as f64
        * 1.15;
    let mut chart = minute_chart(root, points, theme, max, 36.0, &|y| format!("{y:.0}"))?;

    let layers: [Layer<u64>; 3] = [
        ("completed", theme.completed, |p| p.completed),
        ("failed", theme.failed, |p| p.failed),
        ("cancelled", theme.cancelled, |p| p.cancelled),
    ];
    for (layer, (name, colour, value)) in layers.iter().enumerate() {
        let bars = points.iter().enumerate().filter_map(move |(i, p)| {
            let below: u64 = layers[..layer].iter().map(|(_, _, v)| v(p)).sum();
            let v = value(p);
            (v > 0).then(|| {
                let x = i as f64;
                Rectangle::new(
                    [(x + 0.12, below as f64), (x + 0.88, (below + v) as f64)],
                    colour.filled(),
                )
            })
        });
        let colour = *colour;
        let s = theme.px(10.0) as i32;
        chart
            .draw_series(bars)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - s / 2), (x + s, y + s / 2)], colour.filled()));
    }
    legend(&mut chart, theme)?;
    root.present()?;
    Ok(())
}

/// Lines of p50, p95 and p99 execution duration per minute (gaps where nothing finished).
pub fn draw_durations<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[MinutePoint],
    theme: &Theme,
) -> DrawResult<DB> {
    let max = points.iter().filter_map(|p| p.p99_ms).fold(1000.0, f64::max) * 1.15;
    let mut chart = minute_chart(root, points, theme, max, 48.0, &|y| format::duration_ms(*y))?;
    let lines: [Layer<Option<f64>>; 3] = [
        ("p50", theme.completed, |p| p.p50_ms),
        ("p95", theme.warning, |p| p.p95_ms),
        ("p99", theme.failed, |p| p.p99_ms),
    ];
    let width = theme.px(1.5);
    for (name, colour, value) in lines {
        // One path per run of minutes that have a value.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (i, p) in points.iter().enumerate() {
            match value(p) {
                Some(v) => runs.last_mut().expect("never empty").push((i as f64 + 0.5, v)),
                None if !runs.last().expect("never empty").is_empty() => runs.push(Vec::new()),
                None => {}
            }
        }
        let style = colour.stroke_width(width);
        let mut first = true;
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            let dots = run.len() == 1;
            let series = chart.draw_series(std::iter::once(PathElement::new(run.clone(), style)))?;
            if first {
                let s = theme.px(12.0) as i32;
                series
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + s, y)], colour.stroke_width(width)));
                first = false;
            }
            if dots {
                chart.draw_series(run.into_iter().map(|c| Circle::new(c, width * 2, colour.filled())))?;
            }
        }
    }
    legend(&mut chart, theme)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Vec<MinutePoint> {
        (0..30)
            .map(|i| MinutePoint {
                t: 1_800_000_000_000 + i * 60_000,
                completed: (i % 7) as u64,
                failed: (i % 3) as u64,
                cancelled: (i % 11 == 0) as u64,
                p50_ms: (i % 4 != 0).then_some(800.0 + i as f64 * 10.0),
                p95_ms: (i % 4 != 0).then_some(2000.0),
                p99_ms: (i % 4 != 0).then_some(4000.0),
                ..Default::default()
            })
            .collect()
    }

    fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>)) -> String {
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (640, 240)).into_drawing_area();
            draw(&root);
        }
        out
    }

    #[test]
    fn throughput_draws_one_bar_per_nonzero_status_minute_with_status_colours() {
        let pts = points();
        let theme = Theme::dark(1.0);
        let out = svg(|root| draw_throughput(root, &pts, &theme).unwrap());
        let bars = pts
            .iter()
            .map(|p| (p.completed > 0) as usize + (p.failed > 0) as usize + (p.cancelled > 0) as usize)
            .sum::<usize>();
        let failed_fill = format!(
            "fill=\"#{:02X}{:02X}{:02X}\"",
            theme.failed.0, theme.failed.1, theme.failed.2
        );
        assert!(out.matches("<rect").count() >= bars, "expected at least {bars} bars");
        assert!(out.contains(&failed_fill), "failed bars use the failed colour");
        assert!(
            out.contains("completed") && out.contains("failed"),
            "legend names the series"
        );
    }

    #[test]
    fn durations_draw_three_labelled_lines_with_gaps() {
        let pts = points();
        let out = svg(|root| draw_durations(root, &pts, &Theme::light(2.0)).unwrap());
        for name in ["p50", "p95", "p99"] {
            assert!(out.contains(name), "legend has {name}");
        }
        // minutes 0, 4, 8, … have no value, so each line breaks into several paths
        assert!(out.matches("<polyline").count() > 3);
    }

    #[test]
    fn empty_series_still_draws_axes() {
        let out = svg(|root| draw_throughput(root, &[], &Theme::dark(1.0)).unwrap());
        assert!(out.contains("<line") || out.contains("<polyline"));
    }
}
