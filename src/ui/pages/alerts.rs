use crate::api::{acknowledge_alert, create_silence, expire_silence, get_alerts, preview_silence, unacknowledge_alert};
use crate::format;
use crate::model::{Alert, AlertState, AlertsView, Labels, Severity, Silence, SilenceRequest};
use crate::stream::protocol::Topic;
use crate::ui::components::dialog::Dialog;
use crate::ui::components::states::{Empty, ErrorBox, Loading};
use crate::ui::components::time::Ago;
use crate::ui::load::{load_on, Loaded};
use crate::ui::session::use_session;
use crate::ui::Now;
use leptos::prelude::*;
use leptos_router::components::A;

const USER_KEY: &str = "observatory-user";
/// Why the action buttons are disabled for a viewer.
const NO_ROLE: &str = "Your role may not change alerts: acknowledging and silencing need the role operator or admin";

fn remembered_user() -> String {
    window()
        .local_storage()
        .ok()
        .flatten()
        .and_then(|s| s.get_item(USER_KEY).ok().flatten())
        .unwrap_or_default()
}

fn remember_user(name: &str) {
    if let Some(s) = window().local_storage().ok().flatten() {
        let _ = s.set_item(USER_KEY, name);
    }
}

/// What a dialog is open for.
#[derive(Clone, PartialEq)]
enum Open {
    Ack(Alert),
    Silence(Alert),
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let view = load_on(Topic::Alerts, get_alerts);
    let open = RwSignal::new(None::<Open>);
    let refresh = move || {
        leptos::task::spawn_local(async move {
            let r = get_alerts().await;
            view.try_set(Some(r));
        })
    };

