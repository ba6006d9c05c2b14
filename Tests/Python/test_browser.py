"""The docs page and the playground in a real browser (Debian's chromium, headless), through nginx over HTTPS.

Both pages run under nginx's Content-Security-Policy (scripts, styles and calls of this origin only): every test ends
by checking that chromium reported no violation of it. Neither page writes an API key to localStorage.
"""
import os
import pathlib
import ssl
import time
import urllib.request

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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, where CSP violations are reported
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=20):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Redoc writes its styles into <style> elements (styled-components) and searches in a blob: worker: its page alone
# allows both.
REDOC_CSP = CSP.replace("style-src 'self';", "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:;")


def no_csp_violations(browser, expected=()):
    """What the console said since the last call: chromium reports each blocked script, style, image or call there.
    `expected`: URLs a page tries to load that the policy is there to block."""
    refused = [entry["message"] for entry in browser.get_log("browser")
               if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]]
    assert not [message for message in refused if not any(url in message for url in expected)], refused


def stored_keys(browser) -> list:
    """Entries of this origin's localStorage that hold an API key."""
    return browser.execute_script(
        "return Object.keys(localStorage).filter(k => (k + localStorage.getItem(k)).includes('afk_'))")


def test_the_pages_are_sent_with_a_content_security_policy(base_url):
    context = ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])
    for path in ("/docs/", "/docs/redoc.html", "/docs/init.js", "/playground/", "/playground/app.js"):
        with urllib.request.urlopen(base_url + path, context=context) as response:
            policy = REDOC_CSP if path.endswith("redoc.html") else CSP
            assert response.headers.get_all("Content-Security-Policy") == [policy], path
            # The server's other headers are still there: the policy is added beside them, not instead.
            assert response.headers["X-Frame-Options"] == "DENY" and response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Strict-Transport-Security"] and response.headers["X-Request-Id"], path
    # The API's answers are not pages: no policy there.
    with urllib.request.urlopen(base_url + "/ok", context=context) as response:
        assert response.headers["Content-Security-Policy"] is None


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
    no_csp_violations(browser)


def test_docs_authorize_keeps_the_key_out_of_local_storage(browser, base_url, api_key):
    browser.get(base_url + "/docs/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    browser.find_element(By.CSS_SELECTOR, ".swagger-ui .auth-wrapper .authorize").click()
    scheme = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".modal-ux .auth-container"))[0]  # X-Api-Key
    scheme.find_element(By.CSS_SELECTOR, "input").send_keys(api_key)
    scheme.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .authorize").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper .btn-done"))[0].click()
    # The key works: an operation that needs one answers 200 in "Try it out".
    block = wait(browser, lambda d: d.find_elements(By.ID, "operations-agents-search_agents"))[0]
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait(browser, lambda d: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0].click()
    wait(browser, lambda d: block.find_elements(By.CSS_SELECTOR, ".execute"))[0].click()
    status = wait(browser, lambda d: block.find_elements(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"))
    assert status[0].text.strip().startswith("200"), status[0].text
    assert not stored_keys(browser)
    browser.refresh()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    assert not stored_keys(browser), "a reload finds no key"
    no_csp_violations(browser)


def test_redoc_renders_and_searches_under_the_policy(browser, base_url):
    browser.get(base_url + "/docs/redoc.html")
    title = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".api-info h1"))
    assert "agentfcgi" in title[0].text
    browser.find_element(By.CSS_SELECTOR, "input[role=search], input.search-input").send_keys("agents")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-role='search:results'] li, .search-results li"))
    # Redoc shows Redocly's logo from cdn.redoc.ly: the policy keeps the page from fetching it (from telling Redocly
    # who reads these docs), and Redoc hides the image it could not load.
    no_csp_violations(browser, expected=["https://cdn.redoc.ly/"])


def enter_key(browser, base_url, api_key):
    """Types the key as a person does; the playground keeps it in the tab (sessionStorage), never in localStorage."""
    browser.get(base_url + "/playground/")
    field = browser.find_element(By.ID, "api-key")
    field.send_keys(api_key)
    browser.find_element(By.ID, "message").click()  # leaving the field is its change event
    wait(browser, lambda d: d.execute_script("return sessionStorage.getItem('agentfcgi.key')") == api_key)
    assert not stored_keys(browser)


def test_playground_asks_for_a_key(browser, base_url):
    browser.get(base_url + "/playground/")
    status = wait(browser, lambda d: d.find_element(By.ID, "status").text)
    assert "401" in status and "API key" in status
    no_csp_violations(browser)


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
    assert not stored_keys(browser)
    no_csp_violations(browser)


def test_playground_moves_a_key_an_earlier_version_stored_off_local_storage(browser, base_url, api_key):
    browser.get(base_url + "/playground/")
    browser.execute_script("sessionStorage.clear(); localStorage.setItem('agentfcgi.key', arguments[0])", api_key)
    browser.refresh()
    wait(browser, lambda d: any(o.get_attribute("value") == "echo" for o in d.find_elements(By.CSS_SELECTOR, "#agent option")))
    assert not stored_keys(browser)
    assert browser.find_element(By.ID, "api-key").get_attribute("value") == api_key
    no_csp_violations(browser)


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
    assert not stored_keys(browser)
    no_csp_violations(browser)


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
    assert not stored_keys(browser)
    no_csp_violations(browser)


def test_playground_shows_a_pending_approval_and_its_edit_runs(browser, base_url, api_key):
    enter_key(browser, base_url, api_key)
    wait(browser, lambda d: any(o.get_attribute("value") == "careful" for o in d.find_elements(By.CSS_SELECTOR, "#agent option")))
    Select(browser.find_element(By.ID, "agent")).select_by_value("careful")
    browser.find_element(By.ID, "new-thread").click()
    browser.find_element(By.ID, "message").send_keys("what is 12*(3+4)?")
    browser.find_element(By.ID, "send").click()
    args = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".approval .approval-args"))
    assert '"12*(3+4)"' in args[0].get_attribute("value")
    assert [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".approval button")] == ["Approve", "Edit", "Reject"]
    browser.save_screenshot(str(SHOTS / "playground-approval.png"))
    args[0].clear()
    args[0].send_keys('{"expression": "6*7"}')
    browser.find_element(By.CSS_SELECTOR, ".approval .approval-edit").click()
    wait(browser, lambda d: any("42" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".msg.assistant")))
    assert not browser.find_elements(By.CSS_SELECTOR, ".approval")
    # A reload shows the thread as it is: answered, nothing waits.
    browser.refresh()
    wait(browser, lambda d: any("42" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".msg.assistant")))
    assert not browser.find_elements(By.CSS_SELECTOR, ".approval")
    no_csp_violations(browser)
