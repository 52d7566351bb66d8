"""The patient's wish form, at a lobby kiosk and on a phone."""
