"""Hosted mode and the app as a server: its settings, who owns which run, upload and training quotas."""
