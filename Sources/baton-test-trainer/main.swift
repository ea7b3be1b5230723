// baton-test-trainer: a small data-parallel "trainer" for Baton's launch and grid tests.
//
// Every step each rank takes the next --batch sample ids of its shard ($BATON_SHARD_FILE, an
// .npy index array; without one it stripes 0..<N itself), and the ranks allreduce the count
// and a fake gradient. Every --checkpoint-every steps the ranks commit: each writes the ids
// it processed since the last commit to RUN/ids/a<attempt>-seg-<from>-<to>/rank-<r>.txt,
// then rank 0 writes BATON_CHECKPOINT_DIR/latest.json (consumed count and the history of
// committed segments) and, after a barrier, every rank appends {"step", "consumed"} to $BATON_METRICS. A new
// attempt resumes from latest.json. At the end rank 0 checks that the committed segments
// hold every sample of the epoch exactly once and writes RUN/exactly-once.json.
//
// Options: --samples N (required), --batch B (2), --checkpoint-every K (2), --step-ms T (50),
// --fail-rank R --fail-step S (that rank exits 3 at that step in attempt 1: a command failure).
// When Baton asks for a checkpoint (`Progress.shouldCheckpoint()`, rank 0's answer shared by
// an allreduce) the ranks commit at that step, whatever --checkpoint-every says.
import BatonProtocol
import BatonTrainer
import Foundation
import MPI

struct Checkpoint: Codable {
    struct Segment: Codable { var from: Int; var to: Int; var attempt: Int; var world: Int }
    var consumed: Int
    var step: Int
    var param: Double
    var history: [Segment]
}

/// Unbuffered: stdout is a pipe to baton exec, and a line must leave when it is said.
func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("baton-test-trainer: \(message)\n".utf8))
    exit(2)
}

func readNpyIndices(_ path: String) -> [Int] {
    guard let data = FileManager.default.contents(atPath: path), data.count >= 10, data.starts(with: [0x93] + Array("NUMPY".utf8)) else {
        fail("\(path) is not an .npy file")
    }
    let bytes = [UInt8](data)
    let major = bytes[6]
    let headerLength = major == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8 : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
    let start = major == 1 ? 10 : 12
    let header = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
    let width = header.contains("<i4") ? 4 : header.contains("<i8") ? 8 : 0
    guard width > 0 else { fail("\(path): only <i8 and <i4 index arrays are supported: \(header)") }
    let body = bytes[(start + headerLength)...]
    var result: [Int] = []
    result.reserveCapacity(body.count / width)
    var i = body.startIndex
    while i + width <= body.endIndex {
        var v: Int64 = 0
        for b in 0..<width { v |= Int64(body[i + b]) << (8 * Int64(b)) }
        if width == 4 { v = Int64(Int32(truncatingIfNeeded: v)) }
        result.append(Int(v))
        i += width
    }
    return result
}

func writeAtomically(_ text: String, to path: String) {
    let tmp = path + ".tmp-\(getpid())"
    FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8))
    if rename(tmp, path) != 0 { fail("cannot write \(path)") }
}

func append(_ line: String, to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    guard fd >= 0 else { return }
    _ = line.withCString { write(fd, $0, strlen($0)) }
    close(fd)
}

var args = CommandLine.arguments.dropFirst()
var options: [String: Int] = ["--batch": 2, "--checkpoint-every": 2, "--step-ms": 50, "--fail-rank": -1, "--fail-step": -1]
while let a = args.popFirst() {
    guard let v = args.popFirst(), let n = Int(v) else { fail("option \(a) needs a whole number") }
    options[a] = n
}
guard let samples = options["--samples"], samples > 0 else { fail("give --samples N") }
let batch = max(options["--batch"]!, 1)
let every = max(options["--checkpoint-every"]!, 1)
let env = ProcessInfo.processInfo.environment
let runDir = env["BATON_RUN_DIR"] ?? "."
let ckptDir = env["BATON_CHECKPOINT_DIR"] ?? RunDirectory(runDir).checkpoints
let attempt = Int(env["BATON_ATTEMPT"] ?? "1") ?? 1
let metrics = env["BATON_METRICS"]

