"""Local, stateful stand-ins for the APIs our connectors talk to.

Each API lives in its own subpackage (``sandbox.csm``, ``sandbox.hubspot``, ...) built on
``sandbox.core``: one WSGI app per API with a request journal, adversity knobs and the
``/_sandbox/`` control endpoints, served on loopback by :class:`sandbox.core.SandboxServer`.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
