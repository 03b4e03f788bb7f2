//! The architecture, checked: every module of `src/` belongs to a room of a layer (see
//! ARCHITECTURE.md), imports only rooms of its own layer or below, and no rooms import each
//! other in a circle. Reads the source as text: every `crate::`, `super::` and `self::` path
//! outside comments and test modules counts, `use` lines or not (and paths in strings too,
//! such as `#[serde(with = "…")]`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first: each room is a module path (`""` is the crate root). A module
/// belongs to the room that is the longest prefix of its path.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "shared types",
        &["model", "error", "format", "search", "stream", "charts"],
    ),
    ("server base", &["server::clock", "server::error"]),
    ("store", &["server::store", "server::bus"]),
    ("hub", &["server::hub"]),
    (
        "pipelines",
        &[
            "server::push",
            "server::ingest",
            "server::alerts",
            "server::otlp",
            "server::auth",
            "server::prometheus",
        ],
    ),
    (
        "app and routes",
        &[
            "server::config",
            "server::state",
            "server::demo",
            "server::system",
            "server::health",
            "server::service",
            "server::routes",
            "server::dashboard",
            "server::fleet",
            "server::cli",
        ],
    ),
    ("entry points", &["server", "api", "ui", ""]),
];

/// A room and its layer's index.
fn room_of(path: &[String]) -> Option<(String, usize)> {
    let mut best: Option<(String, usize, usize)> = None;
    for (layer, (_, rooms)) in LAYERS.iter().enumerate() {
        for room in *rooms {
            let parts: Vec<&str> = if room.is_empty() {
                vec![]
            } else {
                room.split("::").collect()
            };
            let matches = parts.len() <= path.len() && parts.iter().zip(path).all(|(a, b)| a == b);
            if matches && best.as_ref().is_none_or(|b| parts.len() > b.2) {
                best = Some((room.to_string(), layer, parts.len()));
            }
        }
    }
    best.map(|(room, layer, _)| (room, layer))
}

/// The module path of a file under `src/`: `server/hub/apply.rs` is `server::hub::apply`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its test modules, and the inline modules
/// in it (`mod name { … }`) as byte ranges of that code.
fn code_of(text: &str) -> (String, Vec<(usize, usize, String)>) {
    let mut out = String::new();
    let mut inline: Vec<(usize, usize, String)> = Vec::new();
    let mut open: Vec<(i32, usize)> = Vec::new();
    let mut skip_depth: Option<i32> = None;
    let mut pending_test = false;
    let mut depth = 0i32;
    for line in text.lines() {
        let code = strip_comment(line);
        let trimmed = code.trim();
        if skip_depth.is_none() && trimmed.starts_with("#[cfg(test)]") {
            pending_test = true;
            continue;
        }
        if pending_test && skip_depth.is_none() {
            pending_test = false;
            if trimmed.starts_with("mod ") && trimmed.ends_with(';') {
                continue; // `mod tests;`: its file is skipped by name
            }
            skip_depth = Some(depth);
        }
        let opens = code.matches('{').count() as i32;
        let closes = code.matches('}').count() as i32;
        let before = depth;
        depth += opens - closes;
        if let Some(d) = skip_depth {
            if depth <= d && (opens > 0 || closes > 0) {
                skip_depth = None;
            }
            continue;
        }
        let name = trimmed
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ")
            .strip_prefix("mod ")
            .and_then(|rest| rest.strip_suffix('{'))
            .map(|n| n.trim().to_string());
        if let Some(name) = name {
            let i = inline.len();
            inline.push((out.len(), usize::MAX, name));
            open.push((before, i));
        }
        out.push_str(code);
        out.push('\n');
        while open.last().is_some_and(|(d, _)| depth <= *d) {
            let (_, i) = open.pop().expect("checked");
            inline[i].1 = out.len();
        }
    }
    (out, inline)
}

/// The line up to a `//` that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

/// Every module path the code refers to, resolved against the module `at` (or the inline
/// module of `at` that the reference stands in).
fn references(code: &str, at: &[String], inline: &[(usize, usize, String)]) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = |kw: &str| bytes[i..].starts_with(kw.as_bytes()) && (i == 0 || !word(bytes[i - 1]));
        let Some(kw) = ["crate::", "super::", "self::"].into_iter().find(|kw| starts(kw)) else {
            i += 1;
            continue;
        };
        let (path, end) = read_path(code, i);
        let mut here = at.to_vec();
        here.extend(
            inline
                .iter()
                .filter(|(s, e, _)| (*s..*e).contains(&i))
                .map(|(_, _, n)| n.clone()),
        );
        i = end.max(i + kw.len());
        for p in path {
            if let Some(resolved) = resolve(&p, &here) {
                out.insert(resolved);
            }
        }
    }
    out
}

/// The path(s) starting at `start`: `a::b::c`, or `a::{b, c::d}` as several.
fn read_path(code: &str, start: usize) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let mut segs = Vec::new();
    let mut i = start;
    loop {
        let s = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > s {
            segs.push(code[s..i].to_string());
        }
        if bytes[i..].starts_with(b"::{") {
            // A group: each item is a path of its own after the prefix.
            let open = i + 2;
            let mut depth = 0;
            let mut j = open;
            while j < bytes.len() {
                match bytes[j] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let inner = &code[open + 1..j.min(code.len())];
            let mut paths = Vec::new();
            for item in split_top(inner) {
                let item = item.trim();
                let first: Vec<String> = item
                    .split("::")
                    .map(|s| s.trim().trim_start_matches('{').to_string())
                    .take_while(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                    .collect();
                let mut p = segs.clone();
                p.extend(first.into_iter().filter(|s| s != "self"));
                paths.push(p);
            }
            return (paths, j + 1);
        }
        if bytes[i..].starts_with(b"::") {
            i += 2;
            continue;
        }
        return (vec![segs], i);
    }
}

fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[from..]);
    out
}

