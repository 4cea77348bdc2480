"""``ivr211 simulate``: place simulated calls against the FastAGI server, or through the
Twilio back end's webhooks (``--backend twilio``).

The command takes the simulator's own options (``agi_scripts.simulate``), with the
server's host and port from ``[agi]``, so its parser is built when it runs: ``ivr211
simulate --help`` shows them, even when the configuration cannot be read.

On Twilio (``twilio_line.simulate``), the webhooks run in this process on the line's
database, with a Flask app of their own: each request is signed as Twilio signs it
(with a key made up for the run, so no auth token is needed) and checked by the same
code as in production; the TwiML exchanged is printed, then the flow's decision as the
FastAGI simulator prints the channel variables.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from agi_scripts import simulate
from ivr.dialplan import VAR_CALLBACK, VAR_LANG, vm_category
from ivr211.cli.common import PROG, CliError, Commands, Parser, configure_logging
from ivr211.cli.research_box import leave_message
from ivr211.config import Config, ConfigError, VoicemailConfig, load_config
from ivr211.wiring import ingest_options

__all__ = ["LOCAL_SPOOL", "add_parser", "run_simulate", "simulation_spool"]

BACKENDS = ("fastagi", "twilio")

#: Where simulated messages go on a machine without Asterisk: the project's data folder.
LOCAL_SPOOL = Path("var/spool/voicemail")


def add_parser(cli: Commands) -> None:
    """A command whose options are parsed by :func:`run_simulate` (``handler`` None)."""
    sim = cli.root.add_parser(
        "simulate",
        help="Place simulated calls against the FastAGI server (see `simulate --help`).",
        add_help=False,
        parents=[cli.common],
        allow_abbrev=False,
    )
    sim.set_defaults(handler=None)


def run_simulate(args: argparse.Namespace, extras: Sequence[str]) -> int:
    """``ivr211 simulate``: the simulator's own options, with host/port from the config."""
    parser = Parser(
        prog=f"{PROG} simulate",
        description="Place simulated calls against the FastAGI server.",
        allow_abbrev=False,
    )
    parser.add_argument("--config", type=Path, help="configuration file (else $IVR211_CONFIG)")
    simulate.add_arguments(parser)
    wants_help = any(arg in ("-h", "--help") for arg in extras)
    config: Config | None = None
    try:
        config = load_config(args.config)
    except ConfigError:
        if not wants_help:
            raise
    else:
        dests = {action.dest for action in parser._actions}
        defaults = {k: v for k, v in (("host", config.agi.host), ("port", config.agi.port))}
        parser.set_defaults(**{k: v for k, v in defaults.items() if k in dests})
        configure_logging(config)
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="fastagi",
        help="fastagi: a call to the FastAGI server over TCP (default); twilio: a call "
        "through the Twilio webhooks, in this process, printing the TwiML exchanged",
    )
    parser.add_argument(
        "--leave-message",
        action="store_true",
        help="when the call ends on the research route, leave a message in the voicemail "
        f"spool as app_voicemail would: [voicemail] spool_dir if it exists or is not "
        f"Asterisk's default, else {LOCAL_SPOOL}",
    )
    parsed = parser.parse_args(list(extras))
    if parsed.backend == "twilio":
        if config is None:
            raise CliError("--backend twilio needs the configuration (the line's database)")
        return _simulate_twilio(parsed, config)
    hook = None
    if parsed.leave_message and config is not None:
        hook = _spool_writer(config)
    return int(simulate.run(parsed, hook))


def simulation_spool(config: Config) -> Path:
    """The spool a simulated message goes to: ``[voicemail] spool_dir`` when it is a real
    one (the folder exists: Asterisk made it) or a folder chosen in the configuration
    (anything but Asterisk's default), else :data:`LOCAL_SPOOL` under the project's data
    folder: a simulation on a machine without Asterisk never creates ``/var/spool/...``."""
    configured = config.voicemail.spool_dir
    default = VoicemailConfig.model_fields["spool_dir"].default
    if configured.is_dir() or configured != default:
        return configured
    return LOCAL_SPOOL


def _spool_writer(config: Config) -> Callable[[Mapping[str, str], str], None]:
    """Do what [ivr211-research] does after the flow: VoiceMail() with VM_CATEGORY set
    from the caller's language and callback number."""
    spool = simulation_spool(config)

    def write(variables: Mapping[str, str], callerid: str) -> None:
        options = dataclasses.replace(ingest_options(config), spool_dir=spool)
        box, _, context = options.mailbox.partition("@")
        language = variables.get(f"__{VAR_LANG}") or variables.get(VAR_LANG) or "fr"
        callback = variables.get(VAR_CALLBACK) or None
        txt = leave_message(
            options.mailbox_dir / "INBOX",
            mailbox=box,
            context=context,
            callerid=callerid,
            category=vm_category("en" if language == "en" else "fr", callback),
        )
        print(f"message left: {txt} (and {txt.with_suffix('.wav').name})")
        if spool != config.voicemail.spool_dir:
            print(
                f"(no Asterisk spool at {config.voicemail.spool_dir}: left under {spool};"
                f" `IVR211_VOICEMAIL__SPOOL_DIR={spool} ivr211 voicemail sweep` takes it in)"
            )

    return write


def _simulate_twilio(parsed: argparse.Namespace, config: Config) -> int:
    """A call through the Twilio webhooks (``ivr211.twilio_simulation``, imported here:
    Flask and twilio are for this back end alone)."""
    from ivr211.twilio_simulation import simulate_twilio

    return simulate_twilio(parsed, config)
