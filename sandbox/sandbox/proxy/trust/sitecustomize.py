"""Make a tap trust the sandbox proxy's CA even where ``REQUESTS_CA_BUNDLE`` is not read.

``requests`` applies ``REQUESTS_CA_BUNDLE`` only in ``Session.request``; a tap that builds a
``PreparedRequest`` and calls ``Session.send`` (singer-io tap-hubspot does) verifies against
certifi's bundle instead. This module is put on the tap's ``PYTHONPATH`` by
``SandboxProxy.env()`` and Python imports it at start-up, before any tap code: when
``SANDBOX_PROXY_CA`` names a file, ``certifi.where()`` returns it. The tap's code is not
touched; only the trust store its HTTP library reads is redirected, for that process only.
"""

import os

_CA = os.environ.get("SANDBOX_PROXY_CA")
if _CA and os.path.exists(_CA):
    try:
        import certifi
        import certifi.core
    except ImportError:  # a tap without certifi reads SSL_CERT_FILE / REQUESTS_CA_BUNDLE
        pass
    else:

        def _where() -> str:
            return _CA

        certifi.where = _where
        certifi.core.where = _where
