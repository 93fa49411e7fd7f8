"""Check that the local AWS endpoint keeps the AWS guarantees moto_server.py patches back in.

Starts infra/local/moto_server.py on a free port, then checks:
  1. SQS FIFO: within a message group, messages are delivered strictly in sent order, and
     nothing more of a group is delivered while one of its messages is in flight, including
     when several messages of the group come back from one visibility timeout together.
  2. DynamoDB TransactWriteItems: a repeat with the same ClientRequestToken is answered as
     the first call was, without applying again; the same token on a different request is
     IdempotentParameterMismatchException (HTTP 400).
  3. SQS FIFO: a MessageDeduplicationId seen on the queue in the last 5 minutes drops the
     message, even once the first copy was received and deleted.
  4. DynamoDB TransactWriteItems: a cancelled transaction leaves every item it named as it
     was (moto_server.py backs up those items instead of whole tables), on a table with a
     sort key and on one without.

Prints one line per check and exits non-zero if any fails.

Usage: .venv/bin/python infra/local/check_moto_guarantees.py [--launcher PATH]
(--launcher runs another launcher script, e.g. a copy without the patches.)
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(launcher: Path, port: int, log) -> subprocess.Popen:
    python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
    proc = subprocess.Popen(
        [python, str(launcher), "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"endpoint exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("endpoint did not start within 60s")


def clients(port: int):
    common = dict(
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )
    return boto3.client("sqs", **common), boto3.client("dynamodb", **common)


def fifo_queue(sqs, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}.fifo"
    return sqs.create_queue(
        QueueName=name, Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"}
    )["QueueUrl"]


def send(sqs, url: str, group: str, body: str) -> None:
    sqs.send_message(
        QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body
    )


def receive(sqs, url: str, count: int, visibility: int) -> list[dict]:
    return sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=count,
        VisibilityTimeout=visibility,
        WaitTimeSeconds=0,
        MessageSystemAttributeNames=["MessageGroupId"],
    ).get("Messages", [])


def bodies(messages: list[dict]) -> list[str]:
    return [m["Body"] for m in messages]


def group_prefixes(sent: dict[str, list[str]], got: list[dict]) -> str | None:
    """None if, per group, the delivered bodies are a prefix of that group's sent bodies."""
    for group, order in sent.items():
        delivered = [m["Body"] for m in got if m["Attributes"]["MessageGroupId"] == group]
        if delivered != order[: len(delivered)]:
            return f"group {group}: delivered {delivered}, sent order {order}"
    return None


# 1. SQS FIFO group order -------------------------------------------------------------


def check_fifo_redelivery_prefix(sqs) -> tuple[bool, str]:
    url = fifo_queue(sqs, "order-prefix")
    sent = {"g": ["g1", "g2", "g3"], "h": ["h1", "h2"]}
    for body in ["g1", "h1", "g2", "h2", "g3"]:
        send(sqs, url, body[0], body)
    first = receive(sqs, url, 10, visibility=1)
    if bodies(first) != ["g1", "h1", "g2", "h2", "g3"]:
        return False, f"setup: first receive got {bodies(first)}"
    time.sleep(2)  # all five come back from the same visibility timeout
    again = receive(sqs, url, 10, visibility=30)
    if not again:
        return False, "nothing redelivered after the visibility timeout"
    problem = group_prefixes(sent, again)
    if problem:
        return False, f"redelivered {bodies(again)}: {problem}"
    return True, f"redelivered {bodies(again)}"


