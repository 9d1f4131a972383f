//! The Lua scripts: each runs atomically in Redis, so that no other client slips in between a
//! check and the write it guards.
//!
//! Keys of another Redis type (a list, a hash, ...) at our keys are never overwritten nor
//! deleted. A lease is a string under its own key (see `lease.rs`); deleting it voids it.

use std::sync::LazyLock;

use redis::Script;

/// Lua shared by the scripts that read or write values: the tag section of a value (see
/// `value.rs`, format version 2), whether one of its tags was invalidated since its computation
/// started, and a value restamped with the clock now (a write that is not a computation's).
///
/// `marks` is `<prefix>\0cache:tag:`, before each tag; a mark is the tag clock when the tag was
/// invalidated. These keys are not declared: only a script on one server reads them. On a Redis
/// Cluster they live in another slot than the entry, `marks` is empty, and the client checks the
/// tags (see `redis.rs`).
const TAGS: &str = r"
local function tag_section(v)
  if #v < 23 or string.byte(v, 1) ~= 202 or string.byte(v, 2) ~= 2 then return nil end
  local a, b, c, d = string.byte(v, 20, 23)
  local len = a + b * 256 + c * 65536 + d * 16777216
  return string.sub(v, 24, 23 + len), len
end
local function dropped(v, marks)
  if marks == '' then return false end
  local section = tag_section(v)
  if not section then return false end
  local start = nil
  for line in string.gmatch(section, '[^\n]+') do
    if start == nil then
      start = tonumber(line) or 0
    else
      local mark = redis.call('GET', marks .. line)
      if mark and tonumber(mark) > start then return true end
    end
  end
  return false
end
local function restamp(v, clock)
  local section, len = tag_section(v)
  if not section then return v end
  local newline = string.find(section, '\n', 1, true)
  if not newline then return v end
  local stamped = clock .. string.sub(section, newline)
  local n = #stamped
  local size = string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256, math.floor(n / 16777216))
  return string.sub(v, 1, 19) .. size .. stamped .. string.sub(v, 24 + len)
end
";

/// A script made of [`TAGS`] and `body`.
fn with_tags(body: &str) -> Script {
    Script::new(&format!("{TAGS}{body}"))
}

/// Reads a value and the time it has left, unless one of its tags was invalidated since its
/// computation started (then: nothing, and the entry is removed, so that it does not hold its
/// memory until its ttl). A key of another Redis type answers `WRONGTYPE`, as a `GET` does.
///
/// KEYS: entry. ARGV: marks, whether to read the time left (`1`; else it is `-1`). Returns
/// `{value, pttl}` or nil.
pub(super) static READ: LazyLock<Script> = LazyLock::new(|| {
    with_tags(
        r"
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' and v.err then return v end
if not v then return false end
if dropped(v, ARGV[1]) then
  redis.call('UNLINK', KEYS[1])
  return false
end
if ARGV[2] == '1' then return {v, redis.call('PTTL', KEYS[1])} end
return {v, -1}
",
    )
});

/// Invalidates a tag: the clock goes up (at least to `floor`, a mark this instance set while
/// Redis was away) and the tag's mark is set to it. Publishes it to the near caches.
///
/// KEYS: clock, mark. ARGV: floor, near channel (empty: none), message before the mark, tag.
/// Returns the mark.
pub(super) static INVALIDATE_TAG: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local mark = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if mark < floor then
  mark = floor
  redis.call('SET', KEYS[1], string.format('%d', mark))
end
redis.call('SET', KEYS[2], string.format('%d', mark))
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3] .. string.format('%d', mark) .. ' ' .. ARGV[4]) end
return mark
",
    )
});

/// Stores a value unless the key holds another Redis type, and voids the lease of the key (a
/// computation in flight must not store over a newer value). Strings are replaced whatever they
/// hold: a string at our key is either our entry or a value that reads as a miss anyway.
///
/// A tagged value is stamped with the tag clock now: tags invalidated before this write do not
/// drop it.
///
/// KEYS: entry, lease, clock. ARGV: value, ttl in ms, channel, key. On a cluster, KEYS: entry,
/// lease, and the clock read beforehand is ARGV[5]. Returns the type found.
pub(super) static SET: LazyLock<Script> = LazyLock::new(|| {
    with_tags(
        r"
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'string' or kind == 'none' then
  local clock = ARGV[5]
  if not clock then clock = redis.call('GET', KEYS[3]) or '0' end
  redis.call('SET', KEYS[1], restamp(ARGV[1], clock), 'PX', ARGV[2])
end
if redis.call('UNLINK', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return kind
",
    )
});

/// Voids the lease of a key and removes its entry if it is a string: 1 removed, 0 absent, -1
/// another type (left alone).
///
/// KEYS: entry, lease. ARGV: channel, key.
pub(super) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('UNLINK', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'string' then return redis.call('UNLINK', KEYS[1]) end
if kind == 'none' then return 0 end
return -1
",
    )
});

