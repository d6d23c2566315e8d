//! Every `curl` example in the README, run as written by a shell, against a server
//! that serves the models the README names (`sentiment`, the bundled offline model;
//! `minilm`, the shared one; `nli`, an NLI model: the tiny DeBERTa-v2 fixture;
//! `reranker`, a one-label cross-encoder: the tiny re-ranker fixture), with
//! only `localhost:8080` rewritten to the test server's address. Each must answer 2xx;
//! where the README shows the answer (`# {...}` lines after the command), the answer
//! must have exactly the fields shown, at every level.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::server::{config, start};
use serde_json::Value;

/// One example: the command as the README writes it (continuation lines joined, the
/// trailing comment removed) and the answer it shows, if any.
#[derive(Debug)]
struct Example {
    line: usize,
    command: String,
    shown: Option<Value>,
}

/// `line` without a `#` comment that is outside quotes.
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && (i == 0 || line[..i].ends_with(' ')) => return line[..i].trim_end(),
            _ => {}
        }
    }
    line.trim_end()
}

/// The `curl` commands of the README's `sh`/`bash` blocks.
fn examples(readme: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut in_shell = false;
    let lines: Vec<&str> = readme.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("```") {
            in_shell = !in_shell && matches!(line.trim_start_matches('`'), "sh" | "bash" | "shell");
            i += 1;
            continue;
        }
        if !in_shell || !line.starts_with("curl ") {
            i += 1;
            continue;
        }
        let start = i;
        let mut command = String::new();
        loop {
            let part = strip_comment(lines[i]);
            match part.strip_suffix('\\') {
                Some(head) => {
                    command.push_str(head.trim_end());
                    command.push(' ');
                    i += 1;
                }
                None => {
                    command.push_str(part.trim_start());
                    i += 1;
                    break;
                }
            }
        }
        let mut shown = String::new();
        while i < lines.len() && lines[i].starts_with('#') {
            shown.push_str(lines[i].trim_start_matches('#').trim());
            i += 1;
        }
        // A `# {...}` or `# [...]` answer must parse: a broken sample would silently
        // check nothing.
        let shown = match shown.starts_with(['{', '[']) {
            true => {
                Some(serde_json::from_str(&shown).unwrap_or_else(|e| panic!("README line {}: {e}: {shown}", start + 1)))
            }
            false => None,
        };
        found.push(Example { line: start + 1, command, shown });
    }
    found
}

/// The field structure of `value`: objects by their keys, arrays by their first
/// element, scalars by nothing.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        _ => Value::Null,
    }
}

#[test]
fn the_parser_joins_lines_and_reads_the_shown_answer() {
    let readme = "text\n```sh\ncurl -s a \\\n  -d '{\"x\": \"#1\"}'   # a comment\n# {\"k\": [1],\n#  \"j\": 2}\n```\n```python\ncurl no\n```\n";
    let found = examples(readme);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].command, "curl -s a -d '{\"x\": \"#1\"}'");
    assert_eq!(found[0].shown, Some(serde_json::json!({"k": [1], "j": 2})));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_curl_example_in_the_readme_runs_as_written() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let examples = examples(&readme);
    assert!(examples.len() >= 18, "the README's examples were not found: {examples:?}");

    let models = [
        ("sentiment", root.join("models/minilm-l6-sentiment")),
        ("minilm", common::minilm_dir()),
        ("nli", common::tiny_dir("deberta-v2")),
        ("reranker", common::tiny_dir("bert-reranker")),
    ];
    let server = start(config(&models)).await;
    server.wait_health(200).await;
    let address = server.base.trim_start_matches("http://").to_string();

    for example in examples {
        let command = example.command.replace("localhost:8080", &address);
        let output = tokio::task::spawn_blocking(move || {
            Command::new("bash").arg("-c").arg(format!("{command} -w '\\n%{{http_code}}'")).output().unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        let context = format!("README line {}: {}\n{body}", example.line, example.command);
        assert!(output.status.success(), "{context}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(status.starts_with('2'), "status {status}: {context}");
        if let Some(shown) = &example.shown {
            let answer: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {context}"));
            assert_eq!(shape(&answer), shape(shown), "the answer's fields differ from the README's: {context}");
        }
    }
}

/// `make -n ARGS` (prints the commands without running them).
fn make_dry_run(args: &[&str]) -> String {
    let output = Command::new("make").arg("-n").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert!(output.status.success(), "make -n {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_make_targets_the_readme_names_exist_and_take_its_variables() {
    let readme = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for target in ["run", "run-minilm", "install", "test", "bench", "lint"] {
        assert!(readme.contains(&format!("make {target}")), "the README names `make {target}`");
        make_dry_run(&[target]);
    }
    let run = make_dry_run(&["run", "PORT=8081", "HOST=0.0.0.0"]);
    assert!(run.contains("--host 0.0.0.0 --port 8081"), "{run}");
    let install = make_dry_run(&["install"]);
    assert!(install.contains("cargo install --locked --path ."), "sentiserve lands on PATH: {install}");
}
