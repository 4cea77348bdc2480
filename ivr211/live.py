"""What is happening on the line right now, as the AMI listener sees it (issue 4: the
navigators' presence and current calls, calls waiting), for the console and the status page."""

from __future__ import annotations
