"""The tabs in the order a user meets them: the quick start (the demo path), then one tab per step."""

from clm_gui.ui import (dataset_tab, hardware_tab, model_tab, playground_tab, quickstart_tab, tokenizer_tab,
                        train_tab)

ALL = [
    ("Quick start", quickstart_tab),
    ("Hardware", hardware_tab),
    ("Dataset", dataset_tab),
    ("Tokenizer", tokenizer_tab),
    ("Model", model_tab),
    ("Train", train_tab),
    ("Playground", playground_tab),
]
