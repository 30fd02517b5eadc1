#!/usr/bin/env python3
"""Checks the console's fleet view in headless Chromium (selenium + Debian's chromium-driver) for
FleetTests.consoleShowsTheFleet: one gtmd node in a fleet with one real etcd, on loopback.

Loads the console and waits until the fleet section is shown with this node as a member with its vantage,
the primary's target with this vantage's verdict "up", the quorum and mode in the summary, the store
connected, and a `fleet` event (the store mode) in the timeline. Saves a screenshot; prints "RESULT {json}"
and exits 0. Any failure: a message on stderr and exit 1. Every wait has a deadline; Chromium is kept off
the network (every host name but loopback fails to resolve).
"""
import argparse
import json
import sys
import time

from selenium.webdriver.common.by import By

from headless_chromium import chromium, fail, wait


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--vantage", required=True)
    ap.add_argument("--screenshot", required=True)
    a = ap.parse_args()
    driver = chromium(1400, 1400)
    try:
        run(driver, a)
    finally:
        driver.quit()


def run(driver, a):
    driver.get(a.url)
    css = lambda q: driver.find_elements(By.CSS_SELECTOR, q)
    wait("the fleet section shown", 15, lambda: driver.find_element(By.ID, "fleet").is_displayed())
    member = f'#fleet-members tr[data-member="{a.node}"]'
    wait(f"member {a.node} with vantage {a.vantage}", 15,
         lambda: css(member) and css(member)[0].find_elements(By.TAG_NAME, "td")[1].text == a.vantage)
    target = '#fleet-targets tr[data-fleet-target^="primary/"]'
    wait(f"the primary's target with {a.vantage}'s verdict up", 20,
         lambda: css(target) and f"{a.vantage} up" in css(target)[0].find_elements(By.TAG_NAME, "td")[1].text)
    summary = driver.find_element(By.ID, "fleet-summary").text
    if "quorum" not in summary or "mode fleet" not in summary or f"node {a.node}" not in summary:
        fail(f"the fleet summary lacks the node, quorum or mode: {summary!r}")
    wait("the store shown connected", 10, lambda: driver.find_element(By.ID, "fleet-store").text.startswith("store connected"))
    wait("a fleet event in the timeline", 15, lambda: css('#timeline li[data-kind="fleet"]'))
    driver.save_screenshot(a.screenshot)
    print("RESULT " + json.dumps({
        "summary": summary, "store": driver.find_element(By.ID, "fleet-store").text,
        "target": css(target)[0].text, "event": css('#timeline li[data-kind="fleet"]')[0].text,
    }), flush=True)


if __name__ == "__main__":
    main()
