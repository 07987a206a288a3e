"""WSGI entry point for production servers: `gunicorn -w 4 wsgi:app`.

Web workers never run the scheduler; run one `taskhub scheduler` process beside them.
"""

from taskhub import create_app

app = create_app()
