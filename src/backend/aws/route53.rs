//! Route 53 weighted record sets as dials: one member per `SetIdentifier`.
//!
//! Reads list the hosted zone from the record's name and type (paginated
//! `ListResourceRecordSets`), keep each record whole, and report its weight. An apply UPSERTs
//! every member of every dial of one hosted zone in one `ChangeResourceRecordSets` (split only
//! when over the API's limits), each record exactly as last read but for its weight, so TTLs,
//! values, alias targets and health checks survive any number of steps and rollbacks.
//! Propagation: a change answered `PENDING` (as Route 53 answers every change) is polled
//! with `GetChange` until `INSYNC`; one answered `INSYNC` already (moto) is not polled.
//! Every call waits for the client-side rate limiter first. Nothing here retries an error: the executor does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet, RrType,
};
use futures::future::join_all;

use super::calls::{Call, CallLog, all_ok};
use super::limiter::RateLimiter;
use crate::backend::BackendError;
use crate::model::{DialWeights, MemberId, Region, Weights};

const SERVICE: &str = "route53";
/// Records per `ListResourceRecordSets` page (the API's maximum).
const PAGE: i32 = 300;
/// `ChangeResourceRecordSets` accepts at most 1,000 `ResourceRecord` elements...
const MAX_BATCH_RECORDS: usize = 1_000;
/// ...and 32,000 characters of record values; an UPSERT counts twice in both.
const MAX_BATCH_CHARS: usize = 32_000;
/// First and largest pause between two `GetChange` polls.
const POLL_FIRST: Duration = Duration::from_millis(500);
const POLL_MAX: Duration = Duration::from_secs(10);

/// A Route 53 dial of the topology.
#[derive(Debug, Clone)]
pub struct RecordDial<'a> {
    /// `service/dial`.
    pub dial_ref: &'a str,
    /// Hosted zone id, without `/hostedzone/`.
    pub zone: &'a str,
    /// Record name as written in the topology.
    pub record: &'a str,
    /// Record type, e.g. `CNAME`.
    pub record_type: &'a str,
    /// `SetIdentifier` -> region.
    pub members: &'a BTreeMap<MemberId, Region>,
}

/// Reads and writes Route 53 weighted record sets.
pub struct Route53Dials {
    client: Client,
    limiter: RateLimiter,
    calls: Arc<CallLog>,
    sync_timeout: Duration,
    /// The records of each dial as last read or written, by `SetIdentifier`: what an apply
    /// UPSERTs with only the weight changed. The executor reads every dial right before it
    /// applies a step, so these are seconds old.
    records: Mutex<HashMap<String, BTreeMap<String, ResourceRecordSet>>>,
}

