"""Alerts: failed runs, failed blocking checks and freshness violations.

Every alert is logged (``logging``, level ERROR) and, when ``CRIPTOPIPE_ALERT_WEBHOOK_URL``
is set, posted as Slack-compatible JSON (``{"text": …, "blocks": […]}``; Slack, Mattermost,
Rocket.Chat and most chat tools accept it). A webhook that fails is logged, never raised:
an alert must not fail the sensor that sends it.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from ingestion.settings import Settings

logger = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Alert:
    """One alert to send: a one-line title and the details to look at."""

    title: str  # one line: what happened
    details: list[str] = field(default_factory=list)  # what to look at

    def payload(self) -> dict[str, object]:
        """The alert as a Slack-compatible webhook body: ``text`` plus two mrkdwn sections.

        The details become a bulleted list (the title when there are none), cut to Slack's limit.
        """
        text = f"criptopipe: {self.title}"
        body = "\n".join(f"• {d}" for d in self.details) or self.title
        return {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}},
            ],
        }


def send_alert(settings: Settings, alert: Alert) -> bool:
    """Log ``alert`` and post it to the webhook if one is configured; True if posted."""
    logger.error("ALERT %s%s", alert.title, "".join(f"\n  {d}" for d in alert.details))
    if settings.alert_webhook_url is None:
        return False
    url = settings.alert_webhook_url.get_secret_value()
    request = urllib.request.Request(
        url,
        data=json.dumps(alert.payload()).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "criptopipe/0.1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            response.read()
        return True
    except (urllib.error.URLError, OSError, ValueError) as err:
        # The URL carries the webhook's secret: name the failure, never the URL.
        logger.error(
            "could not post the alert to CRIPTOPIPE_ALERT_WEBHOOK_URL: %s",
            getattr(err, "reason", None) or type(err).__name__,
        )
        return False
