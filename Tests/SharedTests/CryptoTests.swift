import Foundation
import Testing

@testable import Shared

@Suite struct HMACTests {
    /// Slack's "Verifying requests from Slack" example (a slash command body).
    @Test func reproducesSlacksDocumentedSignature() {
        let body =
            "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
        let signature =
            "v0="
            + HMACSigner.sha256Hex(
                secret: "8f742231b10e8888abcd99yyyzzz85a5", message: Array("v0:1531420618:\(body)".utf8))
        #expect(signature == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
    }

    /// GitHub's "Validating webhook deliveries" example.
    @Test func reproducesGitHubsDocumentedSignature() {
        let signature =
            "sha256=" + HMACSigner.sha256Hex(secret: "It's a Secret to Everybody", message: Array("Hello, World!".utf8))
        #expect(signature == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    }

    @Test func verifiesOnlyTheExactSignature() {
        let message = Array("Hello, World!".utf8)
        let good = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        #expect(HMACSigner.verifyHex(good, secret: "It's a Secret to Everybody", message: message))
        #expect(HMACSigner.verifyHex(good.uppercased(), secret: "It's a Secret to Everybody", message: message))
        #expect(!HMACSigner.verifyHex(String(good.dropLast()), secret: "It's a Secret to Everybody", message: message))
        #expect(
            !HMACSigner.verifyHex(String(good.dropLast()) + "f", secret: "It's a Secret to Everybody", message: message)
        )
        #expect(!HMACSigner.verifyHex(good, secret: "It's a secret to everybody", message: message))
        #expect(!HMACSigner.verifyHex(good, secret: "It's a Secret to Everybody", message: Array("Hello, World?".utf8)))
        #expect(!HMACSigner.verifyHex("", secret: "It's a Secret to Everybody", message: message))
    }

    /// One signer serves every request: a MAC must not leave state behind for the next one,
    /// on one thread or many. RFC 4231 test case 2 and GitHub's example, interleaved.
    @Test func aKeyedSignerIsReusableAcrossMessagesAndThreads() async {
        let jefe = HMACSigner(secret: "Jefe")
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        #expect(jefe.sha256Hex(Array("what do ya want for nothing?".utf8)) == expected)
        #expect(
            jefe.sha256Hex(Array("Hello, World!".utf8))
                == HMACSigner.sha256Hex(secret: "Jefe", message: Array("Hello, World!".utf8)))
        #expect(jefe.sha256Hex(Array("what do ya want for nothing?".utf8)) == expected)
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                group.addTask {
                    (0..<200).allSatisfy { round in
                        index.isMultiple(of: 2) || round.isMultiple(of: 3)
                            ? jefe.sha256Hex(Array("what do ya want for nothing?".utf8)) == expected
                            : jefe.verifyHex(expected, message: Array("what do ya want for nothing?".utf8))
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: true, count: 8))
    }

    @Test func constantTimeEqualityComparesWholeValues() {
        #expect(ConstantTime.equals("abc", "abc"))
        #expect(!ConstantTime.equals("abc", "abd"))
        #expect(!ConstantTime.equals("abc", "abcd"))
        #expect(!ConstantTime.equals("", "a"))
        #expect(ConstantTime.equals("", ""))
        // Equal after truncation to 8 bits of the length difference must still differ.
        #expect(!ConstantTime.equals([UInt8](repeating: 0, count: 256), []))
    }

    @Test func base64URLMatchesRFC4648() {
        // RFC 4648 §10 vectors, unpadded, plus bytes that need the URL-safe alphabet.
        let vectors = [
            "": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy",
        ]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.encode(AnySequence([0xFB, 0xFF] as [UInt8])) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("+/8") == nil && Base64URL.decode("Zg==") == nil && Base64URL.decode("Z") == nil)
    }

    @Test func hexRoundTrips() {
        #expect(Hex.encode([0x00, 0xAB, 0xFF]) == "00abff")
        #expect(Hex.decode("00abFF") == [0x00, 0xAB, 0xFF])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }
}

@Suite struct SecretBoxTests {
    let key = try! SecretBox.Key(configured: "0123456789abcdef0123456789abcdef")
    let otherKey = try! SecretBox.Key(configured: Data((0..<32).map { UInt8($0) }).base64EncodedString())

    @Test func roundTripsUnderTheSameAdditionalData() throws {
        let box = SecretBox(current: key)
        let sealed = try box.seal("lin_oauth_token", additionalData: "conn_1|linear")
        #expect(sealed.hasPrefix("v1.\(key.id)."))
        #expect(!sealed.contains("lin_oauth_token"))
        #expect(try box.open(sealed, additionalData: "conn_1|linear") == "lin_oauth_token")
    }

    @Test func failsWithOtherAdditionalData() throws {
        let box = SecretBox(current: key)
        let sealed = try box.seal("token", additionalData: "conn_1|linear")
        #expect(throws: SecretBoxError.authenticationFailed) { try box.open(sealed, additionalData: "conn_2|linear") }
        #expect(throws: SecretBoxError.authenticationFailed) { try box.open(sealed, additionalData: "conn_1|slack") }
    }

