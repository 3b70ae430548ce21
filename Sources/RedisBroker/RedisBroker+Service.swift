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
            var next = ContinuousClock.now
            while !Task.isCancelled {
                failing = await self.beat(failing: failing)
                // A fixed schedule: a slow round shortens the wait instead of delaying every later beat.
                next = max(next + self.configuration.heartbeatInterval, .now)
                try await Task.sleep(until: next)
            }
        }
        await self.stop(leaving: Task.isShuttingDownGracefully)
    }

    /// One heartbeat and reaping round; returns whether it failed (logged once per outage).
    ///
    /// Only Redis commands run here, the heartbeat's first; what they find is reported as soon as
    /// it is known (``PresenceReports``), so neither a slow report nor a later failing step
    /// holds it back or loses it.
    private func beat(failing: Bool) async -> Bool {
        self.subscriber.checkAlive(timeout: self.configuration.replyTimeout)
        // Normally published as the command connection comes back; this catches what was recorded after that.
        self.lostPublishes.publish(through: self.commands)
        do {
            let registered = try await self.heartbeat()
            let changes = try await self.restorePresence(registered: registered)
            self.reports.report(lost: changes.offline)
            self.reports.report(restored: changes.restored)
            try await self.reapDeadNodes()
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