    view! {
        {move || match view.get() {
            None => view! { <Loading what="alerts"/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            Some(Ok(v)) => view! { <AlertsBody v=v open=open refresh=refresh/> }.into_any(),
        }}
        {move || open.get().map(|o| match o {
            Open::Ack(a) => view! { <AckDialog alert=a open=open view=view/> }.into_any(),
            Open::Silence(a) => view! { <SilenceDialog alert=a open=open view=view/> }.into_any(),
        })}
    }
}

#[component]
fn AlertsBody(
    v: AlertsView,
    open: RwSignal<Option<Open>>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let (active, resolved): (Vec<Alert>, Vec<Alert>) = v.alerts.into_iter().partition(|a| a.is_active());
    let now = crate::ui::now_ms();
    let live_silences: Vec<Silence> = v.silences.iter().filter(|s| s.ends_at > now).cloned().collect();
    let failing: Vec<_> = v
        .receivers
        .iter()
        .filter(|r| r.last_error.is_some() && r.last_error_at > r.last_success_at)
        .cloned()
        .collect();
    view! {
        {(!failing.is_empty()).then(|| view! {
            <div class="state error" role="alert">
                <strong>"Notifications are failing: "</strong>
                {failing.iter().map(|r| format!("{} ({})", r.name, r.last_error.clone().unwrap_or_default())).collect::<Vec<_>>().join("; ")}
            </div>
        })}
        <section class="panel" aria-label="Active alerts">
            <header class="panel-head"><h2>"Active alerts"</h2><span class="muted count">{active.len()}</span></header>
            {if active.is_empty() {
                view! { <Empty title="All clear" hint=format!("No rule is firing. {} rules are evaluated: {}.", v.rules.len(), v.rules.join(", "))/> }.into_any()
            } else {
                view! { <AlertTable alerts=active open=open refresh=refresh label="Active alerts"/> }.into_any()
            }}
        </section>
        <section class="panel" aria-label="Silences">
            <header class="panel-head"><h2>"Silences"</h2><span class="muted count">{live_silences.len()}</span></header>
            {if live_silences.is_empty() {
                view! { <div class="muted pad">"No active silence. Silence an alert from its row to mute its notifications for a while."</div> }.into_any()
            } else {
                view! { <SilenceTable silences=live_silences refresh=refresh/> }.into_any()
            }}
        </section>
        {(!resolved.is_empty()).then(|| view! {
            <section class="panel" aria-label="Recently resolved">
                <header class="panel-head"><h2>"Recently resolved"</h2><span class="muted count">{resolved.len()}</span></header>
                <AlertTable alerts=resolved open=open refresh=refresh label="Resolved alerts"/>
            </section>
        })}
        <section class="panel" aria-label="History">
            <header class="panel-head"><h2>"History"</h2></header>
            {if v.history.is_empty() {
                view! { <div class="muted pad">"Nothing yet. Each change of an alert (pending, firing, resolved, acknowledged, silenced) is listed here, with who made it and their note."</div> }.into_any()
            } else {
                view! {
                    <div class="table-wrap short">
                        <table class="data" aria-label="Alert history">
                            <thead><tr><th scope="col">"When"</th><th scope="col">"Alert"</th><th scope="col">"What"</th><th scope="col">"By"</th><th scope="col">"Note"</th></tr></thead>
                            <tbody>
                                {v.history.into_iter().take(100).map(|e| view! {
                                    <tr>
                                        <td><Ago ts=e.at/></td>
                                        <td>{e.rule}</td>
                                        <td><span class=format!("pill {}", e.kind)>{e.kind.clone()}</span></td>
                                        <td>{e.by.unwrap_or_default()}</td>
                                        <td class="wrap">{e.note.unwrap_or_default()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        {(!v.receivers.is_empty()).then(|| view! {
            <section class="panel" aria-label="Receivers">
                <header class="panel-head"><h2>"Receivers"</h2></header>
                <table class="data" aria-label="Notification receivers">
                    <thead><tr><th scope="col">"Receiver"</th><th scope="col">"Kind"</th><th scope="col" class="num">"Sent"</th><th scope="col" class="num">"Failed"</th><th scope="col">"Last error"</th></tr></thead>
                    <tbody>
                        {v.receivers.into_iter().map(|r| view! {
                            <tr><td>{r.name}</td><td>{r.kind}</td><td class="num">{r.sent}</td><td class="num">{r.failed}</td><td>{r.last_error.unwrap_or_default()}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}
    }
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "pill failed",
        Severity::Warning => "pill warning",
        Severity::Info => "pill pending",
    }
}

#[component]
fn AlertTable(
    alerts: Vec<Alert>,
    open: RwSignal<Option<Open>>,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
    label: &'static str,
) -> impl IntoView {
    let Now(now) = expect_context::<Now>();
    let error = RwSignal::new(None::<String>);
    let session = use_session();
    let no_role = move || (!session.can_operate()).then_some(NO_ROLE);
    view! {
        {move || error.get().map(|e| view! { <div class="state error" role="alert">{e}</div> })}
        <div class="table-wrap">
            <table class="data" aria-label=label>
                <thead>
                    <tr>
                        <th scope="col">"Severity"</th>
                        <th scope="col">"Alert"</th>
                        <th scope="col">"State"</th>
                        <th scope="col" class="num">"Since"</th>
                        <th scope="col" class="num">"Value"</th>
                        <th scope="col">"Labels"</th>
                        <th scope="col">"Exemplars"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {alerts.into_iter().map(|a| {
                        let since = a.firing_since.unwrap_or(a.started_at);
                        let exemplar_executions = a.exemplar_executions.clone();
                        let exemplar_agents = a.exemplar_agents.clone();
                        let ack = a.ack.clone();
                        let active = a.is_active();
                        let (ack_alert, silence_alert, unack_id) = (a.clone(), a.clone(), a.id.clone());
                        let state_class = match a.state {
                            AlertState::Firing => "pill failed",
                            AlertState::Pending => "pill warning",
                            _ => "pill completed",
                        };
                        view! {
                            <tr data-alert=a.id.clone() class:acked=ack.is_some()>
                                <td><span class=severity_class(a.severity)><span class="dot"></span>{a.severity.as_str()}</span></td>
                                <td class="wrap"><strong>{a.rule.clone()}</strong><div class="sub">{a.summary.clone()}</div></td>
                                <td>
                                    <span class=state_class><span class="dot"></span>{a.state.as_str()}</span>
                                    {ack.clone().map(|k| view! {
                                        <div class="ack" title=format::utc(k.at)>
                                            <span class="pill acked"><span class="dot"></span>"acknowledged"</span>
                                            " by " <strong>{k.by}</strong>
                                            {(!k.note.is_empty()).then(|| view! { <div class="sub">{format!("“{}”", k.note)}</div> })}
                                        </div>
                                    })}
                                    {a.silenced_by.clone().map(|_| view! { <div><span class="pill pending"><span class="dot"></span>"silenced"</span></div> })}
                                </td>
                                <td class="num"><time title=format::utc(since)>{move || format::relative(since, now.get())}</time></td>
                                <td class="num">{a.unit.format(a.value)}</td>
                                <td class="wrap">{a.labels.iter().map(|(k, v)| view! { <span class="chip">{format!("{k}={v}")}</span> " " }).collect_view()}</td>
                                <td class="wrap">
                                    {exemplar_executions.into_iter().take(2).map(|id| view! { <A href=format!("/executions/{id}")>{id.clone()}</A> " " }).collect_view()}
                                    {exemplar_agents.into_iter().take(1).map(|id| view! { <A href=format!("/agents/{id}") attr:class="muted">{format!("agent {id}")}</A> " " }).collect_view()}
                                </td>
                                <td class="actions">
                                    {(active && ack.is_none()).then(|| view! {
                                        <button disabled=move || !session.can_operate() title=no_role on:click=move |_| open.set(Some(Open::Ack(ack_alert.clone())))>"Acknowledge"</button>
                                    })}
                                    {(active && ack.is_some()).then(|| view! {
                                        <button disabled=move || !session.can_operate() title=no_role on:click=move |_| {
                                            let id = unack_id.clone();
                                            leptos::task::spawn_local(async move {
                                                let by = remembered_user();
                                                match unacknowledge_alert(id, if by.is_empty() { "someone".into() } else { by }).await {
                                                    Ok(_) => refresh(),
                                                    Err(e) => error.set(Some(e.message)),
                                                }
                                            });
                                        }>"Unacknowledge"</button>
                                    })}
                                    {active.then(|| view! {
                                        <button disabled=move || !session.can_operate() title=no_role on:click=move |_| open.set(Some(Open::Silence(silence_alert.clone())))>"Silence"</button>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn SilenceTable(silences: Vec<Silence>, refresh: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let session = use_session();
    let no_role = move || (!session.can_operate()).then_some(NO_ROLE);
    view! {
        {move || error.get().map(|e| view! { <div class="state error" role="alert">{e}</div> })}
        <table class="data" aria-label="Active silences">
            <thead><tr><th scope="col">"Matchers"</th><th scope="col">"By"</th><th scope="col">"Comment"</th><th scope="col" class="num">"Ends"</th><th scope="col">"Actions"</th></tr></thead>
            <tbody>
                {silences.into_iter().map(|s| {
                    let id = s.id.clone();
                    view! {
                        <tr>
                            <td class="wrap">{s.matchers.iter().map(|(k, v)| view! { <span class="chip">{format!("{k}={v}")}</span> " " }).collect_view()}</td>
                            <td>{s.created_by.clone()}</td>
                            <td class="wrap">{s.comment.clone()}</td>
                            <td class="num"><time title=format::utc(s.ends_at)>{format!("in {}", format::duration_ms((s.ends_at - crate::ui::now_ms()).max(0) as f64))}</time></td>
                            <td><button disabled=move || !session.can_operate() title=no_role on:click=move |_| {
                                let id = id.clone();
                                leptos::task::spawn_local(async move {
                                    match expire_silence(id, remembered_user()).await {
                                        Ok(_) => refresh(),
                                        Err(e) => error.set(Some(e.message)),
                                    }
                                });
                            }>"Expire"</button></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn AckDialog(alert: Alert, open: RwSignal<Option<Open>>, view: Loaded<AlertsView>) -> impl IntoView {
    let signed_in = use_session().principal().map(|p| p.name);
    let by = RwSignal::new(signed_in.clone().unwrap_or_else(remembered_user));
    let note = RwSignal::new(String::new());
    let expiry = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let id = alert.id.clone();
    let submit = move || {
        let (id, by_v, note_v) = (id.clone(), by.get_untracked(), note.get_untracked());
        let expires = expiry.get_untracked().parse::<u64>().ok();
        busy.set(true);
        leptos::task::spawn_local(async move {
            match acknowledge_alert(id, by_v.clone(), note_v, expires).await {
                Ok(_) => {
                    remember_user(&by_v);
                    view.try_set(Some(get_alerts().await));
                    open.set(None);
                }
                Err(e) => {
                    error.set(Some(e.message));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <Dialog title="Acknowledge alert" on_close=move || open.set(None)>
            <p class="muted">{alert.rule.clone()} ": " {alert.summary.clone()}</p>
            <form on:submit=move |ev| { ev.prevent_default(); submit(); }>
                <label>"Your name" <input type="text" required readonly=signed_in.is_some() prop:value=move || by.get() on:input=move |ev| by.set(event_target_value(&ev)) autofocus=true/></label>
                <label>"Note" <textarea rows="3" placeholder="What you are doing about it" prop:value=move || note.get() on:input=move |ev| note.set(event_target_value(&ev))></textarea></label>
                <label>"Until"
                    <select on:change=move |ev| expiry.set(event_target_value(&ev))>
                        <option value="">"the alert changes state"</option>
                        <option value="60">"1 hour"</option>
                        <option value="240">"4 hours"</option>
                        <option value="1440">"1 day"</option>
                    </select>
                </label>
                {move || error.get().map(|e| view! { <div class="state error" role="alert">{e}</div> })}
                <div class="dialog-actions">
                    <button type="button" class="ghost" on:click=move |_| open.set(None)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || busy.get()>"Acknowledge"</button>
                </div>
            </form>
        </Dialog>
    }
}

#[component]
fn SilenceDialog(alert: Alert, open: RwSignal<Option<Open>>, view: Loaded<AlertsView>) -> impl IntoView {
    let mut all: Vec<(String, String)> = vec![("alertname".into(), alert.rule.clone())];
    all.extend(alert.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let chosen = RwSignal::new(all.iter().map(|_| true).collect::<Vec<bool>>());
    let signed_in = use_session().principal().map(|p| p.name);
    let by = RwSignal::new(signed_in.clone().unwrap_or_else(remembered_user));
    let comment = RwSignal::new(String::new());
    let minutes = RwSignal::new(60u64);
    let error = RwSignal::new(None::<String>);
    let preview = RwSignal::new(None::<Vec<Alert>>);
    let pairs = StoredValue::new(all.clone());
    let matchers = move || -> Labels {
        let picks = chosen.get();
        pairs.with_value(|all| {
            all.iter()
                .zip(picks)
                .filter(|(_, on)| *on)
                .map(|((k, v), _)| (k.clone(), v.clone()))
                .collect()
        })
    };
    Effect::new(move |_| {
        let m = matchers();
        leptos::task::spawn_local(async move {
            if let Ok(list) = preview_silence(m).await {
                preview.try_set(Some(list));
            }
        });
    });
    let submit = move || {
        let request = SilenceRequest {
            matchers: matchers(),
            duration_minutes: minutes.get_untracked(),
            created_by: by.get_untracked(),
            comment: comment.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            let who = request.created_by.clone();
            match create_silence(request).await {
                Ok(_) => {
                    remember_user(&who);
                    view.try_set(Some(get_alerts().await));
                    open.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <Dialog title="Silence notifications" on_close=move || open.set(None)>
            <form on:submit=move |ev| { ev.prevent_default(); submit(); }>
                <fieldset>
                    <legend>"Match alerts with"</legend>
                    {all.into_iter().enumerate().map(|(i, (k, v))| view! {
                        <label class="check">
                            <input type="checkbox" prop:checked=move || chosen.get()[i] on:change=move |_| chosen.update(|c| c[i] = !c[i])/>
                            <span class="chip">{format!("{k}={v}")}</span>
                        </label>
                    }).collect_view()}
                </fieldset>
                <label>"For"
                    <select on:change=move |ev| minutes.set(event_target_value(&ev).parse().unwrap_or(60))>
                        <option value="30">"30 minutes"</option>
                        <option value="60" selected=true>"1 hour"</option>
                        <option value="240">"4 hours"</option>
                        <option value="1440">"1 day"</option>
                        <option value="10080">"1 week"</option>
                    </select>
                </label>
                <label>"Your name" <input type="text" required readonly=signed_in.is_some() prop:value=move || by.get() on:input=move |ev| by.set(event_target_value(&ev))/></label>
                <label>"Comment" <input type="text" placeholder="Why" prop:value=move || comment.get() on:input=move |ev| comment.set(event_target_value(&ev))/></label>
                <div class="preview" role="status" aria-label="Silence preview">
                    {move || preview.get().map(|list| view! {
                        <div>{format!("Mutes {} active alert{} now", list.len(), if list.len() == 1 { "" } else { "s" })}</div>
                        <ul>{list.into_iter().map(|a| view! { <li>{a.rule} ": " {a.summary}</li> }).collect_view()}</ul>
                    })}
                </div>
                {move || error.get().map(|e| view! { <div class="state error" role="alert">{e}</div> })}
                <div class="dialog-actions">
                    <button type="button" class="ghost" on:click=move |_| open.set(None)>"Cancel"</button>
                    <button type="submit" class="primary">"Silence"</button>
                </div>
            </form>
        </Dialog>
    }
}
