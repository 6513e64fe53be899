extension Duration {
    /// Whole milliseconds (truncated), as Redis `PEXPIRE`/`PTTL` and our headers count time.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
