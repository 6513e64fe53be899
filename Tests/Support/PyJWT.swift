import Foundation

/// Verifies JWTs with PyJWT (from the project venv): an implementation independent of ours.
public enum PyJWT {
    static let script = """
        import json, sys, jwt
        jwks = json.load(open(sys.argv[1]))
        token = open(sys.argv[2]).read().strip()
        audience, issuer = sys.argv[3], sys.argv[4]
        header = jwt.get_unverified_header(token)
        key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(key))
        claims = jwt.decode(token, public, algorithms=["RS256"], audience=audience, issuer=issuer)
        print(json.dumps({"header": header, "claims": claims}, sort_keys=True))
        """

    /// The verified header and claims, or nil when PyJWT rejects the token.
    public static func verify(token: String, jwks: Data, audience: String, issuer: String? = nil) async throws -> (
        header: [String: Any], claims: [String: Any]
    )? {
        guard
            let output = try await TestPython.run(
                script, arguments: ["jwks.json", "token", audience, issuer ?? audience],
                files: ["jwks.json": jwks, "token": Data(token.utf8)])
        else { return nil }
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
            let header = object["header"] as? [String: Any], let claims = object["claims"] as? [String: Any]
        else { return nil }
        return (header, claims)
    }
}
