//! Tags: drop a group of entries in one call, whatever its size.
//!
//! An entry may carry tags (`#[cached(tags = ["user:{user_id}", "orders"])]`, or
//! [`Cache::set_tagged`](crate::Cache::set_tagged)). Invalidating a tag touches no entry: each
//! store keeps, per tag, a *mark*, and every tagged entry keeps the *start* of its computation,
//! both read off one clock that only goes forward. An entry is live only while every one of its
//! tags' marks is at most its start, so [`invalidate_tag`](crate::invalidate_tag) is one write of
//! one mark, and the entries it drops are found on their next read, which looks the marks of their
//! tags up (in memory: a hash and an atomic load per tag, in a filter of 1,024 slots that each
//! hold the latest mark of their tags; the map of marks, under a read lock, only when a tag's slot
//! moved past the entry's start. On Redis: in the script that reads the value of a function with
//! tags, in the same round trip).
//!
//! - A memory store keeps its clock and marks in process. Marks older than the longest lifetime
//!   of a tagged entry it holds are pruned when they pile up: no entry they could drop is left.
//!   A computation that started before the latest pruned mark (it may have been running since)
//!   is refused if one of its tags' filter slots moved past its start and no mark is left to say
//!   which tag moved it: at worst it runs again.
//! - Redis keeps them under the provider's prefix: the clock in `<prefix>\0cache:tags`, the mark
//!   of a tag in `<prefix>\0cache:tag:<tag>`. Marks have no ttl (one small key per tag ever
//!   invalidated; a policy that evicts keys without a ttl, `allkeys-*`, could evict one and bring
//!   back the entries it dropped: use a `volatile-*` policy or `noeviction`). A leader's start
//!   comes with its lease, so every instance reads one clock, Redis's.
//!   On a Redis Cluster the clock and marks share one slot (`<prefix>\0cache:{tags}`,
//!   `<prefix>\0cache:{tags}tag:<tag>`), apart from the entries: the provider checks a value's
//!   tags after reading it (a second round trip for a tagged hit), and a leader reads the clock
//!   after taking its lease.
//! - A near cache learns marks from the invalidation channel and drops its copies the same way.
//!
//! The invalidation rules hold as for keys: a computation that started before `invalidate_tag`
//! started has a start below the new mark, so it is refused when it comes to store (its waiters
//! start over) and, were it stored meanwhile, never read.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::CacheError;
use crate::key_builder::KeyBuilder;

/// What separates two tags in a list; no tag holds it.
const SEPARATOR: char = '\n';

/// The longest tag accepted, in bytes.
pub const MAX_TAG_LEN: usize = 1024;

/// The tags of one call, as the macro's generated code writes them: each tag with the
/// [`KeyBuilder`] methods, then [`end_tag`](Tags::end_tag).
///
/// ```
/// use cache_runtime::__private::Tags;
///
/// let mut tags = Tags::with_capacity(16);
/// tags.literal("user:");
/// tags.integer(42u64);
/// tags.end_tag();
/// tags.literal("orders");
/// tags.end_tag();
/// assert_eq!(tags.as_str(), "user:42\norders\n");
/// ```
pub struct Tags {
    text: KeyBuilder,
}

impl Tags {
    /// No tags yet; `capacity` is the length the macro expects.
    #[inline]
    pub fn with_capacity(capacity: usize) -> Self {
        Tags { text: KeyBuilder::with_capacity(capacity) }
    }

    /// Ends the tag written since the last one.
    #[inline]
    pub fn end_tag(&mut self) {
        self.text.literal("\n");
    }
}

impl Deref for Tags {
    type Target = KeyBuilder;
    fn deref(&self) -> &KeyBuilder {
        &self.text
    }
}

impl DerefMut for Tags {
    fn deref_mut(&mut self) -> &mut KeyBuilder {
        &mut self.text
    }
}

/// The tags of a function that has none: nothing to build, nothing to carry.
pub struct NoTags;

