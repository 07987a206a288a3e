"""WSGI entry point for production servers: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Web workers never run the scheduler; run one `taskhub scheduler` process beside them.
"""

import sys

from taskhub import create_app
from taskhub.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    print(f"error: {exc}\n(`taskhub config check` shows every setting)", file=sys.stderr)
    # Exit status 3 makes gunicorn stop ("worker failed to boot") instead of respawning forever.
    sys.exit(3)
