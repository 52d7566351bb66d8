"""QR codes drawn by the app itself, and printable bedside cards that carry them."""
