//! The lock and the journal in one DynamoDB table, shared by every machine that runs kong.
//!
//! # Key schema
//! Partition key `pk` (string), sort key `sk` (string); on-demand capacity. Items:
//! - **Lock** of a topology: `pk = lock#<topology>`, `sk = lock`; `version` (number, the
//!   fencing token, +1 at every acquisition), `run_id`, `host`, `pid`, `started_at`,
//!   `lease_expires_at` (RFC 3339), `lease_ms` (the same instant in Unix milliseconds, 0 once
//!   released), `token` (random, names one acquisition).
//! - **Record** of a run: `pk = run#<run id>`, `sk = rec#<sequence, 10 digits>`; `event`,
//!   `at`, `version` (the token it was written under), `token` (random, names one append),
//!   and either `record` (the JSON line of the local journal) or, for a record above
//!   [`ITEM_DATA_LIMIT`] (a big plan or baseline), `encoding = zlib`, `chunks` (number) and
//!   the chunk items below.
//! - **Chunk** of a big record: `pk = run#<run id>`, `sk = rec#<sequence>#<token>#<index, 4
//!   digits>`; `data` (binary, at most [`ITEM_DATA_LIMIT`] bytes of the zlib stream).
//! - **Run index**: `pk = runs`, `sk = <run id>`; `topology`, `operation`, `region`,
//!   `started_at`. Written with the run's first record; `kong runs` queries it.
//!
//! # Guarantees
//! - Acquiring the lock is one conditional `UpdateItem`: the item is absent or its lease has
//!   expired. Renewing and releasing are conditional on the version still being ours.
//! - Every journal item is written by a `TransactWriteItems` holding a `ConditionCheck` that
//!   the lock's version is still the one acquired, and a `Put` conditional on the item not
//!   existing: a writer that lost the lock writes nothing, and no record is ever overwritten.
//!   A record's chunks are written (fenced the same way) before its head item; chunks without
//!   a head are never read.
//! - Throttling, 5xx, timeouts and dropped connections are retried with the policy given
//!   (the executor's). An attempt whose answer was lost may have been applied: a retry that
//!   then finds its own item (same `token`) counts it as written.
//! - Time: leases compare the clocks of the machines; keep them in sync (NTP).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::{Read, Write};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Put, ReturnValue, ScalarAttributeType, TableStatus,
    TransactWriteItem,
};
use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;

use crate::backend::BackendError;
use crate::backend::aws::calls::{Call, classify};

use super::lock::{LockError, LockOwner};
use super::store::{encode, is_valid_run_id};
use super::{JournalError, Record, RunId, RunLog, sort_runs};

/// Largest payload (JSON text or zlib chunk) of one item; DynamoDB's limit is 400 KB per
/// item, names and keys included.
pub const ITEM_DATA_LIMIT: usize = 350 * 1024;

/// Partition key of the run index.
const INDEX_PK: &str = "runs";
/// Sort key of lock items.
const LOCK_SK: &str = "lock";

type Item = HashMap<String, AttributeValue>;

/// A DynamoDB table holding the lock and the journal.
#[derive(Debug, Clone)]
pub struct DynamoState {
    client: Client,
    table: String,
    region: String,
    retry: ExponentialBuilder,
    credentials: String,
}

/// Why one call failed, before retries are decided.
#[derive(Debug)]
enum CallError {
    /// May pass if tried again.
    Transient(String),
    /// Will fail again.
    Permanent(String),
    /// A condition of the call was not met (per item of a transaction: `true` where it failed).
    Condition(Vec<bool>),
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'i>(item: &'i Item, name: &str) -> Option<&'i str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn now_ms() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0)
}

fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn lock_pk(topology: &str) -> String {
    format!("lock#{topology}")
}

/// The key of `topology`'s lock item.
fn lock_key(topology: &str) -> Item {
    key(lock_pk(topology), LOCK_SK.to_string())
}

fn run_pk(id: &str) -> String {
    format!("run#{id}")
}

