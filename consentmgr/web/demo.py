"""``GET /demo``: a small Ansettr-like site that uses the banner as a customer would.

The pages include ``<script src="/consent.js" defer>`` and nothing else of
consentmgr's, plus example scripts and an iframe blocked per category, so a
new user sees blocking, activation and withdrawal working right after
``./dev run``. The browser tests run against these pages too.

``?lang=nb|nn|no|en`` (or any language tag) sets ``<html lang>``, which is what
the banner follows first.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, make_response, render_template, request

from ..consent.policy import DEFAULT_LANG

bp = Blueprint("demo", __name__, url_prefix="/demo")

PAGES = ("index", "personvern")
LANG_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")
# "no" is the generic Norwegian tag many sites use; the banner shows bokmål for it.
TEXTS: dict[str, dict[str, str]] = {
    "nb": {
        "title": "Ansettr: ledige stillinger",
        "tagline": "Vi finner de riktige folkene",
        "nav": "Hovedmeny",
        "jobs": "Ledige stillinger",
        "privacy": "Personvern",
        "heading": "Finn neste jobb med Ansettr",
        "intro": "Ansettr rekrutterer til små og store bedrifter over hele landet. "
        "Her er noen av stillingene vi har nå.",
        "apply": "Søk på stillingen",
        "examples": "Eksempler på blokkerte skript",
        "examples_intro": "Skriptene under kjører bare når du har samtykket til kategorien. "
        "Listen viser hvilke som har kjørt på denne siden.",
        "ran": "Kjørt på denne siden",
        "analytics_external": "Statistikk: eksternt skript",
        "analytics_inline": "Statistikk: innebygd skript",
        "marketing_external": "Markedsføring: eksternt skript",
        "marketing_inline": "Markedsføring: innebygd skript",
        "video": "Annonsefilm (markedsføring)",
        "video_note": "Filmen vises når du har godtatt markedsføring.",
        "settings": "Innstillinger for informasjonskapsler",
        "language": "Språk",
        "privacy_intro": "Her kan du når som helst se og endre hva du har samtykket til. "
        "Endringen gjelder fra neste sidevisning for skript som allerede har kjørt.",
        "choices": "Dine valg",
        "no_js": "Valgene vises når JavaScript er slått på.",
        "front": "Til forsiden",
    },
    "nn": {
        "title": "Ansettr: ledige stillingar",
        "tagline": "Vi finn dei rette folka",
        "nav": "Hovudmeny",
        "jobs": "Ledige stillingar",
        "privacy": "Personvern",
        "heading": "Finn neste jobb med Ansettr",
        "intro": "Ansettr rekrutterer til små og store verksemder over heile landet. "
        "Her er nokre av stillingane vi har no.",
        "apply": "Søk på stillinga",
        "examples": "Døme på blokkerte skript",
        "examples_intro": "Skripta under køyrer berre når du har samtykt til kategorien. "
        "Lista viser kva som har køyrt på denne sida.",
        "ran": "Køyrt på denne sida",
        "analytics_external": "Statistikk: eksternt skript",
        "analytics_inline": "Statistikk: innebygd skript",
        "marketing_external": "Marknadsføring: eksternt skript",
        "marketing_inline": "Marknadsføring: innebygd skript",
        "video": "Annonsefilm (marknadsføring)",
        "video_note": "Filmen blir vist når du har godteke marknadsføring.",
        "settings": "Innstillingar for informasjonskapslar",
        "language": "Språk",
        "privacy_intro": "Her kan du når som helst sjå og endre kva du har samtykt til. "
        "Endringa gjeld frå neste sidevising for skript som alt har køyrt.",
        "choices": "Vala dine",
        "no_js": "Vala blir viste når JavaScript er slått på.",
        "front": "Til framsida",
    },
    "en": {
        "title": "Ansettr: open positions",
        "tagline": "We find the right people",
        "nav": "Main menu",
        "jobs": "Open positions",
        "privacy": "Privacy",
        "heading": "Find your next job with Ansettr",
        "intro": "Ansettr recruits for small and large companies all over Norway. "
        "Here are some of the positions we are filling now.",
        "apply": "Apply for this position",
        "examples": "Examples of blocked scripts",
        "examples_intro": "The scripts below run only when you have consented to their "
        "category. The list shows which ones ran on this page.",
        "ran": "Ran on this page",
        "analytics_external": "Statistics: external script",
        "analytics_inline": "Statistics: inline script",
        "marketing_external": "Marketing: external script",
        "marketing_inline": "Marketing: inline script",
        "video": "Advertising film (marketing)",
        "video_note": "The film is shown once you have accepted marketing.",
        "settings": "Cookie settings",
        "language": "Language",
        "privacy_intro": "Here you can see and change what you have consented to at any "
        "time. Scripts that already ran stop with the next page view.",
        "choices": "Your choices",
        "no_js": "The choices appear when JavaScript is on.",
        "front": "Back to the front page",
    },
}
TEXTS["no"] = TEXTS["nb"]
JOBS = (
    ("Selger", "Oslo"),
    ("Regnskapsfører", "Bergen"),
    ("Lagermedarbeider", "Trondheim"),
)


def page_lang() -> tuple[str, dict[str, str]]:
    """The ``<html lang>`` asked for with ``?lang=`` and the page texts to show with it.

    Any well-formed language tag is accepted, so the banner's fallback to the
    browser's languages can be tried with e.g. ``?lang=de`` (page in English).
    """
    lang = request.args.get("lang", DEFAULT_LANG)
    if not LANG_TAG.fullmatch(lang):
        lang = DEFAULT_LANG
    primary = lang.split("-")[0].lower()
    return lang, TEXTS.get(primary, TEXTS["en"])


@bp.get("", defaults={"page": "index"})
@bp.get("/<page>")
def show(page: str) -> str:
    if page not in PAGES:
        abort(404)
    lang, texts = page_lang()
    return render_template(f"demo/{page}.html", lang=lang, t=texts, jobs=JOBS)


@bp.get("/embed")
def embed() -> Response:
    """The content of the consent-gated iframe; the only demo page that may be framed."""
    response = make_response(render_template("demo/embed.html", lang=page_lang()[0]))
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
