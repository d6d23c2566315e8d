//! `sentiserve analyze --input FILE` as a user runs it: a real CSV (quoted fields, a
//! review over two lines, bad rows of every kind) labelled in order with transformers'
//! answers; JSON Lines and plain text; text pairs from two columns; zero-shot and
//! rerank; a re-run and an overlapping file answered from the disk tier; Ctrl-C
//! mid-file, then a re-run that computes only what was left.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The real MiniLM's references: text and label, from transformers.
fn references() -> Vec<(String, String)> {
    let path = common::shared().join("fixtures/minilm-l6-sentiment.reference.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|r| !r["text"].as_str().unwrap().trim().is_empty())
        .map(|r| (r["text"].as_str().unwrap().to_string(), r["label"].as_str().unwrap().to_string()))
        .collect()
}

/// `sentiserve analyze` with the model in `dir` and `args`.
fn sentiserve(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sentiserve"));
    command.arg("analyze").arg("--model").arg(format!("m={}", dir.display())).args(args).arg("--no-progress");
    command
}

fn run(mut command: impl std::borrow::BorrowMut<Command>) -> (Output, String) {
    let output = command.borrow_mut().output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

/// `(rows, answered, from the cache, bad)` from the summary line.
fn summary(stderr: &str) -> (u64, u64, u64, u64) {
    let line = stderr.lines().find(|l| l.contains(" rows in ")).unwrap_or_else(|| panic!("no summary: {stderr}"));
    let number = |after: &str| -> u64 {
        let (head, _) = line.split_once(after).unwrap_or_else(|| panic!("{after:?} in {line}"));
        head.rsplit(|c: char| !c.is_ascii_digit()).find(|s| !s.is_empty()).unwrap().parse().unwrap()
    };
    (number(" rows in "), number(" answered"), number(" from the cache"), number(" bad"))
}

fn csv_field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[test]
fn a_csv_with_bad_rows_is_labelled_in_order_and_every_bad_row_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let refs = references();
    let input = dir.path().join("reviews.csv");
    let mut file = std::fs::File::create(&input).unwrap();
    writeln!(file, "id,text,stars").unwrap();
    writeln!(file, "1,{},5", csv_field(&refs[0].0)).unwrap(); // line 2
    writeln!(file, "2,,3").unwrap(); // line 3: empty text
    writeln!(file, "3,\"{}\nsecond line\",4", refs[1].0).unwrap(); // lines 4-5
    writeln!(file, "4,only two").unwrap(); // line 6: a field missing
    file.write_all(b"5,\xff\xfe not UTF-8,1\n").unwrap(); // line 7
    writeln!(file, "6,{},2", csv_field(&refs[2].0)).unwrap(); // line 8
    drop(file);

    let output_path = dir.path().join("labelled.csv");
    let cache = dir.path().join("cache");
    let args = ["--input", input.to_str().unwrap(), "--output", output_path.to_str().unwrap()];
    let (output, stderr) = run(sentiserve(&common::minilm_dir(), &args).args(["--cache-dir", cache.to_str().unwrap()]));
    assert!(output.status.success(), "{stderr}");
    for line in ["line 3: empty text", "line 6: 2 fields where the header has 3", "line 7: invalid UTF-8"] {
        assert!(stderr.contains(line), "{line:?} reported: {stderr}");
    }
    assert_eq!(summary(&stderr), (6, 3, 0, 3), "{stderr}");

    let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(&output_path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, ["id", "text", "stars", "label", "score", "error"]);
    let rows: Vec<csv::ByteRecord> = reader.byte_records().map(Result::unwrap).collect();
    let field = |row: &csv::ByteRecord, i: usize| String::from_utf8_lossy(&row[i]).into_owned();
    let ids: Vec<String> = rows.iter().map(|r| field(r, 0)).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6"], "every row, in order, bad ones kept");
    assert_eq!(field(&rows[0], 3), refs[0].1, "transformers' label");
    assert_eq!(field(&rows[5], 3), refs[2].1);
    assert!(field(&rows[2], 1).ends_with("second line"), "a quoted field over two lines stays one row");
    assert!(!field(&rows[2], 3).is_empty());
    assert_eq!(field(&rows[1], 5), "line 3: empty text");
    assert!(field(&rows[0], 5).is_empty(), "no error on a good row");

    // Skipped instead: the good rows only, every bad one still reported; all from the
    // disk tier this time.
    let skipped = dir.path().join("skipped.jsonl");
    let args = ["--input", input.to_str().unwrap(), "--output", skipped.to_str().unwrap(), "--bad-rows", "skip"];
    let (output, stderr) = run(sentiserve(&common::minilm_dir(), &args).args(["--cache-dir", cache.to_str().unwrap()]));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(summary(&stderr), (6, 3, 3, 3), "a re-run computes nothing: {stderr}");
    let lines: Vec<Value> =
        std::fs::read_to_string(&skipped).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["label"], refs[0].1.as_str());
    assert_eq!(lines[0]["scores"].as_array().unwrap().len(), 2, "JSON Lines out: every label");
}

