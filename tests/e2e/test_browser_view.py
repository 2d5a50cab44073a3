"""The endpoint's read-only browser view at /_smemu/ui/, in a real headless chromium: the jobs
list picks up a job and its interruptions while it runs, the job page tells its attempts and
interruptions as DescribeTrainingJob and the report do, each log stream has its page, every
checkpoint version downloads byte for byte, and nothing logs a console error or leaves loopback.
A screenshot of each page is kept as a test artifact."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.browser import chromium_page
from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job

pytestmark = pytest.mark.docker


def wait_until(check: Any, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"the page never showed {what}"
        time.sleep(0.3)


def test_the_browser_view_follows_a_spot_job_with_two_interruptions(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, job_name: str) -> None:
    ui = f"{endpoint.url}/_smemu/ui/"
    with chromium_page() as browser:
        page = browser.page
        page.goto(ui, wait_until="load")
        sagemaker.create_training_job(**toy_request(
            job_name, steps=40, bucket=bucket, checkpoint_uri=f"s3://{bucket}/{job_name}",
            tags=[{"Key": "smemu:interrupt", "Value": "after=2s after=2s"},
                  {"Key": "smemu:grace-period", "Value": "5s"}]))
        row = page.locator("table.jobs tr", has_text=job_name)
        # The list updates by itself (no reload): the job appears while it runs.
        wait_until(lambda: row.count() == 1, f"{job_name} in the jobs list")
        assert "Completed" not in row.inner_text()
        row.locator("a", has_text=job_name).click()
        page.wait_for_load_state("load")
        # So does the job's page: its attempts and interruptions come in as they happen.
        wait_until(lambda: browser.text('[data-fact="interruptions"]') == "2",
                   "two interruptions on the job page")
        wait_until(lambda: "Completed" in browser.text("#summary .status"),
                   "the job Completed on its page")
        truth = wait_for_job(sagemaker, job_name)
        report = endpoint.report(job_name)
        assert page.url.endswith(f"/_smemu/ui/jobs/{job_name}")
        assert browser.text('[data-fact="attempts"]') == str(len(report["Attempts"])) == "3"
        assert browser.text('[data-fact="interruptions"]') == "2"
        assert browser.text('[data-fact="billable-seconds"]') == \
            str(truth["BillableTimeInSeconds"])
        assert browser.count("svg.timeline g.lane") == 3
        assert browser.count("svg.timeline line.interrupt") == 2
        assert browser.count("svg.timeline g.lane line.tick") == \
            sum(len(a["CheckpointsUploaded"]) for a in report["Attempts"])
        outcomes = page.locator("table.attempts tbody tr td:nth-child(3)").all_inner_texts()
        assert outcomes == [a["Outcome"] + (" (SIGKILL)" if a["SigKilled"] else "")
                            for a in report["Attempts"]]
        assert [o.split()[0] for o in outcomes] == ["interrupted", "interrupted", "completed"]
        browser.screenshot("browser-view-job.png")

        # Every version of every checkpoint file downloads as S3 holds it.
        links = page.locator("#checkpoints a[download]")
        hrefs = [str(links.nth(i).get_attribute("href")) for i in range(links.count())]
        versions = s3.list_object_versions(Bucket=bucket, Prefix=f"{job_name}/")["Versions"]
        files = [v for v in versions if not v["Key"].endswith((".sagemaker-uploading",
                                                               ".sagemaker-uploaded"))]
        assert len(hrefs) == len(files) > 1
        for version in files:
            href = next(h for h in hrefs if f"versionId={version['VersionId']}" in h)
            with urllib.request.urlopen(endpoint.url + href, timeout=30) as answer:
                got = answer.read()
            want = s3.get_object(Bucket=bucket, Key=version["Key"],
                                 VersionId=version["VersionId"])["Body"].read()
            assert got == want

        # The log of each attempt has its own page.
        stream = report["Attempts"][1]["LogStream"]
        page.locator("#logs summary", has_text=stream).click()
        page.locator("#logs a", has_text="open").nth(1).click()
        page.wait_for_load_state("load")
        assert stream in page.locator("main").inner_text()
        assert "step" in browser.text("pre.log-lines")
        browser.screenshot("browser-view-log.png")

        page.goto(ui, wait_until="load")
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == "Completed" and cells[3:5] == ["3", "2"], cells  # attempts, interr.
        browser.screenshot("browser-view-jobs.png")
        assert browser.errors == []


def test_the_browser_view_is_read_only_and_answers_unknown_pages_with_404(
        endpoint: EndpointProcess) -> None:
    for method, path, status in (("POST", "/_smemu/ui/", 405),
                                 ("DELETE", "/_smemu/ui/jobs/x", 405),
                                 ("GET", "/_smemu/ui/jobs/no-such-job", 404),
                                 ("GET", "/_smemu/ui/nowhere/at/all", 404),
                                 ("GET", "/_smemu/ui/logs/no-such-job/algo-1-1", 404)):
        request = urllib.request.Request(endpoint.url + path, method=method)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == status, (method, path)
        assert caught.value.headers["Content-Type"].startswith("text/html")