/// `crate::a::b`, `super::super::x`, `self::y` as a path from the crate root.
fn resolve(path: &[String], at: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            base = at.to_vec();
            rest = &path[1..];
        }
        Some("super") => {
            base = at.to_vec();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// What is wrong with a tree of `(path under src/, text)`: upward imports, then circles.
fn problems(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut found = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in files {
        let module = module_of(rel);
        let Some((room, layer)) = room_of(&module) else {
            found.push(format!(
                "{}: module `{}` is in no room of a layer",
                rel.display(),
                module.join("::")
            ));
            continue;
        };
        let (code, inline) = code_of(text);
        for target in references(&code, &module, &inline) {
            let Some((to_room, to_layer)) = room_of(&target) else {
                continue;
            };
            if to_room == room {
                continue;
            }
            if to_layer > layer {
                found.push(format!(
                    "{}: `{room}` ({}) imports `{}` from `{to_room}` ({}), a layer above",
                    rel.display(),
                    LAYERS[layer].0,
                    target.join("::"),
                    LAYERS[to_layer].0
                ));
            }
            edges.entry(room.clone()).or_default().insert(to_room);
        }
    }
    found.extend(circles(&edges));
    found
}

/// Every circle of rooms, once, as `a -> b -> a`.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first from `start`, back to `start`, through rooms that sort after it (each
        // circle is found from its smallest room only).
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    out.insert(format!("circle: {} -> {start}", path.join(" -> ")));
                } else if next > start && !path.contains(next) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    out.into_iter().collect()
}

fn source_files(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under src/").to_path_buf();
            // The binary's `main.rs` is a crate of its own; test modules may reach anywhere.
            let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if rel == Path::new("main.rs") || name == "tests.rs" {
                continue;
            }
            out.push((rel, std::fs::read_to_string(&path).expect("a readable source file")));
        }
    }
}

#[test]
fn every_module_imports_only_its_layer_and_below_and_no_rooms_form_a_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&root, &root, &mut files);
    assert!(
        files.len() > 50,
        "found only {} source files under {}",
        files.len(),
        root.display()
    );
    let found = problems(&files);
    assert!(found.is_empty(), "the layers are broken:\n{}", found.join("\n"));
}

#[test]
fn the_check_names_an_upward_import_and_a_circle() {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_string());
    let tree = [
        // The store reaching up into the hub, which imports the store: both wrongs at once.
        file("server/store/mod.rs", "use crate::server::hub::Hub;\n"),
        file(
            "server/hub/mod.rs",
            "use crate::server::store::{Snapshot, WriteBatch};\n",
        ),
        // Within one layer: ingest and push import each other.
        file("server/ingest/mod.rs", "use super::push::Live;\n"),
        file(
            "server/push/mod.rs",
            "fn f() { crate::server::ingest::Ingest::start(); }\n",
        ),
        // An inline module's `super` is its file's module.
        file(
            "server/clock.rs",
            "pub mod human {\n    use super::now_ms;\n}\nfn now_ms() {}\n",
        ),
        // Comments, strings of docs and test modules do not count.
        file(
            "model/mod.rs",
            "// use crate::server::hub;\n#[cfg(test)]\nmod tests {\n    use crate::server::AppState;\n}\n",
        ),
    ];
    let found = problems(&tree);
    assert!(
        found
            .iter()
            .any(|p| p.contains("`server::store` (store) imports `server::hub::Hub`")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p == "circle: server::hub -> server::store -> server::hub"),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p == "circle: server::ingest -> server::push -> server::ingest"),
        "{found:#?}"
    );
    assert_eq!(found.len(), 3, "{found:#?}");
    // Grouped and relative paths resolve.
    let refs = references(
        "use super::{clock::now_ms, state::AppState};",
        &["server".into(), "hub".into()],
        &[],
    );
    assert!(
        refs.contains(&vec!["server".to_string(), "clock".into(), "now_ms".into()]),
        "{refs:?}"
    );
    assert!(
        refs.contains(&vec!["server".to_string(), "state".into(), "AppState".into()]),
        "{refs:?}"
    );
}

/// Lines of a file outside its test module (`#[cfg(test)] mod tests`, at the end by habit).
fn lines_outside_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let test_module = lines
        .windows(2)
        .position(|w| w[0].starts_with("#[cfg(test)]") && w[1].starts_with("mod "));
    test_module.unwrap_or(lines.len())
}

#[test]
fn no_source_file_is_over_600_lines_outside_its_tests() {
    const MOST: usize = 600;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&root, &root, &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|(rel, text)| (rel, lines_outside_tests(text)))
        .filter(|(_, n)| *n > MOST)
        .map(|(rel, n)| format!("{}: {n} lines", rel.display()))
        .collect();
    assert!(
        long.is_empty(),
        "split these by responsibility (at most {MOST} lines each):\n{}",
        long.join("\n")
    );
    assert_eq!(lines_outside_tests("a\nb\n#[cfg(test)]\nmod tests {\n}\n"), 2);
}
