"""The AMI listener: the only process that talks to the Asterisk Manager Interface.

It follows channels and bridges, turns transfer events into transfer records
(interpret, then write), and executes the navigators' actions sent to it through
the command table.
"""
