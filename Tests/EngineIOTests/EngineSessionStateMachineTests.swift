import NIOCore
import Testing

@testable import EngineIO

@Suite("Engine.IO session state machine")
struct EngineSessionStateMachineTests {
    private let hello = EnginePacket.message(.text(ByteBuffer(string: "hello")))

    @Test func pollingHandshakeBuffersUntilPolled() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.send([self.hello]) == .buffered)
        #expect(machine.bufferedBytes > 0)
        #expect(machine.pollRequested() == .respond([self.hello]))
        #expect(machine.bufferedBytes == 0)
        #expect(machine.pollRequested() == .park)
        #expect(machine.send([self.hello]) == .completePoll([self.hello]))
    }

    @Test func aPollTakesAtMostSixteenPackets() {
        var machine = EngineSessionStateMachine(transport: .polling)
        let packets = (0..<40).map { EnginePacket.message(.text(ByteBuffer(string: "m\($0)"))) }
        #expect(machine.send(packets) == .buffered)
        #expect(machine.pollRequested() == .respond(Array(packets[0..<16])))
        #expect(machine.pollRequested() == .respond(Array(packets[16..<32])))
        #expect(machine.bufferedBytes == packets[32...].reduce(0) { $0 + $1.byteCount })
        #expect(machine.pollRequested() == .respond(Array(packets[32...])))
        #expect(machine.bufferedBytes == 0)
        #expect(machine.pollRequested() == .park)
        // A parked poll, too, is answered with at most 16; the rest wait.
        #expect(machine.send(packets) == .completePoll(Array(packets[0..<16])))
        #expect(machine.pollRequested() == .respond(Array(packets[16..<32])))
    }

    @Test func heartbeatPingsThenTimesOut() {
        var machine = EngineSessionStateMachine(transport: .webSocket)
        #expect(machine.heartbeatTimerFired() == .sendPing(.writeWebSocket([.ping(ByteBuffer())])))
        #expect(machine.awaitingPong)
        #expect(machine.received(.pong(ByteBuffer()), over: .webSocket) == .restartHeartbeat)
        #expect(machine.heartbeatTimerFired() == .sendPing(.writeWebSocket([.ping(ByteBuffer())])))
        #expect(machine.heartbeatTimerFired() == .close(.init(reason: .pingTimeout, completePoll: nil)))
        #expect(machine.state == .closed)
        #expect(machine.heartbeatTimerFired() == .none)
    }

    @Test func clientPingIsAnError() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.received(.ping(ByteBuffer()), over: .polling) == .close(.init(reason: .parseError, completePoll: nil)))
    }

    @Test func upgradeFromPolling() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.pollRequested() == .park)
        #expect(machine.webSocketAttached() == true)
        #expect(machine.webSocketAttached() == false, "a second WebSocket may not join")
        #expect(machine.received(.ping(EnginePacket.probeData), over: .webSocket) == .answerProbe(completePoll: [.noop]))
        #expect(machine.send([self.hello]) == .buffered)
        #expect(machine.received(.upgrade, over: .webSocket) == .upgraded(completePoll: nil, rejectPoll: false, flush: [self.hello]))
        #expect(machine.state == .webSocket)
        #expect(machine.pollRequested() == .reject(.badRequest))
        #expect(machine.send([self.hello]) == .writeWebSocket([self.hello]))
    }

    @Test func pollsDuringProbeGetNoopAfterTheGracePeriod() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.webSocketAttached() == true)
        #expect(machine.received(.ping(EnginePacket.probeData), over: .webSocket) == .answerProbe(completePoll: nil))
        #expect(machine.pollRequested() == .parkDuringUpgrade)
        #expect(machine.upgradeGraceEnded() == [.noop])
        #expect(machine.upgradeGraceEnded() == nil)
    }

    @Test func pollDuringUpgradeIsRejectedWhenTheUpgradeCompletes() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.webSocketAttached() == true)
        #expect(machine.pollRequested() == .parkDuringUpgrade)
        #expect(machine.received(.ping(EnginePacket.probeData), over: .webSocket) == .answerProbe(completePoll: nil))
        #expect(machine.received(.upgrade, over: .webSocket) == .upgraded(completePoll: nil, rejectPoll: true, flush: []))
        #expect(machine.upgradeGraceEnded() == nil)
    }

    @Test func probeThatGoesAwayLeavesPolling() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.webSocketAttached() == true)
        machine.webSocketDetached()
        #expect(machine.state == .polling(.init()))
        #expect(machine.webSocketAttached() == true)
    }

    @Test func upgradeWithoutProbeIsAnError() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.webSocketAttached() == true)
        #expect(machine.received(.upgrade, over: .webSocket) == .close(.init(reason: .parseError, completePoll: nil)))
    }

    @Test func concurrentPollClosesTheSession() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.pollRequested() == .park)
        #expect(machine.pollRequested() == .rejectDuplicate(.init(reason: .transportError, completePoll: [.close])))
        #expect(machine.state == .closed)
        #expect(machine.pollRequested() == .reject(.unknownSession))
    }

    @Test func clientCloseAnswersThePendingPollWithNoop() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.pollRequested() == .park)
        #expect(machine.received(.close, over: .polling) == .close(.init(reason: .clientClose, completePoll: [.noop])))
        #expect(machine.send([self.hello]) == .dropped)
    }

    @Test func serverCloseAnswersThePendingPollWithClose() {
        var machine = EngineSessionStateMachine(transport: .polling)
        #expect(machine.pollRequested() == .park)
        #expect(machine.close(reason: .serverClose) == .init(reason: .serverClose, completePoll: [.close]))
        #expect(machine.close(reason: .serverClose) == nil)
    }

    @Test func messagesAreDelivered() {
        var machine = EngineSessionStateMachine(transport: .webSocket)
        #expect(machine.received(self.hello, over: .webSocket) == .deliver(.text(ByteBuffer(string: "hello"))))
        #expect(machine.received(self.hello, over: .polling) == .close(.init(reason: .transportError, completePoll: nil)))
    }
}
