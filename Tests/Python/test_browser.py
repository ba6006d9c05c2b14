"""The docs page and the playground in a real browser (Debian's chromium, headless), through nginx over HTTPS."""
import os
import pathlib
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

SHOTS = pathlib.Path(__file__).resolve().parents[2] / ".state" / "screenshots"


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--ignore-certificate-errors",
                 "--window-size=1280,900", "--disable-gpu"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=20):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def test_docs_render_offline_and_try_it_out_works(browser, base_url):
    browser.get(base_url + "/docs/")
    title = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    assert "agentfcgi" in title[0].text
    # Every script and style came from this origin: nothing was fetched from elsewhere.
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert resources and all(r.startswith(base_url) for r in resources), resources
    block = wait(browser, lambda d: d.find_elements(By.ID, "operations-meta-health"))[0]
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait(browser, lambda d: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0].click()
    wait(browser, lambda d: block.find_elements(By.CSS_SELECTOR, ".execute"))[0].click()
    status = wait(browser, lambda d: block.find_elements(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"))
    assert status[0].text.strip().startswith("200")
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_description pre").text
    assert '"ok": true' in body
    browser.save_screenshot(str(SHOTS / "docs.png"))


def enter_key(browser, base_url, api_key):
    """The playground keeps the key in localStorage, as a person would type it once."""
    browser.get(base_url + "/playground/")
    browser.execute_script("localStorage.setItem('agentfcgi.key', arguments[0])", api_key)
    browser.refresh()


def test_playground_asks_for_a_key(browser, base_url):
    browser.get(base_url + "/playground/")
    status = wait(browser, lambda d: d.find_element(By.ID, "status").text)
    assert "401" in status and "API key" in status


def test_playground_streams_an_answer_with_a_tool_call(browser, base_url, api_key):
    enter_key(browser, base_url, api_key)
    wait(browser, lambda d: any(o.get_attribute("value") == "assistant" for o in d.find_elements(By.CSS_SELECTOR, "#agent option")))
    Select(browser.find_element(By.ID, "agent")).select_by_value("assistant")
    browser.find_element(By.ID, "new-thread").click()
    browser.find_element(By.ID, "message").send_keys("what is 12*(3+4)?")
    browser.find_element(By.ID, "send").click()
    wait(browser, lambda d: any("84" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".msg.assistant")))
    tools = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".tool")]
    assert any("calculator" in t for t in tools), tools
    usage = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".usage"))
    assert "in," in usage[0].text
    assert browser.find_element(By.ID, "thread-id").text not in ("", "none yet")
    browser.save_screenshot(str(SHOTS / "playground.png"))


def test_playground_resumes_a_stream_after_a_reload(browser, base_url, api_key):
    words = " ".join(f"w{i}" for i in range(60))  # echo-slow streams these over 9 s: time to reload mid-answer
    enter_key(browser, base_url, api_key)
    wait(browser, lambda d: any(o.get_attribute("value") == "echo-slow" for o in d.find_elements(By.CSS_SELECTOR, "#agent option")))
    Select(browser.find_element(By.ID, "agent")).select_by_value("echo-slow")
    browser.find_element(By.ID, "new-thread").click()
    browser.find_element(By.ID, "message").send_keys(words)
    browser.find_element(By.ID, "send").click()
    # Reload mid-stream, once some tokens are on screen and saved.
    wait(browser, lambda d: any(len(e.text) > 20 for e in d.find_elements(By.CSS_SELECTOR, ".msg.assistant")))
    saved = browser.execute_script("return localStorage.getItem('agentfcgi.run')")
    assert saved, "the page keeps its place in the stream"
    browser.refresh()
    answer = "You said: " + words
    wait(browser, lambda d: any(e.text == answer for e in d.find_elements(By.CSS_SELECTOR, ".msg.assistant")))
    # The run's `end` follows its last token: then the page forgets its place in the stream.
    wait(browser, lambda d: d.execute_script("return localStorage.getItem('agentfcgi.run')") is None)
    browser.save_screenshot(str(SHOTS / "playground-resumed.png"))


def test_playground_talks_through_the_openai_responses_api_and_resumes(browser, base_url, api_key):
    words = " ".join(f"v{i}" for i in range(60))
    enter_key(browser, base_url, api_key)
    wait(browser, lambda d: any(o.get_attribute("value") == "echo-slow" for o in d.find_elements(By.CSS_SELECTOR, "#agent option")))
    Select(browser.find_element(By.ID, "agent")).select_by_value("echo-slow")
    Select(browser.find_element(By.ID, "api")).select_by_value("openai")
    browser.find_element(By.ID, "new-thread").click()
    browser.find_element(By.ID, "message").send_keys(words)
    browser.find_element(By.ID, "send").click()
    wait(browser, lambda d: any(len(e.text) > 20 for e in d.find_elements(By.CSS_SELECTOR, ".msg.assistant")))
    saved = browser.execute_script("return localStorage.getItem('agentfcgi.run')")
    assert saved and '"api":"openai"' in saved and '"run":"resp_' in saved
    browser.refresh()
    answer = "You said: " + words
    wait(browser, lambda d: any(e.text == answer for e in d.find_elements(By.CSS_SELECTOR, ".msg.assistant")))
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".usage"))
    wait(browser, lambda d: d.execute_script("return localStorage.getItem('agentfcgi.run')") is None)
    Select(browser.find_element(By.ID, "api")).select_by_value("langgraph")
    browser.save_screenshot(str(SHOTS / "playground-openai.png"))
