#!/usr/bin/env python3
"""Drives the `caption serve` web page in headless Chromium (issue 7); a developer tool, never run by
tests or CI. Uploads a photo through the page's file input, waits for the caption, and saves a
screenshot. Needs Debian's chromium and chromium-driver and selenium from PyPI (in a venv).

    python -m venv /tmp/selenium-venv && /tmp/selenium-venv/bin/pip install selenium
    /tmp/selenium-venv/bin/python tools/serve/webpage_check.py --url http://127.0.0.1:8080/ --image photo.png --out shot.png
"""
import argparse, os, sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--image", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--word", type=int, default=None, help="hover this word's button before the screenshot")
args = parser.parse_args()

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,760"]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(args.url)
    driver.find_element(By.ID, "file").send_keys(os.path.abspath(args.image))
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "caption").get_attribute("data-done") == "1"
                                    or d.find_element(By.ID, "error").text)
    error = driver.find_element(By.ID, "error").text
    caption = driver.find_element(By.ID, "caption").text
    words = driver.find_elements(By.CSS_SELECTOR, "#words button")
    if args.word is not None and args.word < len(words):
        words[args.word].click()
    alternatives = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#alternatives li")]
    driver.save_screenshot(args.out)
    print(f"caption: {caption!r}\nerror: {error!r}\nword buttons: {[w.text for w in words]}\nalternatives: {alternatives}\n"
          f"timing: {driver.find_element(By.ID, 'timing').text}\nscreenshot: {args.out}")
    sys.exit(1 if error or not caption else 0)
finally:
    driver.quit()