/// What a cached call is given as its tags: [`Tags`] or [`NoTags`].
pub trait TagSource: Send {
    /// Whether the function has tags: its reads of Redis check the marks in the same round trip.
    const TAGGED: bool;
    /// The tags, if any.
    fn into_list(self) -> Option<TagList>;
}

impl TagSource for NoTags {
    const TAGGED: bool = false;
    #[inline]
    fn into_list(self) -> Option<TagList> {
        None
    }
}

impl TagSource for Tags {
    const TAGGED: bool = true;
    fn into_list(self) -> Option<TagList> {
        // The macro writes literal text it checked and escaped values: every tag is valid, but
        // an empty one (a literal-free template of an empty value cannot be: escaping writes
        // `%` for nothing only in default keys) is dropped rather than trusted.
        TagList::from_text(self.text.as_str())
    }
}

/// The tags of one entry: each one non-empty, none twice, joined by newlines. (Public only as
/// what [`TagSource`] gives; it cannot be named outside the crate.)
#[derive(Clone, PartialEq, Eq)]
pub struct TagList(Arc<str>);

impl TagList {
    /// The tags of text that holds them one per line (empty lines skipped, duplicates dropped);
    /// `None` when there is none.
    pub(crate) fn from_text(text: &str) -> Option<TagList> {
        let mut tags: Vec<&str> = Vec::new();
        for tag in text.split(SEPARATOR).filter(|tag| !tag.is_empty()) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        (!tags.is_empty()).then(|| TagList(tags.join("\n").into()))
    }

    /// The tags a user gave (cache-aside): each one checked.
    pub(crate) fn from_user<S: AsRef<str>>(tags: &[S]) -> Result<Option<TagList>, CacheError> {
        for tag in tags {
            check(tag.as_ref())?;
        }
        let joined: Vec<&str> = tags.iter().map(AsRef::as_ref).collect();
        Ok(TagList::from_text(&joined.join("\n")))
    }

    /// Each tag.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(SEPARATOR)
    }

    /// The tags, one per line.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TagList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Checks a tag given at run time: not empty, at most [`MAX_TAG_LEN`] bytes, no control
/// character.
pub(crate) fn check(tag: &str) -> Result<(), CacheError> {
    let problem = if tag.is_empty() {
        "is empty"
    } else if tag.len() > MAX_TAG_LEN {
        "is longer than 1024 bytes"
    } else if tag.chars().any(char::is_control) {
        "holds a control character (a newline, say)"
    } else {
        return Ok(());
    };
    Err(CacheError::BadTag {
        tag: crate::key::shorten(tag).to_owned(),
        problem: format!("{problem}: a tag is non-empty text of at most 1024 bytes, without control characters"),
    })
}

/// What a tagged value carries: its tags, and the start of its computation on its store's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tagging {
    pub(crate) start: u64,
    pub(crate) list: TagList,
}

/// The clock and marks of a memory store (or of a near cache, which takes its marks from Redis).
pub(crate) struct Marks {
    clock: AtomicU64,
    /// Whether any tag was ever invalidated: until then a tagged hit looks nothing up.
    any: AtomicBool,
    /// A filter in front of the map: each slot holds the latest mark of the tags that hash to it.
    /// A hit whose tags' slots are all at most its start reads nothing else: no lock, no string
    /// compared. Only a slot past the start (the tag, or another of its slot, was invalidated
    /// since) sends the read to the map.
    slots: Box<[AtomicU64]>,
    hasher: ahash::RandomState,
    marks: RwLock<MarkMap>,
}

/// How many slots the filter has: 8 KiB a store.
const SLOTS: usize = 1_024;

#[derive(Default)]
struct MarkMap {
    marks: HashMap<Box<str>, Mark, ahash::RandomState>,
    /// Prune when the map grows past this many marks.
    prune_at: usize,
    /// The latest mark pruned: a computation that started before it, with a tag whose filter
    /// slot moved past its start and no mark left, may have had its mark pruned: it does not hold.
    pruned_up_to: u64,
}

