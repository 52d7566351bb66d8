"""The claim board: staff see, claim and carry wishes to fulfilment."""
