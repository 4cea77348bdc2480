"""The navigators' actions, judged from the recorded event sequences (2a1, 2b3, 2b6, 2c1,
2d1, 2f) that the fake Asterisk replays around the client's own actions."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from listener.actions import (
    ActionOptions,
    Actions,
    CallTracker,
    LinkUnavailable,
    NoConsultation,
    NoNumber,
    NoSuchChannel,
    NotPermitted,
    QueueMember,
    TransferNotAvailable,
    UnknownDestination,
)
from listener.ami import AmiLink, LinkOptions
from listener.interpreter import Interpreter
from listener.transcripts import messages, read_raw
from store.facts import Kind, Outcome, Source, TransferFact
from tests.listener.fake_ami import FIXTURES, FakeAmi, raw

TIMEOUT = 15.0
NAV = "Local/nav-manual@navigators"
LAB = {"911": "911", "811": "811", "988": "988", "913": "913", "cps": "18662773553"}
LAB_OPTIONS = ActionOptions(
    transfer_context="emergency-services",
    conference_context="conf-room",
    start_timeout_s=3.0,
    cancel_timeout_s=3.0,
    blind_timeout_s=3.0,
    queue_timeout_s=3.0,
    ring_timeout_s=5.0,
)
NAV2 = QueueMember("navigators", "Local/nav2@queue-agents/n", "Navigator Two")


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, TIMEOUT))


class Bench:
    """Fake Asterisk + link + tracker + interpreter + actions, all on one loop."""

    def __init__(self, fake: FakeAmi, options: ActionOptions = LAB_OPTIONS) -> None:
        self.fake = fake
        self.link = AmiLink(LinkOptions(port=fake.port, secret=fake.secret, backoff_initial_s=0.05))
        self.tracker = CallTracker()
        self.facts: list[TransferFact] = []
        self.interpreter = Interpreter(
            lambda exten, context: {v: k for k, v in LAB.items()}.get(exten),
            transfer_contexts={"emergency-services"},
        )
        self.link.subscribe(self.tracker.feed)
        self.link.subscribe(
            lambda e: self.facts.extend(self.interpreter.feed(e, datetime.now(UTC)))
        )
        self.actions = Actions(
            self.link, self.tracker, lambda: LAB, options, conferences=self.interpreter
        )
        self.replaying: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Bench:
        self.task = asyncio.create_task(self.link.run())
        await self.link.wait_connected(5)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.replaying is not None:
            self.replaying.cancel()
            await asyncio.gather(self.replaying, return_exceptions=True)
        self.link.stop()
        await self.task

    async def replay(
        self,
        name: str,
        expect: Mapping[str, Collection[int]],
        substitute: Mapping[str, str] | None = None,
        ready: str = NAV,
    ) -> None:
        """Replay ``name`` in the background until the navigator is seen in a bridge."""
        self.replaying = asyncio.create_task(
            self.fake.replay(raw(name), expect=expect, substitute=substitute)
        )

        async def seen() -> None:
            while (leg := self.tracker.find(ready)) is None or not self.tracker.peers(leg):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(seen(), 5)


def test_warm_transfer_started_2a1() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            await b.replay("2a1-attended-transfer-ami", {"Atxfer": {1}})
            result = await b.actions.start_warm_transfer(NAV, "911")
            assert result.data["consultation_channel"] == "Local/911@emergency-services-00000015;1"
            assert result.data["navigator_channel"] == "Local/nav-manual@navigators-00000014;1"
            sent = fake.actions("Atxfer")[0]
            assert (sent["Channel"], sent["Exten"], sent["Context"]) == (
                "Local/nav-manual@navigators-00000014;1",
                "911",
                "emergency-services",
            )

    run(scenario())


def test_atxfer_without_transfer_feature_is_an_error_2b6() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            await b.replay("2b6-atxfer-without-transfer-feature", {"Atxfer": {1}})
            with pytest.raises(TransferNotAvailable, match="keys reached the caller"):
                await b.actions.start_warm_transfer(NAV, "911")

    run(scenario())


def test_warm_transfer_then_cancel_2b3() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            await b.replay("2b3-attended-transfer-cancel", {"Atxfer": {1}, "CancelAtxfer": {1}})
            started = await b.actions.start_warm_transfer(NAV, "913")
            assert started.data["consultation_channel"].startswith("Local/913@emergency-services-")
            cancelled = await b.actions.cancel_warm_transfer(NAV)
            assert cancelled.message.startswith("transfer cancelled")
            assert fake.actions("CancelAtxfer")[0]["Channel"] == started.data["navigator_channel"]

    run(scenario())


def test_blind_transfer_2c1() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            await b.replay("2c1-blind-transfer-ami", {"BlindTransfer": {1}})
            result = await b.actions.blind_transfer(NAV, "811")
            assert result.data["transferee_uniqueid"] == "c1-78443-caller"
            await asyncio.sleep(0.05)
            blind = [f for f in b.facts if f.kind is Kind.BLIND]
            assert [(f.outcome, f.destination) for f in blind] == [(Outcome.COMPLETED, "811")]

    run(scenario())


def test_three_way_by_confbridge_2d1() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            await b.replay(
                "2d1-threeway-confbridge",
                {"Redirect": {1}, "Originate": {2}},
                substitute={"room78443": "Exten", "1795878560.110": "ChannelId"},
            )
            result = await b.actions.three_way(NAV, "988")
            originate = fake.actions("Originate")[0]
            assert originate["Async"] == "true"
            assert originate["ChannelId"].startswith("ivr211-conf-")
            assert originate["Channel"] == "Local/988@emergency-services"
            redirect = fake.actions("Redirect")[0]
            assert redirect["Channel"] == "Local/caller@lab-phones-00000034;1"
            assert redirect["ExtraChannel"] == "Local/nav-manual@navigators-00000035;1"
            assert result.data["service_uniqueid"] == originate["ChannelId"]
            threeway = [f for f in b.facts if f.kind is Kind.THREEWAY]
            assert [(f.key, f.outcome, f.destination, f.source) for f in threeway] == [
                (f"conf:{originate['ChannelId']}", Outcome.COMPLETED, "988", Source.ACTION)
            ]

    run(scenario())


def test_three_way_refused_without_conference_context() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake, ActionOptions()) as b:
            with pytest.raises(NotPermitted):
                await b.actions.three_way(NAV, "988")
            assert fake.actions("Redirect") == []

    run(scenario())


@pytest.mark.parametrize(
    ("expect", "call", "message"),
    [
        ({"QueueAdd": {1}}, "login", "Navigator Two is logged in to queue navigators"),
        ({"QueuePause": {1}}, "pause", "Navigator Two is paused in queue navigators"),
        ({"QueueRemove": {1}}, "logout", "Navigator Two is logged out of queue navigators"),
    ],
)
def test_queue_actions_2f(expect: dict[str, set[int]], call: str, message: str) -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            replaying = asyncio.create_task(fake.replay(raw("2f-queue"), expect=expect))
            a = b.actions
            if call == "login":
                result = await a.queue_login(NAV2)
            elif call == "pause":
                result = await a.queue_pause(NAV2, True, "break")
            else:
                result = await a.queue_logout(NAV2)
            assert result.message == message
            await replaying

    run(scenario())


def test_queue_login_without_confirmation_times_out() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            with pytest.raises(Exception, match="did not confirm QueueAdd"):
                await b.actions.queue_login(NAV2)
            assert len(fake.actions("QueueAdd")) == 1

    run(scenario())


def test_unknown_destination_sends_nothing() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            with pytest.raises(UnknownDestination, match="unknown destination 'sos'"):
                await b.actions.start_warm_transfer(NAV, "sos")
            assert [a["Action"] for a in fake.received] == ["Login"]

    run(scenario())


def test_navigator_found_from_status_reply_2g() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            leg = await b.actions.locate(NAV)
            assert leg.name == "Local/nav-manual@navigators-0000004f;1"
            assert [p.name for p in b.tracker.peers(leg)] == ["Local/caller@lab-phones-0000004e;1"]
            with pytest.raises(NoSuchChannel, match="PJSIP/nav-bob is not on a call"):
                await b.actions.locate("PJSIP/nav-bob")

    run(scenario())


def test_actions_refused_when_link_down() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            await fake.stop_listening()
            await fake.shutdown()
            while b.link.connected:
                await asyncio.sleep(0.01)
            with pytest.raises(LinkUnavailable):
                await b.actions.queue_login(NAV2)
            with pytest.raises(LinkUnavailable):
                await b.actions.start_warm_transfer(NAV, "911")

    run(scenario())


def test_referral_fact() -> None:
    actions = Actions(
        AmiLink(LinkOptions()), CallTracker(), lambda: LAB, LAB_OPTIONS, clock=lambda: NOW
    )
    fact = actions.record_referral("a1-78443-caller", "811", "PJSIP/nav-alice-0000002a")
    assert fact == TransferFact(
        key="referral:a1-78443-caller:811",
        kind=Kind.REFERRAL,
        outcome=Outcome.COMPLETED,
        started_at=NOW,
        ended_at=NOW,
        linkedid="a1-78443-caller",
        navigator_channel="PJSIP/nav-alice",
        destination="811",
        target_exten="811",
        target_context="emergency-services",
        source=Source.ACTION,
    )
    with pytest.raises(UnknownDestination):
        actions.record_referral("a1-78443-caller", "nowhere", "PJSIP/nav-alice")


NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


# ---- a destination whose number is still to fill in ------------------------------------


@pytest.mark.parametrize(
    ("mode", "kind"),
    [("attended", Kind.ATTENDED), ("blind", Kind.BLIND), ("three_way", Kind.THREEWAY)],
)
def test_a_destination_without_a_number_is_refused_before_anything_is_sent_2a1(
    mode: str, kind: Kind
) -> None:
    """The navigator is on 2a1's call; the suicide-prevention line has no number yet:
    nothing reaches Asterisk (no Atxfer, BlindTransfer, Redirect or Originate), and the
    attempt comes back as a failed fact, tied to the call, for the listener to record."""

    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            b.actions = Actions(
                b.link,
                b.tracker,
                lambda: LAB,
                LAB_OPTIONS,
                conferences=b.interpreter,
                clock=lambda: NOW,
                dialable=lambda key: key != "cps",
            )
            await b.replay("2a1-attended-transfer-ami", {"Atxfer": {1}})
            leg = b.tracker.find(NAV)
            assert leg is not None
            (caller,) = b.tracker.peers(leg)
            start = {
                "attended": b.actions.start_warm_transfer,
                "blind": b.actions.blind_transfer,
                "three_way": b.actions.three_way,
            }[mode]
            with pytest.raises(NoNumber, match="no number") as refused:
                await start(NAV, "cps")
            sent = {a["Action"] for a in fake.received}
            assert not sent & {"Atxfer", "BlindTransfer", "Redirect", "Originate"}
            assert refused.value.code == "no_number"
            assert refused.value.fact == TransferFact(
                key=f"nonumber:{caller.linkedid}:cps",
                kind=kind,
                outcome=Outcome.FAILED,
                started_at=NOW,
                ended_at=NOW,
                linkedid=caller.linkedid,
                navigator_channel="Local/nav-manual@navigators",
                destination="cps",
                target_exten="18662773553",
                target_context="emergency-services",
                caller_uniqueid=caller.uniqueid,
                source=Source.ACTION,
            )
            assert caller.linkedid and caller.uniqueid

    run(scenario())


def test_without_a_call_a_missing_number_is_just_no_call() -> None:
    async def scenario() -> None:
        async with FakeAmi() as fake, Bench(fake) as b:
            b.actions = Actions(
                b.link, b.tracker, lambda: LAB, LAB_OPTIONS, dialable=lambda key: False
            )
            with pytest.raises(NoSuchChannel):
                await b.actions.start_warm_transfer("PJSIP/nav-bob", "cps")

    run(scenario())


# ---- CancelAtxfer only while a consultation exists (2k) -------------------------------

K2 = FIXTURES / "raw" / "2k-atxfer-errors-and-failed-dtmf-transfer.raw"
K2_NAV = "Local/nav-dtmf-atxfer-late@navigators-00000012;1"


def tracker_at(until_t: float) -> CallTracker:
    tracker = CallTracker()
    for t, message in messages(read_raw(K2)):
        if t > until_t:
            break
        tracker.feed(message)
    return tracker


def test_a_consultation_exists_until_the_caller_hangs_up_2k() -> None:
    """2k part 2: *2 911 by keys (the consultation bridge is up at +8.635 s), the caller
    hangs up at +10.140 s; the navigator stays with 911, but no transfer is left."""
    before = tracker_at(4.6)
    assert not before.consulting(before.channels[K2_NAV])  # with the caller, no transfer
    during = tracker_at(9.7)
    assert during.consulting(during.channels[K2_NAV])
    after = tracker_at(13.0)
    leg = after.channels[K2_NAV]
    assert [p.name for p in after.peers(leg)] == ["Local/psap911@service-phones-00000014;1"]
    assert not after.consulting(leg)


def test_cancel_with_no_transfer_in_progress_sends_nothing_2k() -> None:
    """2k part 1: CancelAtxfer on a navigator merely talking to the caller answers
    Success and plays * 1 to the caller. The action refuses before sending anything."""

    async def scenario() -> None:
        chunks = read_raw(K2)
        first_cancel = next(
            i
            for i, chunk in enumerate(chunks)
            if chunk.direction == "SEND" and b"Action: CancelAtxfer" in chunk.data
        )
        async with FakeAmi() as fake, Bench(fake) as b:
            await fake.replay(chunks[:first_cancel])
            leg = b.tracker.find(NAV)
            while leg is None or not b.tracker.peers(leg):
                await asyncio.sleep(0.01)
                leg = b.tracker.find(NAV)
            with pytest.raises(NoConsultation) as refused:
                await b.actions.cancel_warm_transfer(NAV)
            assert refused.value.code == "no_consultation"
            assert fake.actions("CancelAtxfer") == []

    run(scenario())
