// Peer mode through the generated Kotlin bindings on the JVM (through JNA, as on Android): two
// peer-only engines (empty server URL: no ringwire server) in this process, alice with a 440 Hz
// tone as her microphone and bob with 880 Hz, both host-driven, their `PeerSignal` events
// relayed to each other the way an app with a text channel would: every message written as
// JSON (`peerSignalToJson`) and read back (`peerSignalFromJson`) by a relay thread fed from a
// thread-safe queue. Malformed SDP, a malformed candidate and text that is not JSON are refused
// with `InvalidArgument`; alice calls, bob answers, both connect and hear each other, alice
// hangs up, and a second call shows the engines still work. Started by
// crates/ffi/tests/python/test_engine.py (`test_kotlin_bindings_peer_mode`); checks as it goes
// (an exception exits non-zero) and prints one JSON line of what it saw at the end.
//
// Usage: PeerTestKt

import java.util.concurrent.LinkedBlockingQueue
import kotlin.math.PI
import kotlin.math.abs
import kotlin.math.cos
import kotlin.math.sin
import uniffi.ringwire.AudioChoice
import uniffi.ringwire.CallEndReason
import uniffi.ringwire.Engine
import uniffi.ringwire.EngineConfig
import uniffi.ringwire.EngineEvent
import uniffi.ringwire.EngineListener
import uniffi.ringwire.HostAudioDevice
import uniffi.ringwire.PeerSignal
import uniffi.ringwire.RingwireException
import uniffi.ringwire.peerSignalFromJson
import uniffi.ringwire.peerSignalToJson
import uniffi.ringwire_core.CallKitEndReason
import uniffi.ringwire_core.CallState
import uniffi.ringwire_core.Direction
import uniffi.ringwire_proto.EndReason

const val RATE = 48_000

/** Goertzel: the power of `hz` in `samples`, normalised by length. */
fun tonePower(samples: ShortArray, hz: Int): Double {
    val coeff = 2.0 * cos(2.0 * PI * hz / RATE)
    var s1 = 0.0
    var s2 = 0.0
    for (x in samples) {
        val s0 = x + coeff * s1 - s2
        s2 = s1
        s1 = s0
    }
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / samples.size
}

fun dominantHz(samples: ShortArray): Int = (200..1200 step 10).maxBy { tonePower(samples, it) }

/**
 * Stands in for the OS audio callback: every 10 ms it writes 480 samples of a tone of `hz` into
 * capture and reads 480 samples of playout (the first 60 s are kept).
 */
class AudioCallback(private val device: HostAudioDevice, private val hz: Int) : Thread() {
    private val played = ShortArray(RATE * 60)

    @Volatile var count = 0
        private set

    /** Where the first loud sample is in the playout; -1 while all is silence. */
    @Volatile var firstLoud = -1
        private set

    @Volatile var running = true

    init {
        isDaemon = true
    }

    override fun run() {
        var phase = 0L
        var nextAt = System.nanoTime()
        while (running) {
            val tone = List(CHUNK) { i ->
                (8000 * sin(2 * PI * hz * (phase + i) / RATE)).toInt().toShort()
            }
            phase = (phase + CHUNK) % RATE
            device.writeCapture(tone)
            var n = count
            for (x in device.readPlayout(CHUNK.toUInt())) {
                if (n == played.size) break
                if (firstLoud < 0 && abs(x.toInt()) > 1000) firstLoud = n
                played[n++] = x
            }
            count = n
            nextAt += 10_000_000L
            val delay = nextAt - System.nanoTime()
            if (delay > 0) {
                sleep(delay / 1_000_000, (delay % 1_000_000).toInt())
            } else if (delay < -200_000_000L) {
                nextAt = System.nanoTime() // fell far behind (a GC pause): do not burst
            }
        }
    }

    /** Seconds of playout since the first loud sample. */
    fun secondsHeard(): Double = if (firstLoud < 0) 0.0 else (count - firstLoud).toDouble() / RATE

    /** The dominant frequency of a quarter second of playout, half a second after the first
     *  loud sample, and that window. */
    fun heard(): Pair<Int, ShortArray> {
        check(firstLoud >= 0) { "nothing but silence played" }
        val start = firstLoud + RATE / 2
        check(count >= start + RATE / 4) { "less than 0.75 s of audio played" }
        val window = played.copyOfRange(start, start + RATE / 4)
        return dominantHz(window) to window
    }

    companion object {
        const val CHUNK = 480
    }
}

/** One message on the apps' channel: who sent it, for which call, what. */
class Message(val from: PeerSide, val callId: String, val signal: PeerSignal)

/**
 * The apps' own signaling channel, one that carries text: the engines' `PeerSignal` events come
 * in on a thread-safe queue from their listeners; this thread writes each as JSON (the sending
 * app), reads it back (the receiving app) and hands it to the other engine, in order. What an
 * engine refuses is kept in `refused`.
 */
class Channel : Thread() {
    val queue = LinkedBlockingQueue<Message>()
    val refused = java.util.Collections.synchronizedList(mutableListOf<String>())