#[derive(Clone, Copy)]
struct Mark {
    /// The clock when the tag was invalidated.
    at: u64,
    /// When, on the store's own time, in nanoseconds: for pruning.
    when: u64,
}

/// How many marks a store keeps before it first prunes.
const PRUNE_FLOOR: usize = 4_096;

/// How much longer than the longest lifetime a mark is kept, in nanoseconds: one second.
const PRUNE_SLACK_NANOS: u64 = 1_000_000_000;

impl Default for Marks {
    fn default() -> Self {
        Marks {
            clock: AtomicU64::new(0),
            any: AtomicBool::new(false),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: ahash::RandomState::new(),
            marks: RwLock::new(MarkMap { marks: HashMap::default(), prune_at: PRUNE_FLOOR, pruned_up_to: 0 }),
        }
    }
}

impl Marks {
    /// The clock now: the start of a computation about to run.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Whether an entry with `tagging` is still live: no tag of it was invalidated since its
    /// start.
    #[inline]
    pub(crate) fn holds(&self, tagging: &Tagging) -> bool {
        if !self.any.load(Ordering::SeqCst) {
            return true;
        }
        tagging.list.iter().all(|tag| {
            self.slot(tag).load(Ordering::SeqCst) <= tagging.start || {
                let map = self.marks.read().unwrap_or_else(|poisoned| poisoned.into_inner());
                match map.marks.get(tag) {
                    Some(mark) => mark.at <= tagging.start,
                    None => map.pruned_up_to <= tagging.start,
                }
            }
        })
    }

    /// The filter's slot of `tag`.
    #[inline]
    fn slot(&self, tag: &str) -> &AtomicU64 {
        &self.slots[(self.hasher.hash_one(tag) >> 32) as usize % SLOTS]
    }

    /// Invalidates `tag` on this store's own clock; `now` is the store's time (for pruning), and
    /// `longest` the longest lifetime of a tagged entry it holds. Returns the mark.
    pub(crate) fn invalidate(&self, tag: &str, now: u64, longest: u64) -> u64 {
        let mut map = self.marks.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Under the lock, so that marks are set in the order of the clock.
        let at = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        map.set(tag, Mark { at, when: now }, now, longest);
        self.slot(tag).fetch_max(at, Ordering::SeqCst);
        self.any.store(true, Ordering::SeqCst);
        at
    }

    /// Takes a mark set elsewhere (Redis, through the near cache's channel): the clock moves up
    /// to it, and the tag's mark too.
    #[cfg(any(feature = "redis", test))]
    pub(crate) fn note(&self, tag: &str, at: u64, now: u64, longest: u64) {
        let mut map = self.marks.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.clock.fetch_max(at, Ordering::SeqCst);
        let at = map.marks.get(tag).map_or(at, |mark| mark.at.max(at));
        map.set(tag, Mark { at, when: now }, now, longest);
        self.slot(tag).fetch_max(at, Ordering::SeqCst);
        self.any.store(true, Ordering::SeqCst);
    }
}

