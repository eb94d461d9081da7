"""``python -m tap_kustomer``."""

from tap_kustomer.tap import TapKustomer

TapKustomer.cli()
