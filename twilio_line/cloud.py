"""What Twilio keeps of the line's calls, purged by the retention job.

Twilio keeps a log of every call (with the caller's number) and every recording until
they are deleted. ``ivr211 retention run`` deletes, through the twilio library's REST
client with the account's credentials:

- the logs of calls that ended before the caller numbers' period
  (``[retention] transfer_numbers_days``): ``GET .../Calls.json?EndTime<=...``, then
  ``DELETE .../Calls/<sid>.json`` for each;
- recordings created before the research messages' period (the consent notice's
  ``retention_days``): a research message is deleted from Twilio as soon as it is in
  the inbox (``twilio_line.recordings``), so what is left is a recording whose callback
  failed; it is kept on Twilio as long as the message would have been kept, then goes.

The account is taken to be the line's: every call log and recording of it is concerned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from requests import RequestException
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from twilio_line.options import TwilioOptions
from twilio_line.recordings import RestHttpClient

__all__ = ["CloudPurge", "purge_cloud"]

#: A call in one of these states is over: its log may go.
_ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@dataclass
class CloudPurge:
    calls: int = 0
    recordings: int = 0
    problems: list[str] = field(default_factory=list)


def purge_cloud(
    options: TwilioOptions,
    calls_before: datetime,
    recordings_before: datetime,
    *,
    dry_run: bool,
) -> CloudPurge:
    """Delete (or, ``dry_run``, count) the call logs and recordings past their period."""
    report = CloudPurge()
    if not options.account_sid:
        report.problems.append("Twilio: no account configured ([twilio] account_sid)")
        return report
    http = RestHttpClient(options.api_url, options.timeout_s)
    try:
        client = Client(options.account_sid, options.auth_token(), http_client=http, environment={})
        for call in list(client.calls.stream(end_time_before=calls_before)):
            if call.status not in _ENDED or call.sid is None:
                continue
            if not dry_run and not client.calls(call.sid).delete():
                report.problems.append(f"Twilio did not delete the log of call {call.sid}")
                continue
            report.calls += 1
        for recording in list(client.recordings.stream(date_created_before=recordings_before)):
            if recording.sid is None:
                continue
            if not dry_run and not client.recordings(recording.sid).delete():
                report.problems.append(f"Twilio did not delete recording {recording.sid}")
                continue
            report.recordings += 1
    except (TwilioException, RequestException, LookupError) as exc:
        report.problems.append(f"Twilio: {exc}")
    finally:
        if http.session is not None:
            http.session.close()
    return report
