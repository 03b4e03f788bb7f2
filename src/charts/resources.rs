//! CPU (left axis, %) and memory (right axis, bytes) of one execution over its run.

use super::theme::Theme;
use crate::format;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One sample: milliseconds since the execution started, cpu %, memory bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResourcePoint {
    pub at_ms: u64,
    pub cpu_percent: f64,
    pub memory_bytes: u64,
}

pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[ResourcePoint],
    theme: &Theme,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&theme.background)?;
    let end = points.iter().map(|p| p.at_ms).max().unwrap_or(0).max(10_000) as f64;
    let mem_max = points.iter().map(|p| p.memory_bytes).max().unwrap_or(0).max(64 << 20) as f64 * 1.2;
    let font = ("sans-serif", theme.px(11.0)).into_font().color(&theme.text);
    let mut chart = ChartBuilder::on(root)
        .margin(theme.px(8.0))
        .x_label_area_size(theme.px(22.0))
        .y_label_area_size(theme.px(40.0))
        .right_y_label_area_size(theme.px(64.0))
        .build_cartesian_2d(0f64..end, 0f64..100f64)?
        .set_secondary_coord(0f64..end, 0f64..mem_max);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(theme.grid.stroke_width(theme.px(1.0)))
        .light_line_style(TRANSPARENT)
        .axis_style(theme.axis.stroke_width(theme.px(1.0)))
        .label_style(font.clone())
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|x| format::duration_ms(*x))
        .y_label_formatter(&|y| format!("{y:.0}%"))
        .draw()?;
    chart
        .configure_secondary_axes()
        .axis_style(theme.axis.stroke_width(theme.px(1.0)))
        .label_style(font.clone())
        .y_labels(5)
        .y_label_formatter(&|y| format::bytes(*y as u64))
        .draw()?;
    let width = theme.px(1.5);
    let s = theme.px(12.0) as i32;
    let (cpu, mem) = (theme.running, theme.warning);
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.at_ms as f64, p.cpu_percent)),
            cpu.stroke_width(width),
        ))?
        .label("cpu %")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + s, y)], cpu.stroke_width(width)));
    chart
        .draw_secondary_series(LineSeries::new(
            points.iter().map(|p| (p.at_ms as f64, p.memory_bytes as f64)),
            mem.stroke_width(width),
        ))?
        .label("memory")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + s, y)], mem.stroke_width(width)));
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
    fn draws_both_series_with_their_axes() {
        let points: Vec<ResourcePoint> = (0..50)
            .map(|i| ResourcePoint {
                at_ms: i * 1000,
                cpu_percent: (i % 10) as f64 * 9.0,
                memory_bytes: (100 + i) << 20,
            })
            .collect();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (600, 220)).into_drawing_area();
            draw(&root, &points, &Theme::dark(1.0)).unwrap();
        }
        assert!(out.contains("cpu %") && out.contains("memory"));
        assert!(out.matches("<polyline").count() >= 2, "one line per series");
        assert!(out.contains("MiB"), "memory axis in bytes");
    }
}
