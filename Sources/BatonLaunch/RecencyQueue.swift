/// Keys ordered by when they were last touched, least recent first, for the watches that
/// must find "the longest silent" on every event: touching, removing and reading the least
/// recent key cost O(1) amortised instead of a scan of every key. Times given to `touch`
/// are the event times, which only grow (a time smaller than the last one is ordered as
/// if it were the last: the runner's clock readings may differ by microseconds).
/// Stale entries (a key touched again, or removed) stay in the log until they reach its
/// front (dropped at once then: the front is always live), or until the log is compacted
/// when it is twice the live keys.
struct RecencyQueue<Key: Hashable & Sendable>: Sendable {
    private var log: [(key: Key, time: Double, serial: Int)] = []
    private var head = 0
    /// Each live key's time and the serial of its entry in the log.
    private(set) var times: [Key: Double] = [:]
    private var serials: [Key: Int] = [:]
    private var nextSerial = 0

    init() {}

    var count: Int { times.count }
    var isEmpty: Bool { times.isEmpty }

    func contains(_ key: Key) -> Bool { times[key] != nil }

    /// Puts `key` last, at `time`.
    mutating func touch(_ key: Key, at time: Double) {
        times[key] = time
        serials[key] = nextSerial
        log.append((key, time, nextSerial))
        nextSerial += 1
        dropStale()
        if log.count - head > 2 * times.count + 64 { compact() }
    }

    mutating func remove(_ key: Key) {
        times[key] = nil
        serials[key] = nil
        dropStale()
    }

    /// The least recently touched key and its time (O(1): the log's front is always live).
    func first() -> (key: Key, time: Double)? {
        guard head < log.count else { return nil }
        return (log[head].key, log[head].time)
    }

    /// The live keys from the least recent on while `take(key, time)` says so (stops at the
    /// first it refuses).
    func prefix(while take: (Key, Double) -> Bool) -> [(key: Key, time: Double)] {
        var out: [(key: Key, time: Double)] = []
        var i = head
        while i < log.count {
            let e = log[i]
            i += 1
            guard serials[e.key] == e.serial else { continue }
            guard take(e.key, e.time) else { break }
            out.append((e.key, e.time))
        }
        return out
    }

    private mutating func dropStale() {
        while head < log.count, serials[log[head].key] != log[head].serial { head += 1 }
        if head > 1024 && head * 2 > log.count { compact() }
    }

    private mutating func compact() {
        log = log[head...].filter { serials[$0.key] == $0.serial }
        head = 0
    }
}
