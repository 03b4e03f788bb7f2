//! A time-series chart: the plotters drawing on a `<canvas>` (sharp on HiDPI screens), an
//! HTML legend whose entries show and hide their series, and a readout of the values under
//! the pointer (or under the keyboard cursor: focus the chart, then ← → Home End).

use crate::charts::series::Build;
use crate::charts::theme::Theme;
use crate::charts::timeline::{self, PlotArea};
use crate::model::Series;
use crate::ui::Dark;
use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use std::collections::BTreeSet;

fn css_colour(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn device_pixel_ratio() -> f64 {
    web_sys::window()
        .map(|w| w.device_pixel_ratio())
        .unwrap_or(1.0)
        .max(1.0)
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

#[component]
pub fn TimeChartView(#[prop(into)] label: String, series: Signal<Option<Series>>, chart: Build) -> impl IntoView {
    let build = chart;
    let canvas = NodeRef::<Canvas>::new();
    let Dark(dark) = expect_context::<Dark>();
    let theme = Memo::new(move |_| {
        if dark.get() {
            Theme::dark(1.0)
        } else {
            Theme::light(1.0)
        }
    });
    let chart = Memo::new(move |_| series.with(|s| s.as_ref().map(|s| build(s, &theme.get()))));
    // Hidden series by name, so a hidden provider stays hidden when the set of providers changes.
    let hidden = RwSignal::new(BTreeSet::<String>::new());
    let area = RwSignal::new(PlotArea::default());
    let scale = RwSignal::new(1.0f64);
    let hover = RwSignal::new(None::<usize>);
    let size = RwSignal::new(0u32);
    let handle = window_event_listener(leptos::ev::resize, move |_| size.update(|s| *s += 1));
    on_cleanup(move || handle.remove());

    Effect::new(move |_| {
        size.track();
        let dark = dark.get();
        let Some(el) = canvas.get() else { return };
        chart.with(|c| {
            let Some(c) = c else { return };
            let flags: Vec<bool> = hidden.with(|h| c.lines.iter().map(|l| h.contains(&l.name)).collect());
            let ratio = device_pixel_ratio();
            let width = el.client_width().max(100) as f64;
            let height = el.client_height().max(80) as f64;
            el.set_width((width * ratio) as u32);
            el.set_height((height * ratio) as u32);
            let theme = if dark { Theme::dark(ratio) } else { Theme::light(ratio) };
            let started = now();
            let Some(backend) = CanvasBackend::with_canvas_object(el.clone()) else {
                return;
            };
            match timeline::draw(&backend.into_drawing_area(), c, &flags, &theme) {
                Ok(a) => {
                    area.set(a);
                    scale.set(ratio);
                }
                Err(e) => leptos::logging::warn!("chart draw failed: {e:?}"),
            }
            // How long the last draw took, for the browser benchmark (never asserted on).
            let _ = el.set_attribute("data-draw-ms", &format!("{:.2}", now() - started));
        });
    });

    let pointer_step = move |x_css: f64| area.with_untracked(|a| a.step_at(x_css * scale.get_untracked()));
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let steps = area.with_untracked(|a| a.steps);
        if steps == 0 {
            return;
        }
        let current = hover.get_untracked().unwrap_or(steps - 1);
        let next = match ev.key().as_str() {
            "ArrowLeft" => current.saturating_sub(1),
            "ArrowRight" => (current + 1).min(steps - 1),
            "Home" => 0,
            "End" => steps - 1,
            _ => return,
        };
        ev.prevent_default();
        hover.set(Some(next));
    };

    let readout = move || {
        let i = hover.get()?;
        chart.with(|c| {
            let c = c.as_ref()?;
            let t = *c.times.get(i)?;
            let left = area.with(|a| a.x_of(i)) / scale.get();
            let rows = hidden.with(|h| {
                c.lines
                    .iter()
                    .filter(|l| !h.contains(&l.name))
                    .map(|l| {
                        let value = l.values[i].map(|v| c.unit.format(v)).unwrap_or_else(|| "–".into());
                        let swatch = format!("background:{}", css_colour(l.colour));
                        view! {
                            <div class="readout-row">
                                <span class="swatch" style=swatch></span>
                                <span class="readout-name">{l.name.clone()}</span>
                                <span class="readout-value">{value}</span>
                            </div>
                        }
                    })
                    .collect_view()
            });
            let flip = left > area.with(|a| a.right as f64) / scale.get() * 0.6;
            Some(view! {
                <div class="readout-cursor" style=format!("left:{left}px")></div>
                <div class="readout" class:flip=flip style=format!("left:{left}px") role="status" data-testid="chart-readout">
                    <div class="readout-time">{c.time_label(t)}</div>
                    {rows}
                </div>
            })
        })
    };

    let legend = move || {
        chart.with(|c| {
            c.as_ref().map(|c| {
                c.lines
                    .iter()
                    .map(|l| {
                        let name = l.name.clone();
                        let key = name.clone();
                        let pressed = Memo::new(move |_| hidden.with(|h| !h.contains(&key)));
                        let swatch = format!("background:{}", css_colour(l.colour));
                        let toggle = name.clone();
                        view! {
                            <button
                                type="button"
                                class="legend-item"
                                aria-pressed=move || pressed.get().to_string()
                                title=move || if pressed.get() { "Hide this series" } else { "Show this series" }
                                on:click=move |_| hidden.update(|h| {
                                    if !h.remove(&toggle) {
                                        h.insert(toggle.clone());
                                    }
                                })
                            >
                                <span class="swatch" style=swatch></span>
                                {name}
                            </button>
                        }
                    })
                    .collect_view()
            })
        })
    };
    let empty = move || {
        chart.with(|c| {
            c.as_ref().is_some_and(|c| {
                c.lines
                    .iter()
                    .all(|l| l.values.iter().all(|v| v.is_none_or(|v| v == 0.0)))
            })
        })
    };

    let aria = format!("{label} (chart; focus and use the arrow keys to read values)");
    view! {
        <figure class="chart timechart">
            <figcaption>
                <span class="chart-title">{label}</span>
                <span class="legend" role="group" aria-label="Series">{legend}</span>
            </figcaption>
            <div class="chart-body">
                <canvas
                    node_ref=canvas
                    role="img"
                    tabindex="0"
                    aria-label=aria
                    data-testid="chart"
                    on:mousemove=move |ev| hover.set(pointer_step(ev.offset_x() as f64))
                    on:mouseleave=move |_| hover.set(None)
                    on:keydown=on_key
                    on:blur=move |_| hover.set(None)
                ></canvas>
                {readout}
                <Show when=move || series.with(|s| s.is_none())>
                    <div class="chart-note">"Loading…"</div>
                </Show>
                <Show when=empty>
                    <div class="chart-note">"Nothing in this range yet"</div>
                </Show>
            </div>
        </figure>
    }
}

/// A titled group of charts over one series, with the time range control.
#[component]
pub fn ChartGrid(
    #[prop(into)] title: String,
    range: Memo<crate::model::TimeRange>,
    series: Signal<Option<Series>>,
    charts: Vec<(&'static str, Build)>,
    /// The grid class: "two" or "three" columns.
    columns: &'static str,
) -> impl IntoView {
    view! {
        <header class="section-head">
            <h2>{title}</h2>
            <super::range::RangePicker range=range/>
        </header>
        <div class=format!("grid {columns}")>
            {charts
                .into_iter()
                .map(|(label, chart)| view! { <section class="panel"><TimeChartView label=label series=series chart=chart/></section> })
                .collect_view()}
        </div>
    }
}
