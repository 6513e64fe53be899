import ArgumentParser
import Crypto
import CryptoExtras
import Dispatch
import Foundation
import Synchronization

/// `AuthService bench-rsa`: raw RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second with the
/// crypto library `/token` uses, on every core — the ceiling `make bench` compares `/token` to.
struct SigningBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-rsa", abstract: "Measure raw RSA-2048 signing throughput (for make bench).",
        shouldDisplay: false)

    @Option(help: "How long to sign, in seconds.") var seconds: Double = 3
    @Option(help: "Signing threads (default: one per core).") var threads: Int = ProcessInfo.processInfo
        .activeProcessorCount

    func run() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let digest = SHA256.hash(data: Array("benchmark payload".utf8))
        let total = Atomic<Int>(0)
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            var count = 0
            while DispatchTime.now().uptimeNanoseconds < deadline {
                _ = try? key.signature(for: digest, padding: .insecurePKCS1v1_5)
                count += 1
            }
            total.add(count, ordering: .relaxed)
        }
        print(#"{"signsPerSecond": \#(Double(total.load(ordering: .relaxed)) / seconds), "threads": \#(threads)}"#)
    }
}
