"""Every table of the line's database, listed in one place.

The tables are declared beside the code that reads and writes them, all on ``models.Base``:
``models`` (line settings, navigators, transfer records, the listener's command and status
rows), ``accounts``, ``login_throttle``, ``heartbeats``, ``calls``, ``rollups``, ``live``,
``voicemail``, ``twilio_calls``, ``twilio_conferences`` and ``twilio_presence``. No module
imports another only to get its tables registered; what needs the whole schema at once
(the Alembic environment, the check that the migrations match the models, a test that
counts every table) takes ``metadata`` from here, and a new table is added to ``MODELS``.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from store import (
    accounts,
    calls,
    heartbeats,
    live,
    login_throttle,
    models,
    rollups,
    twilio_calls,
    twilio_conferences,
    twilio_presence,
    voicemail,
)

MODELS: tuple[type[models.Base], ...] = (
    models.SettingsVersion,
    models.LineOptions,
    models.OpeningHours,
    models.HolidayRule,
    models.HolidayDate,
    models.Closure,
    models.LineOverride,
    models.Destination,
    models.DestinationNumber,
    models.ClosedMenuKey,
    models.Navigator,
    models.TransferRecord,
    models.ListenerCommand,
    models.ListenerStatus,
    accounts.User,
    login_throttle.LoginThrottle,
    accounts.UserSession,
    heartbeats.ServiceHeartbeat,
    live.NavigatorPresence,
    live.QueueCaller,
    live.LiveState,
    voicemail.VoiceMessage,
    voicemail.VoiceNote,
    voicemail.AuditEntry,
    calls.CallRecord,
    calls.NavigatorActivity,
    twilio_calls.TwilioCall,
    twilio_conferences.TwilioConference,
    twilio_presence.TwilioPresence,
    *rollups.EVERY_ROLLUP,
)

#: The schema: every table of ``MODELS`` (and only those).
metadata: MetaData = models.Base.metadata
