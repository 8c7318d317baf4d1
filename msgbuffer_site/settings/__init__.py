"""msgbuffer's Django settings: DJANGO_DEBUG picks the module, as it always decided the mode.

    base.py        everything that does not depend on DEBUG
    local.py       DJANGO_DEBUG on (`make run`): development
    production.py  DJANGO_DEBUG off, the default: production

DJANGO_SETTINGS_MODULE stays msgbuffer_site.settings for every entry point (manage.py,
asgi.py, pytest.ini, the Procfile's processes, bench/): the one switch an operator sets
is DJANGO_DEBUG, and a subprocess that inherits it gets the same settings. The tests
run these modules too (tests/bootstrap.py sets their environment), so that the servers
they start run what production runs; there is no test.py to drift from them.
"""

from msgbuffer_site.environment import env_bool

if env_bool("DJANGO_DEBUG", False):
    from .local import *  # noqa: F403
else:
    from .production import *  # noqa: F403
