use leptos::prelude::*;

/// One KPI tile: a label, a big number with its unit, an optional hint.
#[component]
pub fn Kpi(
    #[prop(into)] label: String,
    #[prop(into)] value: Signal<String>,
    #[prop(into, optional)] hint: Option<Signal<String>>,
    #[prop(optional)] tone: &'static str,
) -> impl IntoView {
    let class = format!("kpi {tone}");
    let aria = label.clone();
    // Long values ("15.0k / 2.2k") take a smaller size to fit the tile; all of it is in the title.
    let long = move || value.with(|v| v.chars().count() > 9);
    view! {
        <section class=class aria-label=aria>
            <h3 class="kpi-label">{label}</h3>
            <div
                class="kpi-value"
                class:long=long
                title=move || value.get()
                data-testid="kpi-value"
            >
                {move || value.get()}
            </div>
            {hint.map(|h| view! { <div class="kpi-hint">{move || h.get()}</div> })}
        </section>
    }
}
