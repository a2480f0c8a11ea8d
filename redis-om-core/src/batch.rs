//! How much one round trip carries: the one rule behind every bulk call
//! (`save_all`, `get_many`, `all`, `stream`, `find(..).update`, `delete`).
//!
//! Every command has a response deadline ([`RESPONSE_TIMEOUT`], 500 ms with
//! [`connect`]): a server that sends nothing for that long is taken for gone,
//! so that a read cache falls back at once. A healthy server that is sending
//! a large reply, or taking in a large write, must never be mistaken for a
//! gone one. So a round trip carries about [`ROUND_TRIP_BYTES`] (4 MiB) at
//! most, and at most [`MAX_COUNT`] documents (a write may exceed the budget
//! by its last document; a read is sized from the documents seen so far): on this project's test
//! machine a round trip of 4 MiB of JSON documents takes 15–40 ms, a tenth
//! of the deadline or less (figures in RELIABILITY.md).
//!
//! Writes know their size before sending ([`WriteBatch`]). Reads learn it from
//! the replies ([`ReadBatch`]): the first read of a model in the process is
//! small ([`FIRST_READ`] documents), and each next batch holds as many
//! documents as the sizes seen so far fit in the budget, growing at most
//! eightfold per round trip; later reads of the model start from the largest
//! average size seen for it. A
//! single document larger than what the server can send within the deadline
//! (tens of megabytes) needs a longer response timeout: that is the one case
//! the budget cannot split.
//!
//! [`RESPONSE_TIMEOUT`]: crate::RESPONSE_TIMEOUT
//! [`connect`]: crate::connect

use std::sync::Mutex;

use redis::Value;

/// The most documents in one round trip: enough to amortize the round trip.
pub(crate) const MAX_COUNT: usize = 1_000;

/// The most bytes of documents in one round trip (a single larger document
/// goes alone).
pub(crate) const ROUND_TRIP_BYTES: usize = 4 << 20;

/// The documents of the first read of a call, before any size is known:
/// 32 documents of 200 KB are 6.4 MB.
pub(crate) const FIRST_READ: usize = 32;

/// The largest average document size (bytes) seen in this process's reads
/// of each model (a batch's average), and the largest document of its bulk
/// writes, by index name: a later read of the model starts at the batch size
/// that fits it, instead of at [`FIRST_READ`] (one round trip for 1,000
/// small documents, as before the byte budget), and never grows past it.
/// The largest, not the latest: a model with big documents stays careful.
static LEARNED: Mutex<Vec<(&'static str, usize)>> = Mutex::new(Vec::new());

fn learned(model: &str) -> Option<usize> {
    LEARNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(name, _)| *name == model)
        .map(|(_, size)| *size)
}

fn learn(model: &'static str, per_doc: usize) {
    let mut sizes = LEARNED.lock().unwrap_or_else(|e| e.into_inner());
    match sizes.iter_mut().find(|(name, _)| *name == model) {
        Some((_, size)) => *size = (*size).max(per_doc),
        None => sizes.push((model, per_doc)),
    }
}

/// How many documents of `per_doc` bytes fit the budget.
fn fit(per_doc: usize) -> usize {
    (ROUND_TRIP_BYTES / per_doc.max(1)).max(1)
}

/// The batches of a read, sized from what the replies so far weighed.
#[derive(Debug, Clone)]
pub(crate) struct ReadBatch {
    max: usize,
    next: usize,
    /// The model read (its index name), whose sizes are learnt.
    model: Option<&'static str>,
}

impl ReadBatch {
    /// Batches of at most `max` documents (the caller's batch size).
    pub(crate) fn new(max: usize) -> Self {
        let max = max.clamp(1, MAX_COUNT);
        ReadBatch {
            max,
            next: max.min(FIRST_READ),
            model: None,
        }
    }

    /// Batches of at most `max` documents of `model` (its index name): the
    /// first one sized from earlier reads of the model in this process.
    pub(crate) fn of_model(model: &'static str, max: usize) -> Self {
        let mut batch = ReadBatch::new(max);
        batch.model = Some(model);
        if let Some(per_doc) = learned(model) {
            batch.next = fit(per_doc).clamp(1, batch.max);
        }
        batch
    }

