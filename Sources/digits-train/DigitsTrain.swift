import ArgumentParser
import BatonTrainer
import Foundation
import MPI

/// A data-parallel digits classifier, and a model of how a trainer talks to Baton:
/// it reads its shard through the sharding library, averages gradients with one MPI
/// allreduce per step, checks that every rank holds the same weights, checkpoints to
/// BATON_CHECKPOINT_DIR, resumes from it, and appends metrics to BATON_METRICS.
@main
struct DigitsTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digits-train",
        abstract: "Train a one-hidden-layer network on the digits data, data-parallel over MPI ranks.",
        discussion: """
            Run it bare (one rank), under mpirun, or under `baton launch` / `baton grid`:
              mpirun -np 4 digits-train --hidden 64 --lr 0.1 --epochs 20
            The global batch is split over the ranks, so 1, 2 or 4 ranks train the same
            model. Environment (set by `baton exec`): BATON_CHECKPOINT_DIR (resume from and
            save to), BATON_METRICS (JSON lines appended each epoch), BATON_SHARD_FILE
            (this rank's shard of the current epoch, used when its plan matches).
            Exit codes: 0 done; 1 weights differ across ranks; 2 bad data, arguments or
            checkpoint (a corrupt checkpoint is reported and never loaded).
            """)

    @Option(help: "The digits data (.csv or .csv.gz).") var data = "Examples/digits/digits.csv.gz"
    @Option(help: "Hidden units.") var hidden = 32
    @Option(help: "Learning rate (SGD with momentum).") var lr = 0.1
    @Option(help: "Momentum.") var momentum = 0.9
    @Option(help: "Epochs in total (a resumed run continues up to this many).") var epochs = 10
    @Option(help: "Global batch size, split over the ranks.") var batchSize = 32
    @Option(help: "Seed for the initial weights and the per-epoch shuffle.") var seed: UInt64 = 1
    @Option(help: "Fraction of the data held out for testing (a fixed split).") var testFraction = 0.2
    @Option(help: "Checkpoint directory (default: $BATON_CHECKPOINT_DIR; none when unset).") var checkpointDir: String?
    @Option(help: "Also checkpoint every N steps (0: at the end of each epoch only).") var checkpointEvery = 0
    @Option(help: "Stop after this many epochs of this run (to test resuming).") var stopAfter: Int?
    @Option(help: "Pause this many milliseconds after each step (to slow a demo down).") var stepDelayMs = 0
    @Flag(help: "Print the final weights' hash (FNV-1a of the parameters).") var printHash = false
    @Flag(help: "Print only the final line.") var quiet = false

    func run() throws {
        do {
            try train()
        } catch let error as TrainError {
            FileHandle.standardError.write(Data("digits-train: \(error)\n".utf8))
            if case .weightsDiverged = error { throw ExitCode(1) }
            throw ExitCode(2)
        }
    }

    func train() throws {
        guard hidden > 0, epochs > 0, batchSize > 0, lr > 0, testFraction > 0, testFraction < 1 else {
            throw TrainError.usage("--hidden, --epochs, --batch-size and --lr must be positive, --test-fraction in (0, 1)")
        }
        try MPIEnvironment.initialize(requesting: .single)
        defer { try? MPIEnvironment.finalize() }
        let comm = Communicator.world
        let rank = comm.rank, world = comm.size
        let env = ProcessInfo.processInfo.environment
        let checkpointDir = self.checkpointDir ?? env["BATON_CHECKPOINT_DIR"]
        let metrics = env["BATON_METRICS"].map { MetricsFile(path: $0) }

        let (train, test) = try DigitsData.load(path: data).split(testFraction: testFraction)
        let n = train.count

        // Rank 0 reads the checkpoint and broadcasts it, so only one node needs the file.
        var net = Network(hidden: hidden, seed: seed)
        var velocity = [Double](repeating: 0, count: net.parameters.count)
        var state: [Int] = [0, 0, 0]  // epoch, consumed, step
        var loadError = [Int32(0)]
        var resumed = false
        if rank == 0, let dir = checkpointDir {
            do {
                if let c = try Checkpoint.load(from: dir) {
                    guard c.hidden == hidden, c.parameters.count == net.parameters.count else {
                        throw TrainError.badCheckpoint("\(dir)/\(Checkpoint.fileName) is for --hidden \(c.hidden), not \(hidden); not loaded")
                    }
                    net.parameters = c.parameters
                    velocity = c.velocity
                    state = [c.epoch, c.consumed, c.step]
                    resumed = true
                }
            } catch let error as TrainError {
                FileHandle.standardError.write(Data("digits-train: \(error)\n".utf8))
                loadError = [1]
            }
        }
        try comm.broadcast(&loadError, root: 0)
        if loadError[0] != 0 { throw ExitCode(2) }
        try comm.broadcast(&net.parameters, root: 0)
        try comm.broadcast(&velocity, root: 0)
        try comm.broadcast(&state, root: 0)
        var (epoch, consumed, step) = (state[0], state[1], state[2])
        if rank == 0, resumed || !quiet {
            print(
                resumed
                    ? "digits-train: resumed from \(checkpointDir!)/\(Checkpoint.fileName) at epoch \(epoch), \(consumed) of \(n) samples consumed"
                    : "digits-train: \(n) training and \(test.count) test samples, \(world) rank(s), hidden \(hidden), lr \(lr), global batch \(batchSize)")
        }

        let p = net.parameters.count
        // Gradient, then loss sum, sample count and correct count: one allreduce per step.
        var reduced = [Double](repeating: 0, count: p + 3)
        var scratch = [Double](repeating: 0, count: 2 * hidden + Network.outputs)
        var epochsThisRun = 0
        var shardFile = env["BATON_SHARD_FILE"]

        while epoch < epochs {
            let plan = try SampleShardPlan(count: n, world: world, shuffle: true, seed: seed, epoch: epoch, consumed: consumed)
            var mine = plan.indices(rank: rank)
            if let path = shardFile {
                mine = try shardFromFile(path: path, plan: plan, rank: rank) ?? mine
                shardFile = nil  // it describes the epoch the job started in only
            }
            // Entry k of this rank's shard is global position consumed + rank + k x world;
            // a step takes the positions of one global batch.
            var k = 0
            var epochLoss = 0.0, epochSeen = 0.0, epochCorrect = 0.0
            while consumed < n {
                let batchEnd = min(consumed + batchSize, n)
                for i in 0..<reduced.count { reduced[i] = 0 }
                reduced.withUnsafeMutableBufferPointer { g in
                    scratch.withUnsafeMutableBufferPointer { s in
                        train.x.withUnsafeBufferPointer { xs in
                            while k < mine.count, plan.consumed + rank + k * world < batchEnd {
                                let sample = mine[k]
                                let x = UnsafeBufferPointer(rebasing: xs[(sample * 64)..<((sample + 1) * 64)])
                                let r = net.accumulate(x: x, label: train.y[sample], gradient: g, scratch: s)
                                g[p] += r.loss
                                g[p + 1] += 1
                                if r.correct { g[p + 2] += 1 }
                                k += 1
                            }
                        }
                    }
                }
                try comm.allReduce(&reduced, op: .sum)
                let count = reduced[p + 1]
                net.parameters.withUnsafeMutableBufferPointer { w in
                    velocity.withUnsafeMutableBufferPointer { v in
                        sgdStep(w: w, v: v, g: reduced, scale: 1.0 / count, lr: lr, momentum: momentum)
                    }
                }
                epochLoss += reduced[p]
                epochSeen += count
                epochCorrect += reduced[p + 2]
                consumed = batchEnd
                step += 1
                Progress.step(step)  // a hung rank is found in seconds (docs/launch.md, "Hangs")
                if stepDelayMs > 0 { usleep(UInt32(stepDelayMs * 1000)) }
                if checkpointEvery > 0, step % checkpointEvery == 0, consumed < n, rank == 0, let dir = checkpointDir {
                    try Checkpoint(hidden: hidden, epoch: epoch, consumed: consumed, step: step, parameters: net.parameters, velocity: velocity).save(in: dir)
                    metrics?.append(["epoch": .int(epoch), "step": .int(step), "consumed": .int(consumed)])
                }
            }

            // Every rank must hold bit-identical weights.
            let h = net.hash
            let lo = try comm.allReduce(h, op: .min), hi = try comm.allReduce(h, op: .max)
            guard lo == hi else {
                throw TrainError.weightsDiverged("after epoch \(epoch + 1) rank \(rank) has hash \(h), range \(lo)...\(hi)")
            }
            epoch += 1
            consumed = 0
            epochsThisRun += 1
            let eval = Progress.phase("eval") { net.evaluate(test) }
            if rank == 0 {
                if let dir = checkpointDir {
                    try Checkpoint(hidden: hidden, epoch: epoch, consumed: 0, step: step, parameters: net.parameters, velocity: velocity).save(in: dir)
                }
                let trainLoss = epochSeen > 0 ? epochLoss / epochSeen : .nan
                metrics?.append([
                    "epoch": .int(epoch), "step": .int(step), "loss": .double(trainLoss),
                    "train_accuracy": .double(epochSeen > 0 ? epochCorrect / epochSeen : .nan),
                    "test_loss": .double(eval.loss), "test_accuracy": .double(eval.accuracy),
                    "consumed": .int(0), "world_size": .int(world),
                ])
                if !quiet {
                    print(String(format: "epoch %3d  loss %.4f  test accuracy %.4f  (%d steps)", epoch, trainLoss, eval.accuracy, step))
                }
            }
            if let stop = stopAfter, epochsThisRun >= stop { break }
        }
        if rank == 0 {
            let eval = net.evaluate(test)
            print(String(format: "digits-train: done at epoch %d: test accuracy %.4f, test loss %.4f", epoch, eval.accuracy, eval.loss)
                + (printHash ? String(format: ", weights hash %016llx", net.hash) : ""))
        }
    }

    /// The shard the launcher wrote, when its plan.json describes this epoch; nil (and a
    /// note) when it describes another, so training never uses a stale shard.
    func shardFromFile(path: String, plan: SampleShardPlan, rank: Int) throws -> [Int]? {
        let indices: [Int]
        do { indices = try ShardFile.readIndices(path: path) } catch {
            throw TrainError.badShard("\(path): \(error)")
        }
        guard indices.count == plan.count(rank: rank), indices.allSatisfy({ $0 >= 0 && $0 < plan.totalCount }) else {
            FileHandle.standardError.write(Data("digits-train: \(path) has \(indices.count) entries, this epoch's plan \(plan.count(rank: rank)); computing the shard instead\n".utf8))
            return nil
        }
        return indices
    }
}

@_optimize(speed)
func sgdStep(w: UnsafeMutableBufferPointer<Double>, v: UnsafeMutableBufferPointer<Double>, g: [Double], scale: Double, lr: Double, momentum: Double) {
    g.withUnsafeBufferPointer { g in
        for i in 0..<w.count {
            v[i] = momentum * v[i] + g[i] * scale
            w[i] -= lr * v[i]
        }
    }
}

/// Appends one JSON object per line to the BATON_METRICS file.
struct MetricsFile {
    enum Value { case int(Int), double(Double) }
    let path: String

    func append(_ fields: [String: Value]) {
        let body = fields.keys.sorted().map { key -> String in
            switch fields[key]! {
            case .int(let i): return "\"\(key)\": \(i)"
            case .double(let d): return "\"\(key)\": " + (d.isFinite ? String(format: "%.6g", d) : "null")
            }
        }.joined(separator: ", ")
        let line = "{" + body + "}\n"
        guard let handle = FileHandle(forWritingAtPath: path) ?? createAndOpen() else { return }
        handle.seekToEndOfFile()
        handle.write(Data(line.utf8))
        try? handle.close()
    }

    private func createAndOpen() -> FileHandle? {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forWritingAtPath: path)
    }
}
