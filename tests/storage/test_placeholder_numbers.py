"""The seed's placeholder numbers are never dialled: they are stored empty, listed as
still to fill in, and an administrator fills them in."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from ivr.mirror import directory_mirror
from ivr211.config import DEFAULT_SEED
from store import models as m
from store.linesettings import (
    SeedError,
    SettingsStore,
    is_placeholder_number,
    list_destinations,
    numbers_to_fill,
    read_seed,
    seed_if_empty,
    set_destination_number,
    unverified_numbers,
)

PLACEHOLDERS = ("crise", "menus-travaux", "appels-amitie", "paniers-noel")
TERRITORIES = ("capitale-nationale", "chaudiere-appalaches")


def stored_numbers(store: SettingsStore) -> dict[tuple[str, str], tuple[str, bool]]:
    with store.change() as session:
        rows = session.execute(
            select(
                m.Destination.key,
                m.DestinationNumber.territory,
                m.DestinationNumber.number,
                m.DestinationNumber.verified,
            ).join(m.DestinationNumber)
        )
        return {(k, t): (n, v) for k, t, n, v in rows}


def test_the_shipped_seed_stores_placeholders_empty_and_real_numbers_unverified(
    store: SettingsStore,
) -> None:
    numbers = stored_numbers(store)
    for key in PLACEHOLDERS:
        for territory in TERRITORIES:
            assert numbers[(key, territory)] == ("", False)
    for key, number in (("911", "911"), ("811", "811"), ("988", "988"), ("cps", "18662773553")):
        for territory in TERRITORIES:
            assert numbers[(key, territory)] == (number, False)  # dials, still to verify


def test_a_placeholder_is_not_dialled_by_the_flow_nor_mirrored_for_the_navigators(
    store: SettingsStore,
) -> None:
    settings = store.load()
    crise = settings.destination("crise")
    assert crise is not None
    assert crise.number_for(settings.territory) is None
    mirror = directory_mirror(settings)
    assert mirror["dest_CRISE"] == "" and mirror["dest_MENUS_TRAVAUX"] == ""
    assert mirror["dest_911"] == "911" and mirror["dest_CPS"] == "18662773553"


def test_to_fill_and_to_verify_are_listed_apart(store: SettingsStore) -> None:
    with store.change() as session:
        to_fill = numbers_to_fill(session)
        to_verify = unverified_numbers(session)
    assert to_fill == [(key, territory, "") for key in PLACEHOLDERS for territory in TERRITORIES]
    assert len(to_verify) == 10  # 911, 811, cps, sosvc, 988 x 2 territories
    assert not {k for k, _, _ in to_verify} & set(PLACEHOLDERS)
    assert all(n for _, _, n in to_verify)


def test_an_administrator_fills_an_empty_number_in(store: SettingsStore) -> None:
    with store.change() as session:
        set_destination_number(session, "crise", "capitale-nationale", "418 686-4433", "admin")
        to_fill = numbers_to_fill(session)
        record = next(d for d in list_destinations(session) if d.key == "crise")
    assert ("crise", "capitale-nationale", "4186864433") not in to_fill
    assert ("crise", "chaudiere-appalaches", "") in to_fill
    assert [k for k, t, _ in to_fill if t == "capitale-nationale"].count("crise") == 0
    number = record.number_for("capitale-nationale")
    assert number is not None and (number.number, number.to_fill) == ("4186864433", False)
    empty = record.number_for("chaudiere-appalaches")
    assert empty is not None and (empty.number, empty.to_fill) == ("", True)
    crise = store.load().destination("crise")
    assert crise is not None and crise.number_for("capitale-nationale") == "4186864433"


def test_a_database_seeded_with_the_old_placeholders_does_not_dial_them(
    store: SettingsStore,
) -> None:
    """Databases seeded before this change hold 418 555-0101 and friends, written by the
    seed and never touched: they are still to fill in, never dialled, with no data fix."""
    with store.change() as session:
        crise_id = session.scalar(select(m.Destination.id).where(m.Destination.key == "crise"))
        session.execute(
            update(m.DestinationNumber)
            .where(
                m.DestinationNumber.destination_id == crise_id,
                m.DestinationNumber.territory == "capitale-nationale",
            )
            .values(number="4185550101")
        )
    settings = store.load()
    crise = settings.destination("crise")
    assert crise is not None and crise.number_for("capitale-nationale") is None
    assert directory_mirror(settings)["dest_CRISE"] == ""
    with store.change() as session:
        assert ("crise", "capitale-nationale", "4185550101") in numbers_to_fill(session)
        assert "crise" not in {k for k, _, _ in unverified_numbers(session)}
        record = next(d for d in list_destinations(session) if d.key == "crise")
    number = record.number_for("capitale-nationale")
    assert number is not None and number.to_fill


@pytest.mark.parametrize("verified", [True, False])
def test_a_fictional_number_an_administrator_enters_is_theirs(
    store: SettingsStore, verified: bool
) -> None:
    """A lab points a destination at a fictional line on purpose (6a: a busy line set on
    the admin page): it dials, and is only "to verify" until marked checked."""
    with store.change() as session:
        set_destination_number(
            session, "crise", "capitale-nationale", "418 555-0150", "admin", verified=verified
        )
        to_fill = numbers_to_fill(session)
        to_verify = unverified_numbers(session)
    assert ("crise", "capitale-nationale", "4185550150") not in to_fill
    assert (("crise", "capitale-nationale", "4185550150") in to_verify) is not verified
    crise = store.load().destination("crise")
    assert crise is not None and crise.number_for("capitale-nationale") == "4185550150"


@pytest.mark.parametrize(
    ("number", "placeholder"),
    [
        ("4185550101", True),
        ("14185550199", True),
        ("+14185550100", True),
        ("5550123", False),  # no area code: not the reserved range
        ("4185550200", False),
        ("4185550099", False),
        ("18662773553", False),
        ("5550000912", False),
        ("911", False),
        ("", False),
    ],
)
def test_fictional_range(number: str, placeholder: bool) -> None:
    """NANP reserves 555-0100 to 555-0199 for fiction, in every area code."""
    assert is_placeholder_number(number) is placeholder


def test_a_seed_with_a_fictional_number_stores_it_empty(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.toml"
    text = DEFAULT_SEED.read_text(encoding="utf-8")
    seed.write_text(
        text.replace(
            'numbers = { capitale-nationale = "", chaudiere-appalaches = "" }',
            'numbers = { capitale-nationale = "418 555-0101", chaudiere-appalaches = "" }',
            1,
        ),
        encoding="utf-8",
    )
    assert read_seed(seed).destinations[2].numbers["capitale-nationale"] == ""
    store = SettingsStore(migrated_engine)
    with store.change() as session:
        assert seed_if_empty(session, seed)
    assert stored_numbers(store)[("crise", "capitale-nationale")] == ("", False)


def test_a_seed_number_that_cannot_be_dialled_is_still_refused(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    text = DEFAULT_SEED.read_text(encoding="utf-8")
    seed.write_text(text.replace('capitale-nationale = "911"', 'capitale-nationale = "9x1"'))
    with pytest.raises(SeedError, match=r"destinations\[0\]\.numbers\.capitale-nationale"):
        read_seed(seed)
