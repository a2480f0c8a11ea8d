//! Pipelines across slots: split by primary (or by slot for commands that
//! must not run twice), deletes by primary with a script, replies put back
//! in order.

use super::*;

impl ClusterConnection {
    /// Each slot range and its primary: the cached slot map, or
    /// `CLUSTER SLOTS` read now.
    pub(super) async fn slot_map(&mut self) -> RedisResult<Vec<(u16, u16, String)>> {
        if let Some(ranges) = self.shared.ranges.lock().ok().and_then(|r| r.clone()) {
            return Ok(ranges);
        }
        let reply = self
            .inner
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let ranges = parse_ranges(&reply);
        if let Ok(mut cached) = self.shared.ranges.lock() {
            *cached = Some(ranges.clone());
        }
        Ok(ranges)
    }

    /// A pipeline of single-key deletes (`delete_many`): one script per
    /// primary, sent concurrently, deletes each key where the slot map puts
    /// it (`delete_here.lua`); a key whose slot that primary no longer
    /// serves is deleted alone afterwards, through redis-rs's redirects.
    /// Each delete runs once, so the counts stay exact while slots move (a
    /// pipeline per primary would be sent again whole on a redirect).
    pub(super) async fn delete_by_primary(
        &mut self,
        cmds: &[&Cmd],
        keys: &[&[u8]],
    ) -> RedisResult<Vec<Value>> {
        const DELETE_HERE: &str = include_str!("../lua/delete_here.lua");
        let ranges = self.slot_map().await?;
        let mut by_node: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut left: Vec<usize> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let slot = key_slot(key);
            match ranges
                .iter()
                .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
            {
                Some((_, _, addr)) => by_node.entry(addr.as_str()).or_default().push(i),
                None => left.push(i),
            }
        }
        let sent = futures_util::future::join_all(by_node.into_iter().map(|(addr, indices)| {
            let mut con = self.clone();
            let mut eval = redis::cmd("EVAL");
            eval.arg(DELETE_HERE).arg(0);
            // The command as asked (DEL or UNLINK), uppercase.
            let name = cmds[indices[0]]
                .args_iter()
                .find_map(|a| match a {
                    redis::Arg::Simple(b) => Some(b.to_ascii_uppercase()),
                    _ => None,
                })
                .unwrap_or_else(|| b"DEL".to_vec());
            eval.arg(name);
            for &i in &indices {
                eval.arg(keys[i]);
            }
            let addr = addr.to_owned();
            async move { (indices, con.node(&addr, &eval).await) }
        }))
        .await;
        let mut out: Vec<Option<Value>> = vec![None; keys.len()];
        for (indices, reply) in sent {
            let reply = match reply {
                Ok(Value::ServerError(err)) => Err(RedisError::from(err)),
                other => other,
            };
            let counts = match reply {
                Ok(Value::Array(counts)) if counts.len() == indices.len() => counts,
                // The script refused as a whole (an ACL without `EVAL`,
                // scripts disabled): it ran no delete; each goes alone.
                Err(err)
                    if err.kind() == ErrorKind::Server(ServerErrorKind::ResponseError)
                        || matches!(err.code(), Some("NOPERM" | "NOSCRIPT")) =>
                {
                    left.extend(indices);
                    continue;
                }
                // The primary of the cached map is gone or a replica now (a
                // failover): the script did not run there; each key goes
                // alone through the redirects, and the map is read again.
                Err(err)
                    if err.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
                        || err.is_connection_refusal()
                        || err.kind() == ErrorKind::ClusterConnectionNotFound =>
                {
                    if let Ok(mut cached) = self.shared.ranges.lock() {
                        *cached = None;
                    }
                    left.extend(indices);
                    continue;
                }
                Err(err) => {
                    if crate::error::is_unavailable(&err) {
                        if let Ok(mut cached) = self.shared.ranges.lock() {
                            *cached = None;
                        }
                    }
                    return Err(err);
                }
                _ => {
                    return Err(client_error(
                        "a delete script answered something else than one count per key",
                    ))
                }
            };
            for (i, count) in indices.into_iter().zip(counts) {
                match count {
                    Value::Int(n) if n >= 0 => out[i] = Some(Value::Int(n)),
                    _ => {
                        // The map is stale: read it again next time.
                        if let Ok(mut cached) = self.shared.ranges.lock() {
                            *cached = None;
                        }
                        left.push(i)
                    }
                }
            }
        }
        // One at a time: redis-rs follows a redirect of a single command.
        for i in left {
            out[i] = Some(self.routed(cmds[i]).await?);
        }
        Ok(out.into_iter().map(|v| v.unwrap_or(Value::Nil)).collect())
    }

    /// A pipeline: as it is when every keyed command is in one slot (or it is
    /// a transaction); single-key deletes by primary (`delete_by_primary`);
    /// commands that can run twice in one pipeline per primary, the others
    /// in one per slot; the parts sent concurrently, replies put back in
    /// order.
    pub(super) async fn pipeline(
        &mut self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let cmds: Vec<&Cmd> = pipeline.cmd_iter().collect();
        if let Some(key) = cmds.iter().find_map(|c| key_of(c)) {
            self.last_slot = Some(key_slot(key));
        }
        let slots = block_slots(&cmds);
        let mut distinct: Vec<Slot> = Vec::new();
        for slot in slots.iter().flatten() {
            if !distinct.contains(slot) {
                distinct.push(*slot);
            }
        }
        // A transaction (MULTI … EXEC: `offset` > 0) stays whole: the server
        // refuses one across slots, as it should.
        if distinct.len() <= 1 || offset > 0 {
            return aio::ConnectionLike::req_packed_commands(
                &mut self.inner,
                pipeline,
                offset,
                count,
            )
            .await;
        }
        if let Some(keys) = single_key_deletes(&cmds) {
            return self.delete_by_primary(&cmds, &keys).await;
        }
        // redis-rs answers a redirect inside a pipeline by sending the whole
        // pipeline again: harmless for commands that can run twice, not for
        // the others (a versioned save, a delete whose count is reported),
        // which go in one pipeline per slot, where a redirect moves them all.
        if !cmds.iter().all(|c| repeatable(c)) {
            return self.per_slot(&cmds, &slots, &distinct, offset, count).await;
        }
        let ranges = self.slot_map().await?;
        let node_of = |slot: u16| {
            ranges
                .iter()
                .find(|(start, end, _)| (*start..=*end).contains(&slot))
                .map(|(_, _, addr)| addr.clone())
        };
        // (No transaction gets here: MULTI is not repeatable.)
        let nodes: Vec<Option<String>> = cmds
            .iter()
            .map(|c| key_of(c).and_then(|k| node_of(key_slot(k))))
            .collect();
        let mut targets: Vec<String> = Vec::new();
        for addr in nodes.iter().flatten() {
            if !targets.contains(addr) {
                targets.push(addr.clone());
            }
        }
        // Each part: the commands of one primary plus every keyless one, in
        // order; sent to that primary, the parts concurrently.
        let parts: Vec<(Vec<usize>, Pipeline, String)> = targets
            .iter()
            .map(|addr| {
                let mut indices = Vec::new();
                let mut part = redis::pipe();
                for (i, (cmd, node)) in cmds.iter().zip(&nodes).enumerate() {
                    let keyless = slots[i].is_none();
                    if keyless || node.as_deref() == Some(addr.as_str()) {
                        indices.push(i);
                        part.add_command((*cmd).clone());
                    }
                }
                (indices, part, addr.clone())
            })
            .collect();
        // Keyed commands no slot map knows (a slot without a primary) go on
        // their own, routed by key.
        let unmapped: Vec<usize> = (0..cmds.len())
            .filter(|&i| slots[i].is_some() && nodes[i].is_none())
            .collect();
        let replies = futures_util::future::join_all(parts.iter().map(|(indices, part, addr)| {
            let mut con = self.inner.clone();
            let n = indices.len();
            async move {
                let (host, port) = split_addr(addr)?;
                con.route_pipeline(
                    part.clone(),
                    0,
                    n,
                    SingleNodeRoutingInfo::ByAddress { host, port },
                )
                .await
            }
        }))
        .await;
        let mut out: Vec<Option<Value>> = vec![None; cmds.len()];
        let mut moved = Vec::new();
        for ((indices, _, _), reply) in parts.iter().zip(replies) {
            let values = match reply {
                Ok(values) => values,
                // A primary gone, or slots moved: every command of its part
                // again, by key (they can run twice).
                Err(err)
                    if crate::error::is_unavailable(&err)
                        || matches!(err.code(), Some("MOVED" | "ASK")) =>
                {
                    moved.extend(indices.iter().copied().filter(|&i| slots[i].is_some()));
                    continue;
                }
                Err(err) => return Err(err),
            };
            for (i, value) in indices.iter().zip(values) {
                let redirected = matches!(
                    &value,
                    Value::ServerError(e) if matches!(e.code(), "MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN")
                );
                if redirected && slots[*i].is_some() {
                    moved.push(*i);
                } else if out[*i].is_none() {
                    out[*i] = Some(value);
                }
            }
        }
        // Redirected (the slots moved since the map was read) or unmapped:
        // one by one through redis-rs's routing, which follows redirects,
        // and the map read again next time.
        if !moved.is_empty() {
            if let Ok(mut r) = self.shared.ranges.lock() {
                *r = None;
            }
        }
        for i in moved.into_iter().chain(unmapped) {
            let value =
                match aio::ConnectionLike::req_packed_command(&mut self.inner, cmds[i]).await {
                    Ok(value) => value,
                    Err(err) => match err.try_into() {
                        Ok(server) => Value::ServerError(server),
                        Err(err) => return Err(err),
                    },
                };
            out[i] = Some(value);
        }
        Ok(out
            .into_iter()
            .map(|v| v.unwrap_or(Value::Nil))
            .skip(offset)
            .take(count)
            .collect())
    }

    /// One pipeline per hash slot (with every keyless command), sent
    /// concurrently through redis-rs's routing; replies put back in order.
    pub(super) async fn per_slot(
        &mut self,
        cmds: &[&Cmd],
        slots: &[Option<Slot>],
        distinct: &[Slot],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let parts: Vec<(Vec<usize>, Pipeline)> = distinct
            .iter()
            .map(|slot| {
                let mut indices = Vec::new();
                let mut part = redis::pipe();
                for (i, (cmd, s)) in cmds.iter().zip(slots).enumerate() {
                    if s.is_none() || *s == Some(*slot) {
                        indices.push(i);
                        part.add_command((*cmd).clone());
                    }
                }
                (indices, part)
            })
            .collect();
        let replies = futures_util::future::join_all(parts.iter().map(|(indices, part)| {
            let mut con = self.inner.clone();
            let n = indices.len();
            async move { aio::ConnectionLike::req_packed_commands(&mut con, part, 0, n).await }
        }))
        .await;
        let mut out: Vec<Option<Value>> = vec![None; cmds.len()];
        for ((indices, _), reply) in parts.iter().zip(replies) {
            for (i, value) in indices.iter().zip(reply?) {
                if out[*i].is_none() {
                    out[*i] = Some(value);
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|v| v.unwrap_or(Value::Nil))
            .skip(offset)
            .take(count)
            .collect())
    }
}