    init {
        isDaemon = true
    }

    override fun run() {
        try {
            while (true) {
                val m = queue.take()
                val text = peerSignalToJson(m.signal)
                m.from.sent.add(text)
                val to = m.from.peer
                try {
                    to.engine.handlePeerSignal(m.callId, peerSignalFromJson(text))
                } catch (e: RingwireException) {
                    refused.add("${m.from.name} -> ${to.name}: ${text.take(80)}: $e")
                }
            }
        } catch (stop: InterruptedException) {
        }
    }
}

/**
 * One peer-only engine with host-driven audio, a tone of `hz` in. Its listener puts `PeerSignal`
 * events on the channel and every other event on its own queue, and returns at once.
 */
class PeerSide(val name: String, hz: Int, channel: Channel) : EngineListener {
    lateinit var peer: PeerSide
    val events = Events()

    /** The JSON text of every message this side sent, in order. */
    val sent = java.util.Collections.synchronizedList(mutableListOf<String>())
    private val wire = channel.queue
    private val device = HostAudioDevice(200u)
    val audio = AudioCallback(device, hz)
    val engine = Engine(
        EngineConfig(
            serverUrl = "",
            deviceToken = "",
            audio = AudioChoice.HostDriven(device),
            allowLoopback = true,
            autoAudioSession = true,
        ),
        this,
    )

    init {
        audio.start()
    }

    override fun onEvent(event: EngineEvent) {
        if (event is EngineEvent.PeerSignal) {
            wire.put(Message(this, event.callId, event.signal))
        } else {
            events.onEvent(event)
        }
    }

    /** The `type` of each message sent, read back from its JSON. */
    fun sentTypes(): List<String> = synchronized(sent) { sent.toList() }.map {
        when (peerSignalFromJson(it)) {
            is PeerSignal.Offer -> "offer"
            is PeerSignal.Answer -> "answer"
            is PeerSignal.Candidate -> "candidate"
            is PeerSignal.EndOfCandidates -> "end_of_candidates"
            is PeerSignal.Bye -> "bye"
        }
    }

    fun close() {
        audio.running = false
        engine.shutdown()
    }
}

inline fun <reified E : Throwable> refuses(what: String, block: () -> Unit) {
    try {
        block()
    } catch (expected: Throwable) {
        if (expected is E) return
        val got = expected::class.simpleName
        throw AssertionError("$what: $got instead of ${E::class.simpleName}", expected)
    }
    error("$what was accepted")
}

fun jsonString(s: String): String {
    val escaped = s.replace("\\", "\\\\").replace("\"", "\\\"")
        .replace("\r", "\\r").replace("\n", "\\n")
    return "\"$escaped\""
}

