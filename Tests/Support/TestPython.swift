import Foundation

/// Runs a Python script with the project venv's interpreter (`TEST_PYTHON`, set by
/// `make test`), where the independent implementations the tests compare against live.
public enum TestPython {
    /// The script's last output line; nil when it exits non-zero.
    public static func run(_ script: String, arguments: [String] = [], files: [String: Data] = [:]) async throws
        -> String?
    {
        guard let python = ProcessInfo.processInfo.environment["TEST_PYTHON"], !python.isEmpty else {
            throw TestServers.Missing(variable: "TEST_PYTHON")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("python-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, data) in files { try data.write(to: directory.appendingPathComponent(name)) }
        try Data(script.utf8).write(to: directory.appendingPathComponent("script.py"))
        let process = try ChildProcess(
            executable: URL(fileURLWithPath: python), arguments: ["script.py"] + arguments,
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"], directory: directory)
        guard try await process.waitForExit() == 0 else { return nil }
        return process.outputText.split(separator: "\n").last.map(String.init) ?? ""
    }
}

/// Slack's official SDK (`slack_sdk`): signatures made and checked by Slack's own code.
public enum SlackSDK {
    /// `v0=…` for a body and timestamp, from `SignatureVerifier.generate_signature`.
    public static func signature(secret: String, timestamp: String, body: Data) async throws -> String {
        let script = """
            import sys
            from slack_sdk.signature import SignatureVerifier
            body = open("body", "rb").read().decode("utf-8")
            print(SignatureVerifier(sys.argv[1]).generate_signature(timestamp=sys.argv[2], body=body))
            """
        guard let signature = try await TestPython.run(script, arguments: [secret, timestamp], files: ["body": body])
        else {
            throw SlackSDKFailed()
        }
        return signature
    }
}

/// `slack_sdk` could not sign (not installed in the venv, or the script failed).
public struct SlackSDKFailed: Error, CustomStringConvertible {
    public var description: String {
        "slack_sdk could not make a signature: check scripts/requirements-test.txt and the .venv"
    }
}