fn head_sk(seq: u64) -> String {
    format!("rec#{seq:010}")
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

impl DynamoState {
    /// The table `table` through `client` (its region named `region` in messages); calls are
    /// retried with `retry`; credential errors name `credentials`.
    pub fn new(
        client: Client,
        table: String,
        region: String,
        retry: ExponentialBuilder,
        credentials: String,
    ) -> DynamoState {
        DynamoState {
            client,
            table,
            region,
            retry,
            credentials,
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The table's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// `arn`-like name for messages: `table kong-state (us-east-1)`.
    fn describe(&self) -> String {
        format!("DynamoDB table `{}` ({})", self.table, self.region)
    }

    fn store_error(&self, operation: &str, message: String) -> JournalError {
        JournalError::Store(format!("{} {operation}: {message}", self.describe()))
    }

    fn sdk_error<E>(&self, operation: &'static str, err: &SdkError<E, HttpResponse>) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let call = Call {
            service: "dynamodb",
            operation,
            target: &self.table,
            dials: "",
        };
        match classify(&call, err, &self.credentials) {
            BackendError::Transient { message, .. } => CallError::Transient(message),
            BackendError::Permanent { message, .. } => CallError::Permanent(message),
        }
    }

    /// Runs `attempt` until it passes, fails for good, or the retry policy gives up on
    /// transient failures.
    async fn retrying<T, F, Fut>(&self, operation: &'static str, attempt: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        attempt
            .retry(self.retry)
            .when(|e| matches!(e, CallError::Transient(_)))
            .notify(|e, delay| {
                tracing::warn!(error = ?e, ?delay, table = %self.table, operation, "DynamoDB: retrying")
            })
            .await
    }

    /// An update of `topology`'s lock item.
    fn update_lock(&self, topology: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(lock_key(topology)))
    }

    fn failed(&self, operation: &'static str, e: CallError) -> JournalError {
        match e {
            CallError::Transient(m) => {
                self.store_error(operation, format!("{m} (gave up after retrying)"))
            }
            CallError::Permanent(m) => self.store_error(operation, m),
            CallError::Condition(_) => self.store_error(
                operation,
                "a condition of the write was not met".to_string(),
            ),
        }
    }

    async fn get_item(&self, pk: String, sk: String) -> Result<Option<Item>, JournalError> {
        self.retrying("GetItem", || async {
            self.client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(pk.clone(), sk.clone())))
                .consistent_read(true)
                .send()
                .await
                .map(|out| out.item)
                .map_err(|e| self.sdk_error("GetItem", &e))
        })
        .await
        .map_err(|e| self.failed("GetItem", e))
    }

    /// Every item of a partition whose sort key starts with `prefix`, in sort key order.
    async fn query(&self, pk: &str, limit: Option<i32>) -> Result<Vec<Item>, JournalError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .retrying("Query", || async {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .key_condition_expression("pk = :pk")
                        .expression_attribute_values(":pk", s(pk))
                        .consistent_read(true)
                        .set_limit(limit)
                        .set_exclusive_start_key(start.clone())
                        .send()
                        .await
                        .map_err(|e| self.sdk_error("Query", &e))
                })
                .await
                .map_err(|e| self.failed("Query", e))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || limit.is_some() {
                return Ok(items);
            }
        }
    }

    // ---- the lock ----

    fn owner_of(item: &Item) -> LockOwner {
        let text = |name: &str| get_s(item, name).unwrap_or("unknown").to_string();
        LockOwner {
            host: text("host"),
            pid: get_n(item, "pid")
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or(0),
            run_id: text("run_id"),
            started_at: text("started_at"),
            lease_expires_at: text("lease_expires_at"),
        }
    }

    /// The live holder of `topology`'s lock (lease not expired), if any.
    pub async fn holder(&self, topology: &str) -> Result<Option<LockOwner>, JournalError> {
        let item = self
            .get_item(lock_pk(topology), LOCK_SK.to_string())
            .await?;
        Ok(item
            .filter(|i| get_n(i, "lease_ms").is_some_and(|ms| ms > now_ms()))
            .map(|i| DynamoState::owner_of(&i)))
    }

    /// Takes `topology`'s lock if it is free or its lease expired, incrementing its version.
    #[allow(clippy::result_large_err)]
    pub async fn acquire(
        &self,
        topology: &str,
        mut owner: LockOwner,
        lease: Duration,
    ) -> Result<DynamoLease, LockError> {
        let token = random_token();
        let now = now_ms();
        let expiry = lease_expiry(lease);
        owner.lease_expires_at = expiry.to_string();
        let expiry_ms = u64::try_from(expiry.as_millisecond()).unwrap_or(u64::MAX);
        let result = self
            .retrying("UpdateItem", || async {
                self.update_lock(topology)
                    .update_expression(
                        "SET #version = if_not_exists(#version, :zero) + :one, #run = :run, \
                         #host = :host, #pid = :pid, #started = :started, \
                         #expires = :expires, #lease_ms = :lease_ms, #token = :token",
                    )
                    .condition_expression("attribute_not_exists(pk) OR #lease_ms < :now")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_names("#run", "run_id")
                    .expression_attribute_names("#host", "host")
                    .expression_attribute_names("#pid", "pid")
                    .expression_attribute_names("#started", "started_at")
                    .expression_attribute_names("#expires", "lease_expires_at")
                    .expression_attribute_names("#lease_ms", "lease_ms")
                    .expression_attribute_names("#token", "token")
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":run", s(&owner.run_id))
                    .expression_attribute_values(":host", s(&owner.host))
                    .expression_attribute_values(":pid", n(owner.pid))
                    .expression_attribute_values(":started", s(&owner.started_at))
                    .expression_attribute_values(":expires", s(&owner.lease_expires_at))
                    .expression_attribute_values(":lease_ms", n(expiry_ms))
                    .expression_attribute_values(":token", s(&token))
                    .expression_attribute_values(":now", n(now))
                    .return_values(ReturnValue::AllNew)
                    .send()
                    .await
                    .map(|out| out.attributes.unwrap_or_default())
                    .map_err(|e| match e.as_service_error() {
                        Some(se) if se.is_conditional_check_failed_exception() => {
                            CallError::Condition(vec![true])
                        }
                        _ => self.sdk_error("UpdateItem", &e),
                    })
            })
            .await;
        let item = match result {
            Ok(item) => item,
            Err(CallError::Condition(_)) => {
                let current = self
                    .get_item(lock_pk(topology), LOCK_SK.to_string())
                    .await?;
                match current {
                    // An earlier attempt took it and its answer was lost.
                    Some(item) if get_s(&item, "token") == Some(token.as_str()) => item,
                    other => {
                        return Err(LockError::Held {
                            topology: topology.to_string(),
                            owner: Box::new(
                                other
                                    .as_ref()
                                    .map(DynamoState::owner_of)
                                    .unwrap_or_else(|| DynamoState::owner_of(&Item::new())),
                            ),
                        });
                    }
                }
            }
            Err(e) => return Err(LockError::Io(self.failed("UpdateItem", e))),
        };
        let version = get_n(&item, "version").ok_or_else(|| {
            LockError::Io(self.store_error("UpdateItem", "the lock has no version".to_string()))
        })?;
        if version > 1 {
            tracing::info!(
                topology,
                version,
                "took the lock of a finished or expired holder"
            );
        }
        Ok(DynamoLease {
            state: self.clone(),
            topology: topology.to_string(),
            owner,
            version,
            lease,
        })
    }

    /// Sets the lease of the lock held at `version` to end at `expiry_ms`; refused when the
    /// lock has another version (taken over).
    async fn set_lease(
        &self,
        topology: &str,
        version: u64,
        expires_at: String,
        expiry_ms: u64,
    ) -> Result<(), JournalError> {
        let result = self
            .retrying("UpdateItem", || async {
                self.update_lock(topology)
                    .update_expression("SET #expires = :expires, #lease_ms = :lease_ms")
                    .condition_expression("#version = :version")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_names("#expires", "lease_expires_at")
                    .expression_attribute_names("#lease_ms", "lease_ms")
                    .expression_attribute_values(":version", n(version))
                    .expression_attribute_values(":expires", s(&expires_at))
                    .expression_attribute_values(":lease_ms", n(expiry_ms))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| match e.as_service_error() {
                        Some(se) if se.is_conditional_check_failed_exception() => {
                            CallError::Condition(vec![true])
                        }
                        _ => self.sdk_error("UpdateItem", &e),
                    })
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(CallError::Condition(_)) => Err(self.lost_lock(topology).await),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }

    /// The error of a writer whose lock was taken over, naming the new holder.
    async fn lost_lock(&self, topology: &str) -> JournalError {
        let holder = self
            .get_item(lock_pk(topology), LOCK_SK.to_string())
            .await
            .ok()
            .flatten()
            .map(|i| DynamoState::owner_of(&i));
        JournalError::LostLock {
            topology: topology.to_string(),
            holder: holder.map(Box::new),
        }
    }

    // ---- the journal ----

    /// Writes `items` in one transaction: each only if absent, and (with `fence`) only while
    /// the lock of topology `fence.0` still has version `fence.1`. `token` names this write:
    /// an item found already written with it counts as written (an attempt whose answer was
    /// lost). `request` is the transaction's idempotency token (`ClientRequestToken`), one
    /// per transaction.
    async fn put_items(
        &self,
        items: Vec<Item>,
        fence: Option<(&str, u64)>,
        token: &str,
        request: &str,
    ) -> Result<(), JournalError> {
        let mut transact = Vec::new();
        if let Some((topology, version)) = fence {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(lock_key(topology)))
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":version", n(version))
                .build()
                .map_err(|e| self.store_error("TransactWriteItems", e.to_string()))?;
            transact.push(TransactWriteItem::builder().condition_check(check).build());
        }
        for item in &items {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(sk)")
                .build()
                .map_err(|e| self.store_error("TransactWriteItems", e.to_string()))?;
            transact.push(TransactWriteItem::builder().put(put).build());
        }
        let result = self
            .retrying("TransactWriteItems", || async {
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(transact.clone()))
                    // The same token on every attempt: DynamoDB answers a retry of a
                    // transaction it already committed with success (for 10 minutes).
                    .client_request_token(request)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| match e.as_service_error() {
                        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                            let codes: Vec<&str> = c
                                .cancellation_reasons()
                                .iter()
                                .map(|r| r.code().unwrap_or("None"))
                                .collect();
                            if codes.contains(&"ConditionalCheckFailed") {
                                CallError::Condition(
                                    codes
                                        .iter()
                                        .map(|c| *c == "ConditionalCheckFailed")
                                        .collect(),
                                )
                            } else {
                                // TransactionConflict (the heartbeat updating the lock at the
                                // same instant), ThrottlingError: try again.
                                CallError::Transient(format!(
                                    "transaction cancelled: {}",
                                    codes.join(", ")
                                ))
                            }
                        }
                        _ => self.sdk_error("TransactWriteItems", &e),
                    })
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(CallError::Condition(failed)) => {
                let fenced = usize::from(fence.is_some());
                if let Some((topology, _)) = fence
                    && failed.first() == Some(&true)
                {
                    return Err(self.lost_lock(topology).await);
                }
                // An item exists: ours if an earlier attempt wrote it and its answer was lost.
                let first = &items[failed.iter().skip(fenced).position(|f| *f).unwrap_or(0)];
                let pk = get_s(first, "pk").unwrap_or_default().to_string();
                let sk = get_s(first, "sk").unwrap_or_default().to_string();
                match self.get_item(pk, sk.clone()).await? {
                    Some(found) if get_s(&found, "token") == Some(token) => Ok(()),
                    _ => Err(self.store_error(
                        "TransactWriteItems",
                        format!("item {sk} exists already: another writer wrote it"),
                    )),
                }
            }
            Err(e) => Err(self.failed("TransactWriteItems", e)),
        }
    }

    /// Whether run `id` has any item.
    async fn run_exists(&self, id: &str) -> Result<bool, JournalError> {
        Ok(!self.query(&run_pk(id), Some(1)).await?.is_empty())
    }

    /// A journal for new run `id`, written under `lease` (fails if the run has items).
    pub async fn create_journal(
        &self,
        id: &RunId,
        lease: &DynamoLease,
    ) -> Result<DynamoJournal, JournalError> {
        if !is_valid_run_id(id) {
            return Err(self.store_error("create", format!("`{id}` is not a valid run id")));
        }
        if self.run_exists(id).await? {
            return Err(self.store_error("create", format!("run {id} exists already")));
        }
        Ok(DynamoJournal {
            state: self.clone(),
            id: id.clone(),
            fence: Some((lease.topology.clone(), lease.version)),
            next: 0,
        })
    }

    /// The journal of run `id`, appended to under `lease` (resume, rollback).
    pub async fn open_journal(
        &self,
        id: &RunId,
        lease: &DynamoLease,
    ) -> Result<DynamoJournal, JournalError> {
        let records = self.read_records(id).await?;
        Ok(DynamoJournal {
            state: self.clone(),
            id: id.clone(),
            fence: Some((lease.topology.clone(), lease.version)),
            next: records.len() as u64,
        })
    }

    /// The records of run `id`, in order.
    async fn read_records(&self, id: &RunId) -> Result<Vec<Record>, JournalError> {
        if !is_valid_run_id(id) {
            return Err(JournalError::UnknownRun(id.clone()));
        }
        let items = self.query(&run_pk(id), None).await?;
        if items.is_empty() {
            return Err(JournalError::UnknownRun(id.clone()));
        }
        let corrupt = |line: usize, message: String| JournalError::Corrupt {
            path: format!("dynamodb://{}/run#{id}", self.table).into(),
            line,
            message,
        };
        // Chunks sort right after their head (`rec#N` < `rec#N#token#i` < `rec#N+1`).
        let mut chunks: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut heads: Vec<&Item> = Vec::new();
        for item in &items {
            let sk = get_s(item, "sk").unwrap_or_default();
            if sk.len() == 14 {
                heads.push(item);
            } else if let Some(AttributeValue::B(data)) = item.get("data") {
                chunks.insert(sk.to_string(), data.as_ref().to_vec());
            }
        }
        let mut records = Vec::with_capacity(heads.len());
        for (seq, head) in heads.into_iter().enumerate() {
            let line = seq + 1;
            let sk = get_s(head, "sk").unwrap_or_default();
            if sk != head_sk(seq as u64) {
                return Err(corrupt(
                    line,
                    format!("expected record {seq}, found `{sk}`"),
                ));
            }
            let json: Vec<u8> = if let Some(text) = get_s(head, "record") {
                text.as_bytes().to_vec()
            } else {
                let count = get_n(head, "chunks").unwrap_or(0);
                let token = get_s(head, "token").unwrap_or_default();
                let mut compressed = Vec::new();
                for i in 0..count {
                    let chunk_sk = format!("{sk}#{token}#{i:04}");
                    let data = chunks
                        .get(&chunk_sk)
                        .ok_or_else(|| corrupt(line, format!("chunk {chunk_sk} is missing")))?;
                    compressed.extend_from_slice(data);
                }
                let mut json = Vec::new();
                flate2::read::ZlibDecoder::new(compressed.as_slice())
                    .read_to_end(&mut json)
                    .map_err(|e| corrupt(line, format!("chunks do not inflate: {e}")))?;
                json
            };
            let record: Record =
                serde_json::from_slice(&json).map_err(|e| corrupt(line, e.to_string()))?;
            if (seq == 0) != matches!(record, Record::RunStarted { .. }) {
                return Err(corrupt(
                    line,
                    "`run_started` must be the first record, and only the first".to_string(),
                ));
            }
            records.push(record);
        }
        Ok(records)
    }

    /// Reads run `id`.
    pub async fn read_run(&self, id: &RunId) -> Result<RunLog, JournalError> {
        let records = self.read_records(id).await?;
        Ok(RunLog::from_records(records).expect("read_records checked the first record"))
    }

    /// Every run of the index, oldest first (one query of the index, one per run); a run
    /// that cannot be read is skipped with a warning.
    pub async fn list_runs(&self) -> Result<Vec<RunLog>, JournalError> {
        let ids: Vec<RunId> = self
            .query(INDEX_PK, None)
            .await?
            .iter()
            .filter_map(|i| get_s(i, "sk").map(str::to_string))
            .collect();
        let mut runs: Vec<RunLog> = futures::stream::iter(ids)
            .map(|id| async move { (self.read_run(&id).await, id) })
            .buffer_unordered(8)
            .filter_map(|(result, id)| async move {
                match result {
                    Ok(run) => Some(run),
                    Err(e) => {
                        tracing::warn!(run = %id, error = %e, "skipping a run that cannot be read");
                        None
                    }
                }
            })
            .collect()
            .await;
        sort_runs(&mut runs);
        Ok(runs)
    }

    /// Writes `records` as a new run without the lock (`kong state import`); refused if the
    /// run exists.
    pub async fn import(&self, records: &[Record]) -> Result<RunId, JournalError> {
        let Some(Record::RunStarted { run, .. }) = records.first() else {
            return Err(self.store_error(
                "import",
                "the first record must be `run_started`".to_string(),
            ));
        };
        let id = run.id.clone();
        if !is_valid_run_id(&id) {
            return Err(self.store_error("import", format!("`{id}` is not a valid run id")));
        }
        if self.run_exists(&id).await? {
            return Err(self.store_error("import", format!("run {id} exists already")));
        }
        let mut journal = DynamoJournal {
            state: self.clone(),
            id: id.clone(),
            fence: None,
            next: 0,
        };
        for record in records {
            journal.append(record).await?;
        }
        Ok(id)
    }

    // ---- kong state init / check ----

    /// Creates the table (on-demand), waits until it is active, and turns point-in-time
    /// recovery on if asked. An existing table is kept (its key schema is checked).
    pub async fn init(&self, point_in_time_recovery: bool) -> Result<String, JournalError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key_element = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let build =
            |e: aws_sdk_dynamodb::error::BuildError| self.store_error("CreateTable", e.to_string());
        let definitions = vec![
            attribute("pk").map_err(build)?,
            attribute("sk").map_err(build)?,
        ];
        let schema = vec![
            key_element("pk", KeyType::Hash).map_err(build)?,
            key_element("sk", KeyType::Range).map_err(build)?,
        ];
        let created = self
            .retrying("CreateTable", || async {
                match self
                    .client
                    .create_table()
                    .table_name(&self.table)
                    .set_attribute_definitions(Some(definitions.clone()))
                    .set_key_schema(Some(schema.clone()))
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|se| se.is_resource_in_use_exception()) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(self.sdk_error("CreateTable", &e)),
                }
            })
            .await
            .map_err(|e| self.failed("CreateTable", e))?;
        self.wait_active().await?;
        let mut said = if created {
            format!("created {} (on-demand capacity)", self.describe())
        } else {
            format!("{} exists already; kept as it is", self.describe())
        };
        if point_in_time_recovery {
            let spec = PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(|e| self.store_error("UpdateContinuousBackups", e.to_string()))?;
            self.retrying("UpdateContinuousBackups", || async {
                self.client
                    .update_continuous_backups()
                    .table_name(&self.table)
                    .point_in_time_recovery_specification(spec.clone())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.sdk_error("UpdateContinuousBackups", &e))
            })
            .await
            .map_err(|e| self.failed("UpdateContinuousBackups", e))?;
            said.push_str("; point-in-time recovery on");
        }
        Ok(said)
    }

    /// Waits (up to 5 minutes) until the table is active and checks its key schema.
    async fn wait_active(&self) -> Result<(), JournalError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        loop {
            let table = self
                .retrying("DescribeTable", || async {
                    self.client
                        .describe_table()
                        .table_name(&self.table)
                        .send()
                        .await
                        .map_err(|e| self.sdk_error("DescribeTable", &e))
                })
                .await
                .map_err(|e| self.failed("DescribeTable", e))?
                .table
                .ok_or_else(|| self.store_error("DescribeTable", "no table".to_string()))?;
            let keys: Vec<(String, KeyType)> = table
                .key_schema()
                .iter()
                .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
                .collect();
            let expected = vec![
                ("pk".to_string(), KeyType::Hash),
                ("sk".to_string(), KeyType::Range),
            ];
            if keys != expected {
                return Err(self.store_error(
                    "DescribeTable",
                    format!(
                        "the key schema is {keys:?}; kong needs partition key `pk` and sort \
                         key `sk`, both strings (`kong state init` on a new table)"
                    ),
                ));
            }
            if table.table_status() == Some(&TableStatus::Active) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(self.store_error(
                    "DescribeTable",
                    "the table did not become ACTIVE within 5 minutes".to_string(),
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// `kong state check`: describe, read, query, conditional write; each failure names the
    /// IAM permission it needs. Returns one line per step passed.
    pub async fn check(&self) -> Result<Vec<String>, JournalError> {
        let mut passed = Vec::new();
        let need = |permission: &str, e: JournalError| {
            JournalError::Store(format!(
                "{e}\n(kong needs dynamodb:{permission} on the table; see ops/iam-policy.json)"
            ))
        };
        self.wait_active()
            .await
            .map_err(|e| need("DescribeTable", e))?;
        passed.push("access: the table exists, is active, with keys pk and sk".to_string());
        let host = super::lock::this_host();
        self.get_item(format!("check#{host}"), "a".to_string())
            .await
            .map_err(|e| need("GetItem", e))?;
        self.query(INDEX_PK, Some(1))
            .await
            .map_err(|e| need("Query", e))?;
        passed.push("read: GetItem and Query (consistent reads)".to_string());
        // A conditional check on one item and a conditional put of another in a transaction:
        // what every journal write does.
        let token = random_token();
        let mut item = key(format!("check#{host}"), format!("b#{token}"));
        item.insert("token".to_string(), s(&token));
        item.insert("at".to_string(), s(jiff::Timestamp::now().to_string()));
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("check#{host}"), "a".to_string())))
            .condition_expression("attribute_not_exists(pk) OR attribute_exists(pk)")
            .build()
            .map_err(|e| self.store_error("TransactWriteItems", e.to_string()))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .build()
            .map_err(|e| self.store_error("TransactWriteItems", e.to_string()))?;
        self.retrying("TransactWriteItems", || async {
            self.client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(check.clone())
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.sdk_error("TransactWriteItems", &e))
        })
        .await
        .map_err(|e| {
            need(
                "ConditionCheckItem and dynamodb:PutItem",
                self.failed("TransactWriteItems", e),
            )
        })?;
        // The lock's conditional update.
        self.retrying("UpdateItem", || async {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(format!("check#{host}"), "a".to_string())))
                .update_expression("SET #at = :at")
                .condition_expression("attribute_not_exists(pk) OR attribute_exists(pk)")
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":at", s(jiff::Timestamp::now().to_string()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.sdk_error("UpdateItem", &e))
        })
        .await
        .map_err(|e| need("UpdateItem", self.failed("UpdateItem", e)))?;
        passed.push(
            "conditional write: TransactWriteItems (ConditionCheck + Put) and UpdateItem"
                .to_string(),
        );
        Ok(passed)
    }
}

