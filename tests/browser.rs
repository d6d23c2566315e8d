//! Drives the web page in headless Chromium (through chromedriver, WebDriver): real
//! clicks on Analyze and Clear cache, asserting what the page shows and that the server
//! saw it. A screenshot is left in target/screenshots/ for people to look at.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{config, start};
use fantoccini::{Client, ClientBuilder, Locator};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser() -> (Client, Driver, tempfile::TempDir) {
    let port = common::procs::free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is required (scripts/test-deps.sh installs chromium-driver)");
    let driver = Driver(driver);
    let profile = tempfile::tempdir().unwrap();
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1200,1500",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    });
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(capabilities.as_object().unwrap().clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(client) => return (client, driver, profile),
            Err(e) if Instant::now() > deadline => panic!("cannot start a chromium session: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Waits until the element's text contains `want` (15 s at most).
async fn wait_contains(client: &Client, css: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if got.contains(want) {
            return;
        }
        assert!(Instant::now() < deadline, "{css}: shows {got:?}, expected it to contain {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `key` into the key field `css` and leaves it (its `change` event fires).
async fn set_key(client: &Client, css: &str, key: &str) {
    client.find(Locator::Css(css)).await.unwrap().send_keys(key).await.unwrap();
    click(client, "#text").await;
}

/// Waits until the element's text equals `want` (15 s at most).
async fn wait_text(client: &Client, css: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if got.trim() == want {
            return;
        }
        assert!(Instant::now() < deadline, "{css}: shows {got:?}, expected {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &Client, css: &str) {
    client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn analyze_and_clear_cache_work_in_a_real_browser() {
    let server = start(config(&[("minilm", common::minilm_dir())])).await;
    server.wait_health(200).await;
    let (client, _driver, _profile) = browser().await;
    client.goto(&server.url("/")).await.unwrap();
    client.wait().for_element(Locator::Css("#model-select option[value='minilm']")).await.unwrap();
    wait_text(&client, "#model-state", "loaded").await;

    // Analyze: label, score bars for every label, computed then cached.
    let text = client.find(Locator::Css("#text")).await.unwrap();
    text.send_keys("I love this movie!").await.unwrap();
    click(&client, "#analyze").await;
    wait_text(&client, "#result-label", "POSITIVE").await;
    wait_text(&client, "#result-cached", "computed").await;
    let bars = client.find_all(Locator::Css("#score-bars .score-bar")).await.unwrap();
    assert_eq!(bars.len(), 2, "one score bar per label");
    assert_eq!(bars[0].attr("data-label").await.unwrap().as_deref(), Some("POSITIVE"));
    // Two memory entries a text: its own key and its token ids' key.
    wait_text(&client, "#cache-entries", "2").await;
    click(&client, "#analyze").await;
    wait_text(&client, "#result-cached", "cached").await;

    // Batch mode: one row per line, in order.
    click(&client, "#batch-mode").await;
    text.clear().await.unwrap();
    text.send_keys("Great phone, works perfectly.\nWorst service I have ever had.").await.unwrap();
    click(&client, "#analyze").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let rows = loop {
        let rows = client.find_all(Locator::Css("#batch-table tr.batch-row")).await.unwrap();
        if rows.len() == 2 || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows.len(), 2);
    assert!(rows[0].text().await.unwrap().contains("POSITIVE"));
    assert!(rows[1].text().await.unwrap().contains("NEGATIVE"));
    wait_text(&client, "#cache-entries", "6").await;

    let screenshot = client.screenshot().await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ui.png"), screenshot).unwrap();

    // Clear cache: the page and the server agree it is empty.
    click(&client, "#clear-cache").await;
    wait_text(&client, "#cache-entries", "0").await;
    let (_, stats) = server.get("/cache").await;
    assert_eq!(stats["entries"], 0);

    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_both_keys_the_page_clears_with_the_admin_key() {
    let mut config = config(&[("minilm", common::minilm_dir())]);
    config.http.api_key = Some("page-api-key".into());
    config.http.admin_key = Some("page-admin-key".into());
    let server = start(config).await;
    server.wait_health(200).await;
    let (client, _driver, _profile) = browser().await;
    client.goto(&server.url("/")).await.unwrap();
    // No key yet: the page opens its settings; with the API key it reads and analyzes.
    wait_contains(&client, "#error", "no key sent").await;
    set_key(&client, "#api-key", "page-api-key").await;
    client.wait().for_element(Locator::Css("#model-select option[value='minilm']")).await.unwrap();
    let text = client.find(Locator::Css("#text")).await.unwrap();
    text.send_keys("I love this movie!").await.unwrap();
    click(&client, "#analyze").await;
    wait_text(&client, "#result-label", "POSITIVE").await;
    wait_text(&client, "#cache-entries", "2").await;

    // Clearing with only the API key is refused, and the page says why.
    click(&client, "#clear-cache").await;
    wait_contains(&client, "#error", "needs the admin key").await;
    assert_eq!(server.client.get(server.url("/cache")).bearer_auth("page-api-key").send().await.unwrap().status(), 200);

    // With the admin key set beside it, Clear cache works and analysis still uses the API key.
    set_key(&client, "#admin-key", "page-admin-key").await;
    click(&client, "#clear-cache").await;
    wait_text(&client, "#cache-entries", "0").await;
    let stats: serde_json::Value =
        server.client.get(server.url("/cache")).bearer_auth("page-api-key").send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["entries"], 0);
    client.close().await.unwrap();
}
