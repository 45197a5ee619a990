"""The tabs in the order a user meets them."""

ALL: list = []
