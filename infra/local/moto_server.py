"""The local AWS endpoint: moto server, with DynamoDB requests applied one at a time.

moto's DynamoDB backend has no locking, and its server is threaded, so two concurrent
conditional writes (or two ADDs on one counter) can both pass their checks. Real DynamoDB
applies each item write atomically; serialising DynamoDB calls restores that guarantee,
which Baton's tests of optimistic locking, counters and uniqueness depend on. Other
services (SQS long polls in particular) stay concurrent.

Usage: python infra/local/moto_server.py -H 127.0.0.1 -p 4566
"""

import sys
import threading

from moto import server
from moto.dynamodb.responses import DynamoHandler

_dynamodb_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised_call_action(self):
    with _dynamodb_lock:
        return _call_action(self)


DynamoHandler.call_action = _serialised_call_action

if __name__ == "__main__":
    server.main(sys.argv[1:])