def check_fifo_redelivery_first_and_lock(sqs) -> list[tuple[str, bool, str]]:
    url = fifo_queue(sqs, "order-lock")
    for body in ["m1", "m2", "m3"]:
        send(sqs, url, "g", body)
    first = receive(sqs, url, 10, visibility=1)
    if bodies(first) != ["m1", "m2", "m3"]:
        detail = f"setup: first receive got {bodies(first)}"
        return [(name, False, detail) for name in ("first", "lock", "rest")]
    time.sleep(2)
    results = []
    one = receive(sqs, url, 1, visibility=30)
    results.append(("first", bodies(one) == ["m1"], f"got {bodies(one)}, want ['m1']"))
    locked = receive(sqs, url, 10, visibility=30)
    results.append(
        ("lock", locked == [], f"got {bodies(locked)} while {bodies(one)} in flight, want []")
    )
    for m in one:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    rest = receive(sqs, url, 10, visibility=30)
    ok = bool(rest) and bodies(rest) == ["m2", "m3"][: len(rest)]
    results.append(("rest", ok, f"after deleting {bodies(one)} got {bodies(rest)}"))
    return results


def check_fifo_long_poll_expiry(sqs) -> tuple[bool, str]:
    """Messages whose visibility timeout expires during a long poll come back in order."""
    url = fifo_queue(sqs, "order-poll")
    for body in ["m1", "m2", "m3"]:
        send(sqs, url, "g", body)
    first = receive(sqs, url, 10, visibility=2)
    if bodies(first) != ["m1", "m2", "m3"]:
        return False, f"setup: first receive got {bodies(first)}"
    polled = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=30,
        WaitTimeSeconds=6,
        MessageSystemAttributeNames=["MessageGroupId"],
    ).get("Messages", [])
    ok = bool(polled) and bodies(polled) == ["m1", "m2", "m3"][: len(polled)]
    return ok, f"long poll got {bodies(polled)}"


def check_fifo_long_poll_does_not_block(sqs) -> tuple[bool, str]:
    """While one long poll waits on a FIFO queue, sends and receives on it still answer."""
    url = fifo_queue(sqs, "order-concurrent")
    send(sqs, url, "g", "m1")
    send(sqs, url, "g", "m2")
    receive(sqs, url, 1, visibility=30)  # m1 in flight: group g has nothing to deliver
    polled: list[dict] = []
    poller = threading.Thread(
        target=lambda: polled.extend(
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get(
                "Messages", []
            )
        )
    )
    started = time.monotonic()
    poller.start()
    time.sleep(0.5)
    t = time.monotonic()
    other = receive(sqs, url, 10, visibility=30)
    receive_took = time.monotonic() - t
    t = time.monotonic()
    send(sqs, url, "x", "x1")
    send_took = time.monotonic() - t
    poller.join()
    poll_took = time.monotonic() - started
    ok = other == [] and bodies(polled) == ["x1"] and max(receive_took, send_took) < 2 and poll_took < 4
    return ok, (
        f"receive {bodies(other)} in {receive_took:.2f}s, send in {send_took:.2f}s, "
        f"long poll got {bodies(polled)} after {poll_took:.2f}s"
    )


# 2. DynamoDB TransactWriteItems ClientRequestToken ----------------------------------


def check_transact_idempotency(ddb) -> list[tuple[str, bool, str]]:
    table = f"idem-{uuid.uuid4().hex[:12]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    raw: list[tuple[int, bytes]] = []

    def capture(http_response, **_):
        raw.append((http_response.status_code, http_response.content))

    ddb.meta.events.register("after-call.dynamodb.TransactWriteItems", capture)

    def add(n: int) -> list[dict]:
        return [
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "counter"}},
                    "UpdateExpression": "ADD n :n",
                    "ExpressionAttributeValues": {":n": {"N": str(n)}},
                }
            }
        ]

    def counter() -> str:
        item = ddb.get_item(TableName=table, Key={"pk": {"S": "counter"}}, ConsistentRead=True)
        return item.get("Item", {}).get("n", {}).get("N", "absent")

    token = str(uuid.uuid4())
    results = []
    ddb.transact_write_items(TransactItems=add(1), ClientRequestToken=token)
    ddb.transact_write_items(TransactItems=add(1), ClientRequestToken=token)
    n = counter()
    results.append(("repeat", n == "1", f"counter is {n} after two calls with one token, want 1"))
    (s1, b1), (s2, b2) = raw[0], raw[1]
    results.append(
        ("answer", (s1, b1) == (s2, b2), f"first {s1} {b1!r}, repeat {s2} {b2!r}")
    )
    try:
        ddb.transact_write_items(TransactItems=add(5), ClientRequestToken=token)
        status, body = raw[-1]
        ok, detail = False, f"succeeded ({status} {body!r}); counter is {counter()}"
    except ClientError as err:
        status, body = raw[-1]
        code = err.response["Error"]["Code"]
        want_type = b'"com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException"'
        ok = code == "IdempotentParameterMismatchException" and status == 400 and want_type in body
        ok = ok and counter() == "1"
        detail = f"{status} {body!r}; counter is {counter()}"
    results.append(("mismatch", ok, detail))
    before = counter()
    ddb.transact_write_items(TransactItems=add(1), ClientRequestToken=str(uuid.uuid4()))
    n = counter()
    results.append(
        ("new token", int(n) == int(before) + 1, f"counter went {before} -> {n} with a new token")
    )
    return results


