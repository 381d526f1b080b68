//! Dials of a service in the topology file: `route53`, `alb` and `sim`, and their members.

use std::collections::BTreeMap;

use super::decode::{Ctx, Fields, is_plain_name, peek};
use super::node::{Node, Pos, Value, shorten};
use super::topology::Regions;
use super::{AlbTarget, Dial, DialKind, Region};

const DIAL_KEYS: &[&str] = &["id", "route53", "alb", "sim"];
const PROVIDERS: &[&str] = &["route53", "alb", "sim"];
const ROUTE53_KEYS: &[&str] = &["hosted_zone_id", "record", "type", "members"];
const ALB_KEYS: &[&str] = &["region", "listener_arn", "rule_arn", "members"];
const SIM_KEYS: &[&str] = &["members"];
/// Record types Route 53 accepts in weighted record sets.
const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV", "SSHFP",
    "SVCB", "TLSA", "TXT",
];
/// An ALB forward action spreads over at most 5 target groups.
const ALB_MAX_TARGET_GROUPS: usize = 5;

pub(super) type Members = Vec<(String, String, Pos)>;

/// One dial; returns it, the position of its id, and its members with their positions.
pub(super) fn dial(
    ctx: &mut Ctx,
    node: &Node,
    index: usize,
    service: &str,
    regions: Option<&Regions>,
    capacity: Option<&BTreeMap<Region, f64>>,
) -> Option<(Dial, Pos, Members)> {
    let fallback = format!("dial #{} of {service}", index + 1);
    let named = match peek(node, "id") {
        Some(id) => format!("dial `{}` of {service}", shorten(id)),
        None => fallback.clone(),
    };
    let fields = ctx.fields(node, node.pos, &named, DIAL_KEYS)?;
    let (id, id_pos) = match fields.get_with_key("id") {
        Some((_, n)) => (ctx.name(n, &format!("dial id in {fallback}")), n.pos),
        None => {
            ctx.error(fields.anchor, format!("missing key `id` in {fallback}"));
            (None, node.pos)
        }
    };
    let what = match &id {
        Some(id) => format!("dial `{id}` of {service}"),
        None => fallback,
    };

    let present: Vec<(&str, Pos)> = fields
        .keys()
        .filter(|(k, _)| PROVIDERS.contains(k))
        .collect();
    let provider = match present.as_slice() {
        [] => {
            ctx.error(
                fields.anchor,
                format!(
                    "{what} has no provider: expected one of the keys {}",
                    PROVIDERS.join(", ")
                ),
            );
            return None;
        }
        [one] => one.0,
        [first, second, ..] => {
            ctx.error(
                second.1,
                format!(
                    "{what} has both `{}` and `{}`: expected exactly one of {}",
                    first.0,
                    second.0,
                    PROVIDERS.join(", ")
                ),
            );
            return None;
        }
    };
    let (key, body) = fields.get_with_key(provider)?;
    let keys = match provider {
        "route53" => ROUTE53_KEYS,
        "alb" => ALB_KEYS,
        _ => SIM_KEYS,
    };
    let provider_what = format!("{provider} of {what}");
    let p = Provider {
        fields: ctx.fields(body, key, &provider_what, keys)?,
        what: provider_what,
        dial: &what,
        regions,
    };
    let result = match provider {
        "route53" => route53(ctx, &p),
        "alb" => alb(ctx, &p),
        _ => sim(ctx, &p, key, capacity),
    };
    let (kind, members) = result?;
    Some((
        Dial {
            id: id?,
            kind,
            members: members
                .iter()
                .map(|(m, r, _)| (m.clone(), r.clone()))
                .collect(),
        },
        id_pos,
        members,
    ))
}

/// The body of a dial's provider key (`route53`, `alb` or `sim`), opened.
struct Provider<'a, 'n> {
    fields: Fields<'n>,
    /// `route53 of dial `dns` of service `a``.
    what: String,
    /// `dial `dns` of service `a``.
    dial: &'a str,
    regions: Option<&'a Regions>,
}

fn route53(ctx: &mut Ctx, p: &Provider) -> Option<(DialKind, Members)> {
    let Provider {
        fields, what, dial, ..
    } = p;
    let zone = fields
        .require(ctx, "hosted_zone_id", what)
        .and_then(|n| ctx.name(n, &format!("hosted_zone_id of {dial}")));
    let record = fields
        .require(ctx, "record", what)
        .and_then(|n| ctx.name(n, &format!("record of {dial}")));
    let record_type = fields.require(ctx, "type", what).and_then(|n| {
        let t = ctx.non_empty(n, &format!("type of {dial}"))?;
        if !RECORD_TYPES.contains(&t.as_str()) {
            let hint = ctx.suggest(&t.to_uppercase(), RECORD_TYPES.iter().copied());
            ctx.error(
                n.pos,
                format!(
                    "unknown record type `{}` in {dial}, expected one of: {}{hint}",
                    shorten(&t),
                    RECORD_TYPES.join(", ")
                ),
            );
            return None;
        }
        Some(t)
    });
    let members = members(ctx, p, "SetIdentifier", true);
    Some((
        DialKind::Route53 {
            hosted_zone_id: zone?,
            record: record?,
            record_type: record_type?,
        },
        members?,
    ))
}

