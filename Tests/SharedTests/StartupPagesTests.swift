import Foundation
@testable import Shared
import Testing

/// Which mappings leave the resident set once a service runs, and that their contents survive.
@Suite struct StartupPagesTests {
    @Test func onlyUncopiedReadOnlyPrivateFileMappingsAreReleasable() {
        let smaps = """
            55d0c0a00000-55d0c0b00000 r-xp 00000000 fe:00 1234                       /usr/bin/service
            Size:               1024 kB
            Rss:                 512 kB
            Anonymous:             0 kB
            VmFlags: rd ex mr mw me
            55d0c0b00000-55d0c0b10000 r--p 00100000 fe:00 1234                       /usr/bin/service
            Rss:                  64 kB
            Anonymous:            12 kB
            55d0c0b10000-55d0c0b20000 rw-p 00110000 fe:00 1234                       /usr/bin/service
            Rss:                  64 kB
            Anonymous:             0 kB
            7f0000000000-7f0000100000 r--s 00000000 fe:00 99                         /dev/shm/segment
            Rss:                 100 kB
            Anonymous:             0 kB
            7f0000100000-7f0000200000 r--p 00000000 fe:00 77                         /usr/lib/libdata.so
            Rss:                   0 kB
            Anonymous:             0 kB
            7f0000200000-7f0000300000 r--p 00000000 00:00 0
            Rss:                  40 kB
            Anonymous:            40 kB
            7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
            Rss:                   8 kB
            Anonymous:             0 kB
            7f0000300000-7f0000400000 r--p 00020000 fe:00 78                         /usr/lib/lib with space.so
            Rss:                  16 kB
            Anonymous:             0 kB
            7f0000400000-7f0000500000 r--p 00000000 fe:00 79                         /usr/lib/libnoanon.so
            Rss:                  16 kB
            7f0000500000-7f0000600000 r--p 00010000 fe:00 79                         /usr/lib/libswapped.so
            Rss:                  16 kB
            Anonymous:             0 kB
            Swap:                  4 kB
            7f0000600000-7f0000700000 r--p 00000000 00:06 500                        /dev/fb0
            Rss:                   8 kB
            Anonymous:             0 kB
            VmFlags: rd mr mw me io pf dd
            """
        // The code (kept whole), and the library whose path has a space; not the relocated
        // data, the writable or shared mappings, an untouched one, anonymous memory, the vDSO,
        // a mapping whose private copies are not reported, one whose copies were swapped out,
        // nor device memory.
        #expect(
            StartupPages.releasable(smaps: smaps) == [
                .init(range: 0x55d0_c0a0_0000..<0x55d0_c0b0_0000, residentBytes: 512 << 10),
                .init(range: 0x7f00_0030_0000..<0x7f00_0040_0000, residentBytes: 16 << 10),
            ])
    }

    #if os(Linux)
        @Test func releasedPagesLeaveTheResidentSetAndReadBackUnchangedWhileCopiesStay() throws {
            let size = 256 << 10
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("startup-pages-\(UUID())").path
            let pattern = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            try Data(pattern).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let descriptor = open(path, O_RDONLY)
            try #require(descriptor >= 0)
            defer { close(descriptor) }

            // Read-only code-like pages, and a relocated-data-like mapping: written, then read-only.
            let code = try #require(mapFile(descriptor, size: size, protection: PROT_READ))
            let data = try #require(mapFile(descriptor, size: size, protection: PROT_READ | PROT_WRITE))
            defer {
                munmap(code, size)
                munmap(data, size)
            }
            #expect(checksum(code, size) == checksum(pattern))
            data.storeBytes(of: 0xAB, toByteOffset: 100, as: UInt8.self)
            #expect(mprotect(data, size, PROT_READ) == 0)
            // Servers started by other tests in this process release start-up pages too, this
            // mapping's included, whenever one starts: read it back in until it is resident.
            var resident = 0
            for _ in 0..<20 where resident == 0 {
                #expect(checksum(code, size) == checksum(pattern))
                resident = try residentBytes(of: code)
            }
            #expect(resident > 0)

            #expect(StartupPages.releaseStartupPages() > 0)

            #expect(try residentBytes(of: code) == 0)
            // Back from the file on first use, unchanged; the private copy was not dropped.
            #expect(checksum(code, size) == checksum(pattern))
            #expect(data.load(fromByteOffset: 100, as: UInt8.self) == 0xAB)
            #expect(try residentBytes(of: data) > 0)
        }

        private func mapFile(_ descriptor: Int32, size: Int, protection: Int32) -> UnsafeMutableRawPointer? {
            let pointer = mmap(nil, size, protection, MAP_PRIVATE, descriptor, 0)
            return pointer == MAP_FAILED ? nil : pointer
        }

        private func checksum(_ pointer: UnsafeMutableRawPointer, _ size: Int) -> Int {
            checksum(UnsafeRawBufferPointer(start: pointer, count: size))
        }

        private func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Int {
            bytes.enumerated().reduce(0) { $0 &+ Int($1.element) &* ($1.offset | 1) }
        }

        /// The mapping's `Rss` from this process's smaps.
        private func residentBytes(of pointer: UnsafeMutableRawPointer) throws -> Int {
            let smaps = try #require(StartupPages.readProcFile("/proc/self/smaps"))
            let start = UInt(bitPattern: pointer)
            return try #require(StartupPages.entries(smaps: smaps).first { $0.range.lowerBound == start }).residentBytes
        }
    #endif
}
