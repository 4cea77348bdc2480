"""``ivr211 twilio``: the Twilio back end's own commands.

``twilio fallback`` prints the TwiML of the number's fallback URL
(``twilio_line.fallback``), to host apart from the web process: a static file on
another host, or a TwiML Bin. Print it again, and upload it, whenever ``[twilio]
fallback_numbers`` or the prompts' texts change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ivr211.cli.common import CliError, Commands
from ivr211.config import Config

__all__ = ["add_parsers", "cmd_twilio_fallback"]

#: A public URL for options that need one: the fallback document holds no URL.
_NO_URL = "https://ivr211.invalid"


def add_parsers(cli: Commands) -> None:
    group = cli.branch(cli.root, "twilio", "The line on Twilio ([twilio]).", "twilio_cmd")
    fallback = cli.leaf(
        group,
        "fallback",
        "Print the TwiML of the number's fallback URL (host it apart from this web "
        "process): the 2-1-1 notice in French and English, the navigators' phones "
        "([twilio] fallback_numbers), then the emergency numbers.",
        cmd_twilio_fallback,
    )
    fallback.add_argument("--output", type=Path, help="write to this new file instead of stdout")


def cmd_twilio_fallback(args: argparse.Namespace, config: Config) -> int:
    # Imported here: twilio is for this back end alone.
    from ivr211.twilio_options import twilio_options
    from twilio_line.fallback import fallback_twiml

    tw = config.twilio
    options = twilio_options(config, public_url=tw.public_url or _NO_URL, auth_token=lambda: "")
    text = str(fallback_twiml(options, tw.fallback_numbers, tw.fallback_ring_s)) + "\n"
    if args.output is None:
        print(text, end="")
    else:
        try:
            with args.output.open("x", encoding="utf-8") as out:
                out.write(text)
        except FileExistsError:
            raise CliError(f"{args.output} already exists: choose a new file") from None
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"fallback TwiML written to {args.output}")
    if not tw.fallback_numbers:
        print(
            "note: no [twilio] fallback_numbers: the document rings nobody, it only gives"
            " the emergency numbers",
            file=sys.stderr,
        )
    return 0
