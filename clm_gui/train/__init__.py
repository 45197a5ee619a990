"""The training loop and its parts: steps, schedule, evaluation, checkpoints, the best model."""
