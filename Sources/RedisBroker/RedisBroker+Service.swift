import ChatCore
import ServiceLifecycle

extension RedisBroker {
    /// Keeps the node's heartbeat and reaps dead nodes every heartbeat interval, until the
    /// service group shuts down; then removes the node's presence (see ``shutdown()``) and
    /// returns. Cancelled instead, it closes the connections and leaves the presence to the
    /// other nodes' reapers, as a crash would.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                failing = await self.beat(failing: failing)
                try await Task.sleep(for: self.configuration.heartbeatInterval)
            }
        }
        await self.stop(leaving: Task.isShuttingDownGracefully)
    }

    /// One heartbeat and reaping round; returns whether it failed (logged once per outage).
    private func beat(failing: Bool) async -> Bool {
        self.subscriber.checkAlive(timeout: self.configuration.replyTimeout)
        do {
            let registered = try await self.heartbeat()
            let offline = try await self.restorePresence(registered: registered) + self.reapDeadNodes()
            if !offline.isEmpty, let presenceLost = self.presenceLost { await presenceLost(offline) }
            if failing { self.logger.notice("heartbeat restored") }
            return false
        } catch {
            if !failing {
                self.logger.warning("heartbeat failed; retrying every interval", metadata: ["error": "\(error)"])
            }
            return true
        }
    }
}
