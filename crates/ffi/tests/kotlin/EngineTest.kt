// The generated Kotlin bindings on the JVM (through JNA, as on Android), driving a real engine:
// bob's device, with a 660 Hz tone as its microphone. Started by
// crates/ffi/tests/python/test_engine.py, which runs the server and the native softphone that
// calls bob. It signs in, refuses a bad call id, prints `ready`, answers the incoming call,
// sends DTMF once media flows, and when the call ends prints one JSON line of what it saw.
//
// Usage: EngineTestKt <server url> <bob's device token>

import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import uniffi.ringwire.AudioChoice
import uniffi.ringwire.Engine
import uniffi.ringwire.EngineConfig
import uniffi.ringwire.EngineEvent
import uniffi.ringwire.EngineListener
import uniffi.ringwire.RingwireException

/** The app's listener: hands every event to a queue and returns at once (engine thread rule). */
class Events : EngineListener {
    val queue = LinkedBlockingQueue<EngineEvent>()
    val seen = mutableListOf<EngineEvent>()

    override fun onEvent(event: EngineEvent) {
        queue.put(event)
    }

    inline fun <reified T : EngineEvent> waitFor(seconds: Long = 20): T {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds)
        while (true) {
            val left = deadline - System.nanoTime()
            check(left > 0) { "no ${T::class.simpleName} event within $seconds s" }
            val event = queue.poll(left, TimeUnit.NANOSECONDS) ?: continue
            seen.add(event)
            if (event is EngineEvent.Fatal) error("engine stopped: ${event.message}")
            if (event is T) return event
        }
    }
}

fun main(args: Array<String>) {
    require(args.size == 2) { "usage: EngineTestKt <server url> <device token>" }
    val events = Events()
    val config = EngineConfig(
        serverUrl = args[0],
        deviceToken = args[1],
        audio = AudioChoice.Tone(hz = 660.0),
        allowLoopback = true,
        autoAudioSession = true,
    )
    val engine = Engine(config, events)
    try {
        val up = events.waitFor<EngineEvent.SignalingUp>()
        check(up.user == "bob") { "signed in as ${up.user}, expected bob" }
        try {
            engine.answer("not-a-call-id")
            error("a malformed call id was accepted")
        } catch (expected: RingwireException.InvalidArgument) {
        }
        println("ready")
        System.out.flush()

        val incoming = events.waitFor<EngineEvent.IncomingCall>()
        check(incoming.fromUser == "alice") { "call from ${incoming.fromUser}" }
        engine.answer(incoming.callId)
        events.waitFor<EngineEvent.Connected>()
        try {
            engine.sendDtmf(incoming.callId, "5x")
            error("a dial string with x was accepted")
        } catch (expected: RingwireException) {
        }
        engine.sendDtmf(incoming.callId, "5*")

        val ended = events.waitFor<EngineEvent.Ended>(30)
        val keys = events.seen.filterIsInstance<EngineEvent.DtmfReceived>().joinToString("") { it.digit }
        check(engine.snapshot().isEmpty()) { "calls left after the end" }
        println(
            "{\"reason\":\"${ended.reason}\",\"callkit\":\"${ended.callkit}\"," +
                "\"ended_locally\":${ended.endedLocally}," +
                "\"frames_decoded\":${ended.summary.framesDecoded},\"dtmf\":\"$keys\"}",
        )
    } finally {
        engine.shutdown()
    }
}