/// Now plus `lease`.
fn lease_expiry(lease: Duration) -> jiff::Timestamp {
    jiff::Timestamp::now()
        .checked_add(lease)
        .unwrap_or(jiff::Timestamp::MAX)
}

/// A held lock of the shared state: its version is the fencing token of every journal write.
#[derive(Debug)]
pub struct DynamoLease {
    state: DynamoState,
    topology: String,
    owner: LockOwner,
    version: u64,
    lease: Duration,
}

impl DynamoLease {
    /// The owner as last written.
    pub fn owner(&self) -> &LockOwner {
        &self.owner
    }

    /// The fencing token.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The lease's length.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Extends the lease; `LostLock` when another process took the lock over.
    pub async fn renew(&mut self) -> Result<(), JournalError> {
        let expiry = lease_expiry(self.lease);
        let expiry_ms = u64::try_from(expiry.as_millisecond()).unwrap_or(u64::MAX);
        self.state
            .set_lease(&self.topology, self.version, expiry.to_string(), expiry_ms)
            .await?;
        self.owner.lease_expires_at = expiry.to_string();
        Ok(())
    }

    /// Frees the lock (its lease ends now; the version stays, so the next holder's is
    /// higher). A lock already taken over is left alone.
    pub async fn release(self) -> Result<(), JournalError> {
        self.state
            .set_lease(
                &self.topology,
                self.version,
                jiff::Timestamp::now().to_string(),
                0,
            )
            .await
    }
}