fn alb(ctx: &mut Ctx, p: &Provider) -> Option<(DialKind, Members)> {
    let Provider {
        fields,
        what,
        dial,
        regions,
    } = p;
    let region = fields.require(ctx, "region", what).and_then(|n| {
        let r = ctx.name(n, &format!("region of {dial}"))?;
        match regions {
            Some(regions) => regions
                .check(ctx, n.pos, &r, &format!("region of {dial}"))
                .then_some(r),
            None => Some(r),
        }
    });
    let listener = fields.get_with_key("listener_arn");
    let rule = fields.get_with_key("rule_arn");
    let mut arns_ok = true;
    match (listener, rule) {
        (Some(_), Some((rule_key, _))) => {
            ctx.error(
                rule_key,
                format!(
                    "{dial} has both `listener_arn` and `rule_arn`: expected exactly one of them"
                ),
            );
            arns_ok = false;
        }
        (None, None) => {
            ctx.error(
                fields.anchor,
                format!("missing key `listener_arn` or `rule_arn` in {what}: expected exactly one of them"),
            );
            arns_ok = false;
        }
        _ => {}
    }
    // Outer `None`: invalid; inner `None`: absent.
    let listener_arn: Option<Option<String>> = match listener {
        Some((_, n)) => ctx
            .non_empty(n, &format!("listener_arn of {dial}"))
            .map(Some),
        None => Some(None),
    };
    // Outer `None`: invalid; inner `None`: absent.
    let rule_arn: Option<Option<String>> = match rule {
        Some((_, n)) => ctx.non_empty(n, &format!("rule_arn of {dial}")).map(Some),
        None => Some(None),
    };
    let members = members(ctx, p, "target group", true);
    if let Some(((members_key, _), list)) = fields.get_with_key("members").zip(members.as_ref())
        && list.len() > ALB_MAX_TARGET_GROUPS
    {
        ctx.error(
            members_key,
            format!(
                "{dial} has {} members: an ALB forward action takes at most {ALB_MAX_TARGET_GROUPS} target groups",
                list.len()
            ),
        );
        return None;
    }
    if !arns_ok {
        return None;
    }
    // Exactly one of the two is set once `arns_ok`.
    let target = match (listener_arn?, rule_arn?) {
        (_, Some(rule)) => AlbTarget::Rule(rule),
        (Some(listener), None) => AlbTarget::Listener(listener),
        (None, None) => return None,
    };
    Some((
        DialKind::Alb {
            region: region?,
            target,
        },
        members?,
    ))
}

fn sim(
    ctx: &mut Ctx,
    p: &Provider,
    key: Pos,
    capacity: Option<&BTreeMap<Region, f64>>,
) -> Option<(DialKind, Members)> {
    let Provider {
        fields,
        dial,
        regions,
        ..
    } = p;
    if fields.has("members") {
        return members(ctx, p, "member", true).map(|m| (DialKind::Sim, m));
    }
    // Without members: one member per region where the service has capacity, named after
    // the region, in the topology's region order.
    // Without complete regions or capacity the problem was reported where it is.
    let (capacity, regions) = (capacity?, (*regions)?);
    if !regions.complete {
        return None;
    }
    let order = regions.list.as_slice();
    let members: Members = order
        .iter()
        .filter(|r| capacity.get(*r).is_some_and(|c| *c > 0.0))
        .map(|r| (r.clone(), r.clone(), key))
        .collect();
    if members.is_empty() {
        ctx.error(
            key,
            format!("{dial} has no members: the service has no capacity > 0 in any region; declare `members` or `capacity`"),
        );
        return None;
    }
    Some((DialKind::Sim, members))
}

/// A dial's `members`: member id -> region it serves.
fn members(ctx: &mut Ctx, p: &Provider, member_kind: &str, required: bool) -> Option<Members> {
    let Provider {
        fields,
        dial,
        regions,
        ..
    } = p;
    let what = format!("members of {dial}");
    let Some((key, node)) = fields.get_with_key("members") else {
        if required {
            ctx.error(
                fields.anchor,
                format!("missing key `members` in {dial}: expected a mapping of {member_kind} to the region it serves"),
            );
        }
        return None;
    };
    let entries = ctx.named(node, &what, member_kind)?;
    if entries.is_empty() {
        ctx.error(
            key,
            format!("{dial} has no members: expected at least one {member_kind} mapped to the region it serves"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for entry in entries {
        let label = || format!("region of member `{}` of {dial}", shorten(&entry.name));
        let region = match &entry.value.value {
            Value::Scalar { text, .. } if is_plain_name(text) => text.clone(),
            _ => match ctx.name(entry.value, &label()) {
                Some(region) => region,
                None => {
                    ok = false;
                    continue;
                }
            },
        };
        if let Some(regions) = regions
            && !regions.set.contains(&region)
        {
            ok &= regions.check(ctx, entry.value.pos, &region, &label());
        }
        out.push((entry.name, region, entry.value.pos));
    }
    ok.then_some(out)
}
