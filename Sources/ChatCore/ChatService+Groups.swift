extension ChatService {
    /// Creates a group owned by `by`, with `by` first and then `members` (deduplicated).
    /// Unknown members → `not_found`; more than `maxGroupMembers` → `too_large`.
    public func createGroup(by: UserID, name: String, members: [UserID]) async throws(ChatError) -> Group {
        let name = try Validation.text(name, max: configuration.maxGroupNameChars, what: "group name")
        var all = [by]
        for member in members where !all.contains(member) { all.append(member) }
        guard all.count <= configuration.maxGroupMembers else { throw .tooLarge("at most \(configuration.maxGroupMembers) members") }
        try await requireUsersExist(all)
        let group = Group(id: .random(), name: name, owner: by, members: all)
        let ts = clock()
        let event = JSONPayload.encode(GroupEvent(conversation: .group(group.id), change: .created, group: group, users: all, by: by, ts: ts))
        let entries = try await storage("createGroup") { try await store.createGroup(group, at: ts, event: event) }
        await publish(entries)
        return group
    }

    /// Adds `members` to a group `by` belongs to (already present ones are skipped).
    /// Not a member → `not_found`; unknown invitees → `not_found`; over the limit → `too_large`.
    public func invite(by: UserID, group id: GroupID, members: [UserID]) async throws(ChatError) -> Group {
        let current = try await memberGroup(id, viewer: by)
        let added = members.reduce(into: [UserID]()) { list, m in
            if !current.members.contains(m), !list.contains(m) { list.append(m) }
        }
        guard !added.isEmpty else { return current }
        guard current.members.count + added.count <= configuration.maxGroupMembers else {
            throw .tooLarge("at most \(configuration.maxGroupMembers) members")
        }
        try await requireUsersExist(added)
        let ts = clock()
        let (group, entries) = try await storage("addMembers") {
            try await store.addMembers(added, to: id, by: by, at: ts, limit: configuration.maxGroupMembers) { group, joined in
                JSONPayload.encode(GroupEvent(conversation: .group(id), change: .joined, group: group, users: joined, by: by, ts: ts))
            }
        }
        await publish(entries)
        return group
    }

    /// Removes `member` from a group: `by == member` leaves; otherwise only the owner may remove
    /// (`forbidden`). `by` not a member, or `member` not in the group → `not_found`.
    public func removeMember(by: UserID, group id: GroupID, member: UserID) async throws(ChatError) {
        // Checked here for an answer without a write, and by the store on the group it changes.
        try await memberGroup(id, viewer: by).requireRemovable(member, by: by)
        let ts = clock()
        let entries = try await storage("removeMember") {
            try await store.removeMember(member, from: id, by: by, at: ts) { group in
                JSONPayload.encode(GroupEvent(conversation: .group(id), change: .left, group: group, users: [member], by: by, ts: ts))
            }
        }
        await publish(entries)
    }

    /// A group; `not_found` unless `viewer` is a current member.
    public func group(_ id: GroupID, viewer: UserID) async throws(ChatError) -> Group {
        try await memberGroup(id, viewer: viewer)
    }

    private func requireUsersExist(_ ids: [UserID]) async throws(ChatError) {
        let existing = try await storage("existingUsers") { try await store.existingUsers(ids) }
        if let missing = ids.first(where: { !existing.contains($0) }) { throw .notFound("no such user: \(missing)") }
    }
}
