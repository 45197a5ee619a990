"""The tabs in the order a user meets them."""

from clm_gui.ui import (dataset_tab, hardware_tab, model_tab, playground_tab, tokenizer_tab,
                        train_tab)

ALL = [
    ("Hardware", hardware_tab),
    ("Dataset", dataset_tab),
    ("Tokenizer", tokenizer_tab),
    ("Model", model_tab),
    ("Train", train_tab),
    ("Playground", playground_tab),
]