/// The hosted zone id as the API paths want it.
pub fn zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// A record name compared the way DNS does: lower case, absolute, `\052` as `*`.
fn normalize(name: &str) -> String {
    let mut n = name.replace("\\052", "*").to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

impl Route53Dials {
    /// Route 53 through `client`, at most `rate` requests per second.
    pub fn new(client: Client, rate: f64, calls: Arc<CallLog>, sync_timeout: Duration) -> Self {
        Route53Dials {
            client,
            limiter: RateLimiter::new(rate),
            calls,
            sync_timeout,
            records: Mutex::new(HashMap::new()),
        }
    }

    /// Live weights of `dials`, one scan per hosted zone where the records are adjacent.
    pub async fn read(&self, dials: &[RecordDial<'_>]) -> Result<Weights, BackendError> {
        let mut by_zone: BTreeMap<&str, Vec<&RecordDial<'_>>> = BTreeMap::new();
        for d in dials {
            by_zone.entry(d.zone).or_default().push(d);
        }
        let scans = all_ok(
            join_all(
                by_zone
                    .into_iter()
                    .map(|(zone, dials)| self.scan_zone(zone, dials)),
            )
            .await,
        )?;
        let mut weights = Weights::new();
        let mut records = self.lock_records();
        for found in scans {
            for (dial_ref, (dial_weights, sets)) in found {
                weights.insert(dial_ref.clone(), dial_weights);
                records.insert(dial_ref, sets);
            }
        }
        Ok(weights)
    }

    /// Reads the dials of one zone: scans from the first dial's record, collects every
    /// wanted record the pages hold, and starts a new scan only at a dial not yet seen whole.
    async fn scan_zone(
        &self,
        zone: &str,
        mut dials: Vec<&RecordDial<'_>>,
    ) -> Result<BTreeMap<String, (DialWeights, BTreeMap<String, ResourceRecordSet>)>, BackendError>
    {
        dials.sort_by_key(|d| (normalize(d.record), d.record_type.to_ascii_uppercase()));
        let mut wanted: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, d) in dials.iter().enumerate() {
            wanted
                .entry((normalize(d.record), d.record_type.to_ascii_uppercase()))
                .or_default()
                .push(i);
        }
        let which = |r: &ResourceRecordSet| {
            wanted
                .get(&(normalize(&r.name), r.r#type.as_str().to_string()))
                .cloned()
                .unwrap_or_default()
        };
        let dial_names = dials
            .iter()
            .map(|d| d.dial_ref)
            .collect::<Vec<_>>()
            .join(",");
        let mut found: Vec<BTreeMap<String, ResourceRecordSet>> =
            vec![BTreeMap::new(); dials.len()];
        let mut complete: HashSet<usize> = HashSet::new();
        for (i, d) in dials.iter().enumerate() {
            if complete.contains(&i) {
                continue;
            }
            let mut start = (
                d.record.to_string(),
                d.record_type.to_ascii_uppercase(),
                None::<String>,
            );
            let mut first = true;
            loop {
                let mut request = self
                    .client
                    .list_resource_record_sets()
                    .hosted_zone_id(zone)
                    .start_record_name(&start.0)
                    .start_record_type(RrType::from(start.1.as_str()))
                    .max_items(PAGE);
                if let Some(id) = &start.2 {
                    request = request.start_record_identifier(id);
                }
                self.limiter.acquire().await;
                let page = self
                    .calls
                    .run(
                        Call {
                            service: SERVICE,
                            operation: "ListResourceRecordSets",
                            target: &format!("hosted zone {zone}"),
                            dials: &dial_names,
                        },
                        request.send(),
                    )
                    .await?;
                let sets = page.resource_record_sets();
                // Listing starts at the record's name and type: if the first record is
                // another one, the dial's record set does not exist.
                if first && sets.first().is_none_or(|r| !which(r).contains(&i)) {
                    complete.insert(i);
                    break;
                }
                first = false;
                let mut seen: HashSet<usize> = HashSet::new();
                for r in sets {
                    for j in which(r) {
                        seen.insert(j);
                        let id = r.set_identifier.clone().unwrap_or_default();
                        found[j].insert(id, r.clone());
                    }
                }
                // The records of one name and type are adjacent: a dial is whole once a
                // page holds a record after its last one, or the listing ends.
                let last = sets.last().map(&which).unwrap_or_default();
                for j in seen {
                    if !page.is_truncated() || !last.contains(&j) {
                        complete.insert(j);
                    }
                }
                if complete.contains(&i) || !page.is_truncated() {
                    complete.insert(i);
                    break;
                }
                start = (
                    page.next_record_name().unwrap_or_default().to_string(),
                    page.next_record_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    page.next_record_identifier().map(str::to_string),
                );
            }
        }
        dials
            .iter()
            .zip(found)
            .map(|(d, sets)| Ok((d.dial_ref.to_string(), (dial_weights(d, &sets)?, sets))))
            .collect()
    }

    /// Applies the weights of every dial in `desired` (all in hosted zone `zone`) in as few
    /// `ChangeResourceRecordSets` calls as the limits allow (one, unless the batch is huge).
    /// Returns the ids of the changes to wait on (those not `INSYNC` already).
    ///
    /// Guarantees: each record is UPSERTed as last read, with only its weight changed; each
    /// call is atomic (Route 53 applies a change batch whole or not at all); applying the same
    /// weights twice leaves the same records.
    pub async fn apply(
        &self,
        zone: &str,
        desired: &Weights,
        dials: &[RecordDial<'_>],
    ) -> Result<Vec<String>, BackendError> {
        let target = format!("hosted zone {zone}");
        let missing: Vec<RecordDial<'_>> = {
            let records = self.lock_records();
            dials
                .iter()
                .filter(|d| !records.contains_key(d.dial_ref))
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            self.read(&missing).await?;
        }
        let mut groups: Vec<Vec<ResourceRecordSet>> = Vec::new();
        {
            let records = self.lock_records();
            for (dial_ref, weights) in desired {
                let sets = records.get(dial_ref).ok_or_else(|| {
                    BackendError::permanent(
                        "ChangeResourceRecordSets",
                        &target,
                        format!("dial {dial_ref} was not read"),
                    )
                })?;
                let mut group = Vec::new();
                for (member, weight) in weights {
                    let mut set = sets.get(member).cloned().ok_or_else(|| {
                        BackendError::permanent(
                            "ChangeResourceRecordSets",
                            &target,
                            format!("dial {dial_ref} has no record with SetIdentifier {member}"),
                        )
                    })?;
                    set.weight = Some(i64::from(*weight));
                    if set.alias_target.is_some() {
                        // Alias records have no TTL (Route 53 rejects one); some emulators
                        // report 0.
                        set.ttl = None;
                    }
                    group.push(set);
                }
                groups.push(group);
            }
        }
        let dial_names = desired.keys().cloned().collect::<Vec<_>>().join(",");
        let mut change_ids = Vec::new();
        for chunk in split(groups) {
            let changes = chunk
                .into_iter()
                .map(|set| {
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(set)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    BackendError::permanent("ChangeResourceRecordSets", &target, e.to_string())
                })?;
            let batch = ChangeBatch::builder()
                .comment(comment(&dial_names))
                .set_changes(Some(changes))
                .build()
                .map_err(|e| {
                    BackendError::permanent("ChangeResourceRecordSets", &target, e.to_string())
                })?;
            self.limiter.acquire().await;
            let sent = self
                .calls
                .run(
                    Call {
                        service: SERVICE,
                        operation: "ChangeResourceRecordSets",
                        target: &target,
                        dials: &dial_names,
                    },
                    self.client
                        .change_resource_record_sets()
                        .hosted_zone_id(zone)
                        .change_batch(batch)
                        .send(),
                )
                .await;
            match sent {
                Ok(out) => {
                    if let Some(info) = out.change_info()
                        && *info.status() != ChangeStatus::Insync
                    {
                        change_ids.push(info.id().to_string());
                    }
                }
                Err(e) => {
                    // Whether (part of) it was applied is unknown: read again before the
                    // next attempt rather than trust what was cached.
                    let mut records = self.lock_records();
                    for dial_ref in desired.keys() {
                        records.remove(dial_ref);
                    }
                    return Err(e);
                }
            }
        }
        let mut records = self.lock_records();
        for (dial_ref, weights) in desired {
            if let Some(sets) = records.get_mut(dial_ref) {
                for (member, weight) in weights {
                    if let Some(set) = sets.get_mut(member) {
                        set.weight = Some(i64::from(*weight));
                    }
                }
            }
        }
        change_ids.dedup();
        Ok(change_ids)
    }

    /// Polls `GetChange` for each id until it is `INSYNC`, with growing pauses, for at most
    /// the sync timeout. A `PENDING` change is waited for, not an error.
    pub async fn wait(&self, zone: &str, change_ids: &[String]) -> Result<(), BackendError> {
        let deadline = tokio::time::Instant::now() + self.sync_timeout;
        for id in change_ids {
            let mut pause = POLL_FIRST;
            loop {
                self.limiter.acquire().await;
                let out = self
                    .calls
                    .run(
                        Call {
                            service: SERVICE,
                            operation: "GetChange",
                            target: id,
                            dials: "",
                        },
                        self.client.get_change().id(id).send(),
                    )
                    .await?;
                let status = out.change_info().map(|c| c.status().clone());
                if status == Some(ChangeStatus::Insync) {
                    break;
                }
                if tokio::time::Instant::now() + pause > deadline {
                    return Err(BackendError::permanent(
                        "GetChange",
                        id,
                        format!(
                            "change to hosted zone {zone} is still {} after {}s; Route 53 \
                             usually syncs within a minute: check the AWS Health Dashboard",
                            status.as_ref().map_or("unknown", |s| s.as_str()),
                            self.sync_timeout.as_secs()
                        ),
                    ));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(POLL_MAX);
            }
        }
        Ok(())
    }

    fn lock_records(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, ResourceRecordSet>>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The member weights of a dial from its records, or why they do not make a dial.
fn dial_weights(
    d: &RecordDial<'_>,
    sets: &BTreeMap<String, ResourceRecordSet>,
) -> Result<DialWeights, BackendError> {
    let target = format!("hosted zone {}", d.zone);
    let fail =
        |message: String| BackendError::permanent("ListResourceRecordSets", &target, message);
    let what = format!(
        "record set {} {} (dial {})",
        d.record, d.record_type, d.dial_ref
    );
    if sets.is_empty() {
        return Err(fail(format!(
            "{what} does not exist in hosted zone {}",
            d.zone
        )));
    }
    let mut weights = DialWeights::new();
    for (id, set) in sets {
        let Some(weight) = set.weight.filter(|_| set.set_identifier.is_some()) else {
            return Err(fail(format!(
                "{what} is not a weighted record set (no SetIdentifier and Weight)"
            )));
        };
        let weight = u32::try_from(weight)
            .map_err(|_| fail(format!("{what} member {id} has weight {weight}")))?;
        weights.insert(id.clone(), weight);
    }
    let (missing, undeclared) = super::member_mismatch(d.members, sets);
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "has no record with SetIdentifier {}",
            missing.join(", ")
        ));
    }
    if !undeclared.is_empty() {
        problems.push(format!(
            "has SetIdentifier {}, which the topology does not declare (add it to the dial's \
             members: its traffic would be unaccounted for)",
            undeclared.join(", ")
        ));
    }
    if !problems.is_empty() {
        return Err(fail(format!("{what} {}", problems.join(" and "))));
    }
    Ok(weights)
}

/// What one record costs against the batch limits: `ResourceRecord` elements and value
/// characters, twice for an UPSERT (Route 53 counts it as a DELETE plus a CREATE).
fn cost(set: &ResourceRecordSet) -> (usize, usize) {
    let records = set.resource_records.as_deref().unwrap_or_default();
    let chars: usize = records.iter().map(|r| r.value.len()).sum();
    (2 * records.len().max(1), 2 * chars)
}

/// Packs the records of each dial into as few change batches as the limits allow, keeping a
/// dial's records in one batch whenever it fits in one: a dial split over two calls would,
/// between them, route by weights no step planned.
fn split(groups: Vec<Vec<ResourceRecordSet>>) -> Vec<Vec<ResourceRecordSet>> {
    let mut batches: Vec<Vec<ResourceRecordSet>> = Vec::new();
    let mut current: Vec<ResourceRecordSet> = Vec::new();
    let (mut records, mut chars) = (0usize, 0usize);
    let fits = |r: usize, c: usize| r <= MAX_BATCH_RECORDS && c <= MAX_BATCH_CHARS;
    for group in groups {
        let (gr, gc) = group
            .iter()
            .map(cost)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        if !fits(records + gr, chars + gc) && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
            (records, chars) = (0, 0);
        }
        for set in group {
            let (r, c) = cost(&set);
            if !fits(records + r, chars + c) && !current.is_empty() {
                batches.push(std::mem::take(&mut current));
                (records, chars) = (0, 0);
            }
            records += r;
            chars += c;
            current.push(set);
        }
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The change batch's comment (at most 256 characters), for CloudTrail readers.
fn comment(dials: &str) -> String {
    let mut text = format!("kong: {dials}");
    if text.len() > 256 {
        let mut cut = 253;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use aws_sdk_route53::types::ResourceRecord;

    use super::*;

    fn set(name: &str, id: &str, values: &[&str]) -> ResourceRecordSet {
        ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Cname)
            .set_identifier(id)
            .weight(1)
            .ttl(60)
            .set_resource_records(Some(
                values
                    .iter()
                    .map(|v| ResourceRecord::builder().value(*v).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap()
    }

    #[test]
    fn names_compare_like_dns() {
        assert_eq!(normalize("API.Example.com"), "api.example.com.");
        assert_eq!(normalize("\\052.example.com."), "*.example.com.");
    }

    #[test]
    fn a_batch_within_the_limits_is_one_call() {
        let groups = (0..100)
            .map(|i| vec![set(&format!("r{i}.x."), "a", &["v.example.com"])])
            .collect();
        assert_eq!(split(groups).len(), 1);
    }

    #[test]
    fn upserts_count_twice_against_the_record_limit() {
        // 501 records of one value each: 1,002 elements counted, over the 1,000 limit.
        let groups: Vec<_> = (0..501)
            .map(|i| vec![set(&format!("r{i}.x."), "a", &["v"])])
            .collect();
        let batches = split(groups);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [500, 1]);
    }

    #[test]
    fn value_characters_split_batches_without_splitting_a_dial() {
        // Each dial: 3 records of 4,000 characters = 24,000 counted; two do not fit.
        let long = "x".repeat(4_000);
        let groups: Vec<_> = (0..3)
            .map(|i| {
                ["a", "b", "c"]
                    .iter()
                    .map(|id| set(&format!("r{i}.x."), id, &[&long]))
                    .collect()
            })
            .collect();
        let batches = split(groups);
        assert_eq!(batches.len(), 3);
        assert!(batches.iter().all(|b| b.len() == 3));
        assert!(
            batches
                .iter()
                .all(|b| b.iter().all(|s| s.name == b[0].name))
        );
    }

    #[test]
    fn a_dial_too_big_for_one_batch_is_split_by_record() {
        let long = "x".repeat(10_000);
        let group: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| set("big.x.", id, &[&long]))
            .collect();
        let batches = split(vec![group]);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [1, 1, 1, 1]
        );
    }

    #[test]
    fn comments_stay_within_256_characters() {
        let c = comment(&"svc/dial,".repeat(100));
        assert!(c.len() <= 256 && c.ends_with("..."), "{c}");
    }

    #[test]
    fn undeclared_and_missing_members_are_refused_with_names() {
        let members: BTreeMap<String, String> = [("a".to_string(), "us-east-1".to_string())].into();
        let d = RecordDial {
            dial_ref: "svc/dns",
            zone: "Z1",
            record: "r.x.",
            record_type: "CNAME",
            members: &members,
        };
        let mut sets = BTreeMap::new();
        sets.insert("a".to_string(), set("r.x.", "a", &["v"]));
        sets.insert("b".to_string(), set("r.x.", "b", &["v"]));
        let err = dial_weights(&d, &sets).unwrap_err().to_string();
        assert!(
            err.contains("SetIdentifier b") && err.contains("svc/dns"),
            "{err}"
        );
        let err = dial_weights(&d, &BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("does not exist in hosted zone Z1"), "{err}");
        sets.remove("b");
        assert_eq!(
            dial_weights(&d, &sets).unwrap(),
            [("a".to_string(), 1)].into()
        );
    }
}
