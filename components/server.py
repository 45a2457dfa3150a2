"""The dashboard's server process (`sitroom run`): Streamlit's own, which begins
counting what the pages read as soon as it answers, not at its first visit
(dashboard/figures/warmup.py). On a first start at a million people the count is
then under way while the first reader's browser loads the sign-in form."""

from __future__ import annotations

import gc
import importlib
import logging
import sys
import threading
import time

log = logging.getLogger("sitroom")
READY_WAIT_S = 60  # for Streamlit's runtime to exist; the first page run counts otherwise
RUN_CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"


def count_at_start() -> None:
    """Open the database the pages read (one per process: components.session) and
    start its warm-up, once Streamlit has set itself up; then load the pages' code.
    A database that cannot be opened is left to the first page run, which says why to
    its reader."""
    from streamlit.runtime import Runtime

    # imported while Streamlit sets itself up (about 2 s on two cores), not after
    from components import session
    from dashboard import config
    from dashboard.figures import warmup

    no_run_warnings_from_this_thread()
    deadline = time.monotonic() + READY_WAIT_S
    while not Runtime.exists():
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)

    try:
        warmup.start(session.database(config.db_url()))
    except Exception as exc:  # noqa: BLE001 - said by the first page run, not here
        log.warning("not counting at start: %s", exc)
    load_pages()


def no_run_warnings_from_this_thread() -> None:
    """Streamlit warns of any thread outside a page run that touches its caches ("missing
    ScriptRunContext"), as the count at start does on purpose (the process's Database):
    four lines in the log at each start. Its warnings alone are dropped."""
    name = threading.current_thread().name
    logging.getLogger(RUN_CONTEXT_LOGGER).addFilter(lambda record: record.threadName != name)


def load_pages() -> None:
    """Import every page's code, then set what is loaded aside from the cyclic garbage
    collector (gc.freeze): Streamlit runs a full collection after every page run,
    which otherwise walks the 200,000 objects of the libraries' modules each time,
    about 0.15 s on two cores; they live as long as the process. Done once, at start,
    so that the first reader's page does not wait for the imports either."""
    from dashboard.rules import access

    for key in access.PAGES:
        importlib.import_module(f"pages.{key}")
    gc.collect()  # what is garbage now is not kept for ever
    gc.freeze()


def main() -> None:
    """`streamlit run` with these arguments, beside the count."""
    # Streamlit first, then the thread that imports its runtime: two threads importing
    # the same package at once can meet a module half made ("cannot import name
    # 'Runtime' from partially initialized module"), and the server does not start.
    from streamlit.web import cli

    threading.Thread(target=count_at_start, name="count-at-start", daemon=True).start()

    sys.argv = ["streamlit", "run", *sys.argv[1:]]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