impl MarkMap {
    fn set(&mut self, tag: &str, mark: Mark, now: u64, longest: u64) {
        match self.marks.get_mut(tag) {
            Some(found) => *found = mark,
            None => {
                self.marks.insert(tag.into(), mark);
            }
        }
        if self.marks.len() > self.prune_at {
            // A mark older than every tagged entry's lifetime can drop none of them: each entry
            // that started before it has expired. (With a second of slack: an entry checked
            // against the marks just before one was set is stored just after.) A computation
            // still running may have started before it, though: `pruned_up_to` refuses those.
            let keep_for = longest.saturating_add(PRUNE_SLACK_NANOS);
            let mut pruned_up_to = self.pruned_up_to;
            self.marks.retain(|_, mark| {
                let keep = now.saturating_sub(mark.when) <= keep_for;
                if !keep {
                    pruned_up_to = pruned_up_to.max(mark.at);
                }
                keep
            });
            self.pruned_up_to = pruned_up_to;
            self.prune_at = (2 * self.marks.len()).max(PRUNE_FLOOR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagging(start: u64, tags: &str) -> Tagging {
        Tagging { start, list: TagList::from_text(tags).unwrap() }
    }

    #[test]
    fn a_list_drops_empty_and_repeated_tags() {
        let list = TagList::from_text("a\n\nb\na\n").unwrap();
        assert_eq!(list.as_str(), "a\nb");
        assert!(TagList::from_text("\n\n").is_none());
    }

    #[test]
    fn an_entry_dies_with_a_mark_after_its_start_only() {
        let marks = Marks::default();
        let before = tagging(marks.now(), "user:4\norders");
        assert!(marks.holds(&before));
        marks.invalidate("user:42", 0, u64::MAX);
        assert!(marks.holds(&before), "user:42 is not user:4");
        marks.invalidate("orders", 0, u64::MAX);
        assert!(!marks.holds(&before));
        let after = tagging(marks.now(), "user:4\norders");
        assert!(marks.holds(&after));
    }

    #[test]
    fn a_tag_that_shares_its_filter_slot_with_an_invalidated_one_still_holds() {
        let marks = Marks::default();
        let first = "t0";
        let twin = (1..)
            .map(|n| format!("t{n}"))
            .find(|tag| std::ptr::eq(marks.slot(tag), marks.slot(first)))
            .expect("a tag in the same slot");
        let entry = tagging(marks.now(), &twin);
        marks.invalidate(first, 0, u64::MAX);
        assert!(marks.slot(&twin).load(Ordering::SeqCst) > entry.start, "the slot moved");
        assert!(marks.holds(&entry), "the map says the twin was not invalidated");
        marks.invalidate(&twin, 0, u64::MAX);
        assert!(!marks.holds(&entry));
    }

    #[test]
    fn a_noted_mark_moves_the_clock() {
        let marks = Marks::default();
        marks.note("t", 40, 0, u64::MAX);
        assert_eq!(marks.now(), 40);
        assert!(!marks.holds(&tagging(39, "t")));
        assert!(marks.holds(&tagging(40, "t")));
    }

    #[test]
    fn old_marks_are_pruned_once_no_entry_can_need_them() {
        let marks = Marks::default();
        for n in 0..PRUNE_FLOOR {
            marks.invalidate(&format!("t{n}"), 0, 10);
        }
        marks.invalidate("late", 100 + PRUNE_SLACK_NANOS, 10);
        let map = marks.marks.read().unwrap();
        assert_eq!(map.marks.len(), 1, "only the mark younger than the longest lifetime is kept");
    }

    #[test]
    fn a_computation_older_than_a_pruned_mark_of_its_tag_does_not_hold() {
        let marks = Marks::default();
        let start = marks.now();
        marks.invalidate("slow", 0, 10);
        for n in 0..PRUNE_FLOOR {
            marks.invalidate(&format!("t{n}"), 100 + PRUNE_SLACK_NANOS, 10);
        }
        assert!(!marks.marks.read().unwrap().marks.contains_key("slow"), "the mark of `slow` was pruned");
        assert!(!marks.holds(&tagging(start, "slow")), "its computation, started before, is refused");
        assert!(marks.holds(&tagging(marks.now(), "slow")), "one that starts now holds");
    }

    #[test]
    fn a_bad_tag_is_refused_with_a_reason() {
        assert!(check("user:42").is_ok());
        for bad in ["", "a\nb", &"x".repeat(MAX_TAG_LEN + 1)] {
            let error = check(bad).unwrap_err();
            assert!(error.to_string().contains("a tag is non-empty text"), "{error}");
        }
    }
}
