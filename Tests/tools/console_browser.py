#!/usr/bin/env python3
"""Drives the gtmd console in headless Chromium (selenium + Debian's chromium-driver) for ConsoleBrowserTests.

Steps, talking to the Swift test over stdin/stdout (one line each way):
  1. load the console; wait until the service row shows the primary pool and the timeline has the start event;
     check the page loaded nothing from anywhere but the control listener, and that it is read-only without
     the token; print "LOADED {json}" (page weight: bytes and requests);
  2. wait for "killed" on stdin (the test has killed the primary's backend);
  3. poll the page and dig (alternately, every ~50 ms) until the timeline shows the switch and the service row
     the standby; save the screenshot; then set and clear an override with the token through the page;
     print "RESULT {json}" and exit 0. Any failure: a message on stderr and exit 1.
Every wait has a deadline. Chromium is kept off the network: every host name but loopback fails to resolve.
"""
import argparse
import json
import subprocess
import sys
import time

from selenium.webdriver.common.by import By

from headless_chromium import chromium, fail, wait


def dig_answer(port, name):
    out = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), name, "A", "+short", "+time=1", "+tries=1"],
        capture_output=True, text=True, timeout=5,
    )
    return out.stdout.split()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--dns-port", type=int, required=True)
    ap.add_argument("--service", default="www.lab.example.")
    ap.add_argument("--standby", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--screenshot", required=True)
    a = ap.parse_args()

    driver = chromium(1400, 1100)
    try:
        run(driver, a)
    finally:
        driver.quit()


def run(driver, a):
    started = time.monotonic()
    driver.get(a.url)
    row = f'#services tr[data-service="{a.service}"]'
    wait("the service row with the primary pool", 15,
         lambda: driver.find_element(By.CSS_SELECTOR, row).get_attribute("data-pool") == "primary")
    wait("the start event in the timeline", 10,
         lambda: driver.find_elements(By.CSS_SELECTOR, '#timeline li[data-kind="server"]'))
    wait("the live event stream", 10, lambda: driver.find_element(By.ID, "live").text == "events: live")
    loaded_s = time.monotonic() - started
    # Page weight: the document and what it loaded (the event stream and /status polls are data, not weight).
    entries = driver.execute_script(
        "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".map(e => ({name: e.name, bytes: e.encodedBodySize || 0, transfer: e.transferSize || 0}))")
    outside = [e["name"] for e in entries if not e["name"].startswith(a.url.rstrip("/"))]
    if outside:
        fail(f"the console loaded from elsewhere: {outside}")
    assets = [e for e in entries if not ("/status" in e["name"] or "/v1/" in e["name"])]
    if driver.find_element(By.ID, "fleet").is_displayed():
        fail("the fleet view is shown although no fleet is configured")
    # Read-only without the token.
    if not driver.find_element(By.CSS_SELECTOR, "#override-form fieldset").get_property("disabled") or \
            driver.find_element(By.ID, "o-set").is_enabled():
        fail("the override form is enabled without a token")
    print("LOADED " + json.dumps({
        "requests": len(assets), "bytes": sum(e["bytes"] for e in assets),
        "files": [e["name"].replace(a.url.rstrip("/"), "") or "/" for e in assets], "load_s": round(loaded_s, 3),
    }), flush=True)

    if sys.stdin.readline().strip() != "killed":
        fail("expected 'killed' from the test")
    killed = time.monotonic()
    dns_at = page_at = None
    end = killed + 30
    while time.monotonic() < end and (dns_at is None or page_at is None):
        if dns_at is None and dig_answer(a.dns_port, a.service) == [a.standby]:
            dns_at = time.monotonic()
        if page_at is None:
            try:
                shows = driver.find_element(By.CSS_SELECTOR, row).get_attribute("data-pool") == "standby" and any(
                    "primary \u2192 standby" in li.text and f" {a.service} " in li.text
                    for li in driver.find_elements(By.CSS_SELECTOR, '#timeline li[data-kind="switch"]'))
            except Exception:
                shows = False
            if shows:
                page_at = time.monotonic()
        time.sleep(0.05)
    if dns_at is None or page_at is None:
        fail(f"after 30 s: dns switched {dns_at is not None}, page shows the switch {page_at is not None}")
    def switch_and_ttl():
        # Read in one go, again if the page re-renders under us (a stale element): the text, not the element.
        timing = next(li.text for li in driver.find_elements(By.CSS_SELECTOR, '#timeline li[data-kind="switch"]')
                      if "primary \u2192 standby" in li.text and f" {a.service} " in li.text)
        return timing, driver.find_element(By.CSS_SELECTOR, row + " td.ttl").text
    timing, ttl = wait("the switch's timeline entry and the service's TTL", 5, switch_and_ttl)
    if "caches may hold the old answer (TTL 30 s)" not in timing or "after the first failed probe" not in timing:
        fail(f"the switch in the timeline lacks its detection time or cache window: {timing!r}")
    driver.save_screenshot(a.screenshot)

    # With the token: a wrong one is refused; the right one sets an override, which counts down, then clears it.
    driver.find_element(By.ID, "token").send_keys("wrong-token")
    driver.find_element(By.ID, "token-use").click()
    set_override(driver, "pool", "standby", "up", "10m")
    wait("the 401 for a wrong token", 10,
         lambda: "401" in driver.find_element(By.ID, "override-result").text)
    driver.find_element(By.ID, "token-forget").click()
    driver.find_element(By.ID, "token").send_keys(a.token)
    driver.find_element(By.ID, "token-use").click()
    set_override(driver, "pool", "standby", "up", "10m")
    wait("the override set", 10, lambda: "set: pool standby up" in driver.find_element(By.ID, "override-result").text)
    sel = '#overrides tr[data-override="pool:standby"] td.countdown'
    wait("the override's countdown", 10, lambda: driver.find_element(By.CSS_SELECTOR, sel).text.startswith("in 9m"))
    wait("the override in the timeline", 10, lambda: any(
        "override set standby" in li.text for li in driver.find_elements(By.CSS_SELECTOR, "#timeline li")))
    driver.find_element(By.CSS_SELECTOR, '#overrides tr[data-override="pool:standby"] button.clear').click()
    wait("the override cleared", 10, lambda: "cleared 1" in driver.find_element(By.ID, "override-result").text)
    wait("no overrides left", 10, lambda: "no overrides" in driver.find_element(By.ID, "overrides").text)

    print("RESULT " + json.dumps({
        "dns_switch_after_kill_s": round(dns_at - killed, 3),
        "page_shows_switch_after_kill_s": round(page_at - killed, 3),
        "page_after_dns_s": round(page_at - dns_at, 3),
        "service_ttl": ttl, "timeline_entry": timing,
    }), flush=True)


def set_override(driver, scope, target, action, duration):
    from selenium.webdriver.support.ui import Select
    Select(driver.find_element(By.ID, "o-scope")).select_by_visible_text(scope)
    t = driver.find_element(By.ID, "o-target")
    t.clear()
    t.send_keys(target)
    Select(driver.find_element(By.ID, "o-action")).select_by_visible_text(action)
    f = driver.find_element(By.ID, "o-for")
    f.clear()
    f.send_keys(duration)
    driver.find_element(By.ID, "o-set").click()


if __name__ == "__main__":
    main()