    /// How many documents to ask for next.
    pub(crate) fn next(&self) -> usize {
        self.next
    }

    /// A reply of `docs` documents weighed `bytes`: sizes the next batch,
    /// for documents as large as these or as the largest the model is known
    /// to have (so that thousands of tiny documents do not grow the batch
    /// past what its big documents allow).
    pub(crate) fn observe(&mut self, docs: usize, bytes: usize) {
        if docs == 0 {
            return;
        }
        let mut per_doc = (bytes / docs).max(1);
        if let Some(model) = self.model {
            learn(model, per_doc);
            per_doc = per_doc.max(learned(model).unwrap_or(0));
        }
        self.next = fit(per_doc)
            .min(self.next.saturating_mul(8))
            .clamp(1, self.max);
    }

    /// The round trip of the last batch timed out (its reply may have been
    /// too big to arrive in time): later reads of the model start, and stay,
    /// at a sixty-fourth of it.
    pub(crate) fn timed_out(&self) {
        if let Some(model) = self.model {
            let per_doc = ROUND_TRIP_BYTES.saturating_mul(64) / self.next.max(1);
            learn(model, per_doc);
        }
    }
}

/// A bulk write of `model` carried documents of up to `per_doc` bytes: its
/// reads start at a batch size that fits them.
pub(crate) fn learn_written(model: &'static str, per_doc: usize) {
    learn(model, per_doc);
}

/// Cuts a bulk write into round trips: call [`WriteBatch::full`] before
/// adding each document.
#[derive(Debug, Default)]
pub(crate) struct WriteBatch {
    count: usize,
    bytes: usize,
}

impl WriteBatch {
    /// Whether the round trip is full: another document goes into the next
    /// one. Never full while empty, so a document larger than the budget
    /// still goes (a round trip may exceed the budget by its last document).
    pub(crate) fn full(&self) -> bool {
        self.count > 0 && (self.count >= MAX_COUNT || self.bytes >= ROUND_TRIP_BYTES)
    }

