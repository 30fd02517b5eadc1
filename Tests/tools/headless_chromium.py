"""What the console's browser checks share (console_browser.py, console_fleet.py): headless Chromium from Debian
(selenium + chromium-driver) kept off the network, and a bounded wait. Imported from the scripts' own folder."""
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


def fail(msg):
    print(msg, file=sys.stderr, flush=True)
    sys.exit(1)


def wait(what, timeout, cond, interval=0.05):
    """Polls cond() until it returns something truthy (returned) or the deadline passes (fail)."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:  # the page is still rendering, or re-rendered under us: try again
            last = e
        time.sleep(interval)
    fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def chromium(width=1400, height=1100):
    """Headless Chromium with no background traffic; every host name but loopback fails to resolve."""
    opts = Options()
    for flag in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-domain-reliability", "--disable-extensions", "--metrics-recording-only",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]:
        opts.add_argument(flag)
    opts.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_page_load_timeout(20)
    return driver
