"""The consent notice of the research voicemail box: its text in both languages and how
long messages are kept (which the text says through ``{days}``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dashboard.admin.forms import ConsentForm, CsrfOnlyForm
from dashboard.admin.pages import ADMIN, Page, bp, by, fresh, page, post
from dashboard.roles import role_required
from ivr import settings as s
from store import linesettings as ls


@bp.get("/consent")
@role_required(ADMIN)
def consent(status: int = 200, form: ConsentForm | None = None) -> Page:
    """The page; after a refused POST, shown again with its form and status 400."""
    consent = fresh().research_consent
    default = s.ResearchConsent()
    return page(
        "admin/consent.html",
        status,
        consent=consent,
        default=default,
        is_default=consent == default,
        form=form
        or ConsentForm(
            formdata=None,
            data={
                "text_fr": consent.text_fr,
                "text_en": consent.text_en,
                "retention_days": consent.retention_days,
            },
        ),
        plain=CsrfOnlyForm(formdata=None),
    )


@bp.post("/consent")
@role_required(ADMIN)
def consent_set() -> Page:
    form = ConsentForm()

    def change(session: Session) -> None:
        """A text equal to the default is stored as the default (None), so that a later
        default text reaches this line too."""
        default = s.ResearchConsent()
        text_fr, text_en = form.text_fr.data.strip(), form.text_en.data.strip()
        ls.set_research_consent(
            session,
            None if text_fr == default.text_fr else text_fr,
            None if text_en == default.text_en else text_en,
            form.retention_days.data,
            by(),
        )

    return post(form, change, "admin.consent", lambda: consent(400, form))


@bp.post("/consent/default")
@role_required(ADMIN)
def consent_default() -> Page:
    return post(
        CsrfOnlyForm(),
        lambda session: ls.set_research_consent(session, None, None, None, by()),
        "admin.consent",
        lambda: consent(400),
    )
