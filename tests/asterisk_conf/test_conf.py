"""The keys of asterisk_conf/*.conf that the project relies on."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from agi_scripts.server import ServerOptions
from ivr.dialplan import CHANNEL_VARIABLES
from ivr.settings import LineSettings
from ivr211.config import ListenerConfig

from .confparse import CONF_DIR, ConfFile, load, parse_text

REPO = CONF_DIR.parent
SECRET_KEYS = {"secret", "password", "md5_cred"}


def default(field_name: str) -> object:
    return next(f.default for f in dataclasses.fields(LineSettings) if f.name == field_name)


def globals_() -> dict[str, str]:
    return dict(load("extensions.conf").section("globals").entries)


def as_set(value: str | None) -> set[str]:
    return {v.strip() for v in (value or "").split(",") if v.strip()}


def test_the_parser_reads_templates_includes_and_duplicate_names() -> None:
    text = '[a](!)\nk = 1 ; c\n[b](a)\nx => y\\;z\n#include "/etc/f.conf"\n[b]\nk=2\n'
    conf = parse_text(text, Path("t.conf"))
    assert [s.name for s in conf.sections] == ["a", "b", "b"]
    first = conf.named("b")[0]
    assert conf.resolved(first) == {"k": ["1"], "x": ["y;z"]}
    assert first.includes == ["/etc/f.conf"]


@pytest.mark.parametrize("path", sorted(CONF_DIR.glob("*.conf")), ids=lambda p: p.name)
def test_no_secret_is_stored_in_the_repository(path: Path) -> None:
    conf = load(path.name)
    for section in conf.sections:
        for key, value in section.entries:
            assert key not in SECRET_KEYS, f"[{section.name}] {key} = {value}"
        for include in section.includes + conf.top_includes:
            assert include.startswith("/etc/asterisk/"), include
            assert not Path(include).is_relative_to(REPO)


def test_voicemail_password_cannot_be_typed_on_a_keypad() -> None:
    box, _, rest = default("research_mailbox").__str__().partition("@")
    entry = load("voicemail.conf").section(rest).get(box)
    assert entry is not None
    password = entry.split(",", 1)[0]
    assert not re.fullmatch(r"[0-9*#]*", password)


def test_manager_is_local_timestamped_and_carries_the_flow_variables() -> None:
    conf = load("manager.conf")
    general = conf.section("general")
    assert general.get("bindaddr") == "127.0.0.1"
    assert general.get("timestampevents") == "yes"
    assert general.get("webenabled") == "no"
    channelvars = as_set(general.get("channelvars"))
    assert {"IVR_LANG", "IVR_PATH", "IVR_INTERPRETER", "IVR_ROUTE", "IVR_DEST"} <= channelvars
    assert channelvars <= CHANNEL_VARIABLES


def test_manager_user_is_least_privilege_and_local_only() -> None:
    users = [s for s in load("manager.conf").sections if s.name != "general"]
    assert [u.name for u in users] == ["ivr211"]
    user = users[0]
    assert user.get_all("deny") == ["0.0.0.0/0.0.0.0"]
    assert user.get_all("permit") == ["127.0.0.1/255.255.255.255"]
    assert user.includes == ["/etc/asterisk/ivr211-ami-secret.conf"]
    write = as_set(user.get("write"))
    read = as_set(user.get("read"))
    assert write == {"call", "agent", "user", "originate"}
    assert {"call", "agent", "user", "dtmf", "system"} <= read
    assert not {"all", "command", "config", "system"} & write
    assert not {"all", "command", "config"} & read


def endpoint(conf: ConfFile, name: str) -> dict[str, list[str]]:
    found = [
        s for s in conf.sections if s.name == name and conf.resolved(s).get("type") == ["endpoint"]
    ]
    assert len(found) == 1, name
    return conf.resolved(found[0])


def test_navigator_phone_template() -> None:
    conf = load("pjsip.conf")
    phone = conf.resolved(conf.section("navigator-phone"))
    assert conf.section("navigator-phone").is_template
    assert phone["dtmf_mode"] == ["rfc4733"]
    assert phone["direct_media"] == ["no"]
    assert phone["allow_transfer"] == ["no"]
    assert phone["context"] == ["navigator-transfers"]
    assert load("extensions.conf").named("navigator-transfers")


def test_trunk_endpoint_identify_and_context() -> None:
    conf = load("pjsip.conf")
    trunk_name = globals_()["TRUNK"]
    trunk = endpoint(conf, trunk_name)
    assert trunk["context"] == ["from-trunk-211"]
    assert load("extensions.conf").named("from-trunk-211")
    assert trunk["dtmf_mode"] == ["rfc4733"]
    assert [
        s for s in conf.sections if s.get("type") == "identify" and s.get("endpoint") == trunk_name
    ]
    auth = trunk["outbound_auth"][0]
    assert conf.section(auth).get("type") == "auth"
    assert [s for s in conf.sections if s.get("type") == "transport"]


def test_features_transfer_keys() -> None:
    conf = load("features.conf")
    featuremap = conf.section("featuremap")
    general = conf.section("general")
    assert featuremap.get("atxfer") == "*2"
    assert featuremap.get("blindxfer") == "#1"
    assert featuremap.get("disconnect") is None
    expected = {
        "atxferabort": "*1",
        "atxfercomplete": "*2",
        "atxferthreeway": "*3",
        "atxferswap": "*4",
    }
    assert {k: general.get(k) for k in expected} == expected
    assert 15 <= int(general.get("atxfernoanswertimeout") or 0) <= 60
    assert 2 <= int(general.get("transferdigittimeout") or 0) <= 10


def test_voicemail_keeps_one_bounded_audio_format_and_sends_no_mail() -> None:
    conf = load("voicemail.conf")
    general = conf.section("general")
    assert general.get("format") == "wav"
    assert general.get("attach") == "no"
    assert 0 < int(general.get("maxsecs") or 0) <= 300
    # app_voicemail's load_config warns "maxsilence should be less than minsecs or you
    # may get empty messages" when maxsilence (whole seconds) >= minsecs.
    maxsilence = int(general.get("maxsilence") or 0)
    minsecs = int(general.get("minsecs") or 0)
    assert minsecs > 0
    assert maxsilence < minsecs
    # The caller can listen, re-record or confirm before the message is kept.
    assert general.get("review") == "yes"
    assert general.get("sendvoicemail") in (None, "no")
    box, _, context = str(default("research_mailbox")).partition("@")
    assert globals_()["RESEARCH_MAILBOX"] == f"{box}@{context}"
    _password, _name, email, pager, options = (conf.section(context).get(box) or "").split(",", 4)
    assert email == "" and pager == ""
    opts = dict(o.split("=", 1) for o in options.split("|"))
    assert opts["attach"] == "no"
    assert opts["locale"].startswith("fr_CA")
    zone = conf.section("zonemessages").get(opts["tz"]) or ""
    assert zone.startswith("America/Toronto|")


def test_queue_never_keeps_a_caller_forever() -> None:
    queue_name = globals_()["QUEUE_NAME"]
    assert queue_name == default("queue_name")
    queue = load("queues.conf").section(queue_name)
    assert {"unavailable", "invalid"} <= as_set(queue.get("joinempty"))
    assert {"unavailable", "invalid"} <= as_set(queue.get("leavewhenempty"))
    assert queue.get("ringinuse") == "no"
    assert queue.get("announce-position") == "yes"
    assert queue.get("periodic-announce") == "211/queue-reminder"
    assert int(queue.get("periodic-announce-frequency") or 0) > 0
    assert queue.get("timeoutpriority") == "app"
    assert queue.get_all("member") == []
    assert load("musiconhold.conf").named(queue.get("musicclass") or "")
    max_wait = int(globals_()["QUEUE_MAX_WAIT"])
    assert 60 <= max_wait <= 1800


def test_queue_application_lets_the_navigator_transfer_and_bounds_the_wait() -> None:
    queue_calls = [
        v for s in load("extensions.conf").sections for _, v in s.entries if "Queue(" in v
    ]
    assert queue_calls
    for line in queue_calls:
        args = re.search(r"Queue\((.*)\)$", line)
        assert args is not None
        name, options, _url, _announce, timeout = args[1].split(",")[:5]
        assert name == "${IVR_QUEUE}"
        assert "t" in options and "c" not in options
        assert timeout == "${WAIT_S}"


def test_fastagi_url_is_the_servers_default_address() -> None:
    options = ServerOptions()
    assert globals_()["FASTAGI"] == f"agi://{options.host}:{options.port}"


def test_the_listener_contexts_exist_in_the_dialplan() -> None:
    """A Redirect to a missing extension drops the caller (2g): the contexts the
    listener's actions use must be there."""
    from ivr211.config import ListenerConfig

    defaults = ListenerConfig()
    names = {s.name for s in load("extensions.conf").sections}
    assert defaults.transfer_context in names
    assert defaults.conference_context in names
    rooms = load("extensions.conf").section(str(defaults.conference_context))
    assert any("ConfBridge(${EXTEN})" in v for _, v in rooms.entries)


def test_research_box_skips_app_voicemails_greeting_for_our_consent_notice() -> None:
    research = load("extensions.conf").section("ivr211-research")
    apps = [v for _, v in research.entries]
    assert any(v.endswith("VoiceMail(${IVR_MAILBOX},s)") for v in apps)
    assert not any("VoiceMail(" in v and ",u" in v for v in apps)


def test_the_listener_counts_the_after_call_work_the_queue_gives() -> None:
    """Asterisk reports the queue's wrapuptime in no event: the listener's ``wrapup_s``
    (default and sample) must be the same number, or after-call work is miscounted."""
    queue = load("queues.conf").section(globals_()["QUEUE_NAME"])
    wrapup = float(queue.get("wrapuptime") or "nan")
    sample = tomllib.loads((REPO / "config" / "ivr211.sample.toml").read_text(encoding="utf-8"))
    assert sample["listener"]["wrapup_s"] == wrapup
    assert ListenerConfig().wrapup_s == wrapup