    /// A document of `bytes` joins the round trip.
    pub(crate) fn add(&mut self, bytes: usize) {
        self.count += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// How long a round trip of deletes should take: a tenth of the default
/// response timeout.
const DELETE_ROUND_TRIP: std::time::Duration = std::time::Duration::from_millis(50);

/// The batches of a bulk delete. RedisJSON frees a document in the
/// foreground (`UNLINK` is no lazier than `DEL` for it), in time that grows
/// with its size (a document of 80,000 numbers takes 2–3 ms, and `MEMORY
/// USAGE` costs as much as the delete), so deletes of JSON documents start at
/// 8 keys and each next batch is sized from how long the last one took, to
/// take about [`DELETE_ROUND_TRIP`]. Hashes and strings are freed in the
/// background: [`MAX_COUNT`] at a time.
#[derive(Debug)]
pub(crate) struct DeleteBatch {
    next: usize,
}

impl DeleteBatch {
    pub(crate) fn new(storage: crate::Storage) -> Self {
        DeleteBatch {
            next: match storage {
                crate::Storage::Json => 8,
                crate::Storage::Hash => MAX_COUNT,
            },
        }
    }

    /// How many keys the next round trip deletes.
    pub(crate) fn next(&self) -> usize {
        self.next
    }

    /// `count` keys were deleted in `took`.
    pub(crate) fn observe(&mut self, count: usize, took: std::time::Duration) {
        if count == 0 {
            return;
        }
        let per_key = took.as_micros().max(1) / count as u128;
        let fit = (DELETE_ROUND_TRIP.as_micros() / per_key.max(1)) as usize;
        self.next = fit.min(self.next.saturating_mul(4)).clamp(1, MAX_COUNT);
    }
}

/// About how many bytes a reply took on the wire: its strings' lengths (the
/// framing is noise next to documents).
pub(crate) fn reply_bytes(value: &Value) -> usize {
    match value {
        Value::BulkString(bytes) => bytes.len(),
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => text.len(),
        Value::Array(items) | Value::Set(items) => items.iter().map(reply_bytes).sum(),
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| reply_bytes(k) + reply_bytes(v))
            .sum(),
        Value::Attribute { data, .. } => reply_bytes(data),
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_documents_grow_to_the_count_cap() {
        let mut batch = ReadBatch::new(1_000);
        assert_eq!(batch.next(), FIRST_READ);
        batch.observe(32, 32 * 200);
        assert_eq!(batch.next(), 256);
        batch.observe(256, 256 * 200);
        assert_eq!(batch.next(), 1_000);
    }

    #[test]
    fn big_documents_stay_within_the_byte_budget() {
        let mut batch = ReadBatch::new(1_000);
        batch.observe(32, 32 * 200_000);
        assert_eq!(batch.next(), ROUND_TRIP_BYTES / 200_000);
        // A document larger than the budget: one at a time.
        batch.observe(1, 50 << 20);
        assert_eq!(batch.next(), 1);
        // Then small ones again: growth is gradual.
        batch.observe(1, 100);
        assert_eq!(batch.next(), 8);
    }

    #[test]
    fn a_model_read_before_starts_at_its_learnt_size() {
        let mut first = ReadBatch::of_model("batch-test-small", 1_000);
        assert_eq!(first.next(), FIRST_READ);
        first.observe(32, 32 * 200);
        assert_eq!(ReadBatch::of_model("batch-test-small", 1_000).next(), 1_000);
        // One batch of big documents makes later reads careful again.
        first.observe(10, 10 * 400_000);
        assert_eq!(
            ReadBatch::of_model("batch-test-small", 1_000).next(),
            ROUND_TRIP_BYTES / 400_000
        );
        first.observe(1_000, 1_000 * 100);
        assert_eq!(
            ReadBatch::of_model("batch-test-small", 1_000).next(),
            ROUND_TRIP_BYTES / 400_000
        );
        // Tiny documents do not grow a batch past what the model's big ones allow.
        let mut read = ReadBatch::of_model("batch-test-small", 1_000);
        read.observe(10, 10 * 50);
        assert_eq!(read.next(), ROUND_TRIP_BYTES / 400_000);
    }

    #[test]
    fn a_timed_out_read_makes_later_reads_start_at_a_sixty_fourth() {
        let mut read = ReadBatch::of_model("batch-test-timeout", 1_000);
        read.observe(32, 32 * 100);
        assert_eq!(read.next(), 256);
        read.timed_out();
        let again = ReadBatch::of_model("batch-test-timeout", 1_000);
        assert_eq!(again.next(), 4);
    }

    #[test]
    fn the_caller_batch_size_is_a_cap() {
        let mut batch = ReadBatch::new(10);
        assert_eq!(batch.next(), 10);
        batch.observe(10, 10);
        assert_eq!(batch.next(), 10);
        assert_eq!(ReadBatch::new(0).next(), 1);
        assert_eq!(ReadBatch::new(usize::MAX).next(), FIRST_READ);
    }

    #[test]
    fn a_write_batch_is_cut_by_count_or_bytes_never_empty() {
        let mut batch = WriteBatch::default();
        assert!(!batch.full());
        batch.add(usize::MAX);
        assert!(batch.full());
        let mut batch = WriteBatch::default();
        for _ in 0..MAX_COUNT {
            assert!(!batch.full());
            batch.add(10);
        }
        assert!(batch.full());
    }

    #[test]
    fn deletes_are_sized_by_how_long_they_take() {
        let mut json = DeleteBatch::new(crate::Storage::Json);
        assert_eq!(json.next(), 8);
        // 8 documents in 40 ms: 5 ms each, so 10 fit in 50 ms.
        json.observe(8, std::time::Duration::from_millis(40));
        assert_eq!(json.next(), 10);
        // Fast ones grow fourfold per round trip, up to the count cap.
        json.observe(10, std::time::Duration::from_micros(100));
        assert_eq!(json.next(), 40);
        assert_eq!(DeleteBatch::new(crate::Storage::Hash).next(), MAX_COUNT);
    }

    #[test]
    fn reply_bytes_counts_nested_strings() {
        let value = Value::Array(vec![
            Value::BulkString(vec![0; 100]),
            Value::Map(vec![(
                Value::SimpleString("ab".into()),
                Value::BulkString(vec![0; 10]),
            )]),
        ]);
        assert_eq!(reply_bytes(&value), 112);
    }
}
