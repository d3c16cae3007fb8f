//! The house's arrows (DESIGN.md, "Rooms"): reads every `crate::` and `super::` path in `src/`
//! and fails when a module reaches one it may not use.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What each top-level room may use besides itself. Rooms not listed (`cmd`, `main`, `lib`)
/// are the edge and may use everything.
const ALLOWED: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("text", &[]),
    ("redact", &[]),
    ("cli", &[]),
    ("auth", &["protocol", "text", "redact"]),
    ("client", &["protocol", "auth", "text", "redact"]),
    ("service", &["protocol", "auth", "text", "redact"]),
    ("history", &["protocol", "text", "redact"]),
    ("config", &["text", "redact"]),
    ("logging", &["text", "redact"]),
    (
        "tui",
        &["client", "protocol", "history", "text", "redact", "config"],
    ),
    (
        "pipe",
        &[
            "client",
            "protocol",
            "auth",
            "text",
            "redact",
            "pipe_output",
        ],
    ),
    ("pipe_output", &["protocol", "text"]),
    ("bench", &["client", "protocol", "auth", "text", "redact"]),
    (
        "target",
        &[
            "auth", "client", "service", "config", "protocol", "text", "redact",
        ],
    ),
];

/// Arrows forbidden inside a room: (from, to), as module path prefixes.
const FORBIDDEN_INSIDE: &[(&str, &str)] = &[("tui::view", "tui::app")];

/// The module path of a source file: `src/tui/view/log.rs` → `["tui", "view", "log"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// Every module path that `source` (the text of `module`) names through `crate::` or
/// `super::`, resolved to a path from the crate root. Only the first two segments matter for
/// the rules, so a path is cut there; `crate::{a, b::c}` yields `a` and `b::c`.
fn references(module: &[String], source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let code = strip_comments(source);
    let bytes = code.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let starts_word = at == 0 || !is_ident_byte(bytes[at - 1]);
        let (base, skip) = if starts_word && rest.starts_with(b"crate::") {
            (Vec::new(), "crate::".len())
        } else if starts_word && rest.starts_with(b"super::") {
            let mut base = module.to_vec();
            let mut skip = 0;
            // A file module's `super` is its parent; `mod.rs` is already its directory.
            while bytes[at + skip..].starts_with(b"super::") {
                base.pop();
                skip += "super::".len();
            }
            (base, skip)
        } else {
            at += 1;
            continue;
        };
        let tail = &code[at + skip..];
        for path in paths_after(tail) {
            let mut full = base.clone();
            full.extend(path.split("::").map(str::to_string));
            full.truncate(2);
            found.insert(full.join("::"));
        }
        at += skip;
    }
    found
}

/// The paths at the start of `tail`: one (`a::b`) or a group (`{a, b::c}`).
fn paths_after(tail: &str) -> Vec<String> {
    if let Some(group) = tail.strip_prefix('{') {
        let mut depth = 0;
        let mut paths = Vec::new();
        let mut current = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    paths.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            if depth == 0 {
                current.push(c);
            }
        }
        paths.push(current);
        paths
            .iter()
            .map(|path| leading_path(path.trim()))
            .filter(|path| !path.is_empty() && path != "self")
            .collect()
    } else {
        let path = leading_path(tail);
        if path.is_empty() { vec![] } else { vec![path] }
    }
}

/// `a::b::C as D;` → `a::b::C`.
fn leading_path(text: &str) -> String {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    text[..end].trim_end_matches(':').to_string()
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b':'
}

/// The source without `//` comments (doc comments mention paths that are not arrows).
fn strip_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The forbidden arrows leaving `module`, as readable lines.
fn violations(module: &[String], source: &str) -> Vec<String> {
    let Some(room) = module.first() else {
        return Vec::new();
    };
    let name = module.join("::");
    let mut found = Vec::new();
    for target in references(module, source) {
        let target_room = target.split("::").next().unwrap_or_default();
        if let Some((_, allowed)) = ALLOWED.iter().find(|(from, _)| from == room)
            && target_room != room
            && !allowed.contains(&target_room)
        {
            found.push(format!("{name} uses {target}"));
        }
        for (from, to) in FORBIDDEN_INSIDE {
            if (name == *from || name.starts_with(&format!("{from}::")))
                && (target == *to || target.starts_with(&format!("{to}::")))
            {
                found.push(format!("{name} uses {target}"));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_forbidden_arrows_in_src() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut all = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("readable source");
        all.extend(violations(&module_of(&src, file), &source));
    }
    assert!(
        all.is_empty(),
        "forbidden arrows (DESIGN.md, Rooms):\n{}",
        all.join("\n")
    );
}

fn module(path: &str) -> Vec<String> {
    path.split("::").map(str::to_string).collect()
}

#[test]
fn the_checker_sees_each_kind_of_forbidden_arrow() {
    assert_eq!(
        violations(&module("service::ws"), "use crate::client::ClientHandle;"),
        ["service::ws uses client::ClientHandle"]
    );
    assert_eq!(
        violations(
            &module("protocol"),
            "fn f() { crate::text::sanitize_line(x) }"
        ),
        ["protocol uses text::sanitize_line"]
    );
    assert_eq!(
        violations(
            &module("pipe"),
            "use crate::{client::Event, cli::ListenArgs};"
        ),
        ["pipe uses cli::ListenArgs"]
    );
    assert_eq!(
        violations(
            &module("tui::view::log"),
            "use super::super::app::mentions;"
        ),
        ["tui::view::log uses tui::app"]
    );
    assert_eq!(
        violations(&module("tui::view"), "use super::{app, layout};"),
        ["tui::view uses tui::app"]
    );
}

#[test]
fn the_checker_allows_permitted_arrows_and_ignores_comments() {
    let source = "//! see crate::cli for flags\nuse crate::protocol::DataType;\nuse super::state::State; // not crate::cli";
    assert!(violations(&module("tui::view::log"), source).is_empty());
    assert!(violations(&module("cmd::serve"), "use crate::cli::ServeArgs;").is_empty());
}
