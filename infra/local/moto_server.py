"""The local AWS endpoint: moto server, patched to keep the AWS guarantees Baton relies on.

Each patch below is small and applied before `server.main`; they target moto 5.2.5.

DynamoDB requests are applied one at a time. moto's DynamoDB backend has no locking, and
its server is threaded, so two concurrent conditional writes (or two ADDs on one counter)
can both pass their checks. Real DynamoDB applies each item write atomically; serialising
DynamoDB calls restores that guarantee, which Baton's tests of optimistic locking, counters
and uniqueness depend on. Other services (SQS long polls in particular) stay concurrent.

TransactWriteItems honours ClientRequestToken. Real DynamoDB remembers a token for 10
minutes after the call that used it succeeded: a repeat with the same TransactItems gets
success without being applied again, and the same token on other TransactItems is
IdempotentParameterMismatchException. moto ignores the token, so a retried transaction
(an SDK retry after a timeout, a relay retrying a step) is applied twice.
`DynamoHandler.transact_write_items` is wrapped to remember each successful token with a
hash of its TransactItems and its response; it runs under the DynamoDB lock above.

SQS FIFO message groups are delivered strictly in order. moto's
`SQSBackend.receive_message` skips a message whose group is in `currently_pending_groups`,
a set it rebuilds from `Queue.pending_message_groups` each time it meets a message whose
visibility timeout expired; that property counts every message still in the pending set,
including expired ones the loop has not reached yet. So when m1, m2 and m3 of one group come
back from one visibility timeout, m1 is skipped (m2 and m3 still "pending"), m2 too, and m3
is delivered first. (The queue's message list itself stays in sent order.) The patches make
`pending_message_groups` the groups with a message truly in flight (received, not deleted,
not visible again), and run a FIFO receive as repeated single scans of moto's (no wait),
each after dropping expired messages from the pending set and under the queue's lock, so two
concurrent receives cannot hand out one group's messages to two consumers. A receive then
returns, per group, a prefix of that group's messages in sent order, and nothing from a
group with a message in flight. The long poll waits on the queue's condition between scans:
moto's own wait returns at once while any message is visible, even one of a locked group,
so its long poll on a FIFO queue spun, and never re-read which groups were in flight.

SQS FIFO deduplication lasts 5 minutes from the first send. moto only compares a new
message's deduplication id with the messages still in the queue, so once the first copy is
deleted a resend is delivered again. `SQSBackend.send_message` (which SendMessageBatch also
goes through) is wrapped to remember each FIFO queue's deduplication ids for 5 minutes; a
duplicate is answered as a success with the original MessageId, and not enqueued.

TransactWriteItems rolls back only what it touched. moto backs a transaction up by deep-copying
every table it names, once per item in the transaction, so each transaction costs time and
memory in proportion to the table: with 10,000 tickets a five-item transaction took seconds,
and concurrent writers grew the server past 20 GiB. The patch keeps moto's transaction
(conditions, errors, cancellation reasons) and replaces the backup: before it runs, each
item it names is copied; if it is cancelled, those items are put back as they were (and the
ones it created removed). A table with a stream keeps moto's whole-table backup, since its
stream records are rolled back with it.

Usage: python infra/local/moto_server.py -H 127.0.0.1 -p 4566
"""

import base64
import copy
import hashlib
import json
import sys
import threading
import time

from moto import server
from moto.core.responses import ActionResult
import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import DynamodbException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.models import Message, Queue, SQSBackend

# DynamoDB: one request at a time.

_dynamodb_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised_call_action(self):
    with _dynamodb_lock:
        return _call_action(self)


DynamoHandler.call_action = _serialised_call_action

# DynamoDB: TransactWriteItems is idempotent per ClientRequestToken for 10 minutes.

_TRANSACTION_TOKEN_SECONDS = 10 * 60
# (account, region, token) -> (completed at, hash of TransactItems, response)
_transaction_tokens: dict[tuple[str, str, str], tuple[float, str, object]] = {}
_transact_write_items = DynamoHandler.transact_write_items


class IdempotentParameterMismatchException(DynamodbException):
    error_type = "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException"

    def __init__(self) -> None:
        super().__init__(
            self.error_type,
            "Request parameters do not match the parameters of the earlier request "
            "with the same client token",
        )


def _canonical(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)


def _idempotent_transact_write_items(self):
    token = self.body.get("ClientRequestToken")
    if not token:
        return _transact_write_items(self)
    items = json.dumps(self.body.get("TransactItems"), sort_keys=True, default=_canonical)
    digest = hashlib.sha256(items.encode()).hexdigest()
    now = time.monotonic()
    for key, (completed, _, _) in list(_transaction_tokens.items()):
        if now - completed >= _TRANSACTION_TOKEN_SECONDS:
            del _transaction_tokens[key]
    key = (self.current_account, self.region, token)
    if key in _transaction_tokens:
        _, seen_digest, response = _transaction_tokens[key]
        if seen_digest != digest:
            raise IdempotentParameterMismatchException()
        return ActionResult(copy.deepcopy(response))
    result = _transact_write_items(self)
    _transaction_tokens[key] = (time.monotonic(), digest, copy.deepcopy(result.result))
    return result


DynamoHandler.transact_write_items = _idempotent_transact_write_items

# DynamoDB: a transaction backs up the items it touches, not whole tables.


