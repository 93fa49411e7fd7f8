//! The local AWS endpoint keeps the AWS guarantees Baton's tests rely on, where moto 5.2.5
//! alone does not (see `infra/local/moto_server.py`): FIFO group order when several
//! messages of a group come back from one visibility timeout, TransactWriteItems
//! idempotent per ClientRequestToken, FIFO deduplication ids remembered for 5 minutes
//! after the first copy is consumed, and a cancelled transaction rolled back from a backup
//! of the items it names (moto copies whole tables, which does not scale). The checks are boto3 calls against the patched
//! server (`infra/local/check_moto_guarantees.py`); each of the first three fails against
//! moto unpatched, the rollback check against the patch without its restore.

use baton_tests::root;

#[test]
fn the_local_endpoint_keeps_fifo_order_transaction_tokens_and_dedup_windows() {
    let out = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("infra/local/check_moto_guarantees.py"))
        .current_dir(root())
        .output()
        .expect("the venv's python runs (make test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "a guarantee is not kept:\n{stdout}");
    for guarantee in [
        "sqs fifo order",
        "dynamodb transact token",
        "sqs fifo dedup",
        "dynamodb transact rollback",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with("PASS") && l.contains(guarantee)),
            "{guarantee} was checked"
        );
    }
}
