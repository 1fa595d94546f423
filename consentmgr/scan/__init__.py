"""The cookie audit: ``consentmgr scan URL`` checks in Chromium what a site really does.

The site is loaded three times, each in a fresh profile: undecided, after
*Avvis alle* and after *Godta alle*. What each pass stores and sends is
compared with the policy, the findings are printed or written as a report,
and the scan is kept for the admin console's history.

``crawl`` drives the browser (Playwright, imported only there, an optional
extra: ``pip install 'consentmgr[scan]'``); ``recorder`` is the script it adds
to every frame; ``cookies`` and ``sites`` read cookie lines and registrable
domains; ``findings`` compares with the policy; ``report`` renders JSON and
HTML; ``store`` keeps scans; ``cli`` is the command.
"""
