"""One sync run in a child process, so a test can kill it mid-send (``test_sync_crash``)."""

import sys

from okendo_pipeline_tests.syncing import sync

if __name__ == "__main__":
    database, destination, url, batch_size = sys.argv[1:5]
    resource = {"batch_size": int(batch_size)} if destination == "iterable" else {}
    sync(database, destination, url, **resource)
