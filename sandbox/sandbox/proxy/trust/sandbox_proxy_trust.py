"""Point ``certifi.where()`` at the sandbox proxy's CA when ``SANDBOX_PROXY_CA`` names one.

``requests`` applies ``REQUESTS_CA_BUNDLE`` only in ``Session.request``; a tap that builds a
``PreparedRequest`` and calls ``Session.send`` (singer-io tap-hubspot does) verifies against
certifi's bundle instead, so it cannot be told to trust the proxy by environment alone.
This module runs at interpreter start-up, before any tap code, two ways:

* ``sitecustomize.py`` beside it, when this folder is on ``PYTHONPATH`` (direct runs);
* ``sandbox_proxy_trust.pth``, when this folder is pip-installed into the tap's virtualenv
  (Meltano drops ``PYTHONPATH`` from every plugin's environment, so the peer plugins' pip_url
  installs it next to the tap).

Without ``SANDBOX_PROXY_CA`` (a real run) it does nothing. The tap's code is not touched;
only the trust store its HTTP library reads is redirected, for that process only.
"""

import os


def install() -> bool:
    """Redirect certifi to ``$SANDBOX_PROXY_CA``; True when it did."""
    ca = os.environ.get("SANDBOX_PROXY_CA")
    if not ca or not os.path.exists(ca):
        return False
    ca = os.path.abspath(ca)  # the tap may chdir later; a relative path would stop resolving
    try:
        import certifi  # noqa: PLC0415 - only when asked: a real run never imports it here
        import certifi.core  # noqa: PLC0415
    except ImportError:  # a tap without certifi reads SSL_CERT_FILE / REQUESTS_CA_BUNDLE
        return False

    def where() -> str:
        return ca

    certifi.where = where
    certifi.core.where = where
    return True


install()