# 3. SQS FIFO deduplication after delete ----------------------------------------------


def check_fifo_dedup(sqs) -> list[tuple[str, bool, str]]:
    url = fifo_queue(sqs, "dedup")
    first = sqs.send_message(
        QueueUrl=url, MessageBody="hello", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    got = receive(sqs, url, 10, visibility=30)
    if bodies(got) != ["hello"]:
        detail = f"setup: first receive got {bodies(got)}"
        return [(name, False, detail) for name in ("dropped", "message id", "batch")]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])

    results = []
    again = sqs.send_message(
        QueueUrl=url, MessageBody="hello", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    after = receive(sqs, url, 10, visibility=30)
    results.append(
        ("dropped", after == [], f"after delete, a resend with the same id delivered {bodies(after)}")
    )
    results.append(
        (
            "message id",
            again["MessageId"] == first["MessageId"],
            f"first {first['MessageId']}, duplicate answered {again['MessageId']}",
        )
    )
    for m in after:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    batch = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "hello", "MessageGroupId": "g", "MessageDeduplicationId": "d1"}
        ],
    )
    after = receive(sqs, url, 10, visibility=30)
    ok = [e["Id"] for e in batch.get("Successful", [])] == ["a"] and after == []
    results.append(
        (
            "batch",
            ok,
            f"batch resend: successful {[e['Id'] for e in batch.get('Successful', [])]}, "
            f"delivered {bodies(after)}",
        )
    )
    return results


# 4. DynamoDB TransactWriteItems rollback -------------------------------------------


