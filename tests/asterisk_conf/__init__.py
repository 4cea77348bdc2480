"""Checks on asterisk_conf/: what a centre copies to /etc/asterisk."""
