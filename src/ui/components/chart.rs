use crate::charts::theme::Theme;
use crate::ui::Dark;
use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;

pub type DrawFn<T> = fn(
    &DrawingArea<CanvasBackend, Shift>,
    &[T],
    &Theme,
) -> Result<(), DrawingAreaErrorKind<<CanvasBackend as DrawingBackend>::ErrorType>>;

/// A plotters chart on a `<canvas>`, sharp on HiDPI screens, redrawn when its data, the
/// theme or the window size changes.
#[component]
pub fn Chart<T: Clone + Send + Sync + 'static>(
    #[prop(into)] label: String,
    points: Signal<Vec<T>>,
    draw: DrawFn<T>,
) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let Dark(dark) = expect_context::<Dark>();
    let size = RwSignal::new(0u32);
    let handle = window_event_listener(leptos::ev::resize, move |_| size.update(|s| *s += 1));
    on_cleanup(move || handle.remove());
    Effect::new(move |_| {
        let dark = dark.get();
        size.track();
        let Some(el) = canvas.get() else { return };
        let scale = web_sys::window()
            .map(|w| w.device_pixel_ratio())
            .unwrap_or(1.0)
            .max(1.0);
        let width = el.client_width().max(100) as f64;
        let height = el.client_height().max(80) as f64;
        el.set_width((width * scale) as u32);
        el.set_height((height * scale) as u32);
        let theme = if dark { Theme::dark(scale) } else { Theme::light(scale) };
        if let Some(backend) = CanvasBackend::with_canvas_object(el) {
            let root = backend.into_drawing_area();
            let result = points.with(|pts| draw(&root, pts, &theme));
            if let Err(e) = result {
                leptos::logging::warn!("chart draw failed: {e:?}");
            }
        }
    });
    let aria = label.clone();
    view! {
        <figure class="chart">
            <figcaption>{label}</figcaption>
            <canvas node_ref=canvas role="img" aria-label=aria data-testid="chart"></canvas>
        </figure>
    }
}
