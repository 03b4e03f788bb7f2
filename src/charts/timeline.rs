//! Time-series charts: one frame (time axis, value axis with units), two kinds (stacked
//! bars, lines broken where there is no value), and series the user can hide. Legends and
//! the hover readout are HTML around the canvas, so they are keyboard and screen-reader
//! friendly; this file only draws and says where the plot area lies.

use super::theme::Theme;
use crate::format;
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bars per step, series stacked in order.
    Stacked,
    /// One line per series; steps without a value break the line.
    Lines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Tokens,
    Millis,
    Percent,
}

impl Unit {
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Count | Unit::Tokens => format::human_count(v),
            Unit::Millis => format::duration_ms(v),
            Unit::Percent => format::percent(v),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub colour: RGBColor,
    /// One value per step; None where there is nothing to show.
    pub values: Vec<Option<f64>>,
}

/// What a chart shows, independent of how it is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeChart {
    pub kind: Kind,
    pub unit: Unit,
    /// Start of each step (ms), oldest first.
    pub times: Vec<i64>,
    pub step_ms: i64,
    pub lines: Vec<Line>,
}

impl TimeChart {
    /// A label for the step starting at `t`: the time of day, with the day when the
    /// chart spans more than a day.
    pub fn time_label(&self, t: i64) -> String {
        let span = self.times.last().copied().unwrap_or(0) - self.times.first().copied().unwrap_or(0);
        let date = format::utc(t);
        if span > 24 * 3_600_000 {
            format!("{} {}", &date[5..10], &date[11..16])
        } else if self.step_ms < 60_000 {
            date[11..19].to_string()
        } else {
            date[11..16].to_string()
        }
    }
}

/// The plot area on the canvas, in device pixels, for mapping a pointer to a step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PlotArea {
    pub left: i32,
    pub right: i32,
    pub steps: usize,
}

impl PlotArea {
    /// The step under device pixel `x`, if it is over the plot area.
    pub fn step_at(&self, x: f64) -> Option<usize> {
        let width = (self.right - self.left) as f64;
        if self.steps == 0 || width <= 0.0 || x < self.left as f64 || x > self.right as f64 {
            return None;
        }
        Some((((x - self.left as f64) / width * self.steps as f64) as usize).min(self.steps - 1))
    }

    /// The horizontal centre of `step`, in device pixels.
    pub fn x_of(&self, step: usize) -> f64 {
        let width = (self.right - self.left) as f64;
        self.left as f64 + (step as f64 + 0.5) / self.steps.max(1) as f64 * width
    }
}

