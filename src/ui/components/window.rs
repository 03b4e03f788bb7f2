//! Windowed rendering for long lists of fixed-height rows: only the rows in view (and a few
//! around them) are in the document; spacers above and below stand for the others.

use leptos::html::Div;
use leptos::prelude::*;

/// Which rows of a list of `len` are in view: `first..last`, with `after` rows below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Visible {
    pub first: usize,
    pub last: usize,
    pub after: usize,
}

impl Visible {
    pub fn top_px(&self, row_height: f64) -> String {
        format!("{}px", self.first as f64 * row_height)
    }
    pub fn bottom_px(&self, row_height: f64) -> String {
        format!("{}px", self.after as f64 * row_height)
    }
}

/// The scrolling element to attach with `node_ref`, the `on:scroll` handler, and the span
/// of rows in view, for a list whose length `len` tracks.
pub fn windowed(
    len: impl Fn() -> usize + Send + Sync + 'static,
    row_height: f64,
    overscan: usize,
) -> (NodeRef<Div>, impl Fn() + Copy + 'static, Memo<Visible>) {
    let viewport = NodeRef::<Div>::new();
    let scroll = RwSignal::new((0.0f64, 800.0f64));
    let measure = move || {
        if let Some(el) = viewport.get_untracked() {
            scroll.set((el.scroll_top() as f64, el.client_height() as f64));
        }
    };
    // The real height once the element is in the page, and again when the window resizes.
    Effect::new(move |_| {
        if viewport.get().is_some() {
            measure();
        }
    });
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());
    let span = Memo::new(move |_| {
        let (top, height) = scroll.get();
        let len = len();
        let first = ((top / row_height) as usize).saturating_sub(overscan).min(len);
        let last = (((top + height) / row_height).ceil() as usize + overscan).min(len);
        Visible {
            first,
            last,
            after: len - last,
        }
    });
    (viewport, measure, span)
}
