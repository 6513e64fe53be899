// swift-tools-version: 6.2
import PackageDescription

// The benchmark's anchor: Hummingbird 2 with nothing of ours, answering `GET /health` with the
// services' constant body. `make bench` builds it in release beside the services and measures
// both in one run, so "× bare" is the cost of our own request pipeline.
let package = Package(
    name: "BareHummingbird",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "BareHummingbird",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        )
    ]
)