/// Removes the keys that are strings among a batch found by `SCAN`; returns how many.
///
/// KEYS: the batch.
pub(super) static DELETE_BATCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local removed = 0
for _, key in ipairs(KEYS) do
  if redis.call('TYPE', key).ok == 'string' then removed = removed + redis.call('UNLINK', key) end
end
return removed
",
    )
});

/// Voids a batch of leases found by `SCAN`, and tells the waiters of each key.
///
/// KEYS: the leases. ARGV: channel, length of the lease prefix, `1` when the key is in a hash
/// tag (a cluster: the braces are not the key's) else `0`.
pub(super) static VOID_BATCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local skip = tonumber(ARGV[2])
local tagged = tonumber(ARGV[3])
for _, lease in ipairs(KEYS) do
  if redis.call('TYPE', lease).ok == 'string' then
    redis.call('UNLINK', lease)
    redis.call('PUBLISH', ARGV[1], string.sub(lease, skip + 1 + tagged, #lease - tagged))
  end
end
return 0
",
    )
});

/// Takes the lease of a cold key, unless a value is there already (with the check on; a value
/// dropped by a tag is none).
///
/// KEYS: entry, lease, clock (not on a cluster: the clock is then read after the lease). ARGV:
/// token, lease in ms, check the entry first (`1`) or not, marks. Returns `{1, value}` (a value is there), `{2, clock}` (leased; the tag clock is the
/// computation's start), `{3, token}` (another holds the lease, with that token), `{4}` (the key
/// holds another Redis type).
pub(super) static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    with_tags(
        r"
if ARGV[3] == '1' then
  local kind = redis.call('TYPE', KEYS[1]).ok
  if kind == 'string' then
    local v = redis.call('GET', KEYS[1])
    if not dropped(v, ARGV[4]) then return {1, v} end
  elseif kind ~= 'none' then
    return {4, false}
  end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if KEYS[3] then return {2, redis.call('GET', KEYS[3]) or '0'} end
  return {2, false}
end
return {3, redis.call('GET', KEYS[2])}
",
    )
});

/// Stores a leader's value if its lease is intact and none of its tags was invalidated since
/// it started, gives the lease up, and tells the waiters.
///
/// KEYS: entry, lease. ARGV: token, value, ttl in ms, channel, key, marks. Returns 1 stored, 0
/// the lease was voided or a tag invalidated (nothing stored), -1 the key holds another Redis
/// type (nothing stored).
pub(super) static STORE_LEASED: LazyLock<Script> = LazyLock::new(|| {
    with_tags(
        r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('UNLINK', KEYS[2])
if dropped(ARGV[2], ARGV[6]) then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
  return 0
end
local stored = -1
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'string' or kind == 'none' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  stored = 1
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return stored
",
    )
});

/// Extends a lease its holder still has: 1 extended, 0 lost (voided or expired).
///
/// KEYS: lease. ARGV: token, lease in ms.
pub(super) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
",
    )
});

/// Gives up a lease its holder still has, and tells the waiters so that one takes over.
///
/// KEYS: lease. ARGV: token, channel, key.
pub(super) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('UNLINK', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
",
    )
});

/// Every script, for [`load_all`].
fn all() -> [&'static Script; 10] {
    [&READ, &INVALIDATE_TAG, &SET, &DELETE, &DELETE_BATCH, &VOID_BATCH, &ACQUIRE, &STORE_LEASED, &RENEW, &RELEASE]
}

/// Loads every script into Redis (`SCRIPT LOAD`), so that the first call of each is one round
/// trip: `EVALSHA` of a script Redis does not hold yet is refused, and redis-rs then sends the
/// whole script, which doubles the first call's latency. Redis forgets them when it restarts; the
/// same fallback serves then.
pub(super) async fn load_all<C: redis::aio::ConnectionLike>(connection: &mut C) -> redis::RedisResult<()> {
    for script in all() {
        script.load_async(connection).await?;
    }
    Ok(())
}
