/// The Lua scripts that change presence, each run atomically by Redis (`EVAL`).
///
/// `EVAL` sends the source each time; Redis caches the compiled script by its hash, and a script
/// runs once per connection opened or closed, not per message, so `EVALSHA`'s saving is not worth
/// its `NOSCRIPT` fallback after a Redis restart.
enum PresenceScripts {
    /// KEYS: presence set, node's member set. ARGV: `<node>/<connection>`, `<user>/<connection>`.
    /// 1 when this is the user's first connection cluster-wide.
    static let open = """
        local added = redis.call('SADD', KEYS[1], ARGV[1])
        redis.call('SADD', KEYS[2], ARGV[2])
        if added == 1 and redis.call('SCARD', KEYS[1]) == 1 then return 1 end
        return 0
        """

    /// KEYS and ARGV as ``open``. 1 when this was the user's last connection cluster-wide.
    static let close = """
        local removed = redis.call('SREM', KEYS[1], ARGV[1])
        redis.call('SREM', KEYS[2], ARGV[2])
        if removed == 1 and redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
        return 0
        """

    /// Removes a node's connections from presence and the node from the registry; returns the
    /// users who thereby went offline. KEYS: registry, node's heartbeat, node's member set.
    /// ARGV: node id, presence key prefix, `reap` or `leave`.
    ///
    /// `reap` (another node's doing) does nothing if the heartbeat is back or another reaper took
    /// the node off the registry first, so the users are reported once. `leave` (the node's own
    /// shutdown) removes whatever is left. The presence keys are built here from the members, so
    /// this needs one Redis, not a cluster.
    static let remove = """
        if ARGV[3] == 'reap' then
          if redis.call('EXISTS', KEYS[2]) == 1 then return {} end
          if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {} end
        else
          redis.call('DEL', KEYS[2])
          redis.call('SREM', KEYS[1], ARGV[1])
        end
        local offline = {}
        for _, member in ipairs(redis.call('SMEMBERS', KEYS[3])) do
          local slash = string.find(member, '/', 1, true)
          if slash then
            local user = string.sub(member, 1, slash - 1)
            local key = ARGV[2] .. user
            local removed = redis.call('SREM', key, ARGV[1] .. '/' .. string.sub(member, slash + 1))
            if removed == 1 and redis.call('EXISTS', key) == 0 then offline[#offline + 1] = user end
          end
        end
        redis.call('DEL', KEYS[3])
        return offline
        """

    /// Makes a node's presence records match its own list of connections, after Redis lost them
    /// or missed changes. KEYS: node's member set, registry. ARGV: node id, presence key prefix,
    /// `n`, the `n` candidates (users whose last connection here closed while Redis was out of
    /// reach), then the node's members (`<user>/<connection>`).
    ///
    /// Returns two lists of users: those who went offline meanwhile (whose stale connections it
    /// removes, and the candidates with no connection left), and those it brought back online
    /// (whose presence set was empty before). The node's connections are added before the stale
    /// ones go, so a user who only changed connections is neither.
    static let restore = """
        local candidates = tonumber(ARGV[3])
        local wanted, restored = {}, {}
        for i = 4 + candidates, #ARGV do
          local member = ARGV[i]
          wanted[member] = true
          local slash = string.find(member, '/', 1, true)
          local key = ARGV[2] .. string.sub(member, 1, slash - 1)
          redis.call('SADD', KEYS[1], member)
          local added = redis.call('SADD', key, ARGV[1] .. '/' .. string.sub(member, slash + 1))
          if added == 1 and redis.call('SCARD', key) == 1 then restored[#restored + 1] = string.sub(member, 1, slash - 1) end
        end
        local offline, reported = {}, {}
        local function report(user)
          if not reported[user] then
            reported[user] = true
            offline[#offline + 1] = user
          end
        end
        for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          local slash = string.find(member, '/', 1, true)
          if not wanted[member] and slash then
            local user = string.sub(member, 1, slash - 1)
            local key = ARGV[2] .. user
            redis.call('SREM', KEYS[1], member)
            local removed = redis.call('SREM', key, ARGV[1] .. '/' .. string.sub(member, slash + 1))
            if removed == 1 and redis.call('EXISTS', key) == 0 then report(user) end
          end
        end
        for i = 4, 3 + candidates do
          if redis.call('EXISTS', ARGV[2] .. ARGV[i]) == 0 then report(ARGV[i]) end
        end
        redis.call('SADD', KEYS[2], ARGV[1])
        return {offline, restored}
        """

    /// An `EVAL` of `script`.
    static func eval(_ script: String, keys: [String], arguments: [String]) -> RedisCommand {
        RedisCommand("EVAL", [script, String(keys.count)] + keys + arguments)
    }
}
