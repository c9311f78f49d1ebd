/// Maps byte strings (customer or order identifiers) to dense indices 0, 1, 2…, storing
/// each distinct key once in one contiguous arena. Exact: keys are compared byte for byte,
/// the hash only picks the slot. Much lighter than a `[String: Int]` for millions of keys.
struct ByteInterner {
  private var arena: [UInt8] = []
  private var offsets: [Int] = [0]
  private var slots: [Int32]
  private var hashes: [UInt64] = []
  private var mask: Int

  init(capacity: Int = 1024) {
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    slots = Array(repeating: -1, count: size)
    mask = size - 1
  }

  /// Number of distinct keys.
  var count: Int { hashes.count }

  /// The key stored at `index`.
  func key(_ index: Int) -> [UInt8] { Array(arena[offsets[index]..<offsets[index + 1]]) }

  /// The index of `bytes`, adding it when new; `isNew` tells which.
  mutating func intern(_ bytes: UnsafeBufferPointer<UInt8>) -> (index: Int, isNew: Bool) {
    let hash = fnv1a(bytes)
    var slot = Int(truncatingIfNeeded: hash) & mask
    while true {
      let existing = slots[slot]
      if existing < 0 { break }
      let e = Int(existing)
      if hashes[e] == hash && equals(e, bytes) { return (e, false) }
      slot = (slot + 1) & mask
    }
    let index = hashes.count
    slots[slot] = Int32(index)
    hashes.append(hash)
    arena.append(contentsOf: bytes)
    offsets.append(arena.count)
    if hashes.count * 2 > slots.count { grow() }
    return (index, true)
  }

  private func equals(_ index: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    let start = offsets[index]
    let end = offsets[index + 1]
    guard end - start == bytes.count else { return false }
    return arena.withUnsafeBufferPointer { arena in
      for i in 0..<bytes.count where arena[start + i] != bytes[i] { return false }
      return true
    }
  }

  private mutating func grow() {
    let size = slots.count * 2
    slots = Array(repeating: -1, count: size)
    mask = size - 1
    for (index, hash) in hashes.enumerated() {
      var slot = Int(truncatingIfNeeded: hash) & mask
      while slots[slot] >= 0 { slot = (slot + 1) & mask }
      slots[slot] = Int32(index)
    }
  }
}

/// 64-bit FNV-1a, followed by a finaliser so that nearby keys spread over the table.
@inline(__always)
func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
  var hash = seed
  for byte in bytes {
    hash ^= UInt64(byte)
    hash &*= 0x100_0000_01b3
  }
  hash ^= hash >> 33
  hash &*= 0xff51_afd7_ed55_8ccd
  hash ^= hash >> 33
  return hash
}