    @Test func usesAFreshNonceForEveryValue() throws {
        let box = SecretBox(current: key)
        let first = try box.seal("same", additionalData: "a")
        let second = try box.seal("same", additionalData: "a")
        #expect(first != second)
        let nonce = { (sealed: String) in Base64URL.decode(String(sealed.split(separator: ".")[2]))!.prefix(12) }
        #expect(nonce(first) != nonce(second))
    }

    @Test func opensValuesSealedUnderAPreviousKey() throws {
        let old = SecretBox(current: otherKey)
        let sealed = try old.seal("old-token", additionalData: "conn|github")
        let rotated = SecretBox(current: key, previous: [otherKey])
        #expect(try rotated.open(sealed, additionalData: "conn|github") == "old-token")
        #expect(rotated.needsResealing(sealed))
        let resealed = try rotated.seal("old-token", additionalData: "conn|github")
        #expect(!rotated.needsResealing(resealed))
        // Without the previous key the old value cannot be opened.
        #expect(throws: SecretBoxError.unknownKey(otherKey.id)) {
            try SecretBox(current: key).open(sealed, additionalData: "conn|github")
        }
    }

    @Test func rejectsTamperedAndMalformedValues() throws {
        let box = SecretBox(current: key)
        let sealed = try box.seal("token", additionalData: "x")
        var payload = Base64URL.decode(String(sealed.split(separator: ".")[2]))!
        payload[payload.count - 1] ^= 1
        let tampered = "v1.\(key.id).\(Base64URL.encode(payload))"
        #expect(throws: SecretBoxError.authenticationFailed) { try box.open(tampered, additionalData: "x") }
        #expect(throws: SecretBoxError.malformed) { try box.open("token", additionalData: "x") }
        #expect(throws: SecretBoxError.malformed) { try box.open("v2.\(key.id).AAAA", additionalData: "x") }
        #expect(throws: SecretBoxError.malformed) { try box.open("v1.\(key.id).AAAA", additionalData: "x") }
    }

    @Test func acceptsOnlyThirtyTwoByteKeys() {
        #expect(throws: SecretBoxError.self) { try SecretBox.Key(configured: "too-short") }
        #expect(throws: SecretBoxError.self) { try SecretBox.Key(configured: Data(count: 16).base64EncodedString()) }
        #expect(throws: SecretBoxError.self) { try SecretBox.Key(configured: String(repeating: "a", count: 33)) }
        // The two accepted forms of the same 32 bytes are the same key.
        let raw = "abcdefghijklmnopqrstuvwxyz012345"
        let fromText = try? SecretBox.Key(configured: raw)
        let fromBase64 = try? SecretBox.Key(configured: Data(raw.utf8).base64EncodedString())
        #expect(fromText?.id != nil && fromText?.id == fromBase64?.id)
    }
}

@Suite struct Base64URLTests {
    /// RFC 4648 §10 test vectors, unpadded, plus bytes that use both URL-safe characters.
    @Test func encodesTheRFCVectors() {
        let vectors = [
            "": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy",
        ]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
    }

    @Test func roundTripsEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains(where: { "+/=".contains($0) }))
            #expect(Base64URL.decode(encoded) == bytes)
        }
    }

    @Test func rejectsPaddingTheStandardAlphabetAndImpossibleLengths() {
        #expect(Base64URL.decode("Zg==") == nil)
        #expect(Base64URL.decode("+/+/") == nil)
        #expect(Base64URL.decode("Zm9vY") == nil)
        #expect(Base64URL.decode("Zm9v!") == nil)
    }
}

@Suite struct RandomTokenTests {
    @Test func drawsEveryCharacterOfTheAlphabetAndNothingElse() {
        let alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        let tokens = (0..<200).map { _ in RandomToken.string(length: 32) }
        #expect(tokens.allSatisfy { $0.count == 32 && $0.allSatisfy(alphabet.contains) })
        #expect(Set(tokens.joined()) == Set(alphabet))
        #expect(Set(tokens).count == tokens.count)
        #expect(RandomToken.string(length: 0) == "")
        #expect(RandomToken.string(length: 5, alphabet: "x") == "xxxxx")
    }

    @Test func bytesAreFreshEachTime() {
        #expect(RandomToken.bytes(32).count == 32)
        #expect(RandomToken.bytes(32) != RandomToken.bytes(32))
        #expect(RandomToken.bytes(0).isEmpty)
        #expect(Base64URL.decode(RandomToken.base64URL(byteCount: 24))?.count == 24)
    }
}

@Suite struct SignedTokenTests {
    let state = SignedToken(secret: "test-jwt-secret-fedcba9876543210-connectors", purpose: "oauth-state")

    @Test func acceptsItsOwnTokensOnly() {
        let token = state.make()
        #expect(state.isValid(token))
        #expect(state.make() != token)
        #expect(!state.isValid(token + "x"))
        #expect(!state.isValid(String(token.dropLast())))
        #expect(!state.isValid("forged.AAAA"))
        #expect(!state.isValid(String(token.split(separator: ".")[0])))
        // Another purpose or another secret: refused.
        #expect(
            !SignedToken(secret: "test-jwt-secret-fedcba9876543210-connectors", purpose: "link-code").isValid(token))
        #expect(!SignedToken(secret: "another-secret-0123456789abcdef0123", purpose: "oauth-state").isValid(token))
        #expect(SignedToken.digest(token).count == 64)
    }
}
