"""``consentmgr scan URL``: audit a site in Chromium against the policy; exit 1 on findings."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..db import get_db
from . import banner_check, crawl, findings, report, store
from .browser import ScanError, check_playwright
from .pages import check_url


class ScanFailed(click.ClickException):
    """The scan could not run at all (exit status 2, apart from 1 for findings)."""

    exit_code = 2


@click.command("scan")
@click.argument("url")
@click.option(
    "--pages",
    default=10,
    show_default=True,
    type=click.IntRange(0, 500),
    help="Pages to visit besides the start page: same-origin links, then sitemap.xml.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a readable HTML report to this file.",
)
@click.option(
    "--settle",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.5, 120),
    help="Longest wait, in seconds, for a page's network to settle.",
)
@click.option(
    "--no-store", is_flag=True, help="Do not keep the scan in the database's scan history."
)
@with_appcontext
def scan_command(
    url: str, pages: int, as_json: bool, html_file: Path | None, settle: float, no_store: bool
) -> None:
    """Audit a site's cookies and requests against the policy.

    URL is loaded undecided, after refusing and after accepting; the cookies,
    storage and third-party requests seen in each pass are compared with the
    policy.

    Exit status: 0 without findings, 1 with findings, 2 when the scan could not run.
    """
    app = current_app._get_current_object()  # noqa: SLF001
    policy = app.extensions["consentmgr.policy"]
    try:
        start = check_url(url)
        if html_file and not html_file.resolve().parent.is_dir():
            raise ScanError(f"--html: the folder of {html_file} does not exist")
        check_playwright()
        observed = crawl.run(
            start, banner_check.Labels.of(policy), crawl.Options(pages=pages, settle=settle)
        )
    except ScanError as e:
        raise ScanFailed(str(e)) from None
    patterns = findings.declared(policy, app.config["COOKIE_NAME"])
    result = report.build(observed, policy, patterns, findings.evaluate(observed, patterns))
    if not no_store:
        result["id"] = store.save(get_db(), result)
    if html_file:
        try:
            html_file.write_text(report.to_html(result), encoding="utf-8")
        except OSError as e:
            raise ScanFailed(f"--html: cannot write {html_file}: {e.strerror}") from None
    if as_json:
        click.echo(report.to_json(result))
    else:
        _summary(result, html_file)
    sys.exit(1 if result["findings"] else 0)


def _summary(result: dict, html_file: Path | None) -> None:
    click.echo(
        f"scanned {result['url']}: {len(result['pages'])} page(s) in each pass"
        f" (Chromium {result['browser']}, policy {result['policy']['version']})"
    )
    for name, scan_pass in result["passes"].items():
        clicked = f" after {scan_pass['decision']!r}" if scan_pass.get("decision") else ""
        click.echo(
            f"  {name}{clicked}: {len(scan_pass['cookies'])} cookies,"
            f" {len(scan_pass['storage'])} storage entries,"
            f" {sum(r['count'] for r in scan_pass['requests'])} third-party requests"
        )
        for note in scan_pass["notes"]:
            click.echo(f"    note: {note}")
    found = result["findings"]
    if not found:
        click.echo("no findings")
    else:
        click.echo(f"{len(found)} finding{'s' if len(found) != 1 else ''}:")
        for f in found:
            click.echo(f"  - {f['title']}: {f['message']}")
    if html_file:
        click.echo(f"report: {html_file}")
    if "id" in result:
        click.echo(f"stored as scan {result['id']} (console: /admin/scans/{result['id']})")


COMMANDS = (scan_command,)
