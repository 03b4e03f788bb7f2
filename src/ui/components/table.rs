//! A data table: its scrolling wrapper, an accessible name and the header row.

use leptos::prelude::*;

/// `columns` are `(title, numeric)`; numeric columns are right-aligned. The children are
/// the body rows.
#[component]
pub fn DataTable(
    #[prop(into)] label: String,
    columns: &'static [(&'static str, bool)],
    children: Children,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" aria-label=label>
                <thead>
                    <tr>
                        {columns
                            .iter()
                            .map(|&(title, numeric)| view! { <th scope="col" class:num=numeric>{title}</th> })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}