/// The journal of one run in the table.
#[derive(Debug)]
pub struct DynamoJournal {
    state: DynamoState,
    id: RunId,
    /// The lock (topology, version) every write is conditional on; `None` for an import.
    fence: Option<(String, u64)>,
    /// The sequence of the next record.
    next: u64,
}

impl DynamoJournal {
    /// Where the journal is, for people: `dynamodb://kong-state/run#<id>`.
    pub fn location(&self) -> String {
        format!("dynamodb://{}/run#{}", self.state.table, self.id)
    }

    /// Appends one record; it is durable in DynamoDB when this returns `Ok`.
    pub async fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let json = encode(record).map_err(|e| self.state.store_error("append", e))?;
        let seq = self.next;
        let pk = run_pk(&self.id);
        let sk = head_sk(seq);
        let token = random_token();
        let fence = self.fence.as_ref().map(|(t, v)| (t.as_str(), *v));
        let mut head = key(pk.clone(), sk.clone());
        let event = serde_json::to_value(record)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_default();
        head.insert("event".to_string(), s(event));
        head.insert("at".to_string(), s(record.at()));
        head.insert("token".to_string(), s(&token));
        if let Some((_, version)) = fence {
            head.insert("version".to_string(), n(version));
        }
        if json.len() <= ITEM_DATA_LIMIT {
            head.insert(
                "record".to_string(),
                s(String::from_utf8(json).unwrap_or_default()),
            );
        } else {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder
                .write_all(&json)
                .map_err(|e| self.state.store_error("compress", e.to_string()))?;
            let compressed = encoder
                .finish()
                .map_err(|e| self.state.store_error("compress", e.to_string()))?;
            let chunks: Vec<&[u8]> = compressed.chunks(ITEM_DATA_LIMIT).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let mut item = key(pk.clone(), format!("{sk}#{token}#{i:04}"));
                item.insert("data".to_string(), AttributeValue::B(chunk.to_vec().into()));
                item.insert("token".to_string(), s(&token));
                let request = format!("{token}-{i}");
                self.state
                    .put_items(vec![item], fence, &token, &request)
                    .await?;
            }
            head.insert("encoding".to_string(), s("zlib"));
            head.insert("chunks".to_string(), n(chunks.len()));
            head.insert("bytes".to_string(), n(json.len()));
        }
        let mut items = vec![head];
        if let Record::RunStarted { run, .. } = record {
            let mut index = key(INDEX_PK.to_string(), self.id.clone());
            index.insert("topology".to_string(), s(&run.topology));
            index.insert("operation".to_string(), s(run.operation.as_str()));
            index.insert("region".to_string(), s(&run.region));
            index.insert("started_at".to_string(), s(&run.started_at));
            index.insert("token".to_string(), s(&token));
            items.push(index);
        }
        self.state.put_items(items, fence, &token, &token).await?;
        self.next += 1;
        Ok(())
    }
}