pub type DrawResult<DB, T> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws `chart` with the series whose `hidden` flag is set left out.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &TimeChart,
    hidden: &[bool],
    theme: &Theme,
) -> DrawResult<DB, PlotArea> {
    let shown = |i: usize| !hidden.get(i).copied().unwrap_or(false);
    let n = chart.times.len();
    let top = match chart.kind {
        Kind::Stacked => (0..n)
            .map(|s| {
                chart
                    .lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| shown(*i))
                    .filter_map(|(_, l)| l.values[s])
                    .sum::<f64>()
            })
            .fold(0.0, f64::max),
        Kind::Lines => chart
            .lines
            .iter()
            .enumerate()
            .filter(|(i, _)| shown(*i))
            .flat_map(|(_, l)| l.values.iter().flatten().copied())
            .fold(0.0, f64::max),
    };
    let floor = match chart.unit {
        Unit::Count | Unit::Tokens => 4.0,
        Unit::Millis => 1000.0,
        Unit::Percent => 5.0,
    };
    let y_max = top.max(floor) * 1.15;

    root.fill(&theme.background)?;
    let label_width = match chart.unit {
        Unit::Count | Unit::Percent => 40.0,
        Unit::Tokens | Unit::Millis => 48.0,
    };
    let mut ctx = ChartBuilder::on(root)
        .margin(theme.px(8.0))
        .margin_right(theme.px(28.0))
        .x_label_area_size(theme.px(22.0))
        .y_label_area_size(theme.px(label_width))
        .build_cartesian_2d(0f64..n.max(1) as f64, 0f64..y_max)?;
    let x_label = |x: &f64| {
        let i = x.max(0.0) as usize;
        chart.times.get(i).map(|t| chart.time_label(*t)).unwrap_or_default()
    };
    let y_label = |y: &f64| chart.unit.format(*y);
    ctx.configure_mesh()
        .disable_x_mesh()
        .bold_line_style(theme.grid.stroke_width(theme.px(1.0)))
        .light_line_style(TRANSPARENT)
        .axis_style(theme.axis.stroke_width(theme.px(1.0)))
        .label_style(("sans-serif", theme.px(11.0)).into_font().color(&theme.text))
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .draw()?;

    match chart.kind {
        // More steps than pixels: bars would round to nothing, so the layers become areas.
        Kind::Stacked if n as f64 * 2.0 > plot_width(&ctx) => {
            let mut below = vec![0.0; n];
            for (_, line) in chart.lines.iter().enumerate().filter(|(i, _)| shown(*i)) {
                let top: Vec<f64> = (0..n)
                    .map(|s| below[s] + line.values[s].unwrap_or(0.0).max(0.0))
                    .collect();
                let outline: Vec<(f64, f64)> = (0..n)
                    .map(|s| (s as f64 + 0.5, top[s]))
                    .chain((0..n).rev().map(|s| (s as f64 + 0.5, below[s])))
                    .collect();
                ctx.draw_series(std::iter::once(Polygon::new(outline, line.colour.filled())))?;
                below = top;
            }
        }
        Kind::Stacked => {
            let mut below = vec![0.0; n];
            for (_, line) in chart.lines.iter().enumerate().filter(|(i, _)| shown(*i)) {
                let bars: Vec<_> = (0..n)
                    .filter_map(|s| {
                        let v = line.values[s].filter(|v| *v > 0.0)?;
                        let base = below[s];
                        below[s] += v;
                        let x = s as f64;
                        Some(Rectangle::new(
                            [(x + 0.12, base), (x + 0.88, base + v)],
                            line.colour.filled(),
                        ))
                    })
                    .collect();
                ctx.draw_series(bars)?;
            }
        }
        Kind::Lines => {
            let width = theme.px(1.5);
            for (_, line) in chart.lines.iter().enumerate().filter(|(i, _)| shown(*i)) {
                let style = line.colour.stroke_width(width);
                for run in runs(&line.values) {
                    if run.len() == 1 {
                        ctx.draw_series(run.iter().map(|c| Circle::new(*c, width * 2, line.colour.filled())))?;
                    } else {
                        ctx.draw_series(std::iter::once(PathElement::new(run, style)))?;
                    }
                }
            }
        }
    }
    root.present()?;
    let (xs, _) = ctx.plotting_area().get_pixel_range();
    Ok(PlotArea {
        left: xs.start,
        right: xs.end,
        steps: n,
    })
}

/// Width of the plot area in pixels.
fn plot_width<DB: DrawingBackend>(
    ctx: &ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
) -> f64 {
    let (xs, _) = ctx.plotting_area().get_pixel_range();
    (xs.end - xs.start) as f64
}