fun main() {
    val channel = Channel()
    channel.start()
    val alice = PeerSide("alice", 440, channel)
    val bob = PeerSide("bob", 880, channel)
    alice.peer = bob
    bob.peer = alice
    try {
        // Hostile input before any call: refused with InvalidArgument, nothing rings.
        val stray = "0123456789abcdef0123456789abcdef"
        refuses<RingwireException.InvalidArgument>("a malformed SDP offer") {
            bob.engine.handlePeerSignal(stray, PeerSignal.Offer("v=0\r\nnot sdp"))
        }
        refuses<RingwireException.InvalidArgument>("an empty SDP offer") {
            bob.engine.handlePeerSignal(stray, PeerSignal.Offer(""))
        }
        refuses<RingwireException.InvalidArgument>("a malformed call id") {
            bob.engine.handlePeerSignal("not-a-call-id", PeerSignal.EndOfCandidates)
        }
        val notSignals = listOf(
            "not json",
            """{"type":"pranswer","sdp":"v=0"}""",
            """{"type":"offer","sdp":""}""",
        )
        for (text in notSignals) {
            refuses<RingwireException.InvalidArgument>("peerSignalFromJson($text)") {
                peerSignalFromJson(text)
            }
        }
        check(bob.engine.snapshot().isEmpty()) { "refused input left a call" }

        val callId = alice.engine.startPeerCall("bob", null)
        val started = alice.events.waitFor<EngineEvent.OutgoingStarted>()
        check(started.callId == callId && started.toUser == "bob") { "$started" }
        val incoming = bob.events.waitFor<EngineEvent.IncomingCall>()
        check(incoming.callId == callId) { "bob rings for ${incoming.callId}, not $callId" }
        check(alice.sentTypes().firstOrNull() == "offer") { "alice sent ${alice.sentTypes()}" }
        check(bob.sent.isEmpty()) { "a ringing callee sent ${bob.sentTypes()}" }

        bob.engine.answer(callId)
        alice.events.waitFor<EngineEvent.Connected>()
        bob.events.waitFor<EngineEvent.Connected>()
        check(bob.sentTypes().firstOrNull() == "answer") { "bob sent ${bob.sentTypes()} first" }
        for (side in listOf(alice, bob)) {
            val call = side.engine.snapshot().single()
            check(call.callId == callId && call.state == CallState.ACTIVE && call.mediaConnected) {
                "${side.name}: $call"
            }
        }

        // Hostile input on the live call: refused, and the call goes on.
        refuses<RingwireException.InvalidArgument>("a candidate line that does not parse") {
            val garbage = PeerSignal.Candidate("candidate:nonsense", null, 0u, null)
            bob.engine.handlePeerSignal(callId, garbage)
        }

        val deadline = System.nanoTime() + 20_000_000_000L
        while (alice.audio.secondsHeard() < 2.0 || bob.audio.secondsHeard() < 2.0) {
            check(System.nanoTime() < deadline) {
                "two seconds of audio each way: alice ${alice.audio.secondsHeard()} s, " +
                    "bob ${bob.audio.secondsHeard()} s"
            }
            Thread.sleep(50)
        }
        for (side in listOf(alice, bob)) {
            check(side.engine.snapshot().single().state == CallState.ACTIVE) {
                "${side.name}'s call dropped"
            }
        }

        alice.engine.end(callId)
        val hangup = CallEndReason.Protocol(EndReason.HANGUP)
        val aliceEnd = alice.events.waitFor<EngineEvent.Ended>()
        val bobEnd = bob.events.waitFor<EngineEvent.Ended>()
        alice.audio.running = false
        bob.audio.running = false
        alice.audio.join()
        bob.audio.join()
        check(aliceEnd.callId == callId && aliceEnd.reason == hangup) { "alice: $aliceEnd" }
        check(
            aliceEnd.direction == Direction.OUTGOING && aliceEnd.endedLocally &&
                aliceEnd.callkit == null,
        ) {
            "alice: $aliceEnd"
        }
        check(bobEnd.callId == callId && bobEnd.reason == hangup) { "bob: $bobEnd" }
        check(bobEnd.direction == Direction.INCOMING && !bobEnd.endedLocally) { "bob: $bobEnd" }
        check(bobEnd.callkit == CallKitEndReason.REMOTE_ENDED) { "bob: $bobEnd" }
        // Bob may have ended first on the in-band hangup (the data channel outruns the apps'
        // channel): wait until the channel thread has carried alice's bye too.
        val byeBy = System.nanoTime() + 20_000_000_000L
        while (alice.sentTypes().lastOrNull() != "bye" && System.nanoTime() < byeBy) {
            Thread.sleep(50)
        }
        check(alice.sent.last() == """{"type":"bye","reason":"hangup"}""") {
            "alice's last: ${alice.sent.last()}"
        }
        check(alice.engine.snapshot().isEmpty() && bob.engine.snapshot().isEmpty()) {
            "calls left after the end"
        }

        val (aliceHeard, aliceWindow) = alice.audio.heard()
        val (bobHeard, bobWindow) = bob.audio.heard()
        check(abs(aliceHeard - 880) <= 15) { "alice heard $aliceHeard Hz, bob sends 880" }
        check(abs(bobHeard - 440) <= 15) { "bob heard $bobHeard Hz, alice sends 440" }
        check(tonePower(aliceWindow, 880) / maxOf(tonePower(aliceWindow, 440), 1e-9) > 100) {
            "alice hears her own 440 Hz"
        }
        check(tonePower(bobWindow, 440) / maxOf(tonePower(bobWindow, 880), 1e-9) > 100) {
            "bob hears his own 880 Hz"
        }
        val refused = synchronized(channel.refused) { channel.refused.toList() }
        val aliceFirst = alice.sentTypes().first()
        val bobFirst = bob.sentTypes().first()

        // Still working after all of it: a second call, declined by bob.
        val again = alice.engine.startPeerCall("bob", null)
        check(again != callId) { "the second call reused the first's id" }
        bob.events.waitFor<EngineEvent.IncomingCall>()
        bob.engine.end(again)
        val declined = alice.events.waitFor<EngineEvent.Ended>()
        check(declined.reason == CallEndReason.Protocol(EndReason.DECLINED)) {
            "second call: $declined"
        }
        check(bob.sent.last() == """{"type":"bye","reason":"declined"}""") {
            "bob's last: ${bob.sent.last()}"
        }

        println(
            "{\"alice_first\":\"$aliceFirst\",\"bob_first\":\"$bobFirst\"," +
                "\"alice_reason\":\"${aliceEnd.reason}\",\"bob_reason\":\"${bobEnd.reason}\"," +
                "\"bob_callkit\":\"${bobEnd.callkit}\"," +
                "\"alice_frames_decoded\":${aliceEnd.summary.framesDecoded}," +
                "\"bob_frames_decoded\":${bobEnd.summary.framesDecoded}," +
                "\"alice_heard_hz\":$aliceHeard,\"bob_heard_hz\":$bobHeard," +
                "\"refused\":[${refused.joinToString(",") { jsonString(it) }}]}",
        )
    } finally {
        channel.interrupt()
        alice.close()
        bob.close()
    }
}
