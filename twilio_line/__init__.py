"""The line on Twilio: a second telephony back end beside the FastAGI server.

Twilio's voice webhooks drive the same call flow as Asterisk does (``ivr.flow.CallFlow``,
unchanged): each request brings the caller's event (the call answered, a key, a number
typed, silence, the hang-up) and is answered with the flow's next action as TwiML built
by the twilio library. What lives where:

* ``options``: ``TwilioOptions``, everything taken from the configuration (``ivr211``
  builds it from ``[twilio]``);
* ``twiml``: actions and decisions as TwiML, Twilio's parameters as the flow's events;
* ``calls``: ``CallDesk``, one call's flow rebuilt at each webhook from its row in the
  database (``store.twilio_calls``, keyed on ``CallSid``): why the database and not a
  signed token is said there;
* ``waiting``: the queue's ``waitUrl`` (position, reminder, maximum wait, closing time);
* ``webhooks``: the Flask blueprint, every request checked with ``RequestValidator``.

An adapter: it imports the call flow (``ivr``) and storage (``store``), never another
adapter (``agi_scripts``, ``listener``, ``research``, ``dashboard``) nor ``ivr211``, which
registers the blueprint on the dashboard's app when ``[twilio] enabled = true``.
"""