/// The points of each unbroken run of values, at the centre of their steps.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => current.push((i as f64 + 0.5, *v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>)) -> String {
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (640, 240)).into_drawing_area();
            draw(&root);
        }
        out
    }

    fn hex(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    fn chart(kind: Kind) -> TimeChart {
        let t0 = 1_800_000_000_000;
        TimeChart {
            kind,
            unit: Unit::Count,
            times: (0..30).map(|i| t0 + i * 60_000).collect(),
            step_ms: 60_000,
            lines: vec![
                Line {
                    name: "a".into(),
                    colour: RGBColor(0x11, 0x22, 0x33),
                    values: (0..30).map(|i| (i % 4 != 0).then_some(i as f64)).collect(),
                },
                Line {
                    name: "b".into(),
                    colour: RGBColor(0xaa, 0xbb, 0xcc),
                    values: (0..30).map(|i| Some((i % 3) as f64)).collect(),
                },
            ],
        }
    }

    #[test]
    fn stacked_bars_draw_one_rect_per_nonzero_value_in_the_series_colour() {
        let c = chart(Kind::Stacked);
        let out = svg(|root| {
            draw(root, &c, &[], &Theme::dark(1.0)).unwrap();
        });
        let a_bars = c.lines[0].values.iter().flatten().filter(|v| **v > 0.0).count();
        let b_bars = c.lines[1].values.iter().flatten().filter(|v| **v > 0.0).count();
        let fill = |c: RGBColor| format!("fill=\"{}\"", hex(c));
        assert_eq!(out.matches(&fill(c.lines[0].colour)).count(), a_bars);
        assert_eq!(out.matches(&fill(c.lines[1].colour)).count(), b_bars);
    }

    #[test]
    fn more_steps_than_pixels_draw_one_area_per_series() {
        let mut c = chart(Kind::Stacked);
        c.times = (0..1008).map(|i| 1_800_000_000_000 + i * 600_000).collect();
        for l in &mut c.lines {
            l.values = (0..1008).map(|i| Some((i % 5) as f64)).collect();
        }
        let out = svg(|root| {
            draw(root, &c, &[], &Theme::dark(1.0)).unwrap();
        });
        assert_eq!(out.matches("<polygon").count(), 2, "one area per series");
        assert!(out.contains(&hex(c.lines[1].colour)));
    }

    #[test]
    fn hidden_series_are_not_drawn() {
        let c = chart(Kind::Lines);
        let out = svg(|root| {
            draw(root, &c, &[true, false], &Theme::light(2.0)).unwrap();
        });
        assert!(!out.contains(&hex(c.lines[0].colour)), "a is hidden");
        assert!(out.contains(&hex(c.lines[1].colour)), "b is drawn");
    }

    #[test]
    fn lines_break_where_there_is_no_value() {
        let c = chart(Kind::Lines);
        let out = svg(|root| {
            draw(root, &c, &[false, true], &Theme::dark(1.0)).unwrap();
        });
        // a has no value at steps 0, 4, 8, …, 28: seven runs of three steps, and step 29 alone
        assert_eq!(runs(&c.lines[0].values).len(), 8);
        assert!(out.matches("<polyline").count() >= 7);
    }

    #[test]
    fn the_plot_area_maps_pixels_to_steps() {
        let c = chart(Kind::Stacked);
        let mut area = PlotArea::default();
        svg(|root| area = draw(root, &c, &[], &Theme::dark(1.0)).unwrap());
        assert_eq!(area.steps, 30);
        assert!(area.left > 0 && area.right <= 640 && area.left < area.right);
        assert_eq!(area.step_at(area.left as f64), Some(0));
        assert_eq!(area.step_at(area.right as f64), Some(29));
        assert_eq!(area.step_at(area.x_of(12)), Some(12));
        assert_eq!(area.step_at(0.0), None);
    }

    #[test]
    fn an_empty_chart_still_draws_its_axes() {
        let c = TimeChart {
            kind: Kind::Lines,
            unit: Unit::Millis,
            times: Vec::new(),
            step_ms: 10_000,
            lines: Vec::new(),
        };
        let out = svg(|root| {
            draw(root, &c, &[], &Theme::dark(1.0)).unwrap();
        });
        assert!(out.contains("<line") || out.contains("<polyline"));
    }

    #[test]
    fn time_labels_show_the_day_only_for_long_spans() {
        let mut c = chart(Kind::Lines);
        assert_eq!(c.time_label(c.times[0]).len(), 5, "HH:MM");
        c.times = (0..1008).map(|i| 1_800_000_000_000 + i * 600_000).collect();
        c.step_ms = 600_000;
        assert_eq!(c.time_label(c.times[0]).len(), 11, "MM-DD HH:MM");
    }
}