do {
    try MPIEnvironment.initialize()
    let world = Communicator.world
    let rank = world.rank, size = world.size
    try? FileManager.default.createDirectory(atPath: ckptDir, withIntermediateDirectories: true)
    let ckptPath = "\(ckptDir)/latest.json"
    var ckpt = Checkpoint(consumed: 0, step: 0, param: 0, history: [])
    if let data = FileManager.default.contents(atPath: ckptPath) {
        guard let c = try? JSONDecoder().decode(Checkpoint.self, from: data) else { fail("cannot read \(ckptPath)") }
        ckpt = c
    }
    let indices: [Int]
    if let shard = env["BATON_SHARD_FILE"] {
        // Entry j of rank r's shard is position plan.consumed + r + j * world of the epoch.
        // A checkpoint behind the shard's start would lose samples: refuse it. One ahead of
        // it (killed between the checkpoint's rename and the report of its count) skips the
        // positions it already holds, as python/baton's sampler does.
        let planPath = (shard as NSString).deletingLastPathComponent + "/plan.json"
        guard let planData = FileManager.default.contents(atPath: planPath),
              let plan = try? JSONSerialization.jsonObject(with: planData) as? [String: Any],
              let base = (plan["consumed"] as? NSNumber)?.intValue else { fail("cannot read \(planPath)") }
        if ckpt.consumed < base {
            fail("the checkpoint is at \(ckpt.consumed) samples consumed but the shard starts at \(base): was consumed reported before its checkpoint was durable?")
        }
        let first = base + rank
        let skip = ckpt.consumed > first ? (ckpt.consumed - first + size - 1) / size : 0
        indices = Array(readNpyIndices(shard).dropFirst(skip))
    } else {
        indices = Array(stride(from: ckpt.consumed + rank, to: samples, by: size))
    }
    say("rank \(rank)/\(size) attempt \(attempt): \(indices.count) samples to go, resuming at consumed \(ckpt.consumed)")

    var pos = 0
    var consumed = ckpt.consumed
    var segStart = consumed
    var segIDs: [Int] = []
    var step = ckpt.step
    var param = ckpt.param

    func commit() throws {
        let dir = RunDirectory(runDir).appending("\(RunDirectory.Relative.trainerIDs)/a\(attempt)-seg-\(segStart)-\(consumed)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        writeAtomically(segIDs.map(String.init).joined(separator: "\n") + (segIDs.isEmpty ? "" : "\n"), to: "\(dir)/rank-\(rank).txt")
        try world.barrier()
        if rank == 0 {
            ckpt = Checkpoint(consumed: consumed, step: step, param: param,
                              history: ckpt.history + [.init(from: segStart, to: consumed, attempt: attempt, world: size)])
            writeAtomically(String(decoding: try JSONEncoder().encode(ckpt), as: UTF8.self), to: ckptPath)
        }
        // Baton's contract: `consumed` is reported only once the checkpoint holding it is
        // durable. Without this barrier rank 1 could report a count whose checkpoint rank 0
        // has not renamed yet; a kill in that gap made the head re-shard past samples the
        // checkpoint never recorded (62 failed in CI on exactly that).
        try world.barrier()
        if let metrics { append("{\"step\": \(step), \"consumed\": \(consumed), \"loss\": \(1 / (1 + param))}\n", to: metrics) }
        segStart = consumed
        segIDs = []
    }

    while true {
        let take = Array(indices[pos..<min(pos + batch, indices.count)])
        pos += take.count
        let global = try world.allReduce(take.count, op: .sum)
        let grad = try world.allReduce(Double(take.reduce(0, +)), op: .sum)
        if global == 0 { break }
        param += grad / Double(samples * samples)
        consumed += global
        step += 1
        segIDs += take
        if attempt == 1 && rank == options["--fail-rank"]! && step == options["--fail-step"]! {
            say("rank \(rank): failing on purpose at step \(step)")
            exit(3)
        }
        usleep(UInt32(options["--step-ms"]! * 1000))
        let asked = try world.allReduce(rank == 0 && BatonTrainer.Progress.shouldCheckpoint() ? 1 : 0, op: .sum)
        if step % every == 0 || asked > 0 { try commit() }
    }
    if consumed != segStart || !segIDs.isEmpty { try commit() }

    if rank == 0 {
        // Exactly once: the committed segments chain from 0 to N and hold every id once.
        var seen = [Int](repeating: 0, count: samples)
        var chained = true
        var expect = 0
        for seg in ckpt.history {
            if seg.from != expect { chained = false }
            expect = seg.to
            let dir = "\(runDir)/ids/a\(seg.attempt)-seg-\(seg.from)-\(seg.to)"
            for r in 0..<seg.world {
                let text = (try? String(contentsOfFile: "\(dir)/rank-\(r).txt", encoding: .utf8)) ?? ""
                for line in text.split(separator: "\n") { if let id = Int(line), id >= 0, id < samples { seen[id] += 1 } }
            }
        }
        let duplicates = seen.filter { $0 > 1 }.count
        let missing = seen.filter { $0 == 0 }.count
        let ok = chained && expect == samples && duplicates == 0 && missing == 0
        let report = "{\"samples\": \(samples), \"consumed\": \(consumed), \"duplicates\": \(duplicates), \"missing\": \(missing), \"chained\": \(chained), \"attempts\": \(Set(ckpt.history.map(\.attempt)).count), \"ok\": \(ok)}"
        writeAtomically(report + "\n", to: RunDirectory(runDir).exactlyOnce)
        say("exactly-once: \(report)")
    }
    try MPIEnvironment.finalize()
} catch {
    fail("\(error)")
}
