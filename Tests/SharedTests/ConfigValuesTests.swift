import Foundation
import Testing

@testable import Shared

/// Reading variables from the process environment and a `.env` file.
@Suite struct ConfigValuesTests {
    func dotEnv(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("env-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsTheDotEnvFileAndLetsTheProcessEnvironmentWin() async throws {
        let path = try dotEnv(
            """
            # a comment
            CONNECTORS_TEST_FROM_FILE=from-file
            CONNECTORS_TEST_QUOTED="with spaces"
            CONNECTORS_TEST_SINGLE='single'
            CONNECTORS_TEST_INNER=a"b"c
            PATH=/from/dotenv
            """)
        let env = try await ConfigValues.load(dotEnvPath: path)
        #expect(env.string("CONNECTORS_TEST_FROM_FILE") == "from-file")
        #expect(env.string("CONNECTORS_TEST_QUOTED") == "with spaces")
        #expect(env.string("CONNECTORS_TEST_SINGLE") == "single")
        #expect(env.string("CONNECTORS_TEST_INNER") == "a\"b\"c")
        #expect(env.string("PATH") == ProcessInfo.processInfo.environment["PATH"])
    }

    @Test func aMissingDotEnvFileIsFine() async throws {
        let env = try await ConfigValues.load(dotEnvPath: "/nonexistent/.env")
        #expect(env.string("PATH") == ProcessInfo.processInfo.environment["PATH"])
    }

    @Test func blankValuesCountAsUnset() {
        let env = ConfigValues(["EMPTY": "  ", "SET": " value "])
        #expect(env.string("EMPTY") == nil)
        #expect(env.string("SET") == "value")
        #expect(throws: ConfigurationError("EMPTY", "is required: hint")) { try env.required("EMPTY", hint: "hint") }
    }
}