class _TransactionBackup:
    """Stands in for the `copy` module inside moto's DynamoDB backend, whose only deep copies
    are a transaction's backups: a table without a stream is not copied (the items the
    transaction touches are, below); anything else is copied as before."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table) and value.stream_shard is None:
            return value
        return copy.deepcopy(value, memo)


dynamodb_models.copy = _TransactionBackup()
_backend_transact_write_items = DynamoDBBackend.transact_write_items


def _touched(backend, entry):
    """The table and key an entry of TransactItems writes or checks, or None when moto will
    reject the entry itself (no table, no key)."""
    try:
        (_, op), = entry.items()
        table = backend.get_table(op["TableName"])
        attrs = op["Item"] if "Item" in op else op["Key"]
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    except Exception:
        return None
    return table, hash_value, range_value


def _put_back(table, hash_value, range_value, item):
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


def _transact_write_items_backing_up_items(self, transact_items):
    backup = []
    for entry in transact_items[:100]:
        touched = _touched(self, entry)
        if touched is not None:
            table, hash_value, range_value = touched
            backup.append((*touched, copy.deepcopy(table.get_item(hash_value, range_value))))
    try:
        return _backend_transact_write_items(self, transact_items)
    except Exception:
        # Last first: an item named twice (which moto rejects) gets its first backup back.
        for table, hash_value, range_value, item in reversed(backup):
            _put_back(table, hash_value, range_value, item)
        raise


DynamoDBBackend.transact_write_items = _transact_write_items_backing_up_items

# SQS FIFO: per group, strictly in order; nothing while the group has a message in flight.


def _groups_in_flight(self):
    return {
        message.group_id
        for message in list(self._messages)
        if message.group_id is not None
        and message.receipt_handle is not None
        and not message.visible
    }


_receive_message = SQSBackend.receive_message


def _receive_message_in_group_order(
    self, queue_name, count, wait_seconds_timeout, visibility_timeout, *args, **kwargs
):
    queue = self.get_queue(queue_name)
    if not queue.fifo_queue:
        return _receive_message(
            self, queue_name, count, wait_seconds_timeout, visibility_timeout, *args, **kwargs
        )
    deadline = time.monotonic() + int(wait_seconds_timeout or 0)
    # The queue's Condition (over an RLock) makes each scan-and-mark exclusive; waiting on
    # it releases it, and SendMessage notifies it.
    with queue._messages_lock:
        while True:
            for message in set(queue.pending_messages):
                if message.visible:
                    queue.pending_messages.discard(message)
            # One scan of moto's own (redrive, retention, attribute filters), no waiting.
            messages = _receive_message(
                self, queue_name, count, 0, visibility_timeout, *args, **kwargs
            )
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            queue._messages_lock.wait(timeout=min(1.0, remaining))


Queue.pending_message_groups = property(_groups_in_flight)
SQSBackend.receive_message = _receive_message_in_group_order

# SQS FIFO: a deduplication id drops resends for 5 minutes from the first send.

_DEDUPLICATION_SECONDS = 5 * 60
_send_message = SQSBackend.send_message


def _send_message_deduplicated(
    self,
    queue_name,
    message_body,
    message_attributes=None,
    delay_seconds=None,
    deduplication_id=None,
    group_id=None,
    system_attributes=None,
    validate_group_id=True,
):
    def send():
        return _send_message(
            self,
            queue_name,
            message_body,
            message_attributes=message_attributes,
            delay_seconds=delay_seconds,
            deduplication_id=deduplication_id,
            group_id=group_id,
            system_attributes=system_attributes,
            validate_group_id=validate_group_id,
        )

    queue = self.get_queue(queue_name)
    dedup_id = deduplication_id
    if dedup_id is None and queue.attributes.get("ContentBasedDeduplication") == "true":
        dedup_id = hashlib.sha256(message_body.encode("utf-8")).hexdigest()
    if not queue.fifo_queue or dedup_id is None:
        return send()
    # dict.setdefault is atomic: one memory and one lock per queue object.
    seen = queue.__dict__.setdefault("_deduplication_ids_seen", {})
    lock = queue.__dict__.setdefault("_deduplication_ids_lock", threading.Lock())
    with lock:
        now = time.monotonic()
        for key, (first_sent, _, _) in list(seen.items()):
            if now - first_sent >= _DEDUPLICATION_SECONDS:
                del seen[key]
        if dedup_id not in seen:
            message = send()
            seen[dedup_id] = (now, message.id, message.sequence_number)
            return message
        _, message_id, sequence_number = seen[dedup_id]
    # A duplicate: validated like any send, accepted, not enqueued. The answer carries the
    # original MessageId and this request's body and attributes (their MD5s are what the
    # sender checks).
    self._validate_message(
        queue,
        message_body=message_body,
        delay_seconds=int(delay_seconds or 0),
        deduplication_id=deduplication_id,
        group_id=group_id,
        validate_group_id=validate_group_id,
    )
    duplicate = Message(message_id, message_body, system_attributes)
    duplicate.message_attributes = message_attributes or {}
    duplicate.deduplication_id = dedup_id
    duplicate.group_id = group_id
    duplicate.sequence_number = sequence_number
    return duplicate


SQSBackend.send_message = _send_message_deduplicated

if __name__ == "__main__":
    server.main(sys.argv[1:])
