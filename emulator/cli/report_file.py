"""Write a job's HTML report (`smemu run --report`, `smemu jobs report`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from emulator.cli.clients import clients, endpoint_s3_url, s3_client
from emulator.cli.follow import emulator_report
from emulator.report.gather import gather_story
from emulator.report.html_page import render_report
from emulator.report.html_views import log_url


def report_html(url: str, job_name: str) -> str:
    """The report of `job_name` on the endpoint at `url`, as one HTML document."""
    sagemaker, logs, _ = clients(url)
    describe = sagemaker.describe_training_job(TrainingJobName=job_name)
    story = gather_story(describe, emulator_report(url, job_name),
                         s3=s3_client(endpoint_s3_url(url), url), logs=logs, endpoint_url=url,
                         log_link=lambda stream: url + log_url(stream))
    return render_report(story)


def write_report(url: str, job_name: str, output: Path | None, *, quiet: bool = False) -> None:
    """Write the report to `output` (standard output for None or "-"), whole or not at all."""
    html = report_html(url, job_name)
    if output is None or str(output) == "-":
        sys.stdout.write(html)
        sys.stdout.flush()
        return
    partial = output.with_name(output.name + ".smemu-partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(output)
    click.echo(f"wrote the report of {job_name} to {output}", err=quiet)
