"""The hospital's organisation: general branches, branches (the router's labels), departments."""
