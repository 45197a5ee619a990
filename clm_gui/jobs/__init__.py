"""The one background training job: preparing a run, launching it, managing it, the quick start."""
