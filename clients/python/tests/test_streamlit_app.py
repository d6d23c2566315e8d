"""examples/streamlit/app.py in a real browser against a real sentiserve.

Starts ``streamlit run`` on a free port with SENTISERVE_URL set, drives it in headless
Chromium (Debian's /usr/bin/chromium and /usr/bin/chromedriver), and checks the server
through the client. Leaves a screenshot in target/screenshots/streamlit.png.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
import pytest
from conftest import NEGATIVE_TEXT, POSITIVE_TEXT

from sentiserve_client import Client

pytest.importorskip("streamlit")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[3]
APP = REPO / "examples" / "streamlit" / "app.py"
SCREENSHOT = REPO / "target" / "screenshots" / "streamlit.png"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver")
#: Upper bounds for conditions to become true (a slow, shared CPU); never waited out on success.
START_TIMEOUT = 180
UI_TIMEOUT = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def streamlit_url(client_kwargs: Dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = dict(os.environ)
    env.update(
        SENTISERVE_URL=client_kwargs["url"],
        # The client from this checkout, whether or not it is installed.
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "clients" / "python" / "src"), env.get("PYTHONPATH")])),
        PYTHONDONTWRITEBYTECODE="1",
    )
    if client_kwargs["api_key"]:
        env["SENTISERVE_API_KEY"] = client_kwargs["api_key"]
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer within {START_TIMEOUT}s:\n{log_path.read_text()}")
            time.sleep(0.2)  # polling interval only
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1100,1900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def button(driver: Any, label: str) -> Any:
    xpath = f"//button[normalize-space(.)='{label}']"
    return WebDriverWait(driver, UI_TIMEOUT).until(EC.element_to_be_clickable((By.XPATH, xpath)))


def text_of(driver: Any, css: str) -> str:
    try:
        return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))
    except StaleElementReferenceException:  # Streamlit re-rendered it; look again
        return ""


def wait_for_label(driver: Any, label: str) -> None:
    WebDriverWait(driver, UI_TIMEOUT, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: text_of(d, '[data-testid="stMetricValue"]').strip() == label,
        message=f"the label {label} never appeared",
    )


def analyze(driver: Any, text: str) -> None:
    area = WebDriverWait(driver, UI_TIMEOUT).until(EC.element_to_be_clickable((By.TAG_NAME, "textarea")))
    area.send_keys(Keys.CONTROL, "a")  # .clear() does not reach React's state
    area.send_keys(Keys.DELETE)
    area.send_keys(text)
    WebDriverWait(driver, UI_TIMEOUT).until(
        lambda d: d.find_element(By.TAG_NAME, "textarea").get_attribute("value") == text,
        message=f"the text area never held {text!r}",
    )
    button(driver, "Analyze").click()


def test_analyze_clear_cache_and_batch(
    streamlit_url: str, browser: Any, client_kwargs: Dict[str, Any], tmp_path: Path
) -> None:
    try:
        run_scenario(streamlit_url, browser, client_kwargs, tmp_path)
    except BaseException:
        failure = SCREENSHOT.with_name("streamlit-failure.png")
        failure.parent.mkdir(parents=True, exist_ok=True)
        try:
            browser.save_screenshot(str(failure))
            print(f"page at failure ({failure}):\n{browser.find_element(By.TAG_NAME, 'body').text}")
        except WebDriverException:
            pass
        raise


def run_scenario(streamlit_url: str, browser: Any, client_kwargs: Dict[str, Any], tmp_path: Path) -> None:
    with Client(**client_kwargs) as client:
        try:
            browser.get(streamlit_url)
        except WebDriverException as error:  # pragma: no cover - environment problem
            pytest.fail(f"the browser could not open {streamlit_url}: {error}")

        # The model picker lists the server's models, the default first chosen.
        models = client.models()
        WebDriverWait(browser, START_TIMEOUT, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: [e.get_attribute("value") for e in d.find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"] input')]
            == [models.default],
            message="the model picker never showed the default model",
        )

        # Typed text reaches the server: a negative one, then the positive one.
        analyze(browser, NEGATIVE_TEXT)
        wait_for_label(browser, "NEGATIVE")
        analyze(browser, POSITIVE_TEXT)
        wait_for_label(browser, "POSITIVE")
        body = browser.find_element(By.TAG_NAME, "body").text
        assert re.search(r"POSITIVE 0\.\d{3}", body) and re.search(r"NEGATIVE 0\.\d{3}", body)  # a bar per label
        assert "cache" in body.lower()  # whether it was cached
        assert client.cache_stats().memory_entries >= 1

        # Clear cache empties the server's cache.
        button(browser, "Clear cache").click()
        WebDriverWait(browser, UI_TIMEOUT, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: "Cache cleared" in text_of(d, '[data-testid="stAlertContainer"]'),
            message="no confirmation after Clear cache",
        )
        assert client.cache_stats().memory_entries == 0
        wait_for_label(browser, "POSITIVE")  # the last result stays on the page

        # A CSV batch gives a table and a chart of label counts.
        csv = tmp_path / "reviews.csv"
        csv.write_text(
            "text,stars\n"
            f'"{POSITIVE_TEXT}",5\n'
            f'"{NEGATIVE_TEXT}",1\n'
            '"Absolutely wonderful, I would buy it again.",5\n'
            '"Terrible. It broke after one day.",1\n'
            '"The best film I have seen this year.",5\n'
        )
        browser.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(csv))
        WebDriverWait(browser, UI_TIMEOUT, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')
            and d.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg')
            and "Label counts" in d.find_element(By.TAG_NAME, "body").text,
            message="the batch table and chart never appeared",
        )
        # The batch went through the server: its five texts are now cached.
        assert client.cache_stats().memory_entries >= 5

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000