def check_transact_rollback(ddb) -> list[tuple[str, bool, str]]:
    results = []
    for shape, sort_key in (("sort key", "sk"), ("hash key only", None)):
        table = f"rollback-{uuid.uuid4().hex[:12]}"
        schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
        attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
        if sort_key:
            schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
            attributes.append({"AttributeName": sort_key, "AttributeType": "S"})
        ddb.create_table(
            TableName=table,
            KeySchema=schema,
            AttributeDefinitions=attributes,
            BillingMode="PAY_PER_REQUEST",
        )

        def key(name: str) -> dict:
            k = {"pk": {"S": name}}
            if sort_key:
                k[sort_key] = {"S": "x"}
            return k

        def get(name: str) -> dict | None:
            return ddb.get_item(TableName=table, Key=key(name), ConsistentRead=True).get("Item")

        ddb.put_item(TableName=table, Item={**key("kept"), "n": {"N": "1"}})
        ddb.put_item(TableName=table, Item={**key("deleted"), "n": {"N": "2"}})
        ddb.put_item(TableName=table, Item={**key("replaced"), "n": {"N": "3"}})
        items = [
            {"Put": {"TableName": table, "Item": {**key("created"), "n": {"N": "9"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": table, "Key": key("kept"), "UpdateExpression": "ADD n :n",
                        "ExpressionAttributeValues": {":n": {"N": "5"}}}},
            {"Delete": {"TableName": table, "Key": key("deleted")}},
            {"Put": {"TableName": table, "Item": {**key("replaced"), "n": {"N": "30"}}}},
            {"ConditionCheck": {"TableName": table, "Key": key("missing"),
                                "ConditionExpression": "attribute_exists(pk)"}},
        ]
        try:
            ddb.transact_write_items(TransactItems=items)
            cancelled, reasons = False, []
        except ClientError as err:
            cancelled = err.response["Error"]["Code"] == "TransactionCanceledException"
            reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
        after = {name: get(name) for name in ("created", "kept", "deleted", "replaced")}
        ok = (
            cancelled
            and reasons == ["None", "None", "None", "None", "ConditionalCheckFailed"]
            and after["created"] is None
            and after["kept"]["n"]["N"] == "1"
            and after["deleted"] is not None
            and after["replaced"]["n"]["N"] == "3"
        )
        name = "dynamodb transact rollback: a cancelled transaction leaves its items as they were"
        results.append((f"{name} ({shape})", ok, f"cancelled {cancelled}, reasons {reasons}, items after {after}"))
        # And a transaction that succeeds still applies.
        try:
            ddb.transact_write_items(TransactItems=items[:4])
            applied = get("created") is not None and get("kept")["n"]["N"] == "6" and get("deleted") is None
        except ClientError:
            applied = False
        name = "dynamodb transact rollback: a transaction that passes applies"
        results.append((f"{name} ({shape})", applied, f"items after {[get(n) for n in ('created', 'kept', 'deleted')]}"))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--launcher", default=str(ROOT / "infra" / "local" / "moto_server.py"))
    args = parser.parse_args()

    port = free_port()
    with tempfile.TemporaryFile() as log:
        try:
            proc = start_server(Path(args.launcher), port, log)
        except RuntimeError as err:
            log.seek(0)
            print(f"FAIL endpoint: {err}\n{log.read().decode(errors='replace')}")
            return 2
        try:
            sqs, ddb = clients(port)
            results = []
            ok, detail = check_fifo_redelivery_prefix(sqs)
            results.append(("sqs fifo order: one visibility timeout, each group redelivered as an in-order prefix", ok, detail))
            names = {
                "first": "sqs fifo order: after one visibility timeout, the group restarts at its first message",
                "lock": "sqs fifo order: nothing more of a group while one of its messages is in flight",
                "rest": "sqs fifo order: after deleting the in-flight message, the rest follow in order",
            }
            results += [(names[k], ok, d) for k, ok, d in check_fifo_redelivery_first_and_lock(sqs)]
            ok, detail = check_fifo_long_poll_expiry(sqs)
            results.append(("sqs fifo order: messages expiring during a long poll come back in order", ok, detail))
            ok, detail = check_fifo_long_poll_does_not_block(sqs)
            results.append(("sqs fifo order: a waiting long poll does not block sends or receives", ok, detail))
            names = {
                "repeat": "dynamodb transact token: a repeat with the same token does not apply again",
                "answer": "dynamodb transact token: a repeat gets the first call's answer",
                "mismatch": "dynamodb transact token: same token, other items is IdempotentParameterMismatchException 400",
                "new token": "dynamodb transact token: a new token applies",
            }
            results += [(names[k], ok, d) for k, ok, d in check_transact_idempotency(ddb)]
            names = {
                "dropped": "sqs fifo dedup: an id seen in the last 5 minutes drops the message after delete",
                "message id": "sqs fifo dedup: the duplicate send answers with the original MessageId",
                "batch": "sqs fifo dedup: a duplicate in SendMessageBatch succeeds and is dropped",
            }
            results += [(names[k], ok, d) for k, ok, d in check_fifo_dedup(sqs)]
            results += check_transact_rollback(ddb)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    failed = 0
    for name, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))
        failed += not ok
    print(f"{len(results) - failed}/{len(results)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