#[test]
fn a_missing_column_stops_with_the_columns_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("reviews.csv");
    std::fs::write(&input, "id,review\n1,great\n").unwrap();
    let (output, stderr) =
        run(sentiserve(&common::minilm_dir(), &["--input", input.to_str().unwrap(), "--no-disk-cache"]));
    assert!(!output.status.success());
    assert!(stderr.contains("has no column `text`; its columns: id, review"), "{stderr}");
    let (output, stderr) = run(sentiserve(
        &common::minilm_dir(),
        &["--input", input.to_str().unwrap(), "--column", "review", "--no-disk-cache"],
    ));
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("great,POSITIVE"), "CSV to stdout");
}

#[test]
fn text_and_json_lines_inputs_pairs_zero_shot_and_rerank() {
    let dir = tempfile::tempdir().unwrap();
    let refs = references();
    // Plain text, one input a line, an empty line kept as a bad row.
    let txt = dir.path().join("reviews.txt");
    std::fs::write(&txt, format!("{}\n\n{}\n", refs[0].0, refs[1].0)).unwrap();
    let (output, stderr) =
        run(sentiserve(&common::minilm_dir(), &["--input", txt.to_str().unwrap(), "--no-disk-cache"]));
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "JSON Lines out, one per input line");
    assert_eq!(
        (lines[0]["text"].as_str(), lines[0]["label"].as_str()),
        (Some(refs[0].0.as_str()), Some(refs[0].1.as_str()))
    );
    assert_eq!((lines[1]["line"].as_u64(), lines[1]["error"].as_str()), (Some(2), Some("empty text")));

    // Pairs from two JSON Lines keys, against transformers' pair logits.
    let bert = common::tiny_dir("bert");
    let pairs = common::pair_references(&bert.join("pairs.jsonl"));
    let jsonl = dir.path().join("pairs.jsonl");
    let body: String = pairs
        .iter()
        .map(|p| format!("{}\n", serde_json::json!({ "premise": p.text, "hypothesis": p.text_pair })))
        .collect();
    std::fs::write(&jsonl, body).unwrap();
    let args =
        ["--input", jsonl.to_str().unwrap(), "--column", "premise", "--pair-column", "hypothesis", "--no-disk-cache"];
    let (output, stderr) = run(sentiserve(&bert, &args));
    assert!(output.status.success(), "{stderr}");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(bert.join("config.json")).unwrap()).unwrap();
    for (line, pair) in String::from_utf8(output.stdout).unwrap().lines().zip(&pairs) {
        let got: Value = serde_json::from_str(line).unwrap();
        let best = pair.logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(got["label"], config["id2label"][best.to_string()], "{got}");
        assert_eq!(got["premise"], pair.text.as_str(), "the input object is kept");
    }

    // Zero-shot over a CSV, against the pipeline's outputs.
    let cases: Vec<Value> = std::fs::read_to_string(common::shared().join("fixtures/tasks/zero-shot.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|c: &Value| c["multi_label"] == false && c["hypothesis_template"] == "This example is {}.")
        .collect();
    let labels: Vec<&str> =
        cases[0]["candidate_labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let same: Vec<&Value> = cases.iter().filter(|c| c["candidate_labels"] == cases[0]["candidate_labels"]).collect();
    let csv_path = dir.path().join("topics.csv");
    let body: String = std::iter::once("text\n".to_string())
        .chain(same.iter().map(|c| format!("{}\n", csv_field(c["sequence"].as_str().unwrap()))))
        .collect();
    std::fs::write(&csv_path, body).unwrap();
    let labels_arg = labels.join(",");
    let args = [
        "--input",
        csv_path.to_str().unwrap(),
        "--candidate-labels",
        &labels_arg,
        "--output-format",
        "jsonl",
        "--no-disk-cache",
    ];
    let (output, stderr) = run(sentiserve(&common::tiny_dir("deberta-v2"), &args));
    assert!(output.status.success(), "{stderr}");
    for (line, case) in String::from_utf8(output.stdout).unwrap().lines().zip(&same) {
        let got: Value = serde_json::from_str(line).unwrap();
        assert_eq!(got["labels"], case["labels"], "{got}");
        let (score, want) = (got["scores"][0].as_f64().unwrap(), case["scores"][0].as_f64().unwrap());
        assert!((score - want).abs() < 1e-4, "{got} vs {case}");
    }

    // Rerank: each row's relevance to one query; a classifier is refused up front.
    let docs = dir.path().join("docs.txt");
    std::fs::write(&docs, "Deep learning trains neural networks.\nCheese is made from milk.\n").unwrap();
    let args = ["--input", docs.to_str().unwrap(), "--query", "What is deep learning?", "--no-disk-cache"];
    let (output, stderr) = run(sentiserve(&common::tiny_dir("bert-reranker"), &args));
    assert!(output.status.success(), "{stderr}");
    let scores: Vec<f64> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["score"].as_f64().unwrap())
        .collect();
    assert_eq!(scores.len(), 2);
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "sigmoid scores: {scores:?}");
    let (output, stderr) = run(sentiserve(&common::minilm_dir(), &args));
    assert!(!output.status.success());
    assert!(stderr.contains("needs a cross-encoder with one label"), "{stderr}");
}

