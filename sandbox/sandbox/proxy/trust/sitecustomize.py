"""Start-up hook for direct runs (this folder on ``PYTHONPATH``): see ``sandbox_proxy_trust``."""

import sandbox_proxy_trust  # noqa: F401 - importing it installs the redirect