/// Lines of `path` (0 while it does not exist).
fn line_count(path: &PathBuf) -> usize {
    std::fs::read_to_string(path).map(|s| s.lines().count()).unwrap_or(0)
}

#[test]
fn ctrl_c_mid_file_then_a_rerun_computes_only_what_was_left() {
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = common::labelled("imdb.jsonl")
        .into_iter()
        .chain(common::labelled("amazon.jsonl"))
        .map(|l| l.text.replace(['\n', '\r'], " "))
        .filter(|t| !t.trim().is_empty())
        .collect();
    let input = dir.path().join("reviews.txt");
    std::fs::write(&input, texts.iter().map(|t| format!("{t}\n")).collect::<String>()).unwrap();
    let output_path = dir.path().join("labelled.jsonl");
    let cache = dir.path().join("cache");
    let args = ["--input", input.to_str().unwrap(), "--output", output_path.to_str().unwrap()];
    let mut child = sentiserve(&common::minilm_dir(), &args)
        .args(["--cache-dir", cache.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first chunks are written (a condition, not a sleep).
    let started = std::time::Instant::now();
    while line_count(&output_path) < 128 {
        assert!(started.elapsed().as_secs() < 300, "no output");
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be interrupted");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let (rows, answered, _, _) = summary(&stderr);
    assert!(rows < texts.len() as u64, "stopped before the end: {stderr}");
    assert_eq!(line_count(&output_path) as u64, rows, "the output holds the rows it reports");

    let (output, stderr) = run(sentiserve(&common::minilm_dir(), &args).args(["--cache-dir", cache.to_str().unwrap()]));
    assert!(output.status.success(), "{stderr}");
    let (rows, all, cached, _) = summary(&stderr);
    assert_eq!((rows, all), (texts.len() as u64, texts.len() as u64), "{stderr}");
    assert!(cached >= answered, "every row answered before Ctrl-C comes from the cache: {stderr}");
    assert_eq!(line_count(&output_path), texts.len());
}

/// The README's file example, as written there (with the shared model's path).
#[test]
fn the_readme_file_example_labels_examples_reviews_csv() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("--input examples/reviews.csv --column text --output labelled.csv"), "the README names it");
    let output_path = dir.path().join("labelled.csv");
    let (output, stderr) = run(sentiserve(&common::minilm_dir(), &["--input", "examples/reviews.csv"])
        .args(["--column", "text", "--output", output_path.to_str().unwrap()])
        .env("XDG_CACHE_HOME", dir.path().join("xdg"))
        .current_dir(root));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(summary(&stderr), (9, 8, 0, 1), "{stderr}");
    assert!(stderr.contains("line 6: empty text"), "{stderr}");
    assert!(dir.path().join("xdg/sentiserve/predictions").is_dir(), "the default disk tier under XDG_CACHE_HOME");
    let labelled = std::fs::read_to_string(&output_path).unwrap();
    assert!(labelled.starts_with("id,text,label,score,error\n1,So there is no way"), "{labelled}");
    assert!(labelled.contains("\"Good case, Excellent value.\",POSITIVE,"), "{labelled}");
}
